// VAE output [1, 3, F, H, W] (planar, float) → packed rgb24 frames, the layout ffmpeg's rawvideo expects.
// Frames are converted one at a time so they can stream into the encoder while the next is prepared.
// Sixteen pixels at a time in WebAssembly SIMD (rgb24.wat) where the engine has it; the JavaScript loop below is
// the reference (the same float32 arithmetic, so both give the same bytes) and the fallback.
import { ensureMemory, lazySimdModule } from '../wasm/simd-module.js';
import { RGB24_WASM_BASE64 } from './rgb24-wasm.js';

export interface FrameLayout {
  /** Frames present in the decoder output. */
  decodedFrames: number;
  /** Frames wanted (≤ decodedFrames); the tail beyond is dropped. */
  frames: number;
  height: number;
  width: number;
}

/** A decoded clip, read frame by frame as rgb24. */
export interface FrameSource {
  readonly frames: number;
  readonly width: number;
  readonly height: number;
  /**
   * Frame f as rgb24 (width × height × 3 bytes). Written into `into` when given and the source can (a caller
   * that reuses its buffers: a new 192 KiB array per 256² frame is external memory V8 collects for), else a
   * new array; use what is returned.
   */
  frame(f: number, into?: Uint8Array): Uint8Array;
  /**
   * frame(f, into), also writing the frame's BT.601 luma ((77 R + 150 G + 29 B + 128) >> 8, as lumaOf in
   * clip-quality.ts) into `luma` (width × height bytes) in the same pass. Optional: sources without it are
   * measured from their rgb24.
   */
  frameWithLuma?(f: number, luma: Uint8Array, into?: Uint8Array): Uint8Array;
}

/** How frames are converted: `wasm-simd` (rgb24.wat) or `js` (the loop in this file). */
export type FrameConversion = 'wasm-simd' | 'js';

/**
 * @param range the decoder's output range [lo, hi] (the manifest's vae.outputRange): lo → 0, hi → 255
 * @param conversion `js` forces the JavaScript loop (tests, benchmarks); default: WebAssembly SIMD when it loads
 * @throws RangeError when the layout does not match the decoder output's length, or a frame is out of range
 */
export function frameSource(
  video: Float32Array,
  layout: FrameLayout,
  range: readonly [number, number],
  conversion: FrameConversion = frameConversion(),
): FrameSource {
  const { decodedFrames: F, frames, height: H, width: W } = layout;
  if (frames > F) throw new RangeError(`asked for ${frames} frames, decoder produced ${F}`);
  if (video.length !== 3 * F * H * W) throw new RangeError(`decoder output has ${video.length} values, expected 3x${F}x${H}x${W}`);
  const [lo, hi] = range;
  // float32, as WebAssembly's f32x4 lanes compute: v × scale + (offset + 0.5), each step rounded to float32.
  const scaling: Scaling = { scale: Math.fround(255 / (hi - lo)), add: Math.fround((-lo * 255) / (hi - lo) + 0.5) };
  const wasm = conversion === 'wasm-simd' ? wasmConverter() : undefined;
  // WebAssembly converts whole blocks of 16 pixels; the JavaScript loop does the rest (all of it without).
  const run = (p: Planes, out: Uint8Array, luma: Uint8Array | undefined) => convert(p, out, luma, scaling, wasm ? wasm.convert(p, out, luma, scaling) : 0);
  const plane = F * H * W;
  const pixels = H * W;
  const target = (into: Uint8Array | undefined): Uint8Array => {
    if (into === undefined) return new Uint8Array(pixels * 3);
    if (into.length !== pixels * 3) throw new RangeError(`frame buffer has ${into.length} bytes, expected ${W}x${H}x3 = ${pixels * 3}`);
    return into;
  };
  const planes = (f: number): Planes => {
    if (!Number.isInteger(f) || f < 0 || f >= frames) throw new RangeError(`frame ${f} outside 0..${frames - 1}`);
    const r = f * pixels;
    return [video.subarray(r, r + pixels), video.subarray(plane + r, plane + r + pixels), video.subarray(2 * plane + r, 2 * plane + r + pixels)];
  };
  return {
    frames,
    width: W,
    height: H,
    frame(f, into) {
      const out = target(into);
      run(planes(f), out, undefined);
      return out;
    },
    frameWithLuma(f, luma, into) {
      if (luma.length !== pixels) throw new RangeError(`luma buffer has ${luma.length} bytes, expected ${W}x${H} = ${pixels}`);
      const out = target(into);
      run(planes(f), out, luma);
      return out;
    },
  };
}

