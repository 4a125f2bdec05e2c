// attack-14b: a relative bound on the built-in error-rate (README's own example, `relative: {max: 2}`).
import { describe, expect, it } from 'vitest';
import { proportionBounds } from './binomial.js';
import { judgeMetric } from './evaluate.js';
import { parseAnalysis } from './spec.js';

describe('attack-14b: relative-only error-rate', () => {
  const errors: string[] = [];
  const config = parseAnalysis({ prometheus: { address: 'http://127.0.0.1:9' }, metrics: [{ template: 'error-rate', relative: { max: 2 } }] }, errors)!;
  const rule = config.metrics.find((m) => m.name === 'error-rate')!;
  const opts = { stableCarriesTraffic: true, minStableSamples: config.minStableRequests, confidence: config.confidence };

  it("0 failures in 20 candidate requests (minRequests) is not a pass: it cannot tell a candidate at 5× stable's rate from a good one", () => {
    // Issue #14: "pass when the upper bound is below, inconclusive otherwise"; README: "0 failures in 2 neither
    // passes nor fails". judgeRateRatio passes on the point ratio (0 ÷ 0.05 % = 0 ≤ 2), trusting that "the absolute
    // bound gives that guarantee" — but spec.ts drops error-rate's default max (1 %) as soon as `relative` is set,
    // so nothing else judges it. A candidate failing 10 % of requests shows 0 of 20 in 12 % of steps (0.9^20).
    expect(errors).toEqual([]);
    expect(proportionBounds(0, 20, 0.95).upper).toBeGreaterThan(0.13);
    const r = judgeMetric(rule, { kind: 'counts', events: 0, trials: 20 }, { kind: 'counts', events: 5, trials: 10_000 }, opts);
    expect(r.verdict, r.message).not.toBe('pass');
  });

  it('0 failures in 20 against a stable without failures is not a pass either', () => {
    const r = judgeMetric(rule, { kind: 'counts', events: 0, trials: 20 }, { kind: 'counts', events: 0, trials: 10_000 }, opts);
    expect(r.verdict, r.message).not.toBe('pass');
  });
});

describe('attack-14b: ±Inf at the 100 % step', () => {
  it('a relative-only plain-value metric reading +Inf at the 100 % step is not a pass (README: "NaN and ±Inf never pass")', () => {
    // A custom ratio query (failed ÷ ok) reads +Inf when every candidate request fails. At 100 % there is no
    // stable traffic, and judgeRelative returns "pass ... relative bound not applicable" before looking at the value.
    const config = parseAnalysis(
      {
        prometheus: { address: 'http://127.0.0.1:9' },
        metrics: [
          {
            name: 'fail-per-ok',
            query: 'sum(rate(failed{rev="{{revision}}"}[{{interval}}])) / sum(rate(ok{rev="{{revision}}"}[{{interval}}]))',
            relative: { max: 1.5 },
          },
        ],
      },
      [],
    )!;
    const r = judgeMetric(config.metrics[0]!, { kind: 'value', value: Infinity }, undefined, { stableCarriesTraffic: false, confidence: 0.95 });
    expect(r.verdict, `${r.message} (raw ${r.raw})`).not.toBe('pass');
  });
});
