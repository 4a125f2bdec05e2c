// The verdict of an A/B experiment at one look: sample-ratio check, guardrails, then the goal metric, all on
// sequential (always-valid) statistics so that looking at every analysis interval keeps the stated error rate.
// Pure: the arms' counters and the previous look's state in, the verdict and the next state out (the caller
// keeps the state in status, so a restart resumes the running p-values instead of resetting them).
// The operator calls it once per analysis interval (controller/experiment-look.ts).
import {
  alwaysValidP,
  confidenceSequence,
  moments,
  powerAt,
  ratioZ,
  sampleRatioMismatch,
  tau2ForMde,
  twoProportionZ,
  unitsPerArmFor,
  welchT,
  type Comparison,
  type MomentArm,
  type ProportionArm,
  type RatioArm,
} from './experiment-stats.js';
import { groupSequentialBounds, type SpendingFunction } from './group-sequential.js';

export type MetricCounters = { kind: 'proportion'; arm: ProportionArm } | { kind: 'mean'; arm: MomentArm } | { kind: 'ratio'; arm: RatioArm };

export interface ArmCounters {
  /** Units assigned to the arm (users or requests): the sample-ratio check's count. */
  units: number;
  metrics: Record<string, MetricCounters>;
}

export interface ExperimentMetric {
  name: string;
  /** Which way is good for users. */
  better: 'higher' | 'lower';
  /**
   * Goal: the minimum detectable effect (absolute, in the metric's unit) the experiment is planned for; it tunes
   * the sequential test (τ = MDE). Guardrail: the regression tolerated (absolute, ≥ 0); 0 = any regression.
   */
  effect: number;
}

export interface ExperimentPlan {
  goal: ExperimentMetric;
  guardrails: ExperimentMetric[];
  /** Promote on a significant improvement (`Win`), or when the goal is shown no worse than `margin` (`NonInferior`). */
  decision: { rule: 'win' } | { rule: 'nonInferiority'; margin: number };
  alpha: number;
  /** No verdict but Invalid or a guardrail Loss before this much time (weekly cycles wash out: days in production). */
  minDurationMs: number;
  /** Sample-ratio mismatch threshold on the χ² p-value (0.001, Fabijan et al. 2019). */
  srmPValue: number;
  /**
   * The goal's test. Always-valid (default): a verdict at any look. Group-sequential: a verdict only at the looks
   * the step plan fixes (the caller says which look is one), against Lan–DeMets boundaries for α/2 each side;
   * guardrails and the sample-ratio check stay always-valid (they must stop a harm between looks).
   */
  test?: { kind: 'alwaysValid' } | { kind: 'groupSequential'; spending: SpendingFunction };
}

/**
 * A group-sequential look of the goal: `final` spends what is left of α (the gate's look at maxDuration);
 * `onlyIfComplete` looks only once the information reaches the planned sample (then as the final look).
 */
export interface GroupSequentialLook {
  final: boolean;
  onlyIfComplete?: boolean;
}

/** Carried from look to look (status): the running always-valid p-value and confidence sequence per metric. */
export interface ExperimentState {
  startedAt: string;
  looks: number;
  metrics: Record<string, { p: number; cs: [number, number] }>;
  /** Group-sequential test: the information fractions of the looks so far, their z boundaries, and their verdict. */
  groupSequential?: { fractions: number[]; bounds: number[]; verdict?: Verdict; reason?: string };
  /**
   * A person resumed after a sample-ratio mismatch paused the rollout, accepting it for this candidate: the check is
   * still reported (srmP) but no longer ends the look, so the guardrails and the goal are judged again.
   */
  sampleRatioAccepted?: boolean;
}

export type Verdict = 'Win' | 'NonInferior' | 'Loss' | 'Inconclusive' | 'Invalid';

export interface MetricReport {
  name: string;
  role: 'goal' | 'guardrail';
  control: number;
  treatment: number;
  effect: number;
  /** The running 1 − α confidence sequence of the effect (valid at every look). */
  cs: [number, number];
  /** The running always-valid p-value. */
  p: number;
  /** Fixed-horizon power at the planned effect with the current SE (goal only). */
  power?: number;
}

export interface ExperimentVerdict {
  verdict: Verdict;
  reason: string;
  srmP: number;
  metrics: MetricReport[];
  /** At the current traffic, until the goal's fixed-horizon sample at 80 % power (undefined when not estimable). */
  expectedMsToDecision?: number;
  state: ExperimentState;
}

