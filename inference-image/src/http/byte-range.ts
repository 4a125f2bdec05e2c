// Range requests on a stored video (RFC 9110 §14): one byte range per request. A syntactically invalid or
// multi-range header is ignored (the whole video, 200), as §14.2 allows; a range wholly past the end is 416.
import { RangeNotSatisfiableError } from '../errors.js';

/** Inclusive byte offsets into a body of `size` bytes. */
export interface ByteRange {
  start: number;
  end: number;
}

const SINGLE_RANGE = /^bytes=(\d*)-(\d*)$/;

/**
 * The range a Range header asks of `size` bytes; undefined when the whole body is to be sent (no header,
 * another unit, several ranges, or not valid syntax). Throws RangeNotSatisfiableError (416) for a range that
 * starts at or past the end, or a suffix of 0 bytes.
 */
export function byteRange(header: string | undefined, size: number): ByteRange | undefined {
  if (header === undefined) return undefined;
  const m = SINGLE_RANGE.exec(header.trim());
  if (!m) return undefined;
  const [first, last] = [m[1] as string, m[2] as string];
  if (first === '' && last === '') return undefined;
  if (first === '') {
    // bytes=-N: the last N bytes.
    const n = Number(last);
    if (n === 0 || size === 0) throw new RangeNotSatisfiableError(header, size);
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(first);
  if (last !== '' && Number(last) < start) return undefined;
  if (start >= size) throw new RangeNotSatisfiableError(header, size);
  return { start, end: last === '' ? size - 1 : Math.min(Number(last), size - 1) };
}
