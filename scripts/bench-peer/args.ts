// The command line of `npm run bench:peer`, checked before anything starts: a control plane takes a minute to
// come up, so an unknown scenario or tool, a `--runs 0` or a `--scale` that is not a number must fail at once,
// naming the flag, instead of running nothing (or NaN nodes) and printing empty tables.
import { parseArgs } from 'node:util';

export const SCENARIOS = [1, 2, 3, 4] as const;
export const TOOL_KEYS = ['modelrollout', 'argo', 'flagger'] as const;
export type ToolKey = (typeof TOOL_KEYS)[number];

/**
 * The peers' fairness knobs, each defaulting to what the peer's docs recommend for this job; the printed settings
 * say which value a run used.
 */
export interface PeerKnobs {
  /** Argo Rollouts `canary.dynamicStableScale` (its docs: shrink stable as traffic leaves it, to save resources with traffic routing). */
  argoDynamicStableScale: boolean;
  /** Argo Rollouts `--qps` in scenario 4 (`--burst` is twice it); its default 40/80 throttles N rollouts. Scenarios 1–3 keep the defaults. */
  argoScaleQps: number;
  /** Flagger `analysis.threshold`: failed checks before it rolls back (its docs' usual value: 5). */
  flaggerThreshold: number;
}

export interface BenchArgs {
  scenarios: number[];
  runs: number;
  tools: ToolKey[];
  scale: number;
  /** Scenario 4: how long one tool may take to settle N rollouts on the stable version, and then to promote them, before it is reported as not holding up (minutes, each). */
  capMinutes: number;
  knobs: PeerKnobs;
  keep: boolean;
}

export const USAGE =
  'usage: npm run bench:peer [-- --scenarios 1,2,3,4] [--runs N] [--tools modelrollout,argo,flagger] [--scale N] [--cap-minutes 15]' +
  ' [--argo-dynamic-stable-scale true|false] [--argo-scale-qps 200] [--flagger-threshold 5] [--keep]';

function positiveInteger(flag: string, text: string): number {
  if (!/^[1-9]\d*$/.test(text.trim())) throw new Error(`${flag} ${JSON.stringify(text)}: a whole number ≥ 1\n${USAGE}`);
  return Number(text);
}

function boolean(flag: string, text: string): boolean {
  if (text !== 'true' && text !== 'false') throw new Error(`${flag} ${JSON.stringify(text)}: true or false\n${USAGE}`);
  return text === 'true';
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
      'cap-minutes': { type: 'string', default: '15' },
      'argo-dynamic-stable-scale': { type: 'string', default: 'true' },
      'argo-scale-qps': { type: 'string', default: '200' },
      'flagger-threshold': { type: 'string', default: '5' },
      /** Keep the scratch directory (control plane and controller logs, audit log) and print where it is. */
      keep: { type: 'boolean', default: false },
    },
  });
  return {
    scenarios: list('--scenarios', values.scenarios, SCENARIOS as readonly number[], Number),
    runs: positiveInteger('--runs', values.runs),
    tools: list('--tools', values.tools, TOOL_KEYS, (s) => s as ToolKey),
    scale: positiveInteger('--scale', values.scale),
    capMinutes: positiveInteger('--cap-minutes', values['cap-minutes']),
    knobs: {
      argoDynamicStableScale: boolean('--argo-dynamic-stable-scale', values['argo-dynamic-stable-scale']),
      argoScaleQps: positiveInteger('--argo-scale-qps', values['argo-scale-qps']),
      flaggerThreshold: positiveInteger('--flagger-threshold', values['flagger-threshold']),
    },
    keep: values.keep,
  };
}
