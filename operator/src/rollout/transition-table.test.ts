// docs/architecture.md's transition table, checked against decide.ts: every (to, reason) pair a call in
// decide.ts can produce is a row of the table, and every row is such a pair. The From and When columns
// are prose, reviewed by hand.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = path.dirname(fileURLToPath(import.meta.url));
const DECIDE = path.join(here, 'decide.ts');
const DOC = path.join(here, '..', '..', '..', 'docs', 'architecture.md');

/** The arguments of the call whose '(' is at `open`, split at top-level commas. */
function argumentsAt(source: string, open: number): string[] {
  const args: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let current = '';
  for (let i = open + 1; i < source.length; i++) {
    const c = source[i]!;
    if (quote) {
      if (c === quote && source[i - 1] !== '\\') quote = undefined;
    } else if (c === "'" || c === '`' || c === '"') quote = c;
    else if ('([{'.includes(c)) depth++;
    else if (')]}'.includes(c)) {
      if (depth === 0) return [...args, current].map((a) => a.trim().replace(/\s+/g, ' '));
      depth--;
    } else if (c === ',' && depth === 0) {
      args.push(current);
      current = '';
      continue;
    }
    current += c;
  }
  throw new Error(`unbalanced call at ${open}`);
}

/** 'A' → [A]; cond ? 'A' : x → [A, {x}]; `Step${i + 1}` → [Step{n}]; an expression → [{expression}]. */
function tokens(arg: string): string[] {
  const ternary = /^[^?]*\s\?\s(.*)\s:\s(.*)$/.exec(arg);
  if (ternary) return [...tokens(ternary[1]!), ...tokens(ternary[2]!)];
  const literal = /^'([^']*)'$/.exec(arg);
  if (literal) return [literal[1]!];
  if (arg.startsWith('`')) return [arg.slice(1, -1).replace(/\$\{[^}]*\}/g, '{n}')];
  return [`{${arg}}`];
}

/** (to, reason) pairs of every transition decide.ts makes, from its three call shapes. */
function transitionsInCode(): string[] {
  const source = fs.readFileSync(DECIDE, 'utf8');
  const pairs = new Set<string>();
  const shapes: [RegExp, (args: string[]) => [string[], string] | undefined][] = [
    [/pass\.transition\(/g, (a) => [tokens(a[0]!), a[1]!]],
    [/[^\w]fail\(\s*pass,/g, (a) => [tokens(a[2]!), a[3]!]],
    [/[^\w]startRollout\(\s*pass,/g, (a) => [['Shadowing', 'Progressing'], a[3]!]],
  ];
  for (const [pattern, pick] of shapes) {
    for (const match of source.matchAll(pattern)) {
      const open = match.index + match[0].indexOf('(');
      const picked = pick(argumentsAt(source, open));
      // `reason` forwarded by fail() and startRollout() themselves: their callers are listed instead.
      if (!picked || picked[1] === 'reason') continue;
      for (const to of picked[0]) for (const reason of tokens(picked[1])) pairs.add(`${to} | ${reason}`);
    }
  }
  return [...pairs].sort();
}

function transitionsInDoc(): string[] {
  const doc = fs.readFileSync(DOC, 'utf8');
  const table = doc.slice(doc.indexOf('<!-- transitions:start -->'), doc.indexOf('<!-- transitions:end -->'));
  const rows = table.split('\n').filter((l) => l.startsWith('|') && !l.startsWith('| To') && !l.startsWith('| ---'));
  return rows
    .map((l) =>
      l
        .split('|')
        .slice(1, 3)
        .map((c) => c.trim().replace(/`/g, ''))
        .join(' | '),
    )
    .sort();
}

describe('the transition table in docs/architecture.md', () => {
  it('lists exactly the transitions decide.ts makes', () => {
    expect(transitionsInCode().length).toBeGreaterThan(10);
    expect(transitionsInDoc()).toEqual(transitionsInCode());
  });
});
