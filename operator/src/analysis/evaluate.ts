// Pure judgement of measurements: per-metric verdicts, the step verdict with its counters, and the
// sustained-window breaker. No I/O; time comes in as an argument.
import type { AnalysisStatus, Bounds, BreakerRule, Measurement, MetricResult, MetricRule, MetricVerdict } from './types.js';

export function judgeValue(value: number, bounds: Bounds): 'pass' | 'fail' | 'inconclusive' {
  const failMax = bounds.failMax ?? bounds.max;
  const failMin = bounds.failMin ?? bounds.min;
  if (failMax !== undefined && value > failMax) return 'fail';
  if (failMin !== undefined && value < failMin) return 'fail';
  if (bounds.max !== undefined && value > bounds.max) return 'inconclusive';
  if (bounds.min !== undefined && value < bounds.min) return 'inconclusive';
  return 'pass';
}

const SEVERITY: Record<MetricVerdict, number> = { pass: 0, inconclusive: 1, noData: 2, error: 3, fail: 4 };

function fmt(n: number): string {
  return Number.isFinite(n) ? String(+n.toPrecision(4)) : String(n);
}

function describe(name: string, value: number, bounds: Bounds, verdict: string, what = ''): string {
  const parts: string[] = [];
  if (bounds.max !== undefined) parts.push(`max ${fmt(bounds.max)}`);
  if (bounds.failMax !== undefined) parts.push(`fail above ${fmt(bounds.failMax)}`);
  if (bounds.min !== undefined) parts.push(`min ${fmt(bounds.min)}`);
  if (bounds.failMin !== undefined) parts.push(`fail below ${fmt(bounds.failMin)}`);
  return `${name}${what} ${fmt(value)} (${parts.join(', ')}): ${verdict}`;
}

/** One metric: absolute bounds on the candidate, and/or bounds on candidate ÷ stable. The worse verdict wins. */
export function judgeMetric(rule: MetricRule, candidate: Measurement, stable?: Measurement, stableCarriesTraffic = true): MetricResult {
  if (candidate.kind === 'error') return { name: rule.name, verdict: 'error', message: `${rule.name}: query failed: ${candidate.message}` };
  if (candidate.kind === 'noData') return { name: rule.name, verdict: 'noData', message: `${rule.name}: no data for the candidate (${candidate.message})` };
  const value = candidate.value;
  const results: MetricResult[] = [];
  if (hasBounds(rule.bounds)) {
    const verdict = judgeValue(value, rule.bounds);
    results.push({ name: rule.name, verdict, value, message: describe(rule.name, value, rule.bounds, verdict) });
  }
  // At 100 % the stable side serves nothing, so there is no baseline to compare with: absolute bounds only.
  if (rule.relative && hasBounds(rule.relative) && !stableCarriesTraffic && (!stable || stable.kind !== 'value')) {
    if (results.length === 0) return { name: rule.name, verdict: 'pass', value, message: `${rule.name} ${fmt(value)}: no stable traffic to compare with at this step (relative bound not applicable)` };
  } else if (rule.relative && hasBounds(rule.relative)) {
    if (!stable || stable.kind === 'noData') {
      results.push({ name: rule.name, verdict: 'noData', value, message: `${rule.name}: no stable baseline to compare with` });
    } else if (stable.kind === 'error') {
      results.push({ name: rule.name, verdict: 'error', value, message: `${rule.name}: baseline query failed: ${stable.message}` });
    } else {
      const ratio = stable.value === 0 ? (value === 0 ? 1 : Infinity) : value / stable.value;
      const verdict = judgeValue(ratio, rule.relative);
      results.push({ name: rule.name, verdict, value, baseline: stable.value, message: describe(rule.name, ratio, rule.relative, verdict, ` candidate/stable ratio (${fmt(value)}/${fmt(stable.value)})`) });
    }
  }
  if (results.length === 0) return { name: rule.name, verdict: 'pass', value, message: `${rule.name} ${fmt(value)}: no bounds set` };
  return results.reduce((worst, r) => (SEVERITY[r.verdict] > SEVERITY[worst.verdict] ? r : worst));
}