function compare(name: string, control: MetricCounters | undefined, treatment: MetricCounters | undefined, alpha: number): Comparison | string {
  if (!control || !treatment) return `${name}: no counters for the ${!control ? 'control' : 'treatment'} arm`;
  if (control.kind !== treatment.kind) return `${name}: the arms' counters differ in kind (${control.kind} vs ${treatment.kind})`;
  if (control.kind === 'proportion')
    for (const [arm, c] of [
      ['control', control],
      ['treatment', treatment],
    ] as const) {
      const { n, events } = (c as { arm: ProportionArm }).arm;
      if (events > n)
        return `${name}: ${events} events but ${n} units in the ${arm} arm (events count units that had the event: are the events and units queries swapped?)`;
    }
  try {
    if (control.kind === 'proportion') return twoProportionZ(control.arm, treatment.arm as ProportionArm, alpha);
    if (control.kind === 'mean') return welchT(control.arm, treatment.arm as MomentArm, alpha);
    return ratioZ(control.arm, treatment.arm as RatioArm, alpha);
  } catch (err) {
    return `${name}: ${(err as Error).message}`;
  }
}

/** One metric's sequential update: the running p (never rising) and the running confidence sequence (intersected). */
function sequential(
  previous: { p: number; cs: [number, number] } | undefined,
  c: Comparison,
  tau2: number,
  alpha: number,
): { p: number; cs: [number, number] } {
  const variance = c.se * c.se;
  const p = alwaysValidP(previous?.p ?? 1, c.effect, variance, tau2);
  const now = confidenceSequence(c.effect, variance, tau2, alpha);
  const cs: [number, number] = previous ? [Math.max(previous.cs[0], now[0]), Math.min(previous.cs[1], now[1])] : now;
  // An empty intersection (the sequence's α was spent on a fluke) keeps the latest interval.
  return { p, cs: cs[0] <= cs[1] ? cs : now };
}

/**
 * The sequence of `key` after this look, kept in `state`. A look with no spread (no event in either arm yet: SE 0)
 * says nothing, and its point interval would pin every later intersection to it: the sequence stays as it was.
 */
function advance(
  state: ExperimentState,
  key: string,
  previous: { p: number; cs: [number, number] } | undefined,
  c: Comparison,
  tuning: { tau2: number; alpha: number },
): { p: number; cs: [number, number] } {
  if (!(c.se > 0)) return previous ?? { p: 1, cs: [c.effect, c.effect] };
  const s = sequential(previous, c, tuning.tau2, tuning.alpha);
  state.metrics[key] = s;
  return s;
}

/** The effect in the "good" direction: positive is better for users. */
const good = (m: ExperimentMetric, x: number): number => (m.better === 'higher' ? x : -x);

/**
 * Judges one look. Order: Invalid (sample-ratio mismatch, or a metric that cannot be compared), then Loss on a
 * guardrail whose whole confidence sequence lies beyond its tolerated regression, then — after minDurationMs —
 * the goal: Loss when significantly worse, Win when significantly better (rule win) or NonInferior when the
 * sequence's bad end is within the margin (rule nonInferiority); otherwise Inconclusive.
 */
