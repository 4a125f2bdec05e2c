import { describe, expect, it } from 'vitest';
import { mulberry32 } from './chaos.js';

describe('mulberry32', () => {
  it('replays the same draws for the same seed, different ones for another, all in [0, 1)', () => {
    const draws = (seed: number) => Array.from({ length: 1000 }, mulberry32(seed));
    const a = draws(3001);
    expect(draws(3001)).toEqual(a);
    expect(draws(3002).slice(0, 10)).not.toEqual(a.slice(0, 10));
    expect(a.every((x) => x >= 0 && x < 1)).toBe(true);
    // Roughly uniform: each tenth of [0, 1) gets 100 ± 40 of 1000 draws.
    const buckets = Array.from({ length: 10 }, (_, i) => a.filter((x) => Math.floor(x * 10) === i).length);
    for (const n of buckets) expect(Math.abs(n - 100)).toBeLessThan(40);
  });
});
