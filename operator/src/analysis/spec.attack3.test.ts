// attack-14c: spec parsing of breaker bounds on counts rules.
import { describe, expect, it } from 'vitest';
import { checkBreaker } from './evaluate.js';
import { parseAnalysis } from './spec.js';

describe("attack-14c: a counts rule's breaker bounds", () => {
  it('error-rate with breaker {threshold: 2, severe: 10} (percent, not a fraction) is refused when the spec is read: no count can ever trip it', () => {
    // Round 2: "count-rule max must be in (0, 1]", refused when the spec is read, because a bound no count can
    // meet silently makes the rule meaningless. A breaker threshold or severe bound on a counts rule is the same
    // kind of number — a rate, judged by its lower confidence bound, which never exceeds 1 — but is not checked.
    // Written in percent (the CRD's own description says "error-rate 1 % ... severe 10 %"), the breaker is
    // switched off without a word: 100 failures of 100 do not trip it.
    const errors: string[] = [];
    const config = parseAnalysis(
      { prometheus: { address: 'http://127.0.0.1:9' }, metrics: [{ template: 'error-rate', breaker: { threshold: 2, severe: 10 } }] },
      errors,
    );
    const rule = config!.metrics[0]!.breaker!;
    const allFailed = checkBreaker('error-rate', rule, { kind: 'counts', events: 100, trials: 100 }, undefined, new Date('2026-01-01T00:00:00Z'));
    expect(allFailed.tripped || errors.some((e) => /metrics\[0\]\.breaker/.test(e)), `errors: [${errors.join('; ')}]`).toBe(true);
  });
});
