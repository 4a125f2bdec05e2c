// One look of an A/B experiment (#16): read each arm's cumulative counters since the experiment started from the
// metrics provider, judge them (analysis/experiment-verdict.ts) and keep what the next look continues from in
// status.analysis.experiment. Looks happen every analysis interval while the treatment carries 1–50 %; past 50 %
// the last verdict stays as it was (there is no equal-sized control any more).
import { experimentSalt } from '../analysis/experiment-assignment.js';
import { EXPERIMENT_MAX_WEIGHT, publishedAssignment, type ExperimentStatus } from '../analysis/experiment-gate.js';
import { withSegment, type ExperimentConfig, type ExperimentQueries, type Segment } from '../analysis/experiment-spec.js';
import {
  judgeExperiment,
  judgeSegments,
  uncoveredSegments,
  type ArmCounters,
  type ExperimentState,
  type GroupSequentialLook,
  type MetricCounters,
  type SegmentArms,
} from '../analysis/experiment-verdict.js';
import { renderQuery, type QueryVars } from '../analysis/spec.js';
import type { MetricsProvider } from '../metric-providers/index.js';
import { formatDuration } from '../rollout/duration.js';

/** Fewer units than this in both arms together: no verdict yet (a χ² or a z on a handful of requests says nothing). */
export const MIN_UNITS = 20;

export interface LookInput {
  config: ExperimentConfig;
  provider: MetricsProvider;
  /** The rollout's uid and the candidate's revision: the salt. */
  uid: string;
  candidateRevision: string;
  /** The candidate's weight on the route now. */
  routeWeight: number;
  /** When the first step's traffic shifted (the arms' counters start there); undefined before. */
  armsSince: string | undefined;
  /** Query variables of one arm (treatment: the candidate's revision; control: stable's), over `intervalMs`. */
  vars: (arm: 'treatment' | 'control', intervalMs: number) => QueryVars;
  intervalMs: number;
  /** The current step, and whether it is the experiment's gate (the last step at or under 50 %). */
  step?: { index: number; atGate: boolean };
  previous: ExperimentStatus | undefined;
  now: Date;
}

/**
 * Whether this pass is a group-sequential look (spec.experiment.test groupSequential): the end of each step up to
 * the gate (seen as the next step starting); at the gate, once minDuration has passed, the final look when the
 * planned information is reached (`onlyIfComplete`: no look while it is not) or, short of it, once maxDuration has
 * passed (final whatever the information: α is spent on the sample there is).
 */
function groupSequentialLook(input: LookInput, exp: ExperimentStatus): GroupSequentialLook | undefined {
  if (input.config.plan.test?.kind !== 'groupSequential' || !input.step) return undefined;
  const seen = exp.groupSequentialStep;
  if (seen !== undefined && input.step.index > seen) return { final: false };
  const now = input.now.getTime();
  if (input.step.atGate && Date.parse(exp.since!) + input.config.plan.minDurationMs <= now) {
    const fractions = exp.state?.groupSequential?.fractions ?? [];
    if ((fractions[fractions.length - 1] ?? 0) >= 1) return undefined;
    const from = Date.parse(input.previous?.resumedAt ?? exp.since!);
    return now - from >= input.config.maxDurationMs ? { final: true } : { final: false, onlyIfComplete: true };
  }
  return undefined;
}

/** The experiment's status after this pass: a new look when one is due, else the previous one with the ranges of now. */
export async function lookExperiment(input: LookInput): Promise<ExperimentStatus> {
  const { previous, now } = input;
  const exp: ExperimentStatus = { ...previous, assignment: assignmentNow(input) };
  if (!input.armsSince || input.routeWeight <= 0 || input.routeWeight > EXPERIMENT_MAX_WEIGHT || exp.assignment.ended) return exp;
  exp.since ??= input.armsSince;
  const gsLook = groupSequentialLook(input, exp);
  if (input.step && exp.groupSequentialStep === undefined) exp.groupSequentialStep = input.step.index;
  if (gsLook === undefined && previous?.lastLook && now.getTime() - Date.parse(previous.lastLook) < input.intervalMs) return exp;
  exp.lastLook = now.toISOString();
  const windowMs = Math.max(1000, now.getTime() - Date.parse(exp.since));
  let control: ArmCounters;
  let treatment: ArmCounters;
  let segments: SegmentArms[];
  try {
    [control, treatment] = await Promise.all([readArm(input, 'control', windowMs), readArm(input, 'treatment', windowMs)]);
    segments = await readSegments(input, windowMs);
  } catch (err) {
    exp.error = (err as Error).message;
    return exp;
  }
  delete exp.error;
  judge(exp, input, control, treatment, gsLook);
  judgeBySegment(exp, input, segments);
  if (gsLook && input.step) exp.groupSequentialStep = input.step.index;
  return exp;
}

