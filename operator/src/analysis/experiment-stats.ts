// Statistics of an A/B experiment between a control arm (a slice of stable the size of the treatment) and the
// treatment arm (the candidate). Pure: counters in, comparisons out. Distributions come from jStat.
//
// Fixed-horizon tests (valid at one pre-planned look): two-proportion z for rates, Welch's t for means from
// count / sum / sum-of-squares counters, the delta method for ratio metrics. Sequential (valid under continuous
// monitoring, any number of looks): the mixture sequential probability ratio test (mSPRT) of Johari, Koomen,
// Pekelis & Walsh, "Always Valid Inference" (Operations Research 2022; arXiv 1512.04922), on the normal
// approximation of the effect estimate, giving always-valid p-values and confidence sequences. Sample-ratio
// mismatch: Pearson's χ² goodness of fit against the planned shares (Fabijan et al., KDD 2019, use p < 0.001).
import jStat from 'jstat';

/** A rate metric's counters for one arm: units (users, requests) and how many had the event. */
export interface ProportionArm {
  n: number;
  events: number;
}

/** A mean metric's counters for one arm: units, Σx and Σx². */
export interface MomentArm {
  n: number;
  sum: number;
  sumSq: number;
}

/**
 * A ratio metric's counters for one arm, per unit i: numerator y_i and denominator x_i (e.g. GPU-seconds and
 * video-seconds per user): Σx, Σy, Σx², Σy², Σxy. The metric is Σy ÷ Σx.
 */
export interface RatioArm {
  n: number;
  sumX: number;
  sumY: number;
  sumXX: number;
  sumYY: number;
  sumXY: number;
}

/** Treatment against control on one metric: estimates, the effect (treatment − control) and its uncertainty. */
export interface Comparison {
  control: number;
  treatment: number;
  /** treatment − control, in the metric's unit. */
  effect: number;
  /** effect ÷ control (NaN when control is 0). */
  relativeEffect: number;
  /** Standard error of the effect. */
  se: number;
  /** z, or t for Welch. */
  statistic: number;
  /** Welch–Satterthwaite degrees of freedom (t tests only). */
  df?: number;
  /** Two-sided fixed-horizon p-value: valid at one planned look only. */
  pValue: number;
  /** Two-sided 1 − alpha confidence interval of the effect (fixed horizon). */
  ci: [number, number];
}

const normalCdf = (z: number): number => jStat.normal.cdf(z, 0, 1);
const normalInv = (p: number): number => jStat.normal.inv(p, 0, 1);

function requireUnits(name: string, n: number, min: number): void {
  if (!Number.isFinite(n) || n < min) throw new RangeError(`${name}.n: ${n} units, at least ${min} needed`);
}

function zComparison(control: number, treatment: number, se: number, alpha: number, testSe = se): Comparison {
  const effect = treatment - control;
  const statistic = testSe > 0 ? effect / testSe : effect === 0 ? 0 : Math.sign(effect) * Infinity;
  const half = normalInv(1 - alpha / 2) * se;
  return {
    control,
    treatment,
    effect,
    relativeEffect: control === 0 ? NaN : effect / control,
    se,
    statistic,
    pValue: 2 * (1 - normalCdf(Math.abs(statistic))),
    ci: [effect - half, effect + half],
  };
}

/**
 * Two-proportion z test: z = (p_t − p_c) ÷ √(p̂(1 − p̂)(1/n_c + 1/n_t)) with the pooled p̂ (the test's null of
 * equal rates); the interval uses the unpooled SE √(p_c(1 − p_c)/n_c + p_t(1 − p_t)/n_t).
 * Throws RangeError when an arm has no units or more events than units.
 */
export function twoProportionZ(control: ProportionArm, treatment: ProportionArm, alpha = 0.05): Comparison {
  for (const [name, a] of [
    ['control', control],
    ['treatment', treatment],
  ] as const) {
    requireUnits(name, a.n, 1);
    if (!(a.events >= 0 && a.events <= a.n)) throw new RangeError(`${name}.events: ${a.events} is not between 0 and n = ${a.n}`);
  }
  const pc = control.events / control.n;
  const pt = treatment.events / treatment.n;
  const pooled = (control.events + treatment.events) / (control.n + treatment.n);
  const testSe = Math.sqrt(pooled * (1 - pooled) * (1 / control.n + 1 / treatment.n));
  const se = Math.sqrt((pc * (1 - pc)) / control.n + (pt * (1 - pt)) / treatment.n);
  return zComparison(pc, pt, se, alpha, testSe);
}

