import { describe, expect, it } from 'vitest';
import { ValidationError } from '../errors.js';
import { routedStyle } from './route-choice.js';

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
