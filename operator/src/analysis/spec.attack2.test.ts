// attack-14b: spec parsing — every query the spec holds is checked for unknown {{variables}}.
import { describe, expect, it } from 'vitest';
import { parseAnalysis } from './spec.js';

describe('attack-14b: analysis spec', () => {
  it('a requestQuery with an unknown {{variable}} (a typo) is refused when the spec is read, naming spec.analysis.requestQuery', () => {
    // README: "A query with an unknown `{{variable}}` is refused when the spec is read, naming the field."
    // requestQuery is rendered with the same variables (renderQuery leaves {{revison}} in place), so the typo
    // reaches Prometheus as a literal label value, matches nothing, and the rollout holds as NoData for
    // noDataDeadline (10m) before pausing — instead of InvalidSpec at once.
    const errors: string[] = [];
    parseAnalysis(
      {
        prometheus: { address: 'http://127.0.0.1:9' },
        requestQuery: 'sum(increase(my_requests_total{rev="{{revison}}"}[{{interval}}]))',
        metrics: [{ template: 'error-rate' }],
      },
      errors,
    );
    expect(errors.join('; ')).toMatch(/requestQuery.*revison/);
  });
});

describe('attack-14b: a zero bound on a counts rule', () => {
  it('error-rate with max 0 ("no errors allowed") is refused when the spec is read, naming the field: no count can ever pass it', () => {
    // judgeProportion passes only when the upper bound ≤ max; the upper bound of 0 of n is 1 − 0.05^(1/n) > 0 for
    // every n, so the step is inconclusive for ever and pauses after maxInconclusive on a perfect candidate.
    const errors: string[] = [];
    parseAnalysis({ prometheus: { address: 'http://127.0.0.1:9' }, metrics: [{ template: 'error-rate', max: 0 }] }, errors);
    expect(errors.join('; ')).toMatch(/metrics\[0\]\.max/);
  });

  it('the inconclusive message never says "-Infinity error-free requests would pass"', async () => {
    const { judgeMetric } = await import('./evaluate.js');
    const config = parseAnalysis({ prometheus: { address: 'http://127.0.0.1:9' }, metrics: [{ template: 'error-rate', max: 0 }] }, [])!;
    const r = judgeMetric(config.metrics[0]!, { kind: 'counts', events: 0, trials: 100_000 }, undefined, { confidence: 0.95 });
    expect(r.message).not.toMatch(/-?Infinity error-free requests/);
  });
});