function hasBounds(b: Bounds): boolean {
  return b.min !== undefined || b.max !== undefined || b.failMin !== undefined || b.failMax !== undefined;
}

export interface StepLimits {
  /** Consecutive failed queries before `onError` applies. */
  maxConsecutiveErrors: number;
  onError: 'pause' | 'rollback';
  /** Consecutive inconclusive evaluations before the rollout pauses for a person. */
  maxInconclusive: number;
}

export type StepVerdict =
  | { result: 'pass'; message: string }
  | { result: 'pending'; message: string }
  | { result: 'inconclusive'; message: string }
  | { result: 'pause'; message: string }
  | { result: 'fail'; reason: string; message: string };

/** Combines one evaluation of every metric into the step verdict, updating the counters in `state`. */
export function judgeStep(results: MetricResult[], state: AnalysisStatus, limits: StepLimits): StepVerdict {
  const failed = results.find((r) => r.verdict === 'fail');
  if (failed) return { result: 'fail', reason: failed.name, message: failed.message };
  const errors = results.filter((r) => r.verdict === 'error');
  if (errors.length > 0) {
    state.consecutiveErrors = (state.consecutiveErrors ?? 0) + 1;
    const message = `${errors.map((e) => e.message).join('; ')} (${state.consecutiveErrors} consecutive)`;
    if (state.consecutiveErrors >= limits.maxConsecutiveErrors) {
      return limits.onError === 'rollback'
        ? { result: 'fail', reason: 'AnalysisError', message: `metrics unavailable: ${message}` }
        : { result: 'pause', message: `metrics unavailable, paused for a person: ${message}` };
    }
    return { result: 'pending', message: `metrics unavailable, holding: ${message}` };
  }
  state.consecutiveErrors = 0;
  const missing = results.filter((r) => r.verdict === 'noData');
  if (missing.length > 0) return { result: 'pending', message: `not enough data: ${missing.map((m) => m.message).join('; ')}` };
  const unsure = results.filter((r) => r.verdict === 'inconclusive');
  if (unsure.length > 0) {
    state.consecutiveInconclusive = (state.consecutiveInconclusive ?? 0) + 1;
    const message = `${unsure.map((u) => u.message).join('; ')} (${state.consecutiveInconclusive} in a row)`;
    if (state.consecutiveInconclusive >= limits.maxInconclusive) return { result: 'pause', message: `inconclusive, paused for a person: ${message}` };
    return { result: 'inconclusive', message };
  }
  state.consecutiveInconclusive = 0;
  return { result: 'pass', message: results.map((r) => r.message).join('; ') || 'no metrics' };
}

export type BreakerOutcome = { tripped: false; since?: string } | { tripped: true; message: string };

/**
 * One breaker check of one metric. A severe value trips at once; a value beyond the threshold starts
 * (or continues) a breach that trips once it has lasted `forMs`. No data or an error neither clears nor
 * extends a breach: the window keeps its start.
 */
export function checkBreaker(name: string, rule: BreakerRule, m: Measurement, since: string | undefined, now: Date): BreakerOutcome {
  if (m.kind !== 'value') return since ? { tripped: false, since } : { tripped: false };
  const beyond = (bound: number) => (rule.below ? m.value < bound : m.value > bound);
  const op = rule.below ? '<' : '>';
  if (rule.severe !== undefined && beyond(rule.severe)) {
    return { tripped: true, message: `${name} ${fmt(m.value)} ${op} severe bound ${fmt(rule.severe)} at ${now.toISOString()}` };
  }
  if (!beyond(rule.threshold)) return { tripped: false };
  const start = since ?? now.toISOString();
  const lasted = now.getTime() - Date.parse(start);
  if (lasted >= rule.forMs) {
    return { tripped: true, message: `${name} ${fmt(m.value)} ${op} ${fmt(rule.threshold)} continuously since ${start} (${Math.round(lasted / 1000)} s ≥ ${Math.round(rule.forMs / 1000)} s)` };
  }
  return { tripped: false, since: start };
}
