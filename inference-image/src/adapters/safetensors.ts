// The safetensors format (https://github.com/huggingface/safetensors#format): an 8-byte little-endian
// header length N, N bytes of JSON header { key: { dtype, shape, data_offsets: [begin, end] },
// "__metadata__"?: { string: string } }, then the raw little-endian tensor bytes, offsets relative to
// the end of the header. No well-kept npm package reads it (`safetensors` on npm is a 0.0.1 release), and the format is this
// small, so it is read here, strictly: every tensor's bytes must lie in the buffer and match its shape.
import { InvalidAdapterError } from '../errors.js';

export interface Float32TensorData {
  shape: number[];
  data: Float32Array;
}

export interface SafetensorsFile {
  tensors: Map<string, Float32TensorData>;
  metadata: Record<string, string>;
}

/** Bytes per element of each dtype read; all are widened to float32. */
const DTYPE_BYTES = { F32: 4, F16: 2, BF16: 2 } as const;
type Dtype = keyof typeof DTYPE_BYTES;

/** Header larger than this is not an adapter (the reference implementation caps it at 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

/** Parses a safetensors buffer; `adapter` names the adapter in errors. */
export function parseSafetensors(buf: Buffer, adapter: string, file = 'adapter_model.safetensors'): SafetensorsFile {
  const fail = (field: string, message: string): never => {
    throw new InvalidAdapterError(adapter, `${file} ${field}`, message);
  };
  if (buf.length < 8) fail('header', `file is ${buf.length} bytes, shorter than the 8-byte header length`);
  const n = buf.readBigUInt64LE(0);
  if (n > BigInt(Math.min(MAX_HEADER_BYTES, buf.length - 8))) fail('header', `header length ${n} exceeds the file (${buf.length} bytes)`);
  const dataStart = 8 + Number(n);
  let header: unknown;
  try {
    header = JSON.parse(buf.subarray(8, dataStart).toString('utf8'));
  } catch (cause) {
    throw new InvalidAdapterError(adapter, `${file} header`, 'is not valid JSON', { cause });
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return fail('header', 'must be a JSON object');
  const tensors = new Map<string, Float32TensorData>();
  let metadata: Record<string, string> = {};
  for (const [key, entry] of Object.entries(header as Record<string, unknown>)) {
    if (key === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    tensors.set(key, readTensor(buf, dataStart, key, entry, fail));
  }
  return { tensors, metadata };
}

function readTensor(buf: Buffer, dataStart: number, key: string, entry: unknown, fail: (field: string, message: string) => never): Float32TensorData {
  const e = (entry ?? {}) as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (typeof e.dtype !== 'string' || !(e.dtype in DTYPE_BYTES))
    fail(`${key}.dtype`, `${JSON.stringify(e.dtype)} is not supported (allowed: ${Object.keys(DTYPE_BYTES).join(', ')})`);
  const dtype = e.dtype as Dtype;
  if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0))
    fail(`${key}.shape`, `${JSON.stringify(e.shape)} must be a list of non-negative integers`);
  const shape = e.shape as number[];
  const offsets = e.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
    fail(`${key}.data_offsets`, `${JSON.stringify(offsets)} must be [begin, end] with 0 <= begin <= end`);
  }
  const [begin, end] = offsets as [number, number];
  const count = shape.reduce((a, b) => a * b, 1);
  if (end - begin !== count * DTYPE_BYTES[dtype])
    fail(`${key}.data_offsets`, `${end - begin} bytes for shape [${shape.join(', ')}] of ${dtype} (expected ${count * DTYPE_BYTES[dtype]})`);
  if (dataStart + end > buf.length) fail(`${key}.data_offsets`, `[${begin}, ${end}] runs past the end of the file`);
  return { shape, data: toFloat32(buf.subarray(dataStart + begin, dataStart + end), dtype, count) };
}

function toFloat32(bytes: Buffer, dtype: Dtype, count: number): Float32Array {
  const out = new Float32Array(count);
  if (dtype === 'F32') {
    for (let i = 0; i < count; i++) out[i] = bytes.readFloatLE(i * 4);
    return out;
  }
  const scratch = new DataView(new ArrayBuffer(4));
  for (let i = 0; i < count; i++) {
    const h = bytes.readUInt16LE(i * 2);
    if (dtype === 'BF16') {
      // bfloat16 is the top half of a float32.
      scratch.setUint32(0, h << 16);
      out[i] = scratch.getFloat32(0);
    } else out[i] = halfToFloat(h);
  }
  return out;
}

/** IEEE 754 binary16 → number (subnormals, infinities and NaN included). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** Writes float32 tensors as safetensors (keys sorted, header padded to 8 bytes as the reference writer does). */
export function encodeSafetensors(tensors: Record<string, Float32TensorData>, metadata: Record<string, string> = {}): Buffer {
  const keys = Object.keys(tensors).sort();
  const header: Record<string, unknown> = Object.keys(metadata).length > 0 ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const key of keys) {
    const t = tensors[key] as Float32TensorData;
    header[key] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.length * 4] };
    offset += t.data.length * 4;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const body = Buffer.alloc(offset);
  let at = 0;
  for (const key of keys) {
    for (const v of (tensors[key] as Float32TensorData).data) at = body.writeFloatLE(v, at);
  }
  return Buffer.concat([head, Buffer.from(json), body]);
}
