import { describe, expect, it } from 'vitest';
import { rateRatioBounds } from './evaluate.js';
import { judgeProportion, proportionBounds, ProportionInputError, requestsToPass } from './binomial.js';

/** P(X = k) for X ~ Binomial(n, p), summed exactly in log space. */
function binomialPmf(k: number, n: number, p: number): number {
  let logC = 0;
  for (let i = 1; i <= k; i++) logC += Math.log(n - k + i) - Math.log(i);
  return Math.exp(logC + k * Math.log(p) + (n - k) * Math.log1p(-p));
}

describe('Clopper–Pearson bounds on an error rate', () => {
  it('match the closed forms at the edges (0 of n, n of n)', () => {
    const zero = proportionBounds(0, 299, 0.95);
    expect(zero.lower).toBe(0);
    expect(zero.upper).toBeCloseTo(1 - 0.05 ** (1 / 299), 12);
    const all = proportionBounds(3, 3, 0.95);
    expect(all.upper).toBe(1);
    expect(all.lower).toBeCloseTo(0.05 ** (1 / 3), 12);
  });

  it('3 failures of 3 is confidently above 10 %; 1 of 400 is confidently below 1 %; 0 of 2 says little', () => {
    expect(judgeProportion(proportionBounds(3, 3, 0.95), 0.1)).toBe('fail');
    expect(judgeProportion(proportionBounds(2, 2, 0.95), 0.1)).toBe('fail');
    expect(judgeProportion(proportionBounds(1, 1, 0.95), 0.1)).toBe('inconclusive');
    expect(judgeProportion(proportionBounds(1, 400, 0.95), 0.1)).toBe('pass');
    expect(judgeProportion(proportionBounds(1, 400, 0.95), 0.01)).toBe('inconclusive');
    expect(judgeProportion(proportionBounds(0, 2, 0.95), 0.01)).toBe('inconclusive');
    expect(judgeProportion(proportionBounds(500, 1000, 0.95), 0.1)).toBe('fail');
    expect(judgeProportion(proportionBounds(0, 299, 0.95), 0.01)).toBe('pass');
    expect(requestsToPass(0.01, 0.95)).toBe(299);
    expect(requestsToPass(0.05, 0.95)).toBe(59);
  });

  it('takes extrapolated counts down to whole requests and clamps errors to requests (increase() extrapolates each counter on its own)', () => {
    // increase() only scales up: 2.9 requests read means at most 2 seen; 1.88 of 1.88 is 1 of 1, not 2 of 2.
    expect(proportionBounds(3.2, 2.9, 0.95)).toEqual(proportionBounds(2, 2, 0.95));
    expect(proportionBounds(1.879, 1.884, 0.95)).toEqual(proportionBounds(1, 1, 0.95));
    expect(proportionBounds(2.9999999, 3, 0.95)).toEqual(proportionBounds(3, 3, 0.95));
    expect(proportionBounds(0, 0.3, 0.95)).toMatchObject({ lower: 0, upper: 1 });
    expect(Number.isNaN(proportionBounds(0, 0, 0.95).estimate)).toBe(true);
  });

  it('keeps its promise: at a true rate equal to the bound, a fail verdict comes at most 1 − confidence of the time', () => {
    // Exact, not simulated: for every sample size up to 300 and a few bounds, sum P(k) over the k that would fail.
    for (const bound of [0.01, 0.05, 0.1, 0.3]) {
      for (let n = 1; n <= 300; n++) {
        let falseAlarm = 0;
        for (let k = 0; k <= n; k++) if (judgeProportion(proportionBounds(k, n, 0.95), bound) === 'fail') falseAlarm += binomialPmf(k, n, bound);
        expect(falseAlarm, `n=${n} bound=${bound}`).toBeLessThanOrEqual(0.05 + 1e-9);
      }
    }
  });

  it('refuses inputs that have no meaning, naming the field', () => {
    expect(() => proportionBounds(-1, 3, 0.95)).toThrow(ProportionInputError);
    expect(() => proportionBounds(1, Infinity, 0.95)).toThrow(/trials: Infinity/);
    expect(() => proportionBounds(1, 3, 1)).toThrow(/confidence: 1/);
    try {
      proportionBounds(NaN, 3, 0.95);
    } catch (err) {
      expect(err).toMatchObject({ code: 'ERR_PROPORTION_INPUT', field: 'events' });
    }
  });
});

describe('bounds on a ratio of two error rates (relative bounds on counts)', () => {
  it('keeps its promise: at a true ratio equal to the bound, the lower bound exceeds it at most 1 − confidence of the time', () => {
    // Exact under the Poisson model the method assumes: given x events in all, the candidate's share is
    // Binomial(x, π₀) with π₀ = n₁·R / (n₁·R + n₂) at the true ratio R.
    for (const [n1, n2, bound] of [
      [400, 10_000, 2],
      [50, 50, 1.5],
      [1000, 200, 3],
    ] as const) {
      const pi0 = (n1 * bound) / (n1 * bound + n2);
      for (let x = 1; x <= 80; x++) {
        let falseAlarm = 0;
        for (let x1 = 0; x1 <= x; x1++) {
          const b = rateRatioBounds({ events: x1, trials: n1 }, { events: x - x1, trials: n2 }, 0.95);
          if (b.lower > bound) falseAlarm += binomialPmf(x1, x, pi0);
        }
        expect(falseAlarm, `n1=${n1} n2=${n2} x=${x}`).toBeLessThanOrEqual(0.05 + 1e-9);
      }
    }
  });

  it('is confident when the candidate is far worse, also when stable had no errors', () => {
    expect(rateRatioBounds({ events: 60, trials: 60 }, { events: 0, trials: 600 }, 0.95).lower).toBeGreaterThan(100);
    expect(rateRatioBounds({ events: 1, trials: 400 }, { events: 5, trials: 10_000 }, 0.95).lower).toBeLessThan(2);
  });
});
