import { describe, expect, it } from 'vitest';
import { RangeNotSatisfiableError } from '../errors.js';
import { byteRange } from './byte-range.js';

describe('byteRange', () => {
  it('reads a first-last, an open-ended and a suffix range, clamped to the size', () => {
    expect(byteRange('bytes=0-99', 1000)).toEqual({ start: 0, end: 99 });
    expect(byteRange('bytes=900-', 1000)).toEqual({ start: 900, end: 999 });
    expect(byteRange('bytes=-100', 1000)).toEqual({ start: 900, end: 999 });
    expect(byteRange('bytes=-5000', 1000)).toEqual({ start: 0, end: 999 });
    expect(byteRange('bytes=990-5000', 1000)).toEqual({ start: 990, end: 999 });
  });

  it('serves the whole body for no header, another unit, several ranges or bad syntax', () => {
    for (const h of [undefined, 'items=0-1', 'bytes=0-1,5-6', 'bytes=abc', 'bytes=-', 'bytes=10-5']) expect(byteRange(h, 1000), String(h)).toBeUndefined();
  });

  it('refuses a range past the end, or an empty suffix, with 416 naming the size', () => {
    expect(() => byteRange('bytes=1000-', 1000)).toThrow(RangeNotSatisfiableError);
    expect(() => byteRange('bytes=-0', 1000)).toThrow(RangeNotSatisfiableError);
    try {
      byteRange('bytes=2000-3000', 1000);
    } catch (err) {
      expect(err).toMatchObject({ code: 'RangeNotSatisfiable', httpStatus: 416, size: 1000 });
    }
  });
});
