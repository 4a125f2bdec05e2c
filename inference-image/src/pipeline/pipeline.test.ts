import ort from 'onnxruntime-node';
import type { Tensor } from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { CancelledError } from '../errors.js';
import type { GraphIo } from '../model/graph-io.js';
import type { ModelManifest } from '../model/manifest.js';
import { frameSource, toRgb24, type FrameSource } from './frames.js';
import { T2vPipeline, type GenerationParams, type GraphRunner, type PipelineModel } from './pipeline.js';
import { ByteTokenizer } from './tokenizer.js';

const manifest = {
  latent: { channels: 2 },
  vae: { temporalCompression: 2, spatialCompression: 2, causal: false, scalingFactor: 2, shiftFactor: 0, outputRange: [-1, 1] },
  scheduler: { type: 'flow-euler', numTrainTimesteps: 1000, shift: 2 },
} as unknown as ModelManifest;

const tokenizer = new ByteTokenizer(8);
const prompt = 'a cat';
const negative = 'blurry!!';
const condTokens = tokenizer.encode(prompt).tokenCount;

/**
 * Fakes with known answers: the text encoder emits the prompt's token count; the denoiser is an oracle
 * whose clean target is 0.5 for the prompt and −0.5 otherwise, so the sampler must land on
 * x0 = −0.5 + g·(0.5 − (−0.5)) under guidance g; the VAE returns the mean latent as every pixel.
 */
function fakes(opts: { maxBatch: number; timestepType?: 'float32' | 'int64' }) {
  const seen = { denoiserBatches: [] as number[], timesteps: [] as number[] };
  const textEncoder: GraphRunner = {
    async run(feeds) {
      const ids = feeds.input_ids as Tensor;
      const mask = feeds.attention_mask as Tensor;
      const [b, L] = ids.dims as [number, number];
      const m = mask.data as BigInt64Array;
      const out = new Float32Array(b * L * 3);
      for (let i = 0; i < b; i++) {
        let count = 0;
        for (let j = 0; j < L; j++) count += Number(m[i * L + j]);
        out.fill(count, i * L * 3, (i + 1) * L * 3);
      }
      return { hidden: new ort.Tensor('float32', out, [b, L, 3]) };
    },
  };
  const denoiser: GraphRunner = {
    async run(feeds) {
      const x = feeds.sample as Tensor;
      const ctx = feeds.context as Tensor;
      const ts = feeds.t as Tensor;
      const b = x.dims[0] as number;
      seen.denoiserBatches.push(b);
      const t = Number((ts.data as Float32Array | BigInt64Array)[0]);
      seen.timesteps.push(t);
      const sigma = t / 1000;
      const per = (x.data as Float32Array).length / b;
      const perCtx = (ctx.data as Float32Array).length / b;
      const v = new Float32Array((x.data as Float32Array).length);
      for (let i = 0; i < b; i++) {
        const x0 = (ctx.data as Float32Array)[i * perCtx] === condTokens ? 0.5 : -0.5;
        for (let k = 0; k < per; k++) v[i * per + k] = (((x.data as Float32Array)[i * per + k] as number) - x0) / sigma;
      }
      return { velocity: new ort.Tensor('float32', v, x.dims) };
    },
  };
  const vaeDecoder: GraphRunner = {
    async run(feeds) {
      const z = feeds.z as Tensor;
      const [, , t, h, w] = z.dims as number[];
      const data = z.data as Float32Array;
      const mean = data.reduce((a, v) => a + v, 0) / data.length;
      const F = (t as number) * 2;
      const H = (h as number) * 2;
      const W = (w as number) * 2;
      return { video: new ort.Tensor('float32', new Float32Array(3 * F * H * W).fill(mean), [1, 3, F, H, W]) };
    },
  };
  const io: GraphIo = {
    textEncoder: {
      ids: 'input_ids',
      idsType: 'int64',
      mask: 'attention_mask',
      maskType: 'int64',
      output: 'hidden',
      maxBatch: opts.maxBatch,
      fixedLength: undefined,
    },
    denoiser: {
      latent: 'sample',
      timestep: 't',
      timestepType: opts.timestepType ?? 'float32',
      context: 'context',
      output: 'velocity',
      maxBatch: opts.maxBatch,
      fixed: [undefined, undefined, undefined, undefined],
    },
    vaeDecoder: { latent: 'z', output: 'video', maxBatch: opts.maxBatch },
  };
  const model: PipelineModel = { manifest, tokenizer, io, graphs: { textEncoder, denoiser, vaeDecoder } };
  return { model, seen };
}

