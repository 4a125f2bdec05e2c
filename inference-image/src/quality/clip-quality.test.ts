import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { buildTinyModel } from '../../scripts/lib/tiny-model.js';
import { FaultInjector } from '../jobs/faults.js';
import { loadModel } from '../model/load-model.js';
import type { FrameSource } from '../pipeline/frames.js';
import { T2vPipeline } from '../pipeline/pipeline.js';
import { BLANK_MAX_LUMA_STD, ClipQualityMeter, FROZEN_MAX_MEAN_ABS_DIFF, type ClipQuality } from './clip-quality.js';

const W = 32;
const H = 24;

/** An rgb24 frame from a per-pixel function of (x, y) → [r, g, b]. */
function frame(rgb: (x: number, y: number) => [number, number, number]): Uint8Array {
  const out = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) out.set(rgb(x, y), (y * W + x) * 3);
  return out;
}
const grey = (v: number) => frame(() => [v, v, v]);
/** A textured frame (a diagonal ramp plus a checker), shifted right by `dx` pixels: motion with content. */
const textured = (dx: number) =>
  frame((x, y) => {
    const v = (((x + dx) * 5 + y * 3) % 200) + ((((x + dx) >> 2) + (y >> 2)) % 2) * 40;
    return [v, v, v];
  });

function measure(frames: Uint8Array[]): ClipQuality {
  const meter = new ClipQualityMeter(W, H);
  for (const f of frames) meter.push(f);
  return meter.result();
}

describe('ClipQualityMeter on synthetic frames with known answers', () => {
  it('a static clip: zero flicker, every pair frozen, SSIM 1', () => {
    const q = measure([textured(0), textured(0), textured(0), textured(0)]);
    expect(q).toMatchObject({ frames: 4, flicker: 0, frozenRatio: 1, blankRatio: 0, temporalSsim: 1 });
  });

  it('flicker is the mean absolute luma change in levels: grey 100 ↔ 110 alternating reads 10', () => {
    const q = measure([grey(100), grey(110), grey(100), grey(110)]);
    expect(q.flicker).toBe(10);
    expect(q.frozenRatio).toBe(0);
  });

  it('luma weighs green most (BT.601): pure red → pure green is a change of 150 − 77 levels per pixel', () => {
    const q = measure([frame(() => [255, 0, 0]), frame(() => [0, 255, 0])]);
    // (77·255 + 128) >> 8 = 77, (150·255 + 128) >> 8 = 149.
    expect(q.flicker).toBe(149 - 77);
  });

  it('a clip with one black frame out of five has blank ratio 0.2', () => {
    const q = measure([textured(0), textured(1), grey(0), textured(3), textured(4)]);
    expect(q.blankRatio).toBeCloseTo(0.2, 12);
  });

  it('blank means flat at any level, not only black; a faint texture is not blank', () => {
    expect(measure([grey(255), grey(128)]).blankRatio).toBe(1);
    // A checker of ±(threshold + 1) levels around 100 has a luma std of threshold + 1: content.
    const faint = frame((x, y) => {
      const v = 100 + ((x + y) % 2) * (2 * BLANK_MAX_LUMA_STD + 2);
      return [v, v, v];
    });
    expect(measure([faint]).blankRatio).toBe(0);
  });

  it('frozen pairs are counted against the threshold: 3 repeats in 7 pairs', () => {
    const frames = [textured(0), textured(1), textured(1), textured(2), textured(2), textured(2), textured(3), textured(4)];
    const q = measure(frames);
    expect(q.frozenRatio).toBeCloseTo(3 / 7, 12);
    // Frozen means under FROZEN_MAX_MEAN_ABS_DIFF levels on average: k pixels of W·H moving by 100 levels.
    const moved = (k: number) => {
      const b = grey(50);
      for (let p = 0; p < k; p++) b[3 * p] = b[3 * p + 1] = b[3 * p + 2] = 150;
      return measure([grey(50), b]);
    };
    const limit = (FROZEN_MAX_MEAN_ABS_DIFF * W * H) / 100;
    expect(moved(Math.floor(limit))).toMatchObject({ frozenRatio: 1 });
    expect(moved(Math.floor(limit) + 1)).toMatchObject({ frozenRatio: 0 });
  });

  it('temporal SSIM falls as the picture changes more, and is 1 only for identical frames', () => {
    const small = measure([textured(0), textured(1)]).temporalSsim!;
    const large = measure([textured(0), textured(9)]).temporalSsim!;
    const unrelated = measure([textured(0), frame((x, y) => [(x * 37 + y * 91) % 256, 0, 0])]).temporalSsim!;
    expect(small).toBeLessThan(1);
    expect(large).toBeLessThan(small);
    expect(unrelated).toBeLessThan(large);
  });

  it('a long clip reads as the mean of its pairs measured one by one (the meter reuses its frame buffers)', () => {
    const frames = [textured(0), textured(3), grey(40), textured(4), textured(4), textured(11), grey(200), textured(2)];
    const pairs = frames.slice(1).map((f, i) => measure([frames[i] as Uint8Array, f]));
    const mean = (k: 'flicker' | 'temporalSsim' | 'frozenRatio') => pairs.reduce((a, q) => a + (q[k] as number), 0) / pairs.length;
    const q = measure(frames);
    expect(q.flicker).toBeCloseTo(mean('flicker'), 12);
    expect(q.temporalSsim).toBeCloseTo(mean('temporalSsim'), 12);
    expect(q.frozenRatio).toBeCloseTo(mean('frozenRatio'), 12);
    expect(q.blankRatio).toBeCloseTo(2 / 8, 12);
  });

  it('one frame has no pairs: only the blank ratio is defined; no frames, nothing', () => {
    expect(measure([grey(0)])).toEqual({ frames: 1, blankRatio: 1 });
    expect(measure([])).toEqual({ frames: 0 });
  });

  it('luma written by the conversion (nextLuma, pushLuma) measures exactly as rgb24 pushed whole', () => {
    const clip = [textured(0), textured(1), grey(0), textured(3), textured(3), textured(9)];
    const meter = new ClipQualityMeter(W, H);
    for (const f of clip) {
      const luma = meter.nextLuma();
      for (let p = 0; p < W * H; p++) luma[p] = (77 * (f[3 * p] as number) + 150 * (f[3 * p + 1] as number) + 29 * (f[3 * p + 2] as number) + 128) >> 8;
      meter.pushLuma();
    }
    expect(meter.result()).toEqual(measure(clip));
    expect(() => new ClipQualityMeter(W, H).pushLuma()).toThrow(/no luma was written into nextLuma/);
  });

  it('refuses a frame of the wrong size, naming the expected layout', () => {
    expect(() => new ClipQualityMeter(W, H).push(new Uint8Array(10))).toThrow(/frame 0 has 10 bytes, expected 2304 \(32x24 rgb24\)/);
    expect(() => new ClipQualityMeter(0, H)).toThrow(/frame size 0x24/);
  });
});

