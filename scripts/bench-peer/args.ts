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
  /**
   * Argo Rollouts `failureLimit` of the background analysis: failed measurements tolerated before it aborts (its
   * docs' every background-analysis example: 3; its default 0 aborts on the first), the counterpart of Flagger's threshold.
   */
  argoFailureLimit: number;
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
  ' [--argo-dynamic-stable-scale true|false] [--argo-scale-qps 200] [--argo-failure-limit 3] [--flagger-threshold 5] [--keep]';

/** Scenario 4's largest N: the fake nodes (2 pods per rollout, 32 GPUs a node) and the bench's polling are sized up to it. */
export const MAX_SCALE = 10_000;

/** A whole number from `min` to `max`: digits only (no 1e3, no 1.5), and one a double holds exactly. */
function wholeNumber(flag: string, text: string, min: 0 | 1, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min || n > max)
    throw new Error(`${flag} ${JSON.stringify(text)}: a whole number ${max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`}\n${USAGE}`);
  return n;
}

const positiveInteger = (flag: string, text: string, max?: number) => wholeNumber(flag, text, 1, max);

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

/**
 * The flags that change nothing unless a scenario or tool is selected: given without it, the run would print a
 * table the reader takes for e.g. N = 1,000 or Flagger at threshold 1 when it is neither.
 */
const NEEDS: Record<string, { scenario?: number; tool?: ToolKey }> = {
  scale: { scenario: 4 },
  'cap-minutes': { scenario: 4 },
  'argo-scale-qps': { scenario: 4, tool: 'argo' },
  'argo-dynamic-stable-scale': { tool: 'argo' },
  'argo-failure-limit': { tool: 'argo' },
  'flagger-threshold': { tool: 'flagger' },
};

function refuseIneffective(given: Set<string>, scenarios: number[], tools: ToolKey[]): void {
  for (const [flag, need] of Object.entries(NEEDS)) {
    if (!given.has(flag)) continue;
    if (need.scenario !== undefined && !scenarios.includes(need.scenario))
      throw new Error(`--${flag}: only scenario ${need.scenario} uses it, and --scenarios ${scenarios.join(',')} leaves it out\n${USAGE}`);
    if (need.tool !== undefined && !tools.includes(need.tool))
      throw new Error(`--${flag}: only ${need.tool} uses it, and --tools ${tools.join(',')} leaves it out\n${USAGE}`);
  }
}

export function parseBenchArgs(argv: string[]): BenchArgs {
  const { values, tokens } = parseArgs({
    args: argv,
    tokens: true,
    options: {
      scenarios: { type: 'string', default: SCENARIOS.join(',') },
      runs: { type: 'string', default: '1' },
      tools: { type: 'string', default: TOOL_KEYS.join(',') },
      scale: { type: 'string', default: '100' },
      'cap-minutes': { type: 'string', default: '15' },
      'argo-dynamic-stable-scale': { type: 'string', default: 'true' },
      'argo-scale-qps': { type: 'string', default: '200' },
      'argo-failure-limit': { type: 'string', default: '3' },
      'flagger-threshold': { type: 'string', default: '5' },
      /** Keep the scratch directory (control plane and controller logs, audit log) and print where it is. */
      keep: { type: 'boolean', default: false },
    },
  });
  const names = tokens.flatMap((t) => (t.kind === 'option' ? [t.name] : []));
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  // parseArgs keeps the last of a repeated flag: `--scenarios 1 --scenarios 2` ran scenario 2 alone.
  if (twice) throw new Error(`--${twice} given twice; give it once (lists take commas: --scenarios 1,2)\n${USAGE}`);
  const scenarios = list('--scenarios', values.scenarios, SCENARIOS as readonly number[], Number);
  const tools = list('--tools', values.tools, TOOL_KEYS, (s) => s as ToolKey);
  refuseIneffective(new Set(names), scenarios, tools);
  return {
    scenarios,
    runs: positiveInteger('--runs', values.runs),
    tools,
    scale: positiveInteger('--scale', values.scale, MAX_SCALE),
    capMinutes: positiveInteger('--cap-minutes', values['cap-minutes']),
    knobs: {
      argoDynamicStableScale: boolean('--argo-dynamic-stable-scale', values['argo-dynamic-stable-scale']),
      argoScaleQps: positiveInteger('--argo-scale-qps', values['argo-scale-qps']),
      argoFailureLimit: wholeNumber('--argo-failure-limit', values['argo-failure-limit'], 0),
      flaggerThreshold: positiveInteger('--flagger-threshold', values['flagger-threshold']),
    },
    keep: values.keep,
  };
}
