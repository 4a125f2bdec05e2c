// attack-14c: relative bounds on counts against a stable baseline of 0.
import { describe, expect, it } from 'vitest';
import { judgeMetric } from './evaluate.js';
import type { MetricRule } from './types.js';

describe('attack-14c: a zero baseline on counts', () => {
  it('a custom counts rule with only a relative bound says stable had no failures, rather than judging an infinite ratio', () => {
    // README: "a stable value of 0 is reported as such, not compared as an infinite ratio". Plain values do so ("the
    // stable baseline is 0, so candidate ÷ stable has no meaning; add an absolute bound"). A counts rule with only
    // `relative: {max: 2}` and a stable without failures reads "ratio (1/400 vs stable 0/10000) Infinity (max 2);
    // 95 % bounds 1.316–Infinity: not confidently beyond: inconclusive" — an infinite ratio compared with 2 — and it
    // stays inconclusive whatever the candidate serves (any failure is an infinite ratio), so the step pauses after
    // maxInconclusive with a message that never says what to change.
    const rule: MetricRule = { name: 'my-errors', query: '', counts: { events: 'e', trials: 't' }, bounds: {}, relative: { max: 2 } };
    const r = judgeMetric(rule, { kind: 'counts', events: 1, trials: 400 }, { kind: 'counts', events: 0, trials: 10_000 }, { minStableSamples: 20 });
    expect(r.message).not.toMatch(/Infinity/);
    expect(r.message).toMatch(/stable.*\b0\b.*(no meaning|absolute|max)/);
  });
});