/** Mean and unbiased variance from counters (variance 0 below 2 units or when rounding makes it negative). */
export function moments(a: MomentArm): { mean: number; variance: number } {
  const mean = a.sum / a.n;
  const variance = a.n > 1 ? Math.max(0, (a.sumSq - a.n * mean * mean) / (a.n - 1)) : 0;
  return { mean, variance };
}

/**
 * Welch's t test for a difference of means (unequal variances), from count / sum / sum-of-squares counters:
 * t = (m_t − m_c) ÷ √(s_c²/n_c + s_t²/n_t), df by Welch–Satterthwaite. Throws RangeError below 2 units an arm.
 */
export function welchT(control: MomentArm, treatment: MomentArm, alpha = 0.05): Comparison {
  requireUnits('control', control.n, 2);
  requireUnits('treatment', treatment.n, 2);
  const c = moments(control);
  const t = moments(treatment);
  const vc = c.variance / control.n;
  const vt = t.variance / treatment.n;
  const se = Math.sqrt(vc + vt);
  const effect = t.mean - c.mean;
  const df = se > 0 ? (vc + vt) ** 2 / (vc ** 2 / (control.n - 1) + vt ** 2 / (treatment.n - 1)) : control.n + treatment.n - 2;
  const statistic = se > 0 ? effect / se : effect === 0 ? 0 : Math.sign(effect) * Infinity;
  const half = jStat.studentt.inv(1 - alpha / 2, df) * se;
  return {
    control: c.mean,
    treatment: t.mean,
    effect,
    relativeEffect: c.mean === 0 ? NaN : effect / c.mean,
    se,
    statistic,
    df,
    pValue: Number.isFinite(statistic) ? 2 * (1 - jStat.studentt.cdf(Math.abs(statistic), df)) : 0,
    ci: [effect - half, effect + half],
  };
}

/**
 * A ratio metric Σy ÷ Σx and its variance by the delta method (Deng, Knoblich & Lu, "Applying the Delta Method
 * in Metric Analytics", KDD 2018): Var(ȳ/x̄) ≈ (1/n)(s_y²/x̄² − 2ȳ·s_xy/x̄³ + ȳ²·s_x²/x̄⁴).
 * Throws RangeError below 2 units or when Σx is 0.
 */
export function deltaRatio(a: RatioArm, name = 'arm'): { ratio: number; variance: number } {
  requireUnits(name, a.n, 2);
  if (a.sumX === 0) throw new RangeError(`${name}.sumX: 0, the ratio's denominator is empty`);
  const mx = a.sumX / a.n;
  const my = a.sumY / a.n;
  const vx = (a.sumXX - a.n * mx * mx) / (a.n - 1);
  const vy = (a.sumYY - a.n * my * my) / (a.n - 1);
  const cxy = (a.sumXY - a.n * mx * my) / (a.n - 1);
  const variance = Math.max(0, (vy / mx ** 2 - (2 * my * cxy) / mx ** 3 + (my ** 2 * vx) / mx ** 4) / a.n);
  return { ratio: my / mx, variance };
}

/** Difference of two ratio metrics (treatment − control), z on the delta-method variances. */
export function ratioZ(control: RatioArm, treatment: RatioArm, alpha = 0.05): Comparison {
  const c = deltaRatio(control, 'control');
  const t = deltaRatio(treatment, 'treatment');
  return zComparison(c.ratio, t.ratio, Math.sqrt(c.variance + t.variance), alpha);
}

/**
 * Sample-ratio mismatch: Pearson's χ² of the observed units per arm against the planned shares (normalised),
 * df = arms − 1. A p-value under 0.001 means the assignment is broken and no effect can be trusted.
 */
