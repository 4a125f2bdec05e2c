import { describe, expect, it } from 'vitest';
import { InvalidAdapterError } from '../errors.js';
import { encodeSafetensors, halfToFloat, parseSafetensors } from './safetensors.js';

/** A file with a hand-written header over `data`. */
function file(header: Record<string, unknown>, data: Buffer): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const n = Buffer.alloc(8);
  n.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([n, json, data]);
}

describe('safetensors', () => {
  it('round-trips float32 tensors and metadata, with an 8-byte aligned header', () => {
    const buf = encodeSafetensors(
      { b: { shape: [2, 1], data: Float32Array.of(3, 4) }, a: { shape: [3], data: Float32Array.of(1, -2, 0.5) } },
      { format: 'pt' },
    );
    expect(Number(buf.readBigUInt64LE(0)) % 8).toBe(0);
    const parsed = parseSafetensors(buf, 'x@v1');
    expect(parsed.metadata).toEqual({ format: 'pt' });
    expect([...parsed.tensors.keys()]).toEqual(['a', 'b']);
    expect(parsed.tensors.get('a')).toEqual({ shape: [3], data: Float32Array.of(1, -2, 0.5) });
    expect(parsed.tensors.get('b')?.shape).toEqual([2, 1]);
  });

  it('widens F16 and BF16 to float32', () => {
    const half = Buffer.alloc(8);
    [0x3c00, 0xc000, 0x0001, 0x7c00].forEach((h, i) => half.writeUInt16LE(h, i * 2));
    const bf = Buffer.alloc(4);
    bf.writeUInt16LE(0x3f80, 0); // 1.0
    bf.writeUInt16LE(0xc040, 2); // -3.0
    const parsed = parseSafetensors(
      file({ h: { dtype: 'F16', shape: [4], data_offsets: [0, 8] }, b: { dtype: 'BF16', shape: [2], data_offsets: [8, 12] } }, Buffer.concat([half, bf])),
      'x@v1',
    );
    expect([...(parsed.tensors.get('h')?.data ?? [])]).toEqual([1, -2, 2 ** -24, Number.POSITIVE_INFINITY]);
    expect([...(parsed.tensors.get('b')?.data ?? [])]).toEqual([1, -3]);
    expect(halfToFloat(0x7e00)).toBeNaN();
  });

  const bad: Array<[string, Buffer, RegExp]> = [
    ['a file shorter than 8 bytes', Buffer.alloc(4), /shorter than the 8-byte header length/],
    [
      'a header length past the end',
      (() => {
        const b = Buffer.alloc(16);
        b.writeBigUInt64LE(1000n);
        return b;
      })(),
      /header length 1000 exceeds the file/,
    ],
    ['a header that is not JSON', file({}, Buffer.alloc(0)).fill(0x7b, 8), /header: is not valid JSON/],
    [
      'an unsupported dtype',
      file({ t: { dtype: 'I8', shape: [1], data_offsets: [0, 1] } }, Buffer.alloc(1)),
      /t\.dtype: "I8" is not supported \(allowed: F32, F16, BF16\)/,
    ],
    [
      'bytes that do not match the shape',
      file({ t: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, Buffer.alloc(4)),
      /t\.data_offsets: 4 bytes for shape \[2\] of F32 \(expected 8\)/,
    ],
    ['offsets past the end of the file', file({ t: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, Buffer.alloc(4)), /runs past the end of the file/],
    [
      'a negative dimension',
      file({ t: { dtype: 'F32', shape: [-1], data_offsets: [0, 0] } }, Buffer.alloc(0)),
      /t\.shape: \[-1\] must be a list of non-negative integers/,
    ],
  ];
  for (const [name, buf, message] of bad) {
    it(`refuses ${name}, naming the adapter and the field`, () => {
      expect(() => parseSafetensors(buf, 'ink-wash@v2')).toThrow(InvalidAdapterError);
      expect(() => parseSafetensors(buf, 'ink-wash@v2')).toThrow(message);
      expect(() => parseSafetensors(buf, 'ink-wash@v2')).toThrow(/^adapter ink-wash@v2: adapter_model\.safetensors /);
    });
  }
});
