import { describe, expect, it } from 'vitest';
import { compileWat, WAT_MODULES } from '../../scripts/lib/wat-modules.js';
import { frameConversion, frameSource, type FrameConversion } from './frames.js';
import { mulberry32 } from './noise.js';
import { pairStatistics, SsimScratch } from '../quality/ssim.js';
import { simdMemoryBytes } from '../wasm/simd-module.js';
import { RGB24_WASM_BASE64 } from './rgb24-wasm.js';

/** Decoder output for F frames of H × W: mostly inside the range, some beyond it, some exactly on byte edges. */
function decoderOutput(F: number, H: number, W: number, range: readonly [number, number], seed: number): Float32Array {
  const next = mulberry32(seed);
  const [lo, hi] = range;
  const video = new Float32Array(3 * F * H * W);
  for (let i = 0; i < video.length; i++) {
    const u = next();
    if (u < 0.02) video[i] = [NaN, Infinity, -Infinity, 1e30, -1e30, 0, -0][i % 7] as number;
    else if (u < 0.2)
      video[i] = lo + ((hi - lo) * Math.floor(next() * 256)) / 255 + ((hi - lo) / 510) * (next() < 0.5 ? 1 : -1); // half a byte from an edge
    else video[i] = lo - (hi - lo) * 0.1 + next() * (hi - lo) * 1.2;
  }
  return video;
}

function convertAll(video: Float32Array, F: number, H: number, W: number, range: readonly [number, number], conversion: FrameConversion) {
  const source = frameSource(video, { decodedFrames: F, frames: F, height: H, width: W }, range, conversion);
  const frames: Uint8Array[] = [];
  const lumas: Uint8Array[] = [];
  for (let f = 0; f < F; f++) {
    const luma = new Uint8Array(H * W);
    frames.push(source.frameWithLuma!(f, luma, new Uint8Array(H * W * 3)).slice());
    lumas.push(luma);
  }
  return { frames, lumas, plain: Array.from({ length: F }, (_, f) => source.frame(f)) };
}

describe('rgb24 in WebAssembly SIMD (rgb24.wat)', () => {
  it('is what rgb24.wat compiles to today (npm run build:wasm after an edit)', async () => {
    expect(Buffer.from(await compileWat(WAT_MODULES.rgb24)).toString('base64')).toBe(RGB24_WASM_BASE64);
  });

  it('loads here (Node 20+ has WebAssembly SIMD), so frames are converted by it', () => {
    expect(frameConversion()).toBe('wasm-simd');
  });

  // Sizes: whole 16-pixel blocks, a tail of 1..15 pixels, fewer pixels than one block, a frame larger than the
  // module's first memory page; ranges: [-1, 1] (scale 127.5), [0, 1], and one whose scale is not exact in float32.
  const cases: [number, number, number, [number, number]][] = [
    [2, 16, 16, [-1, 1]],
    [3, 7, 13, [-1, 1]],
    [1, 3, 5, [0, 1]],
    [2, 1, 1, [-1, 1]],
    [1, 130, 170, [-0.7, 1.3]],
    [2, 33, 47, [0, 1]],
  ];
  for (const [F, H, W, range] of cases)
    it(`gives the JavaScript loop's exact bytes and luma: ${F} frames of ${W}x${H}, range [${range.join(', ')}]`, () => {
      const video = decoderOutput(F, H, W, range, F * 1000 + H * 10 + W);
      const simd = convertAll(video, F, H, W, range, 'wasm-simd');
      const js = convertAll(video, F, H, W, range, 'js');
      for (let f = 0; f < F; f++) {
        expect(Buffer.from(simd.frames[f]!).equals(Buffer.from(js.frames[f]!)), `frame ${f}`).toBe(true);
        expect(Buffer.from(simd.plain[f]!).equals(Buffer.from(js.frames[f]!)), `frame ${f} without luma`).toBe(true);
        expect(Buffer.from(simd.lumas[f]!).equals(Buffer.from(js.lumas[f]!)), `luma ${f}`).toBe(true);
        // The luma is BT.601's on the bytes, as the quality meter computes it (clip-quality's lumaOf).
        const rgb = js.frames[f]!;
        const y = Uint8Array.from({ length: H * W }, (_, p) => (77 * rgb[3 * p]! + 150 * rgb[3 * p + 1]! + 29 * rgb[3 * p + 2]! + 128) >> 8);
        expect(Buffer.from(simd.lumas[f]!).equals(Buffer.from(y)), `luma ${f} vs BT.601`).toBe(true);
      }
    });

  it('maps the range ends and the midpoint, rounds half up in float32, clamps beyond the range and turns NaN into 0', () => {
    // 16 pixels (one SIMD block) of R, G and B; byte = trunc((v + 1) × 127.5 + 0.5) in float32.
    const R = [-1, 1, 0, -1.5, 1.5, NaN, Infinity, -Infinity, 2 / 255 - 1, 6 / 255 - 1, 0.5, -0.5, 1e-8, -1e-8, 0.999, -0.999];
    const video = Float32Array.from([...R, ...R.map((v) => -v), ...R.map(() => 0)]);
    for (const conversion of ['wasm-simd', 'js'] as const) {
      const rgb = frameSource(video, { decodedFrames: 1, frames: 1, height: 1, width: 16 }, [-1, 1], conversion).frame(0);
      const channel = (c: number) => Array.from({ length: 16 }, (_, p) => rgb[3 * p + c]);
      // -1e-8: 127.99999872 in float64, 128 once rounded to float32 (its spacing at 128 is 2^-16).
      expect(channel(0), conversion).toEqual([0, 255, 128, 0, 255, 0, 255, 0, 1, 3, 191, 64, 128, 128, 255, 0]);
      expect(channel(1), conversion).toEqual([255, 0, 128, 255, 0, 0, 0, 255, 254, 252, 64, 191, 128, 128, 0, 255]);
      expect(channel(2), conversion).toEqual(Array(16).fill(128));
    }
  });
});

