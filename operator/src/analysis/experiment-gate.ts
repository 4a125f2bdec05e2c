// What an A/B experiment's verdict means for the step (#16): pure, no I/O. The experiment runs while the
// treatment (the candidate) carries at most 50 % (an equal-sized control exists only up to there); the last step
// at or under 50 % is its gate: past it only on a Win (or NonInferior, as the spec's decision rule says).
import { formatDuration } from '../rollout/duration.js';
import type { AnalysisVerdict } from '../rollout/types.js';
import { armRanges, BUCKETS, type BucketRange } from './experiment-assignment.js';
import { ARM_HEADER } from '../api/index.js';
import type { ExperimentState, MetricReport, SegmentReport, Verdict } from './experiment-verdict.js';

/** The most the treatment may carry while the experiment runs: past it there is no equal-sized control. */
export const EXPERIMENT_MAX_WEIGHT = 50;

/** What apps need to assign users (status and the `<rollout>-experiment` ConfigMap carry the same). */
export interface PublishedAssignment {
  /** userKey: apps assign by the salt and ranges and send `header`; cookie: the route assigns and sets `cookie`. */
  mode: 'userKey' | 'cookie';
  /** The cookie the route sets (cookie mode). */
  cookie?: string;
  header: string;
  salt: string;
  buckets: number;
  /** The treatment weight the ranges are for (the weight the route carries, capped at 50). */
  weight: number;
  treatment: BucketRange;
  control: BucketRange;
  /** True once the treatment went past 50 %: apps stop sending the header (every user follows the route's weights). */
  ended: boolean;
}

/** status.analysis.experiment: the last look, and what the next look continues from. */
export interface ExperimentStatus {
  assignment: PublishedAssignment;
  /** When the arms first carried traffic: the counters' window starts here. */
  since?: string;
  lastLook?: string;
  verdict?: Verdict;
  reason?: string;
  /** Units per arm at the last look (the sample-ratio check's counts). */
  units?: { control: number; treatment: number };
  srmP?: number;
  metrics?: MetricReport[];
  /** At the traffic so far, until the goal's fixed-horizon sample (80 % power at the MDE), e.g. "3h20m". */
  expectedTimeToDecision?: string;
  /** Running always-valid p-values and confidence sequences (a restart resumes them). */
  state?: ExperimentState;
  /** Why the last look could not read the counters (a query error); the verdict is the one before it. */
  error?: string;
  /** The experiment paused the rollout on the last pass (Invalid, or no decision in maxDuration). */
  paused?: boolean;
  /** A person resumed after such a pause: Invalid no longer holds, and maxDuration counts from here. */
  resumedAt?: string;
  /** The resume annotation's value last seen. */
  resumeToken?: string;
  /** Group-sequential test: the step whose end was the last look (its next step's start is the next look). */
  groupSequentialStep?: number;
  /** Declared segments at the last look: units per arm and the per-segment guardrails. */
  segments?: SegmentReport[];
  /** spec.experiment.coverage at the last look: met once every segment has minUnits in each arm. */
  coverage?: { minUnits: number; aboveWeight: number; met: boolean; missing?: string[] };
}

/** The ranges apps assign by at a route weight (the candidate's share), capped at the experiment's 50 %. */
export function publishedAssignment(salt: string, routeWeight: number, mode: 'userKey' | 'cookie' = 'userKey'): PublishedAssignment {
  const weight = Math.max(0, Math.min(routeWeight, EXPERIMENT_MAX_WEIGHT));
  const { treatment, control } = armRanges(weight);
  return {
    mode,
    ...(mode === 'cookie' ? { cookie: armCookieName(salt) } : {}),
    header: ARM_HEADER,
    salt,
    buckets: BUCKETS,
    weight,
    treatment,
    control,
    ended: routeWeight > EXPERIMENT_MAX_WEIGHT,
  };
}

/** The cookie of an experiment in cookie mode: a new name per experiment (its salt), so no client keeps an old arm. */
export function armCookieName(salt: string): string {
  return `modelrollout-arm-${salt.slice(0, 8)}`;
}

/** The arm rules a route carries, as traffic/router.ts ArmRouting takes them (analysis/ does not import traffic/). */
export type ArmRules = { header: string } | { mode: 'cookie'; header: string; cookie: string; maxAgeSeconds: number };

