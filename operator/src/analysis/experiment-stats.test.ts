// Against reference values computed independently with SciPy (scripts/fixtures/experiment-stats.py wrote the
// fixtures file; run it again to regenerate).
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  alwaysValidP,
  confidenceSequence,
  deltaRatio,
  mixtureLikelihoodRatio,
  powerAt,
  ratioZ,
  sampleRatioMismatch,
  twoProportionZ,
  unitsPerArmFor,
  welchT,
  type MomentArm,
  type ProportionArm,
  type RatioArm,
} from './experiment-stats.js';

interface Fixtures {
  alpha: number;
  twoProportion: { control: ProportionArm; treatment: ProportionArm; z: number; p: number; ci: [number, number] }[];
  welch: { control: MomentArm; treatment: MomentArm; t: number; df: number; p: number; ci: [number, number] }[];
  deltaRatio: { arm: RatioArm; ratio: number; variance: number; bootstrapSd: number }[];
  srm: { observed: number[]; shares: number[]; chi2: number; p: number }[];
  msprt: { effect: number; variance: number; tau2: number; lambda: number; p: number; cs: [number, number] }[];
  power: { mde: number; se: number; power: number }[];
  unitsPerArm: { mde: number; variance: number; n: number }[];
}
const fx = JSON.parse(fs.readFileSync(new URL('./experiment-stats.fixtures.json', import.meta.url), 'utf8')) as Fixtures;

/** Relative closeness for values of any size (p-values near 0 compared on their own scale). */
const close = (actual: number, expected: number, rel = 1e-6) =>
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(rel * Math.max(1e-12, Math.abs(expected)) + 1e-12);

describe('fixed-horizon tests match SciPy', () => {
  it.each(fx.twoProportion.map((c, i) => [i, c] as const))('two proportions, case %i', (_i, c) => {
    const r = twoProportionZ(c.control, c.treatment, fx.alpha);
    close(r.statistic, c.z);
    close(r.pValue, c.p, 1e-5);
    close(r.ci[0], c.ci[0]);
    close(r.ci[1], c.ci[1]);
  });

  it.each(fx.welch.map((c, i) => [i, c] as const))('Welch t from counters, case %i', (_i, c) => {
    const r = welchT(c.control, c.treatment, fx.alpha);
    close(r.statistic, c.t, 1e-6);
    close(r.df!, c.df, 1e-6);
    close(r.pValue, c.p, 1e-4);
    close(r.ci[0], c.ci[0], 1e-5);
    close(r.ci[1], c.ci[1], 1e-5);
  });

  it.each(fx.deltaRatio.map((c, i) => [i, c] as const))('delta-method ratio, case %i (and near the bootstrap)', (_i, c) => {
    const r = deltaRatio(c.arm);
    close(r.ratio, c.ratio, 1e-9);
    close(r.variance, c.variance, 1e-6);
    // The delta method's SD agrees with 2000 bootstrap resamples to within their own noise (~5 %).
    expect(Math.abs(Math.sqrt(r.variance) / c.bootstrapSd - 1)).toBeLessThan(0.1);
  });

  it.each(fx.srm.map((c, i) => [i, c] as const))('sample-ratio mismatch χ², case %i', (_i, c) => {
    const r = sampleRatioMismatch(c.observed, c.shares);
    close(r.chi2, c.chi2, 1e-9);
    close(r.pValue, c.p, 1e-5);
  });

  it('power and sample size', () => {
    for (const c of fx.power) close(powerAt(c.mde, c.se, fx.alpha), c.power, 1e-6);
    for (const c of fx.unitsPerArm) expect(unitsPerArmFor(c.mde, c.variance, fx.alpha, 0.8)).toBe(c.n);
  });
});

describe('mSPRT', () => {
  it.each(fx.msprt.map((c, i) => [i, c] as const))('likelihood ratio, p-value and confidence sequence, case %i', (_i, c) => {
    close(mixtureLikelihoodRatio(c.effect, c.variance, c.tau2), c.lambda, 1e-9);
    close(alwaysValidP(1, c.effect, c.variance, c.tau2), c.p, 1e-9);
    const cs = confidenceSequence(c.effect, c.variance, c.tau2, fx.alpha);
    close(cs[0], c.cs[0], 1e-9);
    close(cs[1], c.cs[1], 1e-9);
  });

  it('the p-value never rises again once low, and the sequence excludes 0 exactly when p ≤ α', () => {
    expect(alwaysValidP(0.01, 0, 0.001, 0.0004)).toBe(0.01);
    for (const c of fx.msprt) {
      const p = alwaysValidP(1, c.effect, c.variance, c.tau2);
      const cs = confidenceSequence(c.effect, c.variance, c.tau2, fx.alpha);
      expect(p <= fx.alpha).toBe(cs[0] > 0 || cs[1] < 0);
    }
  });
});

describe('refusals', () => {
  it('names the arm and the field of impossible counters', () => {
    expect(() => twoProportionZ({ n: 0, events: 0 }, { n: 10, events: 1 })).toThrow('control.n: 0 units, at least 1 needed');
    expect(() => twoProportionZ({ n: 10, events: 11 }, { n: 10, events: 1 })).toThrow('control.events: 11 is not between 0 and n = 10');
    expect(() => welchT({ n: 5, sum: 5, sumSq: 6 }, { n: 1, sum: 1, sumSq: 1 })).toThrow('treatment.n: 1 units, at least 2 needed');
    expect(() => ratioZ({ n: 3, sumX: 0, sumY: 1, sumXX: 0, sumYY: 1, sumXY: 0 }, fx.deltaRatio[0]!.arm)).toThrow('control.sumX: 0');
    expect(() => sampleRatioMismatch([1, 2], [1])).toThrow('2 arms observed, 1 planned');
  });
});