describe('WebAssembly memory', () => {
  it('serves two clips converted in turn (two jobs streaming at once) as each alone: nothing returned is a view of the shared module memory', () => {
    const a = decoderOutput(3, 9, 40, [-1, 1], 1);
    const b = decoderOutput(3, 20, 17, [0, 1], 2);
    const sa = frameSource(a, { decodedFrames: 3, frames: 3, height: 9, width: 40 }, [-1, 1], 'wasm-simd');
    const sb = frameSource(b, { decodedFrames: 3, frames: 3, height: 20, width: 17 }, [0, 1], 'wasm-simd');
    const interleaved: Uint8Array[] = [];
    for (let f = 0; f < 3; f++) interleaved.push(sa.frame(f), sb.frame(f));
    const alone = [0, 1, 2].flatMap((f) => [convertAll(a, 3, 9, 40, [-1, 1], 'js').frames[f]!, convertAll(b, 3, 20, 17, [0, 1], 'js').frames[f]!]);
    expect(interleaved.map((x) => Buffer.from(x).toString('hex'))).toEqual(alone.map((x) => Buffer.from(x).toString('hex')));
  });

  it('stays bounded by the chunk (rgb24) and one band (SSIM), not the frame: a 1024x1024 frame leaves the modules under 1 MiB', () => {
    const [H, W] = [1024, 1024];
    const video = decoderOutput(1, H, W, [-1, 1], 11);
    const simd = convertAll(video, 1, H, W, [-1, 1], 'wasm-simd');
    const js = convertAll(video, 1, H, W, [-1, 1], 'js');
    expect(Buffer.from(simd.frames[0]!).equals(Buffer.from(js.frames[0]!))).toBe(true);
    expect(Buffer.from(simd.lumas[0]!).equals(Buffer.from(js.lumas[0]!))).toBe(true);
    const y = simd.lumas[0]!.map((v) => 255 - v);
    expect(pairStatistics(simd.lumas[0]!, y, W, H, new SsimScratch(W, 'wasm-simd'))).toEqual(pairStatistics(simd.lumas[0]!, y, W, H, new SsimScratch(W, 'js')));
    // Before: 16 bytes a pixel for rgb24 (16 MiB here, 141 MB after a 4096x2160 frame) and 2 for SSIM, kept for the process's life.
    expect(simdMemoryBytes()).toBeLessThanOrEqual(1 << 20);
  });
});
