// attack-14: relative bounds on a counts rule compare point estimates, so the count-based promise ("1 failure
// in 400 does not roll back") is lost as soon as a rate is bounded relative to stable.
import { describe, expect, it } from 'vitest';
import { judgeMetric } from './evaluate.js';
import { parseAnalysis } from './spec.js';

describe('attack-14: relative bounds on counts', () => {
  const errors: string[] = [];
  const config = parseAnalysis({ prometheus: { address: 'http://127.0.0.1:9' }, metrics: [{ template: 'error-rate', relative: { max: 2 } }] }, errors)!;
  const rule = config.metrics.find((m) => m.name === 'error-rate')!;

  it('parses: error-rate judged on counts, at most 2× stable', () => {
    expect(errors).toEqual([]);
    expect(rule.counts).toBeDefined();
    expect(rule.relative).toEqual({ max: 2 });
  });

  it('1 failure in 400 candidate requests against stable 5 in 10 000 is not a failure (no confidence it is over 2× stable)', () => {
    const r = judgeMetric(
      rule,
      { kind: 'counts', events: 1, trials: 400 },
      { kind: 'counts', events: 5, trials: 10_000 },
      { stableCarriesTraffic: true, minStableSamples: 20, confidence: 0.95 },
    );
    // 0.0025 / 0.0005 = 5 > 2 → fail → rollback, on a single failed request.
    expect(r.verdict, r.message).not.toBe('fail');
  });

  it('1 failure in 20 candidate requests against stable 1 in 100 is not a failure', () => {
    const r = judgeMetric(
      rule,
      { kind: 'counts', events: 1, trials: 20 },
      { kind: 'counts', events: 1, trials: 100 },
      { stableCarriesTraffic: true, minStableSamples: 20, confidence: 0.95 },
    );
    expect(r.verdict, r.message).not.toBe('fail');
  });
});
