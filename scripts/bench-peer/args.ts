// The command line of `npm run bench:peer`, checked before anything starts: a control plane takes a minute to
// come up, so an unknown scenario or tool, a `--runs 0` or a `--scale` that is not a number must fail at once,
// naming the flag, instead of running nothing (or NaN nodes) and printing empty tables.
import { parseArgs } from 'node:util';

export const SCENARIOS = [1, 2, 3, 4] as const;
export const TOOL_KEYS = ['modelrollout', 'argo', 'flagger'] as const;
export type ToolKey = (typeof TOOL_KEYS)[number];

export interface BenchArgs {
  scenarios: number[];
  runs: number;
  tools: ToolKey[];
  scale: number;
  keep: boolean;
}

export const USAGE = 'usage: npm run bench:peer [-- --scenarios 1,2,3,4] [--runs N] [--tools modelrollout,argo,flagger] [--scale N] [--keep]';

function positiveInteger(flag: string, text: string): number {
  if (!/^[1-9]\d*$/.test(text.trim())) throw new Error(`${flag} ${JSON.stringify(text)}: a whole number ≥ 1\n${USAGE}`);
  return Number(text);
}

function list<T extends string | number>(flag: string, text: string, known: readonly T[], parse: (s: string) => T): T[] {
  const items = text.split(',').map((s) => s.trim());
  const bad = items.filter((s) => !known.includes(parse(s)));
  if (items.length === 0 || bad.length)
    throw new Error(`${flag} ${JSON.stringify(text)}: unknown ${bad.map((s) => JSON.stringify(s)).join(', ')}; known: ${known.join(',')}\n${USAGE}`);
  return [...new Set(items.map(parse))];
}

export function parseBenchArgs(argv: string[]): BenchArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      scenarios: { type: 'string', default: SCENARIOS.join(',') },
      runs: { type: 'string', default: '1' },
      tools: { type: 'string', default: TOOL_KEYS.join(',') },
      scale: { type: 'string', default: '100' },
      /** Keep the scratch directory (control plane and controller logs, audit log) and print where it is. */
      keep: { type: 'boolean', default: false },
    },
  });
  return {
    scenarios: list('--scenarios', values.scenarios, SCENARIOS as readonly number[], Number),
    runs: positiveInteger('--runs', values.runs),
    tools: list('--tools', values.tools, TOOL_KEYS, (s) => s as ToolKey),
    scale: positiveInteger('--scale', values.scale),
    keep: values.keep,
  };
}