describe('T2V_FAULT_FREEZE_FRAMES', () => {
  const source: FrameSource = { frames: 9, width: W, height: H, frame: (f) => textured(f) };

  it('freezes the tail so that share of the pairs stands still; off leaves the clip alone', () => {
    const frozen = new FaultInjector({ errorRate: 0, latencyMs: 0, freezeFrames: 0.5 }).freeze(source);
    const q = measure(Array.from({ length: 9 }, (_, f) => frozen.frame(f)));
    expect(q.frozenRatio).toBe(0.5);
    const off = new FaultInjector({ errorRate: 0, latencyMs: 0 }).freeze(source);
    expect(off).toBe(source);
    const all = new FaultInjector({ errorRate: 0, latencyMs: 0, freezeFrames: 1 }).freeze(source);
    expect(measure(Array.from({ length: 9 }, (_, f) => all.frame(f))).frozenRatio).toBe(1);
  });
});

describe('the small model’s real output', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 't2v-quality-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('moves (not frozen, not blank, some flicker, SSIM below 1) and the same seed measures the same', async () => {
    const manifest = buildTinyModel(dir);
    const log = { info: () => undefined, warn: () => undefined };
    const model = await loadModel(dir, manifest, {
      preference: 'cpu',
      cudaDeviceId: 0,
      cpuThreads: 1,
      create: (f, o) => ort.InferenceSession.create(f, o),
      log,
    });
    try {
      const pipeline = new T2vPipeline(model);
      const params = {
        prompt: 'a red cat running on the beach',
        width: manifest.video.width,
        height: manifest.video.height,
        frames: manifest.video.frames,
        steps: 4,
        guidance: 1,
        seed: 7,
      };
      const run = async (seed: number): Promise<ClipQuality> => {
        const { video } = await pipeline.generate({ ...params, seed });
        const meter = new ClipQualityMeter(video.width, video.height);
        for (let f = 0; f < video.frames; f++) meter.push(video.frame(f));
        return meter.result();
      };
      const q = await run(7);
      expect(q.frames).toBe(manifest.video.frames);
      expect(q.blankRatio).toBe(0);
      expect(q.frozenRatio).toBeLessThan(1);
      expect(q.flicker).toBeGreaterThan(FROZEN_MAX_MEAN_ABS_DIFF);
      expect(q.temporalSsim).toBeGreaterThan(0);
      expect(q.temporalSsim).toBeLessThan(1);
      expect(await run(7)).toEqual(q);
      expect(await run(8)).not.toEqual(q);
    } finally {
      await model.release();
    }
  });
});
