// attack-14d: the breaker's default bounds against the user's own step bounds.
import { describe, expect, it } from 'vitest';
import { simulateBreaker } from './breaker-simulation.test-support.js';
import { parseAnalysis } from './spec.js';

describe('attack-14d: the default breaker of an error-rate with only failMax', () => {
  it("error-rate {failMax: 0.05}: a candidate at 3 % errors (under the user's fail bound) is not rolled back by the default breaker", () => {
    // spec.ts: "The default severe bound is never below the user's own bound (a 20 % bound would otherwise trip
    // at 15 %)". The default breach threshold is `bounds.max ?? 0.01`: with only failMax set (a team that fails a
    // step only above 5 %), max is absent, so the breaker's threshold falls back to 1 % — five times below the
    // user's own fail bound. At 300 requests a minute a candidate at a steady 3 % (which the step judgement would
    // never fail) is confidently over 1 % for 5 min and the breaker rolls it back.
    const errors: string[] = [];
    const config = parseAnalysis({ prometheus: { address: 'http://127.0.0.1:9' }, metrics: [{ template: 'error-rate', failMax: 0.05 }] }, errors);
    expect(errors).toEqual([]);
    const rule = config!.metrics[0]!.breaker!;
    let trips = 0;
    for (let seed = 1; seed <= 40; seed++) if (simulateBreaker(rule, 0.03, 300, 30, seed) !== undefined) trips++;
    expect(trips, `breaker ${JSON.stringify(rule)} tripped in ${trips} of 40 30-minute steps at 3 %`).toBeLessThanOrEqual(2);
  });
});