/**
 * The arm rules the route carries (traffic/router.ts Weights.arms): while an experiment runs and the candidate
 * carries 1–50 %; none before, past 50 % (no equal-sized control: every request follows the weights) or at 0 %.
 * Cookie mode: the route assigns new clients by weight and marks them (cookie named by the salt, Max-Age the
 * experiment's maxDuration).
 */
export function armRouting(
  experiment: { assignment: 'userKey' | 'cookie'; salt: string; maxDurationMs: number } | undefined,
  candidateWeight: number,
  ended: boolean,
): ArmRules | undefined {
  if (!experiment || ended || candidateWeight <= 0 || candidateWeight > EXPERIMENT_MAX_WEIGHT) return undefined;
  if (experiment.assignment === 'userKey') return { header: ARM_HEADER };
  return { mode: 'cookie', header: ARM_HEADER, cookie: armCookieName(experiment.salt), maxAgeSeconds: Math.round(experiment.maxDurationMs / 1000) };
}

/** The weight of the experiment's gate: the last step at or under 50 % (undefined when no step is). */
export function gateWeight(steps: readonly number[]): number | undefined {
  const under = steps.filter((w) => w <= EXPERIMENT_MAX_WEIGHT);
  return under.length > 0 ? under[under.length - 1] : undefined;
}

/**
 * Whether the coverage rule holds this step: it is the last step at or under `aboveWeight` (the next one, if any,
 * is above it). `weight` is the current step's, `next` the next step's (undefined at the last step).
 */
export function coverageDue(coverage: { aboveWeight: number } | undefined, weight: number | undefined, next: number | undefined): boolean {
  if (!coverage || weight === undefined || weight > coverage.aboveWeight) return false;
  return next === undefined || next > coverage.aboveWeight;
}

/**
 * The experiment's say on this pass, or undefined when it has none: Loss rolls back (the metric's name is the
 * reason), Invalid pauses for a person; on the step the coverage rule guards (`coverageDue`) a segment short of
 * its units holds; at the gate step anything but Win/NonInferior holds (`pending`); either pauses once the
 * experiment has run maxDuration without getting there.
 */
export function experimentVerdict(
  exp: ExperimentStatus | undefined,
  opts: { atGate: boolean; coverageDue?: boolean; elapsedMs: number; maxDurationMs: number; decision: 'win' | 'nonInferiority' },
): AnalysisVerdict | undefined {
  if (exp?.verdict === 'Loss') return { result: 'fail', reason: `experiment-${lossMetric(exp)}`, message: `experiment: ${exp.reason ?? 'Loss'}` };
  if (exp?.verdict === 'Invalid') return { result: 'pause', message: `experiment invalid, holding for a person: ${exp.reason ?? ''}` };
  if (opts.coverageDue && !exp?.coverage?.met) return coverageHold(exp, opts);
  if (!opts.atGate) return undefined;
  const wanted = opts.decision === 'win' ? 'Win' : 'NonInferior';
  if (exp?.verdict === wanted) return undefined;
  return gateHold(exp, wanted, opts);
}

/** At the gate without the verdict the decision rule wants: pause after the final look or maxDuration, else wait. */
function gateHold(exp: ExperimentStatus | undefined, wanted: string, opts: { elapsedMs: number; maxDurationMs: number }): AnalysisVerdict {
  const fractions = exp?.state?.groupSequential?.fractions ?? [];
  if ((fractions[fractions.length - 1] ?? 0) >= 1)
    return {
      result: 'pause',
      message: `experiment's final group-sequential look gave no ${wanted}: ${exp?.reason ?? ''}; a person decides (promote or abort)`,
    };
  if (opts.elapsedMs >= opts.maxDurationMs)
    return {
      result: 'pause',
      message: `experiment reached no ${wanted} in maxDuration (${formatDuration(opts.maxDurationMs)}): ${exp?.reason ?? 'no verdict'}; a person decides (resume to keep waiting, promote or abort)`,
    };
  const eta = `${exp?.expectedTimeToDecision ? `; expected time to a decision at this traffic: ${exp.expectedTimeToDecision}` : ''}${exp?.error ? `; the last look failed: ${exp.error}` : ''}`;
  return { result: 'pending', message: `experiment gate: waiting for ${wanted} (${exp?.verdict ?? 'no look yet'}: ${exp?.reason ?? 'no counters yet'})${eta}` };
}

