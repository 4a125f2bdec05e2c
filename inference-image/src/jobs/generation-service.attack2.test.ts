// Second attack on issue #17's probes in the generation service (jobs/generation-service.ts): a probe's
// generation must not move any series users' traffic is judged or watched by.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { FrameSource } from '../pipeline/frames.js';
import type { GeneratedFrames, GenerationHooks } from '../pipeline/pipeline.js';
import { createMetrics } from '../telemetry/metrics.js';
import type { Mp4Encoder } from '../video/mp4-encoder.js';
import { FaultInjector } from './faults.js';
import { GenerationService } from './generation-service.js';
import { JobQueue } from './job-queue.js';
import { JobStore } from './job-store.js';
import type { GenerationRequest } from './types.js';

const request: GenerationRequest = {
  prompt: 'a cat',
  negativePrompt: '',
  width: 16,
  height: 16,
  frames: 4,
  fps: 4,
  seconds: 1,
  steps: 3,
  guidance: 1,
  seed: 5,
};
const source: FrameSource = { frames: 4, width: 16, height: 16, frame: (f) => new Uint8Array(16 * 16 * 3).map((_, i) => 100 + 8 * f + (i % 48)) };

function setup() {
  const queue = new JobQueue({ maxConcurrency: 1, maxQueue: 4 });
  const metrics = createMetrics(
    { name: 'm', version: 'v1' },
    { queueDepth: () => queue.depth, inflight: () => queue.inflight, gpuMemory: async () => undefined },
  );
  let ids = 0;
  const service = new GenerationService({
    pipeline: {
      async generate(_: unknown, hooks: GenerationHooks): Promise<GeneratedFrames> {
        for (let i = 0; i < 3; i++) hooks.onDenoiseStep?.(0.01);
        return {
          video: source,
          guided: false,
          promptTokens: 3,
          promptTruncated: false,
          timings: { onnxSeconds: 0.5, textSeconds: 0.1, denoiseSeconds: 0.3, decodeSeconds: 0.1, totalSeconds: 0.6 },
        };
      },
    },
    startEncoder: async (): Promise<Mp4Encoder> => ({
      encode: async (v) => {
        for (let f = 0; f < v.frames; f++) v.frame(f);
        return Buffer.from('mp4!');
      },
      abort: async () => undefined,
    }),
    queue,
    store: new JobStore({ ttlMs: 60_000, maxFinished: 10, now: () => 1_700_000_000_000 }),
    metrics,
    faults: new FaultInjector({ errorRate: 0, latencyMs: 0, freezeFrames: 0 }, () => 0),
    log: pino({ level: 'silent' }),
    model: { name: 'm', version: 'v1' },
    requestTimeoutMs: 60_000,
    ffmpegPath: 'ffmpeg',
    x264: { preset: 'veryfast', crf: 18 },
    overlapEncoderStart: false,
    newId: () => `vid_${++ids}`,
    clock: () => 1_700_000_000_000,
    monotonic: () => performance.now(),
  });
  return { service, text: () => metrics.registry.metrics() };
}

const count = (text: string, name: string): number => Number(new RegExp(`^${name}_count(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);

describe('attack2-17: a golden-prompt probe in the generation service', () => {
  it("a probe's denoiser steps stay out of t2v_denoise_step_duration_seconds (README: probes never shift users' latency)", async () => {
    const { service, text } = setup();
    await service.generate({ ...request, probe: true, keepFrames: true }, performance.now(), new AbortController().signal);
    expect(count(await text(), 't2v_denoise_step_duration_seconds'), 'denoiser steps observed for a probe').toBe(0);
  });

  it('held up: a probe adds nothing to requests, duration, quality, GPU-seconds or video-seconds', async () => {
    const { service, text } = setup();
    await service.generate({ ...request, probe: true, keepFrames: true }, performance.now(), new AbortController().signal);
    const t = await text();
    expect(count(t, 't2v_request_duration_seconds')).toBe(0);
    expect(count(t, 't2v_quality_frozen_frame_ratio')).toBe(0);
    expect(/^t2v_gpu_seconds_total(?:\{[^}]*\})? 0$/m.test(t)).toBe(true);
    expect(/^t2v_generated_video_seconds_total(?:\{[^}]*\})? 0$/m.test(t)).toBe(true);
    expect(/^t2v_requests_total\{[^}]*\} [1-9]/m.test(t)).toBe(false);
  });
});
