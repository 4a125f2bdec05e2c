// A seeded simulation of the breaker on counts, for tests: Poisson arrivals, each request failing with
// probability p, the breaker checked every 10 s over the last minute (breakerWindow 1m) with an open breach
// judged on its counts since it began — what the analysis runner measures.
import { checkBreaker, DEFAULT_CONFIDENCE, tripConfidence } from './evaluate.js';
import type { BreakerRule } from './types.js';

export const SIMULATION_T0 = Date.parse('2026-01-01T00:00:00Z');

/** mulberry32: a small seeded generator, so a failing seed can be replayed. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seconds from the step's start until the breaker trips, or undefined if it does not within `minutes`. */
export function simulateBreaker(rule: BreakerRule, p: number, perMin: number, minutes: number, seed: number): number | undefined {
  const r = seededRandom(seed);
  const req: number[] = [];
  const err: number[] = [];
  const L = Math.exp(-perMin / 60);
  for (let s = 0; s < minutes * 60; s++) {
    let k = 0;
    let q = 1;
    do {
      k++;
      q *= r();
    } while (q > L);
    let e = 0;
    for (let i = 0; i < k - 1; i++) if (r() < p) e++;
    req.push(k - 1);
    err.push(e);
  }
  const sum = (xs: number[], from: number, to: number) => xs.slice(Math.max(0, from), to).reduce((a, b) => a + b, 0);
  let since: string | undefined;
  for (let s = 60; s < minutes * 60; s += 10) {
    const window = { kind: 'counts' as const, events: sum(err, s - 60, s), trials: sum(req, s - 60, s) };
    const from = since ? Math.min((Date.parse(since) - SIMULATION_T0) / 1000, s - 60) : 0;
    const accumulated = since ? { kind: 'counts' as const, events: sum(err, from, s), trials: sum(req, from, s) } : undefined;
    // The runner's trip confidence for a 10 s breaker interval.
    const o = checkBreaker(
      'error-rate',
      rule,
      window,
      since,
      new Date(SIMULATION_T0 + s * 1000),
      DEFAULT_CONFIDENCE,
      accumulated,
      tripConfidence(DEFAULT_CONFIDENCE, rule.forMs, 10_000),
    );
    if (o.tripped) return s;
    since = o.since;
  }
  return undefined;
}