/** One frame's R, G and B planes (float32, width × height each). */
type Planes = [Float32Array, Float32Array, Float32Array];
/** Decoder value → byte: trunc(f32(f32(v × scale) + add)), add = offset + 0.5 (float32 constants). */
interface Scaling {
  scale: number;
  add: number;
}

const littleEndian = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/**
 * A value of the decoder's range as a byte: scaled (float32: v × scale + add, add = offset + 0.5), truncated,
 * clamped to 0..255; NaN → 0. rgb24.wat computes the same bytes (trunc_sat and saturating narrows).
 */
function toByte(v: number, scale: number, add: number): number {
  const x = Math.fround(Math.fround(v * scale) + add);
  return x > 0 ? (x < 255 ? x | 0 : 255) : 0;
}

/**
 * Planes R, G, B (pixels values each) → packed rgb24 in `out` (and BT.601 luma when given). Four pixels at a
 * time as three 32-bit stores where the layout allows (little-endian, aligned, pixels a multiple of 4): ~20 %
 * less time per clip than twelve byte stores; pixel-major sequential writes are ~2x faster than plane by plane.
 */
function convert([R, G, B]: Planes, out: Uint8Array, luma: Uint8Array | undefined, { scale, add }: Scaling, from: number): void {
  const pixels = R.length;
  let p = from;
  if (littleEndian && (out.byteOffset + p * 3) % 4 === 0) {
    const words = new Uint32Array(out.buffer, out.byteOffset, (pixels >> 2) * 3);
    for (let w = (p >> 2) * 3; p + 4 <= pixels; p += 4, w += 3) {
      const r0 = toByte(R[p] as number, scale, add);
      const g0 = toByte(G[p] as number, scale, add);
      const b0 = toByte(B[p] as number, scale, add);
      const r1 = toByte(R[p + 1] as number, scale, add);
      const g1 = toByte(G[p + 1] as number, scale, add);
      const b1 = toByte(B[p + 1] as number, scale, add);
      const r2 = toByte(R[p + 2] as number, scale, add);
      const g2 = toByte(G[p + 2] as number, scale, add);
      const b2 = toByte(B[p + 2] as number, scale, add);
      const r3 = toByte(R[p + 3] as number, scale, add);
      const g3 = toByte(G[p + 3] as number, scale, add);
      const b3 = toByte(B[p + 3] as number, scale, add);
      words[w] = (r0 | (g0 << 8) | (b0 << 16) | (r1 << 24)) >>> 0;
      words[w + 1] = (g1 | (b1 << 8) | (r2 << 16) | (g2 << 24)) >>> 0;
      words[w + 2] = (b2 | (r3 << 8) | (g3 << 16) | (b3 << 24)) >>> 0;
      if (luma) {
        luma[p] = (77 * r0 + 150 * g0 + 29 * b0 + 128) >> 8;
        luma[p + 1] = (77 * r1 + 150 * g1 + 29 * b1 + 128) >> 8;
        luma[p + 2] = (77 * r2 + 150 * g2 + 29 * b2 + 128) >> 8;
        luma[p + 3] = (77 * r3 + 150 * g3 + 29 * b3 + 128) >> 8;
      }
    }
  }
  for (let o = p * 3; p < pixels; p++, o += 3) {
    const r = toByte(R[p] as number, scale, add);
    const g = toByte(G[p] as number, scale, add);
    const b = toByte(B[p] as number, scale, add);
    out[o] = r;
    out[o + 1] = g;
    out[o + 2] = b;
    if (luma) luma[p] = (77 * r + 150 * g + 29 * b + 128) >> 8;
  }
}

