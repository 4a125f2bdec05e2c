// Confidence bounds on a binomial proportion (errors out of requests), for decisions that stay honest at
// the request rates of text-to-video serving: 3 failures out of 3 is strong evidence, 1 out of 400 is not,
// and 0 out of 2 says almost nothing. Clopper–Pearson ("exact") bounds, one-sided: for any true rate p,
// P(lower > p) ≤ 1 − confidence and P(upper < p) ≤ 1 − confidence. That guarantee is what the docs state
// as the false-alarm rate of one check. The beta quantile comes from jStat rather than our own code.
import jStat from 'jstat';

const betaQuantile = (p: number, a: number, b: number): number => jStat.beta.inv(p, a, b);

export interface ProportionBounds {
  /** events ÷ trials; NaN when trials is 0. */
  estimate: number;
  /** One-sided lower bound at `confidence` (0 when no events). */
  lower: number;
  /** One-sided upper bound at `confidence` (1 when every trial is an event). */
  upper: number;
}

export class ProportionInputError extends Error {
  readonly code = 'ERR_PROPORTION_INPUT';
  constructor(
    readonly field: 'events' | 'trials' | 'confidence',
    value: number,
    allowed: string,
  ) {
    super(`${field}: ${value} is not allowed (${allowed})`);
  }
}

/**
 * The whole number of requests behind a count read from Prometheus' increase(). increase() takes the delta
 * between the first and last sample inside the window, a whole number of requests, and scales it up to the
 * window's edges (Prometheus docs, "increase()": extrapolated, never scaled down; up to ~2× when a window holds
 * two scrapes). So the evidence is a whole number at most the value read: the floor, not the nearest integer
 * (one failed request read as 1.88 is 1, not 2). A tolerance of 1e-6
 * absorbs float error in sums of exact counts (2.9999999 is 3). Large counts keep part of the inflation
 * (125 read for 100 true); a breaker window of several scrapes keeps the factor near 1.
 */
export function wholeCount(read: number): number {
  return Math.floor(read + 1e-6);
}

/**
 * Clopper–Pearson bounds for `events` out of `trials`; each bound is one-sided at `confidence` (0.5–1).
 * Counts from Prometheus' increase() are extrapolated floats: see wholeCount for how they become requests.
 * Throws ProportionInputError for negative or non-finite counts, events > trials, or a confidence outside (0.5, 1).
 */
export function proportionBounds(events: number, trials: number, confidence: number): ProportionBounds {
  if (!(confidence > 0.5 && confidence < 1)) throw new ProportionInputError('confidence', confidence, 'between 0.5 and 1, exclusive');
  if (!Number.isFinite(trials) || trials < 0) throw new ProportionInputError('trials', trials, 'a finite count ≥ 0');
  if (!Number.isFinite(events) || events < 0) throw new ProportionInputError('events', events, 'a finite count ≥ 0');
  const n = wholeCount(trials);
  // increase() on two counters is extrapolated separately, so errors may exceed requests by a fraction.
  const x = Math.min(wholeCount(events), n);
  if (n === 0) return { estimate: NaN, lower: 0, upper: 1 };
  const alpha = 1 - confidence;
  return {
    estimate: x / n,
    lower: x === 0 ? 0 : betaQuantile(alpha, x, n - x + 1),
    upper: x === n ? 1 : betaQuantile(1 - alpha, x + 1, n - x),
  };
}

export type ProportionVerdict = 'pass' | 'fail' | 'inconclusive';

/**
 * An upper bound on a rate: fail when even the lower bound is above `failMax` (confidently too high), pass
 * when the upper bound is at most `max` (confidently low enough), inconclusive otherwise.
 */
export function judgeProportion(b: ProportionBounds, max: number, failMax = max): ProportionVerdict {
  if (b.lower > failMax) return 'fail';
  if (b.upper <= max) return 'pass';
  return 'inconclusive';
}

/** The fewest error-free requests whose upper bound is at most `max`: what a step needs before it can pass. */
export function requestsToPass(max: number, confidence: number): number {
  // No count proves a rate of 0 (or less); at 1 or more any count passes.
  if (!(max > 0)) return Infinity;
  if (max >= 1) return 0;
  // With 0 events the upper bound is 1 − (1 − confidence)^(1/n).
  return Math.ceil(Math.log(1 - confidence) / Math.log(1 - max));
}
