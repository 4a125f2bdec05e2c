// attack-14d: the breaker's default severe bound when only breaker.threshold is set.
import { describe, expect, it } from 'vitest';
import { checkBreaker } from './evaluate.js';
import { parseAnalysis } from './spec.js';

describe('attack-14d: breaker.threshold alone and the default severe bound', () => {
  it('error-rate with breaker {threshold: 0.2} does not trip at once at 15 % errors (the default severe bound is never below the breach threshold)', () => {
    // Round 3: "Setting only breaker.threshold keeps the default severe bound". That default is
    // max(10 %, 2 × max) — computed from the step's max, not from the breaker threshold the user just set. The
    // code's own comment: "The default severe bound is never below the user's own bound (a 20 % bound would
    // otherwise trip at 15 %)". With max left at 1 % and breaker.threshold 0.2 (a team that tolerates bursty
    // errors for `for`), severe stays 0.1: 300 failures of 2000 (15 %, below the breach threshold the user chose)
    // trip the breaker at once and roll the candidate back.
    const errors: string[] = [];
    const config = parseAnalysis({ prometheus: { address: 'http://127.0.0.1:9' }, metrics: [{ template: 'error-rate', breaker: { threshold: 0.2 } }] }, errors);
    expect(errors).toEqual([]);
    const rule = config!.metrics[0]!.breaker!;
    const outcome = checkBreaker('error-rate', rule, { kind: 'counts', events: 300, trials: 2000 }, undefined, new Date('2026-01-01T00:00:00Z'));
    expect(outcome.tripped, `breaker ${JSON.stringify(rule)}: ${outcome.tripped ? outcome.message : ''}`).toBe(false);
  });

  it('a breaker whose severe bound is below its threshold is refused, naming the field (it would trip at once where a breach does not even open)', () => {
    // Round 3 validates each count-rule breaker bound on its own ((0, 1]) but not against each other:
    // {threshold: 0.05, severe: 0.02} is accepted, and 40 failures of 1000 (4 %, below the threshold: not even a
    // breach) trip the breaker at once through "severe". A severe bound is by its meaning beyond the threshold; the spec should
    // say so (spec.analysis.metrics[0].breaker.severe) as it does for the other bounds.
    const errors: string[] = [];
    const config = parseAnalysis(
      { prometheus: { address: 'http://127.0.0.1:9' }, metrics: [{ template: 'error-rate', breaker: { threshold: 0.05, severe: 0.02 } }] },
      errors,
    );
    const rule = config!.metrics[0]!.breaker!;
    const belowThreshold = checkBreaker('error-rate', rule, { kind: 'counts', events: 40, trials: 1000 }, undefined, new Date('2026-01-01T00:00:00Z'));
    expect(
      !belowThreshold.tripped || errors.some((e) => /metrics\[0\]\.breaker\.severe/.test(e)),
      `errors: [${errors.join('; ')}]; ${belowThreshold.tripped ? belowThreshold.message : ''}`,
    ).toBe(true);
  });
});

describe('attack-14d: a breaker with only a severe bound', () => {
  it('a custom counts rule with breaker {severe: 0.2} and no threshold trips at once on 20 failures of 20, or is refused naming the field', () => {
    // Round 3 made error-rate's breaker defaults apply per field ("setting only the threshold keeps the severe
    // bound"). The other way round is not handled: breakerRule returns no breaker at all when no threshold is
    // set or defaulted, so a custom counts rule (no default threshold) with only `breaker.severe` — the natural
    // way to say "roll back at once on a flood of failures" — silently has no breaker. Nothing in the errors
    // names breaker.severe; all 20 of 20 requests failing do not trip. The same for latency-p99 without max.
    const errors: string[] = [];
    const config = parseAnalysis(
      {
        prometheus: { address: 'http://127.0.0.1:9' },
        metrics: [
          {
            name: 'oom-rate',
            counts: {
              events: 'sum(increase(oom_total{revision="{{revision}}"}[{{interval}}]))',
              trials: 'sum(increase(t2v_requests_total{modelrollout_revision="{{revision}}"}[{{interval}}]))',
            },
            max: 0.01,
            breaker: { severe: 0.2 },
          },
        ],
      },
      errors,
    );
    const rule = config!.metrics[0]!.breaker;
    const outcome = rule
      ? checkBreaker('oom-rate', rule, { kind: 'counts', events: 20, trials: 20 }, undefined, new Date('2026-01-01T00:00:00Z'))
      : { tripped: false };
    expect(outcome.tripped || errors.some((e) => /metrics\[0\]\.breaker/.test(e)), `breaker ${JSON.stringify(rule)}; errors: [${errors.join('; ')}]`).toBe(
      true,
    );
  });
});