/** The WebAssembly conversion (rgb24.wat): one instance, used synchronously (JS runs one frame at a time). */
interface WasmConverter {
  /** Converts floor(pixels / 16) × 16 pixels into `out` (and `luma`); returns how many it did (the rest is JS's). */
  convert(planes: Planes, out: Uint8Array, luma: Uint8Array | undefined, scaling: Scaling): number;
}

/**
 * Pixels per call into rgb24.wat: its planes, rgb24 and luma (16 bytes a pixel) fill its one 64 KiB page, so the
 * module's memory stays one page whatever the frame size (WebAssembly memory never shrinks: sized by the frame, a
 * 4096x2160 frame kept 141 MB for the process's life, and a grow refused failed the clip).
 */
const CHUNK = 4096;

/** The rgb24.wat instance, or null where WebAssembly SIMD is not available (then frames are converted in JS). */
const wasmConverter = lazySimdModule(
  'rgb24',
  RGB24_WASM_BASE64,
  ({ memory, fn }): WasmConverter => {
    const run = fn('convert');
    return {
      convert([R, G, B], out, luma, { scale, add }) {
        const done = R.length & ~15;
        // Memory: R, G, B (4 bytes a pixel each), then rgb24 (3), then luma (1), CHUNK pixels each.
        ensureMemory(memory, CHUNK * 16);
        const floats = new Float32Array(memory.buffer, 0, CHUNK * 3);
        const bytes = new Uint8Array(memory.buffer, CHUNK * 12, CHUNK * 4);
        for (let p = 0; p < done; p += CHUNK) {
          const n = Math.min(CHUNK, done - p);
          floats.set(R.subarray(p, p + n), 0);
          floats.set(G.subarray(p, p + n), CHUNK);
          floats.set(B.subarray(p, p + n), CHUNK * 2);
          run(0, CHUNK * 4, CHUNK * 8, CHUNK * 12, CHUNK * 15, n >> 4, scale, add);
          out.set(bytes.subarray(0, n * 3), p * 3);
          luma?.set(bytes.subarray(CHUNK * 3, CHUNK * 3 + n), p);
        }
        return done;
      },
    };
  },
  (wasm) => {
    // A known input through both: values across the range, beyond it, NaN, ±Infinity, -0 (two 16-pixel blocks).
    const planes = (c: number) =>
      Float32Array.from({ length: 32 }, (_, p) => [NaN, Infinity, -Infinity, -0, 2][(p + c) % 9] ?? ((p * 37 + c * 11) % 255) / 127.5 - 1);
    const R = planes(0);
    const G = planes(3);
    const B = planes(5);
    const scaling = { scale: 127.5, add: 128 };
    const [a, la, b, lb] = [new Uint8Array(96), new Uint8Array(32), new Uint8Array(96), new Uint8Array(32)];
    convert([R, G, B], a, la, scaling, wasm.convert([R, G, B], a, la, scaling));
    convert([R, G, B], b, lb, scaling, 0);
    return a.every((v, i) => v === b[i]) && la.every((v, i) => v === lb[i]);
  },
);

/** The conversion frameSource uses by default here: `wasm-simd` when rgb24.wat loads, else `js`. */
export function frameConversion(): FrameConversion {
  return wasmConverter() ? 'wasm-simd' : 'js';
}

/** All frames packed back to back (tests, small clips). */
export function toRgb24(video: Float32Array, layout: FrameLayout, range: readonly [number, number]): Uint8Array {
  const src = frameSource(video, layout, range);
  const out = new Uint8Array(src.frames * src.width * src.height * 3);
  for (let f = 0; f < src.frames; f++) out.set(src.frame(f), f * src.width * src.height * 3);
  return out;
}
