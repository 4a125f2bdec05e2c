// attack-14b: the sustained breaker on counts after "a breach continues only while every check with data is
// confidently beyond the threshold". Poisson arrivals, each request failing with probability p; the breaker
// checks every 10 s over the last minute (breakerWindow 1m), as the runner does when the window holds
// minRequests (20) — at 60 req/min and above it always does.
import { describe, expect, it } from 'vitest';
import { simulateBreaker } from './breaker-simulation.test-support.js';
import { proportionBounds } from './binomial.js';
import type { BreakerRule } from './types.js';

const RULE: BreakerRule = { threshold: 0.01, forMs: 5 * 60_000, severe: 0.1 };

/** Seconds until the breaker trips (or undefined) in a step of `minutes`, at `perMin` requests a minute failing with probability p. */
function tripsAfter(p: number, perMin: number, minutes: number, seed: number): number | undefined {
  return simulateBreaker(RULE, p, perMin, minutes, seed);
}

describe('attack-14b: the sustained breaker catches a truly bad candidate', () => {
  it('a candidate at 5× the 1 % bound (5 % errors) at 60 req/min trips the breaker within 10 minutes in ≥ 95 % of steps', () => {
    // README: "a sustained breach (error rate confidently above 1 % at every check for 5 min)". Over any 5 minutes
    // this candidate serves ~300 requests with ~15 failures: lower 95 % bound ≈ 3 %, confidently above 1 %. But
    // each 1-minute window holds ~60 requests and ~3 failures, and 2 of 60 (lower bound 0.6 %) is "not confidently
    // beyond" — which now ends the breach. P(≥ 3 of 60) ≈ 0.58 per check, and 30 checks in a row almost never happen.
    expect(proportionBounds(15, 300, 0.95).lower).toBeGreaterThan(0.02);
    const N = 200;
    let caught = 0;
    for (let i = 0; i < N; i++) {
      const t = tripsAfter(0.05, 60, 30, i + 1);
      if (t !== undefined && t <= 600) caught++;
    }
    // Observed: 3 % of steps within 10 min, 6 % within a 30-minute step (10 % errors: 88 % within 10 min).
    expect(caught / N).toBeGreaterThanOrEqual(0.95);
  }, 120_000);
});