export function judgeExperiment(
  plan: ExperimentPlan,
  arms: { control: ArmCounters; treatment: ArmCounters },
  previous: ExperimentState | undefined,
  now: Date,
  look?: GroupSequentialLook,
): ExperimentVerdict {
  const { control, treatment } = arms;
  const state = nextState(previous, now);
  const srm = sampleRatioMismatch([control.units, treatment.units], [1, 1]);
  const base = { srmP: srm.pValue, state };
  if (srm.pValue < plan.srmPValue && !state.sampleRatioAccepted) {
    return {
      ...base,
      verdict: 'Invalid',
      reason: `sample-ratio mismatch: control ${control.units} vs treatment ${treatment.units} units for a planned 1:1 (χ² ${srm.chi2.toFixed(1)}, p ${srm.pValue.toExponential(2)} < ${plan.srmPValue}): the assignment is broken, no effect can be trusted`,
      metrics: [],
    };
  }
  const judged = judgeMetrics(plan, arms, previous, state);
  const reports = judged.reports;
  if (judged.invalid) return { ...base, verdict: 'Invalid', reason: judged.invalid, metrics: reports };
  for (const r of reports.filter((x) => x.role === 'guardrail')) {
    const m = plan.guardrails.find((g) => g.name === r.name)!;
    if (regressed(m, r)) return { ...base, verdict: 'Loss', reason: regressionReason(m, r, plan.alpha, ''), metrics: reports };
  }
  if (judged.thinGoal || !judged.goal)
    return { ...base, verdict: 'Inconclusive', reason: judged.thinGoal ?? `${plan.goal.name}: no counters`, metrics: reports };
  const decided = goalVerdict(plan, arms, { goal: judged.goal, reports, base, state, look, now });
  // A decision opens the gate: not while a declared guardrail has not been judged at all (its series read nothing).
  if ((decided.verdict === 'Win' || decided.verdict === 'NonInferior') && judged.thinGuardrails.length > 0)
    return {
      ...decided,
      verdict: 'Inconclusive',
      reason: `${decided.reason}; but no ${decided.verdict} while a guardrail is not judged yet (${judged.thinGuardrails.join('; ')})`,
    };
  return decided;
}

/** The state this look starts from: the previous one's, one look more. */
function nextState(previous: ExperimentState | undefined, now: Date): ExperimentState {
  return {
    startedAt: previous?.startedAt ?? now.toISOString(),
    looks: (previous?.looks ?? 0) + 1,
    metrics: { ...previous?.metrics },
    ...(previous?.groupSequential ? { groupSequential: previous.groupSequential } : {}),
    ...(previous?.sampleRatioAccepted ? { sampleRatioAccepted: true } : {}),
  };
}

/**
 * Every metric's comparison and sequential update, in plan order (goal first). A metric with fewer than 2 units in
 * an arm is not judged (listed as thin); counters that cannot be compared make the look Invalid (`invalid`).
 */
function judgeMetrics(
  plan: ExperimentPlan,
  { control, treatment }: { control: ArmCounters; treatment: ArmCounters },
  previous: ExperimentState | undefined,
  state: ExperimentState,
): { reports: MetricReport[]; goal?: Comparison; thinGoal?: string; thinGuardrails: string[]; invalid?: string } {
  const out: { reports: MetricReport[]; goal?: Comparison; thinGoal?: string; thinGuardrails: string[]; invalid?: string } = {
    reports: [],
    thinGuardrails: [],
  };
  const all: [ExperimentMetric, 'goal' | 'guardrail'][] = [
    [plan.goal, 'goal'],
    ...plan.guardrails.map((g): [ExperimentMetric, 'guardrail'] => [g, 'guardrail']),
  ];
  for (const [m, role] of all) {
    // Fewer than 2 units in an arm: this metric says nothing yet; the others (a guardrail's harm) still count.
    const thin = thinness(m.name, control.metrics[m.name], treatment.metrics[m.name]);
    if (thin) {
      if (role === 'goal') out.thinGoal = thin;
      else out.thinGuardrails.push(thin);
      continue;
    }
    const c = compare(m.name, control.metrics[m.name], treatment.metrics[m.name], plan.alpha);
    if (typeof c === 'string') return { ...out, invalid: c };
    // Guardrails have no planned effect: their sequence is tuned to the tolerated regression, or to 5 % of control.
    const scale = role === 'goal' ? m.effect : m.effect > 0 ? m.effect : Math.abs(c.control) * 0.05 || c.se || 1;
    const s = advance(state, m.name, previous?.metrics[m.name], c, { tau2: tau2ForMde(scale), alpha: plan.alpha });
    out.reports.push({
      name: m.name,
      role,
      control: c.control,
      treatment: c.treatment,
      effect: c.effect,
      cs: s.cs,
      p: s.p,
      ...(role === 'goal' ? { power: powerAt(m.effect, c.se, plan.alpha) } : {}),
    });
    if (role === 'goal') out.goal = c;
  }
  return out;
}

