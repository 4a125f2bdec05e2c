import { describe, expect, it } from 'vitest';
import { ValidationError } from '../errors.js';
import { bucketOf, routedStyle } from './route-choice.js';

const never = (): number => {
  throw new Error('random() not expected');
};

describe('the version a route asks for', () => {
  it('leaves a style alone when the client names a version, or the route says nothing about it', () => {
    expect(routedStyle('ink-wash@v1', { 'x-adapter-version': 'ink-wash@v2' }, never)).toBe('ink-wash@v1');
    expect(routedStyle('ink-wash', {}, never)).toBe('ink-wash');
    expect(routedStyle('ink-wash', { 'x-adapter-version': 'neon@v3', 'x-adapter-split': 'neon@v1=1' }, never)).toBe('ink-wash');
  });

  it('takes a pin for the style', () => {
    expect(routedStyle('ink-wash', { 'x-adapter-version': 'neon@v3, ink-wash@v2' }, never)).toBe('ink-wash@v2');
  });

  it('draws from the split by weight, at random or sticky by the assignment key', () => {
    const split = { 'x-adapter-split': 'ink-wash@v1=80, ink-wash@v2=20, neon@v1=100' };
    expect(routedStyle('ink-wash', split, () => 0.79)).toBe('ink-wash@v1');
    expect(routedStyle('ink-wash', split, () => 0.8)).toBe('ink-wash@v2');
    expect(routedStyle('ink-wash', { 'x-adapter-split': 'ink-wash@v1=0, ink-wash@v2=5' }, () => 0)).toBe('ink-wash@v2');
    const sticky = (key: string): string => routedStyle('ink-wash', { ...split, 'x-adapter-assignment-key': key }, never);
    const keys = Array.from({ length: 2000 }, (_, i) => `user-${i}`);
    const first = keys.map(sticky);
    expect(keys.map(sticky)).toEqual(first);
    const share = first.filter((v) => v === 'ink-wash@v2').length / keys.length;
    expect(share).toBeGreaterThan(0.17);
    expect(share).toBeLessThan(0.23);
  });

  it('sticky: the bucket of docs/experiment-assignment.md (salted), the first entry taking the lowest buckets, so a growing first entry keeps its users', () => {
    const salt = '0123456789abcdef';
    // Python: int.from_bytes(hashlib.sha256(b"0123456789abcdef:user-1").digest()[:4], "big") % 10000 == 3342
    expect(bucketOf(salt, 'user-1')).toBe(3342);
    const keys = Array.from({ length: 500 }, (_, i) => `user-${i}`);
    const at = (candidate: number, key: string) =>
      routedStyle(
        'ink-wash',
        { 'x-adapter-split': `ink-wash@v2=${candidate}, ink-wash@v1=${100 - candidate}`, 'x-adapter-assignment-salt': salt, 'x-adapter-assignment-key': key },
        never,
      );
    for (const key of keys) {
      const bucket = bucketOf(salt, key);
      for (const w of [20, 50, 100]) expect(at(w, key), `${key} bucket ${bucket} at ${w} %`).toBe(bucket < w * 100 ? 'ink-wash@v2' : 'ink-wash@v1');
    }
    // Another salt (the next rollout) draws other users.
    const other = keys.filter((k) => at(20, k) === 'ink-wash@v2');
    const reshuffled = keys.filter(
      (k) =>
        routedStyle(
          'ink-wash',
          { 'x-adapter-split': 'ink-wash@v2=20, ink-wash@v1=80', 'x-adapter-assignment-salt': 'fedcba9876543210', 'x-adapter-assignment-key': k },
          never,
        ) === 'ink-wash@v2',
    );
    expect(reshuffled).not.toEqual(other);
  });

  it('refuses a malformed header naming it', () => {
    for (const [header, value] of [
      ['x-adapter-split', 'ink-wash@v1'],
      ['x-adapter-split', 'ink-wash=5'],
      ['x-adapter-split', 'ink-wash@v1=-1'],
      ['x-adapter-version', 'ink-wash@v1=3'],
    ]) {
      let err: unknown;
      try {
        routedStyle('ink-wash', { [header as string]: value }, () => 0);
      } catch (e) {
        err = e;
      }
      expect(err, `${header}: ${value}`).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).field).toMatch(/^header X-Adapter-(Split|Version)$/);
    }
  });
});
