import { describe, expect, it } from 'vitest';
import { armOf, armRanges, BUCKETS, bucketOf, experimentSalt } from './experiment-assignment.js';
import { sampleRatioMismatch } from './experiment-stats.js';

describe('sticky assignment by user key', () => {
  it('matches an independent implementation (Python hashlib: int.from_bytes(sha256(f"{salt}:{key}")[:4], "big") % 10000)', () => {
    // Values printed by python3 with hashlib, not by this code.
    expect(bucketOf('3f9a0c1d2e4b5a69', 'alice')).toBe(787);
    expect(bucketOf('3f9a0c1d2e4b5a69', 'bob')).toBe(7709);
    expect(bucketOf('s', 'user-42')).toBe(9547);
    expect(bucketOf('3f9a0c1d2e4b5a69', 'Zoë 🎬')).toBe(21);
    expect(experimentSalt('uid-123', 't2v-abc')).toBe('f3c5478c1dcaca66');
  });

  it('spreads users evenly over the buckets (sample-ratio check over 20 equal bins passes, a biased hash does not)', () => {
    const bins = (bucket: (key: string) => number) => {
      const counts = Array.from({ length: 20 }, () => 0);
      for (let i = 0; i < 100_000; i++) counts[Math.floor((bucket(`user-${i}`) * 20) / BUCKETS)]!++;
      return sampleRatioMismatch(
        counts,
        Array.from({ length: 20 }, () => 1 / 20),
      ).pValue;
    };
    expect(bins((k) => bucketOf('salt-a', k))).toBeGreaterThan(0.001);
    // The check can fail: a hash that favours low buckets a little (5 % of users moved to bucket 0) is caught.
    expect(bins((k) => (bucketOf('salt-a', k) % 20 === 0 ? 0 : bucketOf('salt-a', k)))).toBeLessThan(0.001);
  });

  it('gives a user a different bucket in another experiment (salts are independent)', () => {
    let same = 0;
    for (let i = 0; i < 10_000; i++) if (bucketOf('salt-a', `user-${i}`) === bucketOf('salt-b', `user-${i}`)) same++;
    expect(same).toBeLessThan(10); // chance alone: about 1 in 10 000 per user
  });

  it('keeps equal-sized arms that only grow: a user assigned at a step keeps the arm at every later step up to 50 %', () => {
    const steps = [1, 5, 20, 50];
    for (const w of steps) {
      const { treatment, control } = armRanges(w);
      expect(treatment.to - treatment.from).toBe(w * 100);
      expect(control.to - control.from).toBe(w * 100);
      expect(control.from).toBeGreaterThanOrEqual(treatment.to);
    }
    for (let bucket = 0; bucket < BUCKETS; bucket++) {
      let arm: string | undefined;
      for (const w of steps) {
        const now = armOf(bucket, w);
        if (arm !== undefined) expect(now, `bucket ${bucket} at ${w} %`).toBe(arm);
        arm = now ?? arm;
      }
    }
  });

  it('has no equal-sized control past 50 %, and refuses weights off the bucket grid', () => {
    expect(armRanges(60)).toEqual({ treatment: { from: 0, to: 6000 }, control: { from: 5000, to: 5000 } });
    expect(armOf(5500, 60)).toBe('treatment');
    expect(armRanges(0.25).treatment.to).toBe(25);
    expect(() => armRanges(0.125)).toThrow(/at most two decimals/);
    expect(() => armRanges(101)).toThrow(/\[0, 100\]/);
    expect(() => armRanges(Number.NaN)).toThrow(/\[0, 100\]/);
    expect(() => bucketOf('s', '')).toThrow(/user key is empty/);
  });
});
