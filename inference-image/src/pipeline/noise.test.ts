import { describe, expect, it } from 'vitest';
import { gaussian, mulberry32 } from './noise.js';

describe('seeded noise', () => {
  it('is reproducible per seed and differs across seeds', () => {
    expect(Array.from(gaussian(9, 42))).toEqual(Array.from(gaussian(9, 42)));
    expect(Array.from(gaussian(9, 42))).not.toEqual(Array.from(gaussian(9, 43)));
    expect(mulberry32(1)()).toBe(mulberry32(1)());
  });

  it('draws standard normal samples', () => {
    const x = gaussian(200_001, 7);
    const mean = x.reduce((a, v) => a + v, 0) / x.length;
    const variance = x.reduce((a, v) => a + (v - mean) ** 2, 0) / x.length;
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.abs(variance - 1)).toBeLessThan(0.02);
    expect(x.every((v) => Number.isFinite(v))).toBe(true);
  });

  it('keeps uniforms in [0, 1)', () => {
    const u = mulberry32(123);
    for (let i = 0; i < 10_000; i++) {
      const v = u();
      expect(v >= 0 && v < 1).toBe(true);
    }
  });
});
