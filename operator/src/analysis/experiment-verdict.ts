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
}

/** Carried from look to look (status): the running always-valid p-value and confidence sequence per metric. */
export interface ExperimentState {
  startedAt: string;
  looks: number;
  metrics: Record<string, { p: number; cs: [number, number] }>;
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
  control: ArmCounters,
  treatment: ArmCounters,
  previous: ExperimentState | undefined,
  now: Date,
): ExperimentVerdict {
  const state: ExperimentState = { startedAt: previous?.startedAt ?? now.toISOString(), looks: (previous?.looks ?? 0) + 1, metrics: { ...previous?.metrics } };
  const srm = sampleRatioMismatch([control.units, treatment.units], [1, 1]);
  const base = { srmP: srm.pValue, state };
  if (srm.pValue < plan.srmPValue) {
    return {
      ...base,
      verdict: 'Invalid',
      reason: `sample-ratio mismatch: control ${control.units} vs treatment ${treatment.units} units for a planned 1:1 (χ² ${srm.chi2.toFixed(1)}, p ${srm.pValue.toExponential(2)} < ${plan.srmPValue}): the assignment is broken, no effect can be trusted`,
      metrics: [],
    };
  }
  const reports: MetricReport[] = [];
  const all: [ExperimentMetric, 'goal' | 'guardrail'][] = [
    [plan.goal, 'goal'],
    ...plan.guardrails.map((g): [ExperimentMetric, 'guardrail'] => [g, 'guardrail']),
  ];
  let goal: Comparison | undefined;
  for (const [m, role] of all) {
    const c = compare(m.name, control.metrics[m.name], treatment.metrics[m.name], plan.alpha);
    if (typeof c === 'string') return { ...base, verdict: 'Invalid', reason: c, metrics: reports };
    // Guardrails have no planned effect: their sequence is tuned to the tolerated regression, or to 5 % of control.
    const scale = role === 'goal' ? m.effect : m.effect > 0 ? m.effect : Math.abs(c.control) * 0.05 || c.se || 1;
    const s = sequential(previous?.metrics[m.name], c, tau2ForMde(scale), plan.alpha);
    state.metrics[m.name] = s;
    reports.push({
      name: m.name,
      role,
      control: c.control,
      treatment: c.treatment,
      effect: c.effect,
      cs: s.cs,
      p: s.p,
      ...(role === 'goal' ? { power: powerAt(m.effect, c.se, plan.alpha) } : {}),
    });
    if (role === 'goal') goal = c;
  }
  for (const r of reports.filter((x) => x.role === 'guardrail')) {
    const m = plan.guardrails.find((g) => g.name === r.name)!;
    // Worst case still better than the tolerated regression? The best end of the sequence is what must be bad.
    const bestGood = Math.max(good(m, r.cs[0]), good(m, r.cs[1]));
    if (bestGood < -m.effect) {
      return {
        ...base,
        verdict: 'Loss',
        reason: `guardrail ${r.name} regressed: effect ${fmt(r.effect)} (${fmt(r.control)} → ${fmt(r.treatment)}), whole ${pct(1 - plan.alpha)} confidence sequence [${fmt(r.cs[0])}, ${fmt(r.cs[1])}] beyond the tolerated ${fmt(m.effect)} (${m.better} is better)`,
        metrics: reports,
      };
    }
  }
  const g = reports[0]!;
  const elapsed = now.getTime() - Date.parse(state.startedAt);
  const expectedMsToDecision = expectedTime(plan, control, goal!, elapsed);
  const out = { ...base, metrics: reports, ...(expectedMsToDecision !== undefined ? { expectedMsToDecision } : {}) };
  if (elapsed < plan.minDurationMs)
    return { ...out, verdict: 'Inconclusive', reason: `minimum duration: ${Math.round(elapsed / 1000)} s of ${Math.round(plan.minDurationMs / 1000)} s` };
  const [lo, hi] = [Math.min(good(plan.goal, g.cs[0]), good(plan.goal, g.cs[1])), Math.max(good(plan.goal, g.cs[0]), good(plan.goal, g.cs[1]))];
  const facts = `${plan.goal.name} ${fmt(g.control)} → ${fmt(g.treatment)} (effect ${fmt(g.effect)}, ${pct(1 - plan.alpha)} confidence sequence [${fmt(g.cs[0])}, ${fmt(g.cs[1])}], always-valid p ${g.p.toPrecision(3)})`;
  if (g.p <= plan.alpha && hi < 0) return { ...out, verdict: 'Loss', reason: `${facts}: significantly worse` };
  if (plan.decision.rule === 'win' && g.p <= plan.alpha && lo > 0) return { ...out, verdict: 'Win', reason: `${facts}: significantly better` };
  if (plan.decision.rule === 'nonInferiority' && lo > -plan.decision.margin)
    return { ...out, verdict: 'NonInferior', reason: `${facts}: no worse than the margin ${fmt(plan.decision.margin)}` };
  return { ...out, verdict: 'Inconclusive', reason: `${facts}: not yet decided (power at the MDE ${fmt(plan.goal.effect)}: ${pct(g.power ?? 0)})` };
}

/** Time until the goal's fixed-horizon sample (80 % power at the MDE) at the traffic so far; undefined without traffic. */
function expectedTime(plan: ExperimentPlan, control: ArmCounters, goal: Comparison, elapsedMs: number): number | undefined {
  const counters = control.metrics[plan.goal.name];
  if (!counters || elapsedMs <= 0 || control.units <= 0) return undefined;
  const unitVariance =
    counters.kind === 'proportion'
      ? goal.control * (1 - goal.control)
      : counters.kind === 'mean'
        ? moments(counters.arm).variance
        : (goal.se * goal.se * counters.arm.n) / 2;
  if (!(unitVariance > 0)) return undefined;
  const needed = unitsPerArmFor(plan.goal.effect, unitVariance, plan.alpha, 0.8);
  const rate = control.units / elapsedMs;
  return Math.max(0, (needed - control.units) / rate);
}

const fmt = (x: number): string => String(+x.toPrecision(4));
const pct = (x: number): string => `${+(x * 100).toPrecision(3)} %`;