/** A segment short of its units on the step the coverage rule guards: wait, and pause after maxDuration. */
function coverageHold(exp: ExperimentStatus | undefined, opts: { elapsedMs: number; maxDurationMs: number }): AnalysisVerdict {
  const c = exp?.coverage;
  const failed = exp?.error ? `; the last look failed: ${exp.error}` : '';
  const short = `${c ? `segments short of ${c.minUnits} units per arm: ${(c.missing ?? []).join('; ')}` : 'no look at the segments yet'}${failed}`;
  if (opts.elapsedMs >= opts.maxDurationMs)
    return {
      result: 'pause',
      message: `experiment coverage not reached in maxDuration (${formatDuration(opts.maxDurationMs)}): ${short}; a person decides (resume to keep waiting, promote or abort)`,
    };
  return { result: 'pending', message: `experiment coverage: a step above ${c?.aboveWeight ?? '?'} % waits for every segment (${short})` };
}

/** The metric a Loss is about: a regressed guardrail, else the goal. */
function lossMetric(exp: ExperimentStatus): string {
  const guardrail = /^guardrail (\S+) regressed/.exec(exp.reason ?? '');
  if (guardrail) return guardrail[1]!;
  return exp.metrics?.find((m) => m.role === 'goal')?.name ?? 'goal';
}

/** Combines the step's own verdict with the experiment's: fail, then pause, then the experiment's hold. */
export function withExperiment(step: AnalysisVerdict, experiment: AnalysisVerdict | undefined): AnalysisVerdict {
  if (!experiment || step.result === 'fail') return step;
  if (experiment.result === 'fail') return experiment;
  if (step.result === 'pause') return step;
  if (experiment.result === 'pause') return experiment;
  // The step's own hold (baking, inconclusive metrics) comes first: its counters must keep counting.
  if (step.result !== 'pass') return step;
  return experiment;
}

/**
 * What spec.experiment needs from the rest of the spec: the analysis' Prometheus (spec.analysis.metrics: an
 * experiment judges what users prefer, the metrics whether the candidate works), a router that matches headers
 * (Gateway API or Istio: the arm rules; with cookie assignment they also set the cookie), and a step at or under
 * 50 % (the gate).
 */
export function experimentProblems(
  spec: { trafficRouting?: Record<string, unknown> },
  hasAnalysis: boolean,
  steps: readonly number[] | undefined,
  assignment: 'userKey' | 'cookie' = 'userKey',
): string[] {
  const problems: string[] = [];
  if (!hasAnalysis)
    problems.push('spec.experiment: needs spec.analysis.metrics (at least error-rate) and its Prometheus; the experiment reads its counters there');
  const routers = Object.keys(spec.trafficRouting ?? {});
  if (routers.length > 0 && !routers.some((r) => r === 'gatewayAPI' || r === 'istio'))
    problems.push(
      assignment === 'cookie'
        ? `spec.experiment.assignment: cookie needs spec.trafficRouting.gatewayAPI or .istio (the route sets and matches the cookie); ${routers.join(', ')} cannot`
        : `spec.experiment: needs spec.trafficRouting.gatewayAPI or .istio (the route matches the ${ARM_HEADER} header); ${routers.join(', ')} cannot`,
    );
  if (steps && gateWeight(steps) === undefined)
    problems.push(
      `spec.strategy.steps: an experiment needs a step at or under ${EXPERIMENT_MAX_WEIGHT} % (have [${steps.join(', ')}]); it is judged up to there`,
    );
  return problems;
}

/**
 * spec.experiment.coverage against the step plan: the segments' sample is gathered at the steps up to
 * aboveWeight, so at least the first step must be at or under it (else the rule could never hold a step).
 */
export function coverageProblems(coverage: { aboveWeight: number } | undefined, steps: readonly number[] | undefined): string[] {
  const first = steps?.[0];
  if (!coverage || first === undefined || first <= coverage.aboveWeight) return [];
  return [
    `spec.experiment.coverage.aboveWeight: ${coverage.aboveWeight} is under the first step's ${first} %; the segments gather their units at the steps up to it, so it must be at least ${first}`,
  ];
}