/** The goal's verdict once the guardrails held: no spread, minDuration, then the group-sequential or always-valid rule. */
function goalVerdict(
  plan: ExperimentPlan,
  arms: { control: ArmCounters; treatment: ArmCounters },
  at: {
    goal: Comparison;
    reports: MetricReport[];
    base: { srmP: number; state: ExperimentState };
    state: ExperimentState;
    look: GroupSequentialLook | undefined;
    now: Date;
  },
): ExperimentVerdict {
  const { goal, reports, base, state, look, now } = at;
  const g = reports[0]!;
  const elapsed = now.getTime() - Date.parse(state.startedAt);
  const expectedMsToDecision = expectedTime(plan, arms.control, goal, elapsed);
  const out = { ...base, metrics: reports, ...(expectedMsToDecision !== undefined ? { expectedMsToDecision } : {}) };
  // No spread in either arm (0 of n, or n of n, everywhere): no evidence either way, least of all of non-inferiority.
  if (!(goal.se > 0))
    return {
      ...out,
      verdict: 'Inconclusive',
      reason: `${plan.goal.name} ${fmt(g.control)} → ${fmt(g.treatment)} with no spread in either arm yet: no evidence either way (do its queries read the right series?)`,
    };
  if (elapsed < plan.minDurationMs)
    return { ...out, verdict: 'Inconclusive', reason: `minimum duration: ${Math.round(elapsed / 1000)} s of ${Math.round(plan.minDurationMs / 1000)} s` };
  if (plan.test?.kind === 'groupSequential') return { ...out, ...groupSequentialGoal(plan, plan.test.spending, arms, { goal, state, look }) };
  const [lo, hi] = [Math.min(good(plan.goal, g.cs[0]), good(plan.goal, g.cs[1])), Math.max(good(plan.goal, g.cs[0]), good(plan.goal, g.cs[1]))];
  const facts = `${plan.goal.name} ${fmt(g.control)} → ${fmt(g.treatment)} (effect ${fmt(g.effect)}, ${pct(1 - plan.alpha)} confidence sequence [${fmt(g.cs[0])}, ${fmt(g.cs[1])}], always-valid p ${g.p.toPrecision(3)})`;
  if (g.p <= plan.alpha && hi < 0) return { ...out, verdict: 'Loss', reason: `${facts}: significantly worse` };
  if (plan.decision.rule === 'win' && g.p <= plan.alpha && lo > 0) return { ...out, verdict: 'Win', reason: `${facts}: significantly better` };
  if (plan.decision.rule === 'nonInferiority' && lo > -plan.decision.margin)
    return { ...out, verdict: 'NonInferior', reason: `${facts}: no worse than the margin ${fmt(plan.decision.margin)}` };
  return { ...out, verdict: 'Inconclusive', reason: `${facts}: not yet decided (power at the MDE ${fmt(plan.goal.effect)}: ${pct(g.power ?? 0)})` };
}

/** Worst case still better than the tolerated regression? The best end of the sequence is what must be bad. */
function regressed(m: ExperimentMetric, r: MetricReport): boolean {
  return Math.max(good(m, r.cs[0]), good(m, r.cs[1])) < -m.effect;
}

function regressionReason(m: ExperimentMetric, r: MetricReport, alpha: number, where: string): string {
  return `guardrail ${r.name} regressed${where}: effect ${fmt(r.effect)} (${fmt(r.control)} → ${fmt(r.treatment)}), whole ${pct(1 - alpha)} confidence sequence [${fmt(r.cs[0])}, ${fmt(r.cs[1])}] beyond the tolerated ${fmt(m.effect)} (${m.better} is better)`;
}

/** One segment's arms at a look (segment: `label=value`); `units` only when the units query selects {{segment}}. */
export interface SegmentArms {
  segment: string;
  units?: { control: number; treatment: number };
  control: Record<string, MetricCounters>;
  treatment: Record<string, MetricCounters>;
}

/** status.analysis.experiment.segments[]: a segment's units and its guardrails at the last look. */
export interface SegmentReport {
  segment: string;
  units?: { control: number; treatment: number };
  metrics: MetricReport[];
  /** Guardrails not judged in this segment yet, and why (too few units, counters that cannot be compared). */
  notes?: string[];
}

/**
 * Per-segment guardrails: each guardrail that selects {{segment}}, in each declared segment, on its own running
 * confidence sequence (state key `<metric>@<label>=<value>`) at α ÷ the number of segments (Bonferroni: the chance
 * that any segment's sequence misleads stays ≤ α). A segment with fewer than 2 units in an arm is not judged yet
 * (thin segments are normal early on; the coverage rule is what waits for them). Returns the first regression
 * found, as a Loss reason naming the segment, and every segment's report. Mutates `state.metrics`.
 */
