// Pure judgement of measurements: per-metric verdicts, the step verdict with its counters, and the
// sustained-window breaker. No I/O; time comes in as an argument.
import { judgeProportion, proportionBounds, requestsToPass, wholeCount } from './binomial.js';
import type { AnalysisStatus, Bounds, BreakerRule, Measurement, MetricResult, MetricRule, MetricVerdict } from './types.js';

/** Never a pass for NaN or ±Inf: an infinity beyond a bound fails, anything else non-finite is inconclusive. */
export function judgeValue(value: number, bounds: Bounds): 'pass' | 'fail' | 'inconclusive' {
  const failMax = bounds.failMax ?? bounds.max;
  const failMin = bounds.failMin ?? bounds.min;
  if (failMax !== undefined && value > failMax) return 'fail';
  if (failMin !== undefined && value < failMin) return 'fail';
  if (!Number.isFinite(value)) return 'inconclusive';
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

/** How the stable baseline of a relative bound is judged. */
export interface BaselineOptions {
  /** False at 100 %: the stable side serves nothing, so a relative bound cannot apply. */
  stableCarriesTraffic?: boolean;
  /** Requests behind the stable value (counts rules use their trials); undefined skips the minimum. */
  stableSamples?: number;
  /** Fewer stable requests than this is no baseline. */
  minStableSamples?: number;
  /** One-sided confidence of count bounds (0.5–1). */
  confidence?: number;
}

/** One metric: absolute bounds on the candidate, and/or bounds on candidate ÷ stable. The worse verdict wins. */
export function judgeMetric(rule: MetricRule, candidate: Measurement, stable?: Measurement, opts: BaselineOptions = {}): MetricResult {
  if (candidate.kind === 'error') return { name: rule.name, verdict: 'error', message: `${rule.name}: query failed: ${candidate.message}` };
  if (candidate.kind === 'noData')
    return {
      name: rule.name,
      verdict: 'noData',
      ...(candidate.raw ? { raw: candidate.raw } : {}),
      message: `${rule.name}: no data for the candidate (${candidate.message})`,
    };
  if (candidate.kind === 'counts' && wholeCount(candidate.trials) === 0)
    return { name: rule.name, verdict: 'noData', samples: 0, message: `${rule.name}: no candidate requests in the window` };
  const results: MetricResult[] = [];
  const absolute = candidate.kind === 'counts' ? judgeCounts(rule, candidate, opts.confidence ?? DEFAULT_CONFIDENCE) : judgeAbsolute(rule, candidate.value);
  if (absolute) results.push(absolute);
  const value = valueOf(candidate);
  if (rule.relative && hasBounds(rule.relative)) {
    const relative = judgeRelative(rule, rule.relative, candidate, stable, opts, results.length > 0);
    if (relative) results.push(relative);
  }
  const facts = { ...finite(value), ...(candidate.kind === 'counts' ? { samples: wholeCount(candidate.trials) } : {}) };
  if (results.length === 0) return { name: rule.name, verdict: 'pass', ...facts, message: `${rule.name} ${fmt(value)}: no bounds apply` };
  const worst = results.reduce((w, r) => (SEVERITY[r.verdict] > SEVERITY[w.verdict] ? r : w));
  return { ...facts, ...worst };
}

export const DEFAULT_CONFIDENCE = 0.95;

function valueOf(m: { kind: 'value'; value: number } | { kind: 'counts'; events: number; trials: number }): number {
  return m.kind === 'value' ? m.value : Math.min(wholeCount(m.events), wholeCount(m.trials)) / wholeCount(m.trials);
}

/** A finite value goes to `value`; NaN and ±Inf to `raw`, as Prometheus writes them. */
function finite(value: number): { value: number } | { raw: string } {
  if (Number.isFinite(value)) return { value };
  return { raw: Number.isNaN(value) ? 'NaN' : value > 0 ? '+Inf' : '-Inf' };
}

function judgeAbsolute(rule: MetricRule, value: number): MetricResult | undefined {
  if (!hasBounds(rule.bounds)) return undefined;
  const verdict = judgeValue(value, rule.bounds);
  return { name: rule.name, verdict, ...finite(value), message: describe(rule.name, value, rule.bounds, verdict) };
}

function judgeCounts(rule: MetricRule, m: { events: number; trials: number }, confidence: number): MetricResult | undefined {
  const max = rule.bounds.max ?? rule.bounds.failMax;
  if (max === undefined) return undefined;
  const b = proportionBounds(m.events, m.trials, confidence);
  const verdict = judgeProportion(b, max, rule.bounds.failMax ?? max);
  const events = Math.min(wholeCount(m.events), wholeCount(m.trials));
  const trials = wholeCount(m.trials);
  const pct = `${fmt(confidence * 100)} %`;
  const why =
    verdict === 'fail'
      ? `lower ${pct} bound ${fmt(b.lower)} > ${fmt(rule.bounds.failMax ?? max)}`
      : verdict === 'pass'
        ? `upper ${pct} bound ${fmt(b.upper)} ≤ ${fmt(max)}`
        : `${fmt(b.lower)}–${fmt(b.upper)} straddles ${fmt(max)}; ${passHint(max, confidence)}`;
  return {
    name: rule.name,
    verdict,
    value: b.estimate,
    samples: trials,
    events,
    lower: b.lower,
    upper: b.upper,
    message: `${rule.name} ${events}/${trials} = ${fmt(b.estimate)} (max ${fmt(max)}; ${why}): ${verdict}`,
  };
}

function passHint(max: number, confidence: number): string {
  const n = requestsToPass(max, confidence);
  return Number.isFinite(n) ? `${n} error-free requests would pass` : `no number of requests can show a rate at most ${fmt(max)}`;
}

function judgeRelative(
  rule: MetricRule,
  bounds: Bounds,
  candidate: { kind: 'value'; value: number } | { kind: 'counts'; events: number; trials: number },
  stable: Measurement | undefined,
  opts: BaselineOptions,
  hasAbsolute: boolean,
): MetricResult | undefined {
  const name = rule.name;
  const value = valueOf(candidate);
  // NaN and ±Inf never pass, whatever the baseline.
  if (!Number.isFinite(value))
    return { name, verdict: 'inconclusive', ...finite(value), message: `${name}: the candidate reads ${fmt(value)}, no ratio can be judged` };
  // At 100 % the stable side serves nothing, so there is no baseline to compare with: absolute bounds only.
  if (opts.stableCarriesTraffic === false && (!stable || (stable.kind !== 'value' && stable.kind !== 'counts'))) {
    return hasAbsolute
      ? undefined
      : {
          name,
          verdict: 'pass',
          ...finite(value),
          message: `${name} ${fmt(value)}: no stable traffic to compare with at this step (relative bound not applicable)`,
        };
  }
  const failOnly = bounds.max === undefined && bounds.min === undefined;
  // A bound that can only fail (the guardrails) has nothing to be confidently over without stable requests.
  // No series is no requests; NaN, ±Inf or a negative count (noData with a raw value) is a broken baseline, not an empty one.
  const noStableRequests = !stable || (stable.kind === 'noData' && stable.raw === undefined) || (stable.kind === 'counts' && wholeCount(stable.trials) === 0);
  if (failOnly && noStableRequests)
    return { name, verdict: 'pass', ...finite(value), message: `${name} ${fmt(value)}: no stable requests to compare with; a fail-only bound passes` };
  if (!stable || stable.kind === 'noData') return { name, verdict: 'noData', ...finite(value), message: `${name}: no stable baseline to compare with` };
  if (stable.kind === 'error') return { name, verdict: 'error', ...finite(value), message: `${name}: baseline query failed: ${stable.message}` };
  const samples = stable.kind === 'counts' ? wholeCount(stable.trials) : opts.stableSamples;
  const minSamples = opts.minStableSamples ?? 0;
  // Counts on both sides: the ratio's confidence bounds already allow for a small stable sample. A confident
  // fail stands whatever stable's size; a bound that can only fail (the guardrails) passes otherwise.
  if (candidate.kind === 'counts' && stable.kind === 'counts' && wholeCount(stable.trials) > 0) {
    const judged = judgeRateRatio(rule, bounds, candidate, stable, opts.confidence ?? DEFAULT_CONFIDENCE);
    if (judged.verdict === 'fail' || failOnly) return judged;
  }
  if (samples !== undefined && samples < Math.max(1, minSamples)) {
    return {
      name,
      verdict: 'noData',
      ...finite(value),
      message: `${name}: the stable baseline rests on ${samples} requests, fewer than ${Math.max(1, minSamples)}`,
    };
  }
  const base = valueOf(stable);
  if (!Number.isFinite(base))
    return { name, verdict: 'inconclusive', ...finite(value), message: `${name}: the stable baseline is ${fmt(base)}, no ratio can be judged` };
  if (base === 0 && value === 0) return { name, verdict: 'pass', value, baseline: 0, message: `${name}: candidate and stable are both 0` };
  // Counts on both sides: confidence bounds on the ratio, which exist also when stable had no events.
  if (candidate.kind === 'counts' && stable.kind === 'counts') {
    const judged = judgeRateRatio(rule, bounds, candidate, stable, opts.confidence ?? DEFAULT_CONFIDENCE);
    // Stable without events and the candidate not confidently beyond: the ratio says nothing; the absolute bound decides.
    if (base === 0 && judged.verdict !== 'fail') {
      if (hasAbsolute) return undefined;
      return {
        ...judged,
        verdict: 'inconclusive',
        message: `${name}: stable had no events (0/${wholeCount(stable.trials)}), so candidate ${fmt(value)} ÷ stable is infinite whatever the candidate does and only a confident excess can fail it; add an absolute bound (max) to judge it`,
      };
    }
    return judged;
  }
  if (base === 0) {
    // A ratio to 0 is infinite whatever the candidate does: say so rather than fail or pass on it.
    if (hasAbsolute) return undefined;
    return {
      name,
      verdict: 'inconclusive',
      ...finite(value),
      baseline: 0,
      message: `${name}: the stable baseline is 0, so candidate ${fmt(value)} ÷ stable has no meaning; add an absolute bound (max) to judge it`,
    };
  }
  const ratio = value / base;
  const verdict = judgeValue(ratio, bounds);
  return {
    name,
    verdict,
    ...finite(value),
    baseline: base,
    message: describe(name, ratio, bounds, verdict, ` candidate/stable ratio (${fmt(value)}/${fmt(base)})`),
  };
}

/**
 * One-sided bounds on the ratio of two event rates (candidate ÷ stable) from their counts: the exact
 * conditional method for a ratio of Poisson rates (Clopper–Pearson on the candidate's share of all events,
 * then R = π·n₂ ÷ (n₁·(1 − π)); e.g. Rothman & Greenland, Modern Epidemiology, ch. 14). Error rates are small,
 * so the Poisson approximation of each binomial holds. Needs at least one event on each side.
 */
export function rateRatioBounds(
  candidate: { events: number; trials: number },
  stable: { events: number; trials: number },
  confidence: number,
): { lower: number; upper: number } {
  const n1 = wholeCount(candidate.trials);
  const n2 = wholeCount(stable.trials);
  const x1 = Math.min(wholeCount(candidate.events), n1);
  const x2 = Math.min(wholeCount(stable.events), n2);
  const share = proportionBounds(x1, x1 + x2, confidence);
  const ratio = (p: number): number => (p >= 1 ? Infinity : (p * n2) / (n1 * (1 - p)));
  return { lower: ratio(share.lower), upper: ratio(share.upper) };
}

/**
 * A relative bound on a counts rule: fails only when the rate ratio is confidently beyond the bound (so one
 * failed request in 400 against 5 in 10 000 is not "5× stable"), passes when the observed ratio is within,
 * and is inconclusive in between (more requests decide it). A confident pass is not asked for: at error rates
 * of 0.1 % it would need tens of thousands of candidate requests; the absolute bound gives that guarantee.
 */
function judgeRateRatio(
  rule: MetricRule,
  bounds: Bounds,
  candidate: { events: number; trials: number },
  stable: { events: number; trials: number },
  confidence: number,
): MetricResult {
  const value = valueOf({ kind: 'counts', ...candidate });
  const base = valueOf({ kind: 'counts', ...stable });
  const ratio = value / base;
  const b = rateRatioBounds(candidate, stable, confidence);
  const failMax = bounds.failMax ?? bounds.max;
  const failMin = bounds.failMin ?? bounds.min;
  const pct = `${fmt(confidence * 100)} %`;
  let verdict: MetricVerdict;
  let why: string;
  if (failMax !== undefined && b.lower > failMax) [verdict, why] = ['fail', `lower ${pct} bound of the ratio ${fmt(b.lower)} > ${fmt(failMax)}`];
  else if (failMin !== undefined && b.upper < failMin) [verdict, why] = ['fail', `upper ${pct} bound of the ratio ${fmt(b.upper)} < ${fmt(failMin)}`];
  else if ((bounds.max !== undefined && ratio > bounds.max) || (bounds.min !== undefined && ratio < bounds.min))
    [verdict, why] = ['inconclusive', `${pct} bounds ${fmt(b.lower)}–${fmt(b.upper)}: not confidently beyond`];
  else [verdict, why] = ['pass', `${pct} bounds ${fmt(b.lower)}–${fmt(b.upper)}`];
  const counts = `${Math.min(wholeCount(candidate.events), wholeCount(candidate.trials))}/${wholeCount(candidate.trials)} vs stable ${Math.min(wholeCount(stable.events), wholeCount(stable.trials))}/${wholeCount(stable.trials)}`;
  return {
    name: rule.name,
    verdict,
    ...finite(value),
    baseline: base,
    lower: b.lower,
    upper: b.upper,
    message: `${describe(rule.name, ratio, bounds, verdict, ` candidate/stable ratio (${counts})`).replace(/: [a-z]+$/, '')}; ${why}: ${verdict}`,
  };
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
 * Where a measurement stands against a breaker bound: confidently beyond it, not confidently beyond it
 * ("within", which for counts includes "undecided"), or missing (no data, NaN).
 */
type Side = 'beyond' | 'within' | 'missing';

function sideOf(m: Measurement, bound: number, below: boolean, confidence: number): { side: Side; shown: string } {
  if (m.kind === 'value') {
    if (Number.isNaN(m.value)) return { side: 'missing', shown: 'NaN' };
    return { side: (below ? m.value < bound : m.value > bound) ? 'beyond' : 'within', shown: fmt(m.value) };
  }
  if (m.kind !== 'counts' || wholeCount(m.trials) === 0) return { side: 'missing', shown: 'no data' };
  const b = proportionBounds(m.events, m.trials, confidence);
  const shown = `${Math.min(wholeCount(m.events), wholeCount(m.trials))}/${wholeCount(m.trials)} (${fmt(confidence * 100)} % bounds ${fmt(b.lower)}–${fmt(b.upper)})`;
  // Beyond only when the whole confidence interval is: the false-alarm rate of one check is ≤ 1 − confidence.
  return { side: (below ? b.upper < bound : b.lower > bound) ? 'beyond' : 'within', shown };
}

/**
 * One breaker check of one metric. A severe value trips at once. A value confidently beyond the threshold
 * starts a breach; the breach trips once it has lasted `forMs`.
 * - Plain values: the breach continues while every check is beyond the threshold.
 * - Counts: the breach is judged on everything since it began (`accumulated`: the counts over [since, now],
 *   which the caller measures): it ends when their rate is no longer above the threshold, and trips when it has
 *   lasted `forMs` and their lower confidence bound is above it. Judging 1-minute windows one by one would either
 *   let one false alarm open a breach few requests can ever close, or (requiring every window to be confidently
 *   beyond) let a candidate at 5× its bound run a whole step at 60 requests a minute; five minutes of its
 *   requests are confident evidence where no single minute is.
 * No data, NaN or no accumulated counts neither end nor extend a breach. `tripConfidence` (default
 * `confidence`) is the confidence of the trip test, which the runner raises because it repeats it every check.
 */
export function checkBreaker(
  name: string,
  rule: BreakerRule,
  m: Measurement,
  since: string | undefined,
  now: Date,
  confidence = DEFAULT_CONFIDENCE,
  accumulated?: Measurement,
  tripConfidence = confidence,
): BreakerOutcome {
  const keep: BreakerOutcome = since ? { tripped: false, since } : { tripped: false };
  const below = rule.below ?? false;
  const op = below ? '<' : '>';
  if (rule.severe !== undefined) {
    const severe = sideOf(m, rule.severe, below, confidence);
    if (severe.side === 'beyond') return { tripped: true, message: `${name} ${severe.shown} ${op} severe bound ${fmt(rule.severe)} at ${now.toISOString()}` };
  }
  const lasted = since ? now.getTime() - Date.parse(since) : 0;
  if (since && m.kind === 'counts') {
    if (accumulated?.kind !== 'counts' || wholeCount(accumulated.trials) === 0) return keep;
    const events = Math.min(wholeCount(accumulated.events), wholeCount(accumulated.trials));
    const rate = events / wholeCount(accumulated.trials);
    if (below ? rate >= rule.threshold : rate <= rule.threshold) return { tripped: false };
    const { side, shown } = sideOf(accumulated, rule.threshold, below, tripConfidence);
    if (lasted >= rule.forMs && side === 'beyond') {
      return {
        tripped: true,
        message: `${name} ${shown} since ${since} ${op} ${fmt(rule.threshold)} (${Math.round(lasted / 1000)} s ≥ ${Math.round(rule.forMs / 1000)} s)`,
      };
    }
    return keep;
  }
  const { side, shown } = sideOf(m, rule.threshold, below, confidence);
  if (side === 'missing') return keep;
  if (side === 'within') return { tripped: false };
  const start = since ?? now.toISOString();
  if (lasted >= rule.forMs) {
    return {
      tripped: true,
      message: `${name} ${shown} ${op} ${fmt(rule.threshold)} continuously since ${start} (${Math.round(lasted / 1000)} s ≥ ${Math.round(rule.forMs / 1000)} s)`,
    };
  }
  return { tripped: false, since: start };
}

/**
 * The confidence a breach's trip test uses: the test is repeated at every breaker check on a growing window,
 * so the step's false-alarm rate would grow with the number of checks; the error rate is split over the
 * checks in one `for` period (Bonferroni), keeping a candidate at its bound under 1 − confidence per period.
 */
export function tripConfidence(confidence: number, forMs: number, breakerIntervalMs: number): number {
  const checks = Math.max(1, Math.ceil(forMs / Math.max(1, breakerIntervalMs)));
  return 1 - (1 - confidence) / checks;
}

export interface NoDataPolicy {
  /** After this long without data for a metric, `action` applies. */
  deadlineMs: number;
  action: 'pause' | 'rollback';
  /** Checks in a row without data before the message names the query (earlier it is just "collecting"). */
  reportAfterChecks: number;
}

/** The label matchers of a rendered query's first selector: what it looked for and did not find. */
export function selectorOf(query: string): string {
  const m = /\{[^{}]*\}/.exec(query);
  return m ? m[0] : query;
}

/** One metric that returned no data: the rendered query and why (e.g. "no series", "NaN"). */
export interface NoDataCheck {
  query: string;
  why: string;
}

/**
 * Updates the no-data records of `state` from one evaluation (name → the query and why, when it returned
 * no data; undefined when it did), drops the records of names not in `known` (metrics removed from the spec),
 * and says what no data means now: nothing, a message naming each query and
 * its selector, or, past the deadline, the configured action. Pure: time comes in as `now`.
 */
export function trackNoData(
  state: AnalysisStatus,
  checked: Record<string, NoDataCheck | undefined>,
  now: Date,
  policy: NoDataPolicy,
  known?: ReadonlySet<string>,
): StepVerdict | undefined {
  const records = { ...(state.noData ?? {}) };
  if (known) for (const name of Object.keys(records)) if (!known.has(name)) delete records[name];
  for (const [name, check] of Object.entries(checked)) {
    if (check === undefined) {
      delete records[name];
      continue;
    }
    const previous = records[name];
    const seen = { query: check.query, selector: selectorOf(check.query), why: check.why };
    records[name] = previous ? { ...previous, ...seen, checks: previous.checks + 1 } : { since: now.toISOString(), ...seen, checks: 1 };
  }
  if (Object.keys(records).length > 0) state.noData = records;
  else delete state.noData;
  const reported = Object.entries(records).filter(([, r]) => r.checks >= policy.reportAfterChecks);
  if (reported.length === 0) return undefined;
  const oldest = Math.min(...reported.map(([, r]) => Date.parse(r.since)));
  const lines = reported.map(([name, r]) => `${name}: ${r.why} since ${r.since} (${r.checks} checks) for ${r.selector} in \`${r.query}\``);
  const deadline = oldest + policy.deadlineMs;
  if (now.getTime() >= deadline) {
    const message = `NoData past the ${Math.round(policy.deadlineMs / 1000)} s deadline: ${lines.join('; ')}`;
    return policy.action === 'rollback' ? { result: 'fail', reason: 'NoData', message } : { result: 'pause', message };
  }
  return {
    result: 'pending',
    message: `NoData: ${lines.join('; ')}; ${policy.action === 'rollback' ? 'rolls back' : 'pauses'} at ${new Date(deadline).toISOString()}`,
  };
}
