// Attack on #21 (docs/attack-21.md, finding "promotion is not a transition"): docs/architecture.md says every
// change of phase goes through DecisionPass.transition() and the table lists each transition decide.ts can make.
// promote() sets status.phase = 'Healthy' directly, so the most common transition of all (a finished rollout,
// Progressing → Healthy) has no row, no history entry in phase Healthy and no event of its own; the regex-based
// transition-table.test.ts cannot see a plain assignment.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { acceptsShortfall, CANDIDATE, expectNoShortfallAfterEach, OTHER, stableWorld, startRollout } from './simulated-cluster.test-support.js';

expectNoShortfallAfterEach();

const DOC = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'docs', 'architecture.md');

/** `To | Reason` of every row of the table (computed reasons in braces stay as written). */
function tableRows(): string[] {
  const doc = fs.readFileSync(DOC, 'utf8');
  const table = doc.slice(doc.indexOf('<!-- transitions:start -->'), doc.indexOf('<!-- transitions:end -->'));
  return table
    .split('\n')
    .filter((l) => l.startsWith('|') && !l.startsWith('| To') && !l.startsWith('| ---'))
    .map((l) =>
      l
        .split('|')
        .slice(1, 3)
        .map((c) => c.trim().replace(/`/g, ''))
        .join(' | '),
    );
}

describe('attack #21: the transition table against a real run of decide()', () => {
  it('lists the phase change a promotion makes (Progressing → Healthy), and history records it', () => {
    const w = startRollout(stableWorld());
    const changes: { from: string; to: string; reason: string }[] = [];
    let previous = w.status.phase as string;
    w.run((x) => {
      const phase = x.status.phase as string;
      if (phase !== previous) changes.push({ from: previous, to: phase, reason: x.status.history?.at(-1)?.reason ?? '' });
      previous = phase;
      return x.status.stable?.revision === CANDIDATE && x.condition('Ready') === 'True';
    });
    const promotion = changes.find((c) => c.from === 'Progressing' && c.to === 'Healthy');
    expect(promotion, JSON.stringify(changes)).toBeDefined();
    const rows = tableRows();
    // The reason the run records for Progressing → Healthy is a (To | Reason) row of the table.
    expect.soft(rows).toContain(`Healthy | ${promotion!.reason}`);
    // "Every change of phase ... records it in status.history": some history entry is in phase Healthy after the promotion.
    const history = w.status.history ?? [];
    const promoted = history.findIndex((h) => h.reason === 'Promoted');
    expect(
      history.slice(promoted).some((h) => h.phase === 'Healthy'),
      JSON.stringify(history.slice(promoted)),
    ).toBe(true);
  });

  it('a new template after a rollback starts from RolledBack with the From the table gives its reason', () => {
    const w = startRollout(stableWorld());
    acceptsShortfall.add(w);
    w.analysis = { result: 'fail', reason: 'ErrorRate', message: 'bad' };
    w.run((x) => x.status.phase === 'RolledBack' && x.route.candidateWeight === 0);
    w.analysis = { result: 'pass' };
    startRollout(w, OTHER, 'v4');
    w.step();
    const entry = w.status.history!.at(-1)!;
    const row = fs
      .readFileSync(DOC, 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`| ${w.status.phase} | ${entry.reason} |`));
    // The row's From column names the phase the rollout came from (RolledBack).
    expect(row, `transition RolledBack → ${w.status.phase} (${entry.reason}); row: ${row}`).toMatch(/\| [^|]*(RolledBack|any)[^|]* \|[^|]*\|$/);
  });
});