/**
 * The segments' part of a look: per-segment guardrails (a regression in one segment is a Loss even when the whole
 * experiment looks fine) and the coverage rule's count. An Invalid or Loss from the whole experiment stands.
 */
function judgeBySegment(exp: ExperimentStatus, input: LookInput, segments: SegmentArms[]): void {
  const { config } = input;
  if (config.segments.length === 0) return;
  if (exp.state && exp.verdict !== 'Invalid') {
    exp.state = { ...exp.state, metrics: { ...exp.state.metrics } };
    const { loss, reports } = judgeSegments(config.plan, config.segmentedGuardrails, segments, exp.state);
    exp.segments = reports;
    if (loss && exp.verdict !== 'Loss') {
      exp.verdict = 'Loss';
      exp.reason = loss;
    }
  } else exp.segments = segments.map((s) => ({ segment: s.segment, ...(s.units ? { units: s.units } : {}), metrics: [] }));
  if (config.coverage) {
    const missing = uncoveredSegments(segments, config.coverage.minUnits);
    exp.coverage = { ...config.coverage, met: missing.length === 0, ...(missing.length > 0 ? { missing } : {}) };
  }
}

/** The published assignment at the route's weight now: ranges only grow, and an ended experiment stays ended. */
function assignmentNow(input: LookInput): ExperimentStatus['assignment'] {
  const previous = input.previous?.assignment;
  const salt = previous?.salt ?? experimentSalt(input.uid, input.candidateRevision);
  // A route briefly behind (an abort's return) does not shrink what apps were told.
  const weight = previous?.ended ? 100 : Math.max(input.routeWeight, previous?.weight ?? 0);
  return publishedAssignment(salt, weight, input.config.assignment);
}

/**
 * The state the look continues from (a person's resume of a sample-ratio mismatch's pause is in it as
 * `sampleRatioAccepted`: controller/analysis-runner.ts experimentSay).
 */
function carriedState(exp: ExperimentStatus, previous: ExperimentStatus | undefined): ExperimentState {
  return previous?.state ?? { startedAt: exp.since!, looks: 0, metrics: {} };
}

/** The verdict of this look into `exp`: no verdict on too few units, else judgeExperiment's. */
function judge(exp: ExperimentStatus, input: LookInput, control: ArmCounters, treatment: ArmCounters, look: GroupSequentialLook | undefined): void {
  exp.units = { control: control.units, treatment: treatment.units };
  if (control.units + treatment.units < MIN_UNITS) {
    exp.verdict = 'Inconclusive';
    exp.reason = `${control.units + treatment.units} units in both arms so far (a verdict needs ${MIN_UNITS}): do the app's requests carry ${exp.assignment.header}?`;
    return;
  }
  const verdict = judgeExperiment(input.config.plan, { control, treatment }, carriedState(exp, input.previous), input.now, look);
  exp.verdict = verdict.verdict;
  exp.reason = verdict.reason;
  exp.srmP = verdict.srmP;
  exp.metrics = verdict.metrics;
  exp.state = verdict.state;
  if (verdict.expectedMsToDecision !== undefined && Number.isFinite(verdict.expectedMsToDecision))
    exp.expectedTimeToDecision = formatDuration(verdict.expectedMsToDecision);
  else delete exp.expectedTimeToDecision;
}

/** Reads one query of one arm (in one segment, or the whole experiment); a failed query throws, naming it. */
type ArmReader = (field: string, template: string, absentIsZero: boolean) => Promise<number>;

