// attack-14d: fail-only relative bounds (the guardrails) against a stable baseline that is not "no requests".
import { describe, expect, it } from 'vitest';
import { judgeMetric } from './evaluate.js';
import { parseAnalysis } from './spec.js';

describe('attack-14d: a guardrail against a broken stable baseline', () => {
  it("rejection-rate (relative failMax 3) does not pass a candidate rejecting 900 of 1000 when stable's request count reads NaN", () => {
    // Round 3: "a guardrail that can only fail passes when stable has no requests". The test for "no requests"
    // is `stable.kind === 'noData'`, which is also what measure() returns for a stable count that reads NaN, ±Inf
    // or a negative delta ("no data — it never passes"). A broken baseline is not an empty one: the guardrail
    // should hold (no data, with its deadline) or report an error, not pass a candidate rejecting 90 % of its
    // requests as client errors (a changed input schema) while stable, with thousands of requests, rejected none.
    const errors: string[] = [];
    const config = parseAnalysis({ prometheus: { address: 'http://127.0.0.1:9' }, metrics: [{ template: 'error-rate' }] }, errors);
    const rule = config!.metrics.find((m) => m.name === 'rejection-rate')!;
    expect(rule.relative).toBeDefined();
    const stableNaN = { kind: 'noData' as const, message: 'the request count is NaN', raw: 'NaN' };
    const result = judgeMetric(rule, { kind: 'counts', events: 900, trials: 1000 }, stableNaN, {
      stableCarriesTraffic: true,
      minStableSamples: 20,
      confidence: 0.95,
    });
    expect(result.verdict, result.message).not.toBe('pass');
  });
});