export function judgeSegments(
  plan: ExperimentPlan,
  guardrails: readonly string[],
  segments: readonly SegmentArms[],
  state: ExperimentState,
): { loss?: string; reports: SegmentReport[] } {
  const alpha = plan.alpha / Math.max(1, segments.length);
  let loss: string | undefined;
  const reports = segments.map((seg): SegmentReport => {
    const report: SegmentReport = { segment: seg.segment, ...(seg.units ? { units: seg.units } : {}), metrics: [] };
    const notes: string[] = [];
    for (const name of guardrails) {
      const m = plan.guardrails.find((g) => g.name === name);
      const [control, treatment] = [seg.control[name], seg.treatment[name]];
      if (!m || !control || !treatment) continue;
      if (Math.min(control.arm.n, treatment.arm.n) < 2) {
        notes.push(`${name}: ${control.arm.n} control and ${treatment.arm.n} treatment units so far (each arm needs 2)`);
        continue;
      }
      const c = compare(name, control, treatment, alpha);
      if (typeof c === 'string') {
        notes.push(c);
        continue;
      }
      const key = `${name}@${seg.segment}`;
      const scale = m.effect > 0 ? m.effect : Math.abs(c.control) * 0.05 || c.se || 1;
      const s = advance(state, key, state.metrics[key], c, { tau2: tau2ForMde(scale), alpha });
      const r: MetricReport = { name, role: 'guardrail', control: c.control, treatment: c.treatment, effect: c.effect, cs: s.cs, p: s.p };
      report.metrics.push(r);
      if (!loss && regressed(m, r)) loss = regressionReason(m, r, alpha, ` in segment ${seg.segment}`);
    }
    if (notes.length > 0) report.notes = notes;
    return report;
  });
  return { ...(loss ? { loss } : {}), reports };
}

/** Segments short of `minUnits` in an arm, as `label=value: control N, treatment M`; empty when all are covered. */
export function uncoveredSegments(segments: readonly { segment: string; units?: { control: number; treatment: number } }[], minUnits: number): string[] {
  return segments
    .filter((s) => !s.units || Math.min(s.units.control, s.units.treatment) < minUnits)
    .map((s) => `${s.segment}: control ${s.units?.control ?? 0}, treatment ${s.units?.treatment ?? 0}`);
}

/**
 * The goal at a group-sequential look: information fraction t = the smaller arm's units ÷ the fixed-horizon units
 * for 80 % power at the MDE (one-sided α/2), 1 at the final look; z = the effect in the good direction ÷ its SE
 * against the Lan–DeMets boundary c_k for the looks so far: Win when z ≥ c_k, Loss when z ≤ −c_k, NonInferior when
 * (effect + margin) ÷ SE ≥ c_k. Between looks (and after the final one) the last look's verdict stands.
 */
function groupSequentialGoal(
  plan: ExperimentPlan,
  spending: SpendingFunction,
  { control, treatment }: { control: ArmCounters; treatment: ArmCounters },
  { goal, state, look }: { goal: Comparison; state: ExperimentState; look: GroupSequentialLook | undefined },
): { verdict: Verdict; reason: string } {
  const gs = state.groupSequential ?? { fractions: [], bounds: [] };
  const last = gs.fractions[gs.fractions.length - 1] ?? 0;
  const standing = {
    verdict: gs.verdict ?? 'Inconclusive',
    reason: gs.reason ?? `group-sequential: no look yet (looks come at the end of each step up to the gate)`,
  };
  // A decision ends the test (a stopped trial is not looked at again); so does the final look.
  if (!look || last >= 1 || (gs.verdict !== undefined && gs.verdict !== 'Inconclusive')) return standing;
  const t = lookFraction(plan, { control, treatment }, goal, look);
  // No new information since the last look (or not yet the planned information for a look that waits for it):
  // spending nothing keeps the boundaries as planned.
  if (t === undefined || t <= last) return standing;
  const fractions = [...gs.fractions, t];
  const bounds = groupSequentialBounds(fractions, plan.alpha / 2, spending);
  const c = bounds[bounds.length - 1]!;
  const z = goal.se > 0 ? good(plan.goal, goal.effect) / goal.se : 0;
  const k = fractions.length;
  const facts = `${plan.goal.name} ${fmt(goal.control)} → ${fmt(goal.treatment)} (effect ${fmt(goal.effect)}), group-sequential look ${k} at information ${pct(t)}: z ${fmt(z)} against ±${fmt(c)}`;
  let verdict: Verdict = 'Inconclusive';
  let reason = `${facts}: not yet decided${t >= 1 ? ' at the final look' : ''}`;
  if (z <= -c) [verdict, reason] = ['Loss', `${facts}: significantly worse`];
  else if (plan.decision.rule === 'win' && z >= c) [verdict, reason] = ['Win', `${facts}: significantly better`];
  else if (plan.decision.rule === 'nonInferiority' && goal.se > 0 && (good(plan.goal, goal.effect) + plan.decision.margin) / goal.se >= c)
    [verdict, reason] = ['NonInferior', `${facts}: no worse than the margin ${fmt(plan.decision.margin)}`];
  state.groupSequential = { fractions, bounds, verdict, reason };
  return { verdict, reason };
}