export function sampleRatioMismatch(observed: readonly number[], plannedShares: readonly number[]): { chi2: number; df: number; pValue: number } {
  if (observed.length !== plannedShares.length || observed.length < 2)
    throw new RangeError(`sampleRatioMismatch: ${observed.length} arms observed, ${plannedShares.length} planned (at least 2, the same number)`);
  const total = observed.reduce((a, b) => a + b, 0);
  const shareSum = plannedShares.reduce((a, b) => a + b, 0);
  if (!(shareSum > 0) || plannedShares.some((s) => !(s > 0)))
    throw new RangeError(`sampleRatioMismatch: planned shares ${plannedShares.join(', ')} must all be above 0`);
  if (total === 0) return { chi2: 0, df: observed.length - 1, pValue: 1 };
  const chi2 = observed.reduce((acc, o, i) => {
    const expected = (total * plannedShares[i]!) / shareSum;
    return acc + (o - expected) ** 2 / expected;
  }, 0);
  const df = observed.length - 1;
  return { chi2, df, pValue: 1 - jStat.chisquare.cdf(chi2, df) };
}

/**
 * The mSPRT's mixture likelihood ratio for a normal effect estimate θ̂ with variance V, against θ = 0, mixing
 * over θ ~ N(0, τ²): Λ = √(V/(V + τ²)) · exp(τ²θ̂² / (2V(V + τ²))) (Johari et al., eq. 10 with H0: θ = 0).
 */
export function mixtureLikelihoodRatio(effect: number, variance: number, tau2: number): number {
  if (!(variance > 0)) return effect === 0 ? 1 : Infinity;
  return Math.sqrt(variance / (variance + tau2)) * Math.exp((tau2 * effect * effect) / (2 * variance * (variance + tau2)));
}

/**
 * The always-valid p-value after one more look: p_n = min(p_{n−1}, 1/Λ_n), p_0 = 1. Rejecting when it is ≤ α
 * keeps the false-positive rate ≤ α however often one looks (Ville's inequality on the mixture martingale).
 */
export function alwaysValidP(previous: number, effect: number, variance: number, tau2: number): number {
  return Math.min(previous, 1, 1 / mixtureLikelihoodRatio(effect, variance, tau2));
}

/**
 * The 1 − α confidence sequence of the effect at this look (the set of θ0 the mSPRT does not reject):
 * θ̂ ± √((V(V + τ²)/τ²) · (2 ln(1/α) + ln((V + τ²)/V))). Intersect it with the previous looks' for a running one.
 */
export function confidenceSequence(effect: number, variance: number, tau2: number, alpha: number): [number, number] {
  if (!(variance > 0)) return [effect, effect];
  const half = Math.sqrt(((variance * (variance + tau2)) / tau2) * (2 * Math.log(1 / alpha) + Math.log((variance + tau2) / variance)));
  return [effect - half, effect + half];
}

/**
 * The mixing variance τ² for a minimum detectable effect: τ = MDE, so the test is most sensitive to effects of
 * about the size the experiment is planned to detect (Johari et al. §4 tune τ to the effects expected).
 */
export function tau2ForMde(mde: number): number {
  if (!(Math.abs(mde) > 0)) throw new RangeError(`minimum detectable effect ${mde} must be non-zero`);
  return mde * mde;
}

/**
 * Fixed-horizon power of a two-sided z test at level α to detect |effect| = mde when the effect's SE is `se`:
 * Φ(|mde|/se − z_{1−α/2}) (the other tail's share is negligible and left out).
 */
export function powerAt(mde: number, se: number, alpha = 0.05): number {
  if (!(se > 0)) return 1;
  return normalCdf(Math.abs(mde) / se - normalInv(1 - alpha / 2));
}

/**
 * Units per arm a fixed-horizon z test needs for `power` at `mde`, when one unit's variance is σ² in each arm:
 * n = 2σ²(z_{1−α/2} + z_power)² ÷ mde².
 */
export function unitsPerArmFor(mde: number, unitVariance: number, alpha = 0.05, power = 0.8): number {
  return Math.ceil((2 * unitVariance * (normalInv(1 - alpha / 2) + normalInv(power)) ** 2) / (mde * mde));
}