function armReader(input: LookInput, arm: 'treatment' | 'control', windowMs: number, segment: Segment | undefined): ArmReader {
  const vars = input.vars(arm, windowMs);
  return async (field, template, absentIsZero) => {
    const promql = renderQuery(withSegment(template, segment, input.config.segments[0]?.label ?? 'segment').replace(/\{\{\s*arm\s*\}\}/g, arm), vars);
    const m = await input.provider.query(promql, input.now);
    if (m.kind === 'value' && Number.isFinite(m.value)) return m.value;
    if (m.kind === 'counts') return m.events;
    // A sum over series that do not exist yet (no request of this arm so far) is no data: zero of them.
    if (m.kind === 'noData' && absentIsZero) return 0;
    const where = segment ? ` in segment ${segment.key}` : '';
    throw new Error(
      `${arm} ${field}${where}: ${m.kind === 'error' ? m.message : m.kind === 'noData' ? m.message : `not a number (${m.value})`} (query: ${promql})`,
    );
  };
}

/** Per segment: units (when the units query selects {{segment}}) and the segmented guardrails' counters of both arms. */
async function readSegments(input: LookInput, windowMs: number): Promise<SegmentArms[]> {
  const { config } = input;
  const out: SegmentArms[] = [];
  for (const segment of config.segments) {
    const arms = await Promise.all(
      (['control', 'treatment'] as const).map(async (arm) => {
        const read = armReader(input, arm, windowMs, segment);
        const units = config.unitsPerSegment ? await read('units', config.unitsQuery, true) : undefined;
        const metrics: Record<string, MetricCounters> = {};
        for (const name of config.segmentedGuardrails) {
          const metric = config.guardrails.find((g) => g.name === name)!;
          metrics[name] = await counters(metric.queries, (f, q) => read(`${name}.${f}`, q, true));
        }
        return { units, metrics };
      }),
    );
    const [control, treatment] = arms as [(typeof arms)[0], (typeof arms)[0]];
    out.push({
      segment: segment.key,
      ...(control.units !== undefined && treatment.units !== undefined ? { units: { control: control.units, treatment: treatment.units } } : {}),
      control: control.metrics,
      treatment: treatment.metrics,
    });
  }
  return out;
}

/** Units and every metric's counters of one arm (the whole experiment); a failed or missing query throws, naming the query. */
async function readArm(input: LookInput, arm: 'treatment' | 'control', windowMs: number): Promise<ArmCounters> {
  const read = armReader(input, arm, windowMs, undefined);
  const units = await read('units', input.config.unitsQuery, true);
  const metrics: Record<string, MetricCounters> = {};
  for (const metric of [input.config.goal, ...input.config.guardrails])
    metrics[metric.name] = await counters(metric.queries, (f, q) => read(`${metric.name}.${f}`, q, true));
  return { units, metrics };
}

async function counters(q: ExperimentQueries, read: (field: string, query: string) => Promise<number>): Promise<MetricCounters> {
  if (q.kind === 'proportion') {
    const [n, events] = await Promise.all([read('units', q.units), read('events', q.events)]);
    // increase() extrapolates each series on its own: a few events over n is rounding, not data; many more events
    // than units is a spec mistake (queries swapped), which the verdict names.
    return { kind: 'proportion', arm: { n, events: events <= n * 1.01 + 1 ? Math.min(events, n) : events } };
  }
  if (q.kind === 'mean') {
    const [n, sum, sumSq] = await Promise.all([read('count', q.count), read('sum', q.sum), read('sumSquares', q.sumSquares)]);
    return { kind: 'mean', arm: { n, sum, sumSq } };
  }
  const [n, sumX, sumY, sumXX, sumYY, sumXY] = await Promise.all((['units', 'sumX', 'sumY', 'sumXX', 'sumYY', 'sumXY'] as const).map((f) => read(f, q[f])));
  return { kind: 'ratio', arm: { n: n!, sumX: sumX!, sumY: sumY!, sumXX: sumXX!, sumYY: sumYY!, sumXY: sumXY! } };
}