const unitsOf = (m: MetricCounters | undefined): number => m?.arm.n ?? 0;

/**
 * A look's information fraction: the smaller arm's units ÷ the planned units, capped at 1; 1 at a final look;
 * undefined for a look that waits for the planned information (`onlyIfComplete`) while it is short of it.
 */
function lookFraction(
  plan: ExperimentPlan,
  { control, treatment }: { control: ArmCounters; treatment: ArmCounters },
  goal: Comparison,
  look: GroupSequentialLook,
): number | undefined {
  if (look.final) return 1;
  const planned = plannedUnits(plan, control, goal);
  const units = Math.min(unitsOf(control.metrics[plan.goal.name]), unitsOf(treatment.metrics[plan.goal.name]));
  const information = planned > 0 ? units / planned : 1;
  if (look.onlyIfComplete && information < 1) return undefined;
  return Math.min(1, information);
}

/** Units per arm a fixed-horizon one-sided test at α/2 needs for 80 % power at the MDE (the information at t = 1). */
function plannedUnits(plan: ExperimentPlan, control: ArmCounters, goal: Comparison): number {
  const counters = control.metrics[plan.goal.name];
  if (!counters) return 0;
  const variance = unitVarianceOf(counters, goal);
  return variance > 0 ? unitsPerArmFor(plan.goal.effect, variance, plan.alpha, 0.8) : 0;
}

function unitVarianceOf(counters: MetricCounters, goal: Comparison): number {
  if (counters.kind === 'proportion') return goal.control * (1 - goal.control);
  if (counters.kind === 'mean') return moments(counters.arm).variance;
  return (goal.se * goal.se * counters.arm.n) / 2;
}

/**
 * Time until the goal's fixed-horizon sample (80 % power at the MDE) at the traffic so far, in the goal's own units
 * (its n: viewers, say, not the sample-ratio check's requests); undefined without traffic.
 */
function expectedTime(plan: ExperimentPlan, control: ArmCounters, goal: Comparison, elapsedMs: number): number | undefined {
  const counters = control.metrics[plan.goal.name];
  const n = counters?.arm.n ?? 0;
  if (!counters || elapsedMs <= 0 || n <= 0) return undefined;
  const unitVariance = unitVarianceOf(counters, goal);
  if (!(unitVariance > 0)) return undefined;
  const needed = unitsPerArmFor(plan.goal.effect, unitVariance, plan.alpha, 0.8);
  return Math.max(0, (needed - n) / (n / elapsedMs));
}

/** Why a metric cannot be judged yet (fewer than 2 units in an arm), or undefined when it can. */
function thinness(name: string, control: MetricCounters | undefined, treatment: MetricCounters | undefined): string | undefined {
  if (!control || !treatment || Math.min(control.arm.n, treatment.arm.n) >= 2) return undefined;
  // More events than units is a spec mistake whatever the units: compare() names it (Invalid), it is not "thin".
  const overCounted = (c: MetricCounters) => c.kind === 'proportion' && c.arm.events > c.arm.n;
  if (overCounted(control) || overCounted(treatment)) return undefined;
  return `${name}: ${control.arm.n} control and ${treatment.arm.n} treatment units so far (each arm needs 2)`;
}

const fmt = (x: number): string => String(+x.toPrecision(4));
const pct = (x: number): string => `${+(x * 100).toPrecision(3)} %`;