const params: GenerationParams = { prompt, negativePrompt: '', width: 4, height: 6, frames: 3, steps: 5, guidance: 1.5, seed: 11 };

/** The VAE fake paints mean(latent / scalingFactor) everywhere; map it to the 0..255 a pixel gets. */
const pixel = (latent: number): number => Math.round(((latent / 2 + 1) / 2) * 255);

/** Every byte of every frame. */
function bytes(v: FrameSource): Set<number> {
  const out = new Set<number>();
  for (let f = 0; f < v.frames; f++) for (const b of v.frame(f)) out.add(b);
  return out;
}

describe('T2vPipeline', () => {
  it('denoises to the prompt target without guidance, one batch-1 run per step', async () => {
    const { model, seen } = fakes({ maxBatch: Infinity });
    const out = await new T2vPipeline(model).generate(params);
    expect(out.guided).toBe(false);
    expect(seen.denoiserBatches).toEqual([1, 1, 1, 1, 1]);
    expect([out.video.frames, out.video.height, out.video.width]).toEqual([3, 6, 4]);
    expect(out.video.frame(2)).toHaveLength(6 * 4 * 3);
    expect(bytes(out.video)).toEqual(new Set([pixel(0.5)]));
    expect(out.promptTokens).toBe(condTokens);
  });

  it('applies classifier-free guidance in one batch-2 run when a negative prompt is given', async () => {
    const { model, seen } = fakes({ maxBatch: Infinity });
    const out = await new T2vPipeline(model).generate({ ...params, negativePrompt: negative });
    expect(out.guided).toBe(true);
    expect(seen.denoiserBatches).toEqual([2, 2, 2, 2, 2]);
    expect(bytes(out.video)).toEqual(new Set([pixel(-0.5 + 1.5 * 1)]));
  });

  it('runs guidance as two batch-1 passes when the graph pins batch 1, with the same result', async () => {
    const { model, seen } = fakes({ maxBatch: 1, timestepType: 'int64' });
    const out = await new T2vPipeline(model).generate({ ...params, negativePrompt: negative });
    expect(seen.denoiserBatches).toEqual(Array(10).fill(1));
    expect(bytes(out.video)).toEqual(new Set([pixel(1)]));
    // int64 timesteps are the rounded scheduler timesteps.
    expect(seen.timesteps.every((t) => Number.isInteger(t))).toBe(true);
  });

  it('skips guidance when guidance is 1 even with a negative prompt', async () => {
    const { model, seen } = fakes({ maxBatch: Infinity });
    const out = await new T2vPipeline(model).generate({ ...params, negativePrompt: negative, guidance: 1 });
    expect(out.guided).toBe(false);
    expect(seen.denoiserBatches).toEqual([1, 1, 1, 1, 1]);
  });

  it('feeds the scheduler timesteps, reports progress and step times', async () => {
    const { model, seen } = fakes({ maxBatch: Infinity });
    const progress: string[] = [];
    const steps: number[] = [];
    let clock = 0;
    const out = await new T2vPipeline(model, () => (clock += 1)).generate(params, {
      onProgress: (phase, step) => progress.push(`${phase}:${step}`),
      onDenoiseStep: (s) => steps.push(s),
    });
    expect(seen.timesteps[0]).toBe(1000);
    expect(seen.timesteps).toHaveLength(5);
    expect(progress).toEqual(['text:0', 'denoise:0', 'denoise:1', 'denoise:2', 'denoise:3', 'denoise:4', 'decode:5']);
    expect(steps).toHaveLength(5);
    expect(out.timings.onnxSeconds).toBeGreaterThan(0);
    expect(out.timings.onnxSeconds).toBeLessThan(out.timings.totalSeconds);
  });

  it('stops between steps when aborted, with the abort reason', async () => {
    const { model, seen } = fakes({ maxBatch: Infinity });
    const c = new AbortController();
    const p = new T2vPipeline(model).generate(params, { signal: c.signal, onDenoiseStep: () => c.abort(new CancelledError('gone')) });
    await expect(p).rejects.toBeInstanceOf(CancelledError);
    expect(seen.denoiserBatches).toHaveLength(1);
  });

  it('computes the latent shape from the VAE factors', () => {
    const { model } = fakes({ maxBatch: Infinity });
    expect(new T2vPipeline(model).latentShape({ width: 8, height: 6, frames: 5 })).toEqual([1, 2, 3, 3, 4]);
  });
});

describe('toRgb24', () => {
  it('packs planar [3, F, H, W] into rgb24 frames, dropping extra frames and clamping', () => {
    // F = 2, H = 1, W = 2: r plane, g plane, b plane.
    const video = Float32Array.from([-1, 1, 0, 2, /* g */ 1, -1, 0, 0, /* b */ 0, 0, -3, 1]);
    expect(Array.from(toRgb24(video, { decodedFrames: 2, frames: 1, height: 1, width: 2 }, [-1, 1]))).toEqual([0, 255, 128, 255, 0, 128]);
    expect(Array.from(toRgb24(Float32Array.from([0.5, NaN, 0.5]), { decodedFrames: 1, frames: 1, height: 1, width: 1 }, [0, 1]))).toEqual([128, 0, 128]);
    expect(() => toRgb24(video, { decodedFrames: 2, frames: 3, height: 1, width: 2 }, [-1, 1])).toThrow(RangeError);
  });

  it('writes into a given buffer, four pixels at a time and the tail one by one, with the luma when asked', () => {
    // 1 frame of 3 × 3 (9 pixels: two groups of four and a tail of one), values across and beyond the range.
    const n = 9;
    const video = Float32Array.from({ length: 3 * n }, (_, i) => -1.2 + (i * 2.4) / (3 * n - 1));
    const layout = { decodedFrames: 1, frames: 1, height: 3, width: 3 };
    const src = frameSource(video, layout, [-1, 1]);
    const byte = (v: number) => Math.min(255, Math.max(0, Math.floor((v + 1) * 127.5 + 0.5)));
    const expected = Array.from({ length: n }, (_, p) => [byte(video[p] as number), byte(video[n + p] as number), byte(video[2 * n + p] as number)]).flat();
    const into = new Uint8Array(n * 3);
    expect(src.frame(0, into)).toBe(into);
    expect(Array.from(into)).toEqual(expected);
    const luma = new Uint8Array(n);
    const again = src.frameWithLuma?.(0, luma, new Uint8Array(n * 3)) as Uint8Array;
    expect(Array.from(again)).toEqual(expected);
    expect(Array.from(luma)).toEqual(
      Array.from(
        { length: n },
        (_, p) => (77 * (expected[3 * p] as number) + 150 * (expected[3 * p + 1] as number) + 29 * (expected[3 * p + 2] as number) + 128) >> 8,
      ),
    );
    // Without a buffer: a new array each time; wrong sizes are refused, naming the layout.
    expect(src.frame(0)).not.toBe(src.frame(0));
    expect(() => src.frame(0, new Uint8Array(5))).toThrow(/frame buffer has 5 bytes, expected 3x3x3 = 27/);
    expect(() => src.frameWithLuma?.(0, new Uint8Array(4))).toThrow(/luma buffer has 4 bytes, expected 3x3 = 9/);
  });
});
