import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import type { FrameSource } from '../pipeline/frames.js';
import type { GeneratedFrames, GenerationHooks } from '../pipeline/pipeline.js';
import { EncodeError } from '../errors.js';
import { ClipQualityMeter } from '../quality/clip-quality.js';
import { createMetrics } from '../telemetry/metrics.js';
import type { Mp4Encoder } from '../video/mp4-encoder.js';
import { FaultInjector } from './faults.js';
import { GenerationService, generationCost, type FrameGenerator } from './generation-service.js';
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

/** Four frames: the first black, then a grey that brightens by 8 levels a frame (known quality answers). */
const source: FrameSource = {
  frames: 4,
  width: 16,
  height: 16,
  frame: (f) => new Uint8Array(16 * 16 * 3).map((_, i) => (f === 0 ? 0 : 100 + 8 * f + (i % 48))),
};

/** A monotonic clock the fake pipeline moves on (ms). */
let fakeNow = 0;

function generated(): GeneratedFrames {
  return {
    video: source,
    guided: false,
    promptTokens: 3,
    promptTruncated: false,
    timings: { onnxSeconds: 0.5, textSeconds: 0.1, denoiseSeconds: 0.3, decodeSeconds: 0.1, totalSeconds: 0.6 },
  };
}

/** A pipeline that reports three steps and finishes, or waits for its abort signal when `hang` is set. */
function pipeline(opts: { hang?: boolean; fail?: Error; advanceMs?: number } = {}): FrameGenerator & { calls: number } {
  const p = {
    calls: 0,
    async generate(_: unknown, hooks: GenerationHooks): Promise<GeneratedFrames> {
      p.calls++;
      events.push('generate');
      fakeNow += opts.advanceMs ?? 0;
      if (opts.fail) throw opts.fail;
      if (opts.hang) {
        await new Promise((_, reject) => hooks.signal?.addEventListener('abort', () => reject(hooks.signal?.reason)));
      }
      for (let i = 0; i < 3; i++) {
        hooks.onProgress?.('denoise', i, 3);
        hooks.onDenoiseStep?.(0.01);
      }
      return generated();
    },
  };
  return p;
}

let events: string[] = [];

interface SetupOptions {
  pipeline?: FrameGenerator;
  errorRate?: number;
  timeoutMs?: number;
  overlap?: boolean;
  sample?: boolean;
  gpusPerSlot?: number;
  freezeFrames?: number;
  fakeClock?: boolean;
  /** The encoder's start rejects with this (e.g. its temp dir cannot be made). */
  encoderFails?: Error;
}

function setup(over: SetupOptions = {}) {
  events = [];
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, new Writable({ write: (chunk, _e, cb) => (lines.push(JSON.parse(String(chunk)) as Record<string, unknown>), cb()) }));
  const queue = new JobQueue({ maxConcurrency: 1, maxQueue: 4 });
  const metrics = createMetrics(
    { name: 'm', version: 'v1' },
    { queueDepth: () => queue.depth, inflight: () => queue.inflight, gpuMemory: async () => undefined },
  );
  let ids = 0;
  const clock = (): number => 1_700_000_000_000;
  const startEncoder = async (): Promise<Mp4Encoder> => {
    events.push('encoder');
    if (over.encoderFails) throw over.encoderFails;
    return {
      encode: async (v) => {
        events.push(`encode:${v.frames}`);
        for (let f = 0; f < v.frames; f++) v.frame(f);
        return Buffer.from('mp4!');
      },
      abort: async () => void events.push('abort'),
    };
  };
  const service = new GenerationService({
    pipeline: over.pipeline ?? pipeline(),
    startEncoder,
    queue,
    store: new JobStore({ ttlMs: 60_000, maxFinished: 10, now: clock }),
    metrics,
    faults: new FaultInjector({ errorRate: over.errorRate ?? 0, latencyMs: 0, freezeFrames: over.freezeFrames ?? 0 }, () => 0),
    log,
    model: { name: 'm', version: 'v1' },
    requestTimeoutMs: over.timeoutMs ?? 60_000,
    ffmpegPath: 'ffmpeg',
    x264: { preset: 'veryfast', crf: 18 },
    overlapEncoderStart: over.overlap ?? false,
    newId: () => `vid_${++ids}`,
    ...(over.sample !== undefined ? { sampleQuality: () => over.sample as boolean } : {}),
    ...(over.gpusPerSlot !== undefined ? { gpusPerSlot: over.gpusPerSlot } : {}),
    clock,
    monotonic: over.fakeClock ? () => fakeNow : () => performance.now(),
  });
  const text = (): Promise<string> => metrics.registry.metrics();
  return { service, lines, text, queue };
}

/** Sum of the samples of `name` carrying all of `labels` (any other labels: summed over, as PromQL's sum). */
function sampleOf(text: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z0-9_:]+)\{(.*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] as string).matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

const settled = async (service: GenerationService, id: string): Promise<void> => {
  for (;;) {
    const job = service.get(id);
    if (!job) throw new Error(`job ${id} vanished from the store`);
    if (job.finishedAt !== undefined) return;
    await new Promise((r) => setImmediate(r));
  }
};

describe('GenerationService', () => {
  it('runs an async job to an MP4, recording progress, timings, metrics and one log line', async () => {
    const { service, lines, text } = setup();
    const job = service.submit(request, performance.now());
    expect(job.status).toBe('running');
    await settled(service, job.id);
    expect(job).toMatchObject({ status: 'succeeded', progress: { phase: 'done', step: 3, steps: 3 }, result: { frames: 4, seconds: 1, promptTokens: 3 } });
    expect(job.result?.video.toString()).toBe('mp4!');
    expect(job.timings).toMatchObject({ onnxSeconds: 0.5, denoiseSeconds: 0.3 });
    const t = await text();
    expect(t).toMatch(/t2v_requests_total\{route="videos",outcome="ok",status="200",[^}]*\} 1/);
    expect(t).toMatch(/t2v_generated_video_seconds_total\{[^}]*\} 1/);
    expect(t).toMatch(/t2v_denoise_step_duration_seconds_count\{[^}]*\} 3/);
    expect(lines.filter((l) => l.msg === 'job finished')).toMatchObject([{ jobId: job.id, route: 'videos', status: 'succeeded', httpStatus: 200 }]);
  });

  it('measures the clip as it streams into the encoder: result, timings and one observation per histogram', async () => {
    const { service, text } = setup();
    const job = await service.generate(request, performance.now(), new AbortController().signal);
    // 16×16 frames: black, then greys 8 levels apart; the first pair jumps from 0 to the grey.
    expect(job.result?.quality).toMatchObject({ frames: 4, blankRatio: 0.25, frozenRatio: 0 });
    expect(job.result?.quality?.flicker).toBeGreaterThan(8);
    expect(job.timings?.qualitySeconds).toBeGreaterThan(0);
    const t = await text();
    for (const name of ['flicker_luma_levels', 'frozen_frame_ratio', 'blank_frame_ratio', 'temporal_ssim', 'compute_seconds']) {
      expect(t).toMatch(new RegExp(`t2v_quality_${name}_count\\{[^}]*\\} 1`));
    }
    expect(t).toMatch(/t2v_quality_blank_frame_ratio_sum\{[^}]*\} 0.25/);
  });

  it('skips clips the sample leaves out; the warm-up measures (so the first user clip finds the meter compiled) but records nothing', async () => {
    const measured = vi.spyOn(ClipQualityMeter.prototype, 'result');
    try {
      const off = setup({ sample: false });
      const job = await off.service.generate(request, 0, new AbortController().signal);
      expect(job.result?.quality).toBeUndefined();
      expect(job.timings?.qualitySeconds).toBe(0);
      expect(await off.text()).toMatch(/t2v_quality_temporal_ssim_count\{[^}]*\} 0/);
      expect(measured).not.toHaveBeenCalled();
      const warm = setup();
      await warm.service.warmUp(request);
      expect(measured).toHaveBeenCalledTimes(1);
      expect(await warm.text()).toMatch(/t2v_quality_temporal_ssim_count\{[^}]*\} 0/);
    } finally {
      measured.mockRestore();
    }
  });

  it('T2V_FAULT_FREEZE_FRAMES freezes served clips (the quality signals see it), never the warm-up', async () => {
    const { service } = setup({ freezeFrames: 1 });
    const job = await service.generate(request, 0, new AbortController().signal);
    expect(job.result?.quality).toMatchObject({ frozenRatio: 1, flicker: 0, temporalSsim: 1 });
  });

  it('counts GPU-seconds as slot wall time × GPUs per slot, for failed generations too', async () => {
    fakeNow = 0;
    const ok = setup({ pipeline: pipeline({ advanceMs: 2000 }), gpusPerSlot: 1.5, fakeClock: true });
    await ok.service.generate(request, 0, new AbortController().signal);
    expect(await ok.text()).toMatch(/t2v_gpu_seconds_total\{[^}]*\} 3\n/);
    const failed = setup({ pipeline: pipeline({ advanceMs: 4000, fail: new Error('onnx exploded') }), gpusPerSlot: 2, fakeClock: true });
    await expect(failed.service.generate(request, fakeNow, new AbortController().signal)).rejects.toMatchObject({ code: 'GenerationFailed' });
    const t = await failed.text();
    expect(t).toMatch(/t2v_gpu_seconds_total\{[^}]*\} 8\n/);
    expect(t).toMatch(/t2v_generated_video_seconds_total\{[^}]*\} 0\n/);
  });

  it("labels a job's request, duration, GPU-seconds, video-seconds and quality with its arm, also run from its stored (Redis) copy", async () => {
    const { service, text } = setup();
    await service.generate({ ...request, arm: 'treatment' }, performance.now(), new AbortController().signal);
    // RedisJobs stores the admitted request (withAdjustments) as JSON job data; the replica that runs it reads that back.
    const stored = JSON.parse(JSON.stringify(service.withAdjustments({ ...request, arm: 'control' }))) as GenerationRequest;
    await service.runShared('vid_shared', stored, performance.now()).done;
    await service.generate(request, performance.now(), new AbortController().signal);
    const t = await text();
    for (const [arm, route] of [
      ['treatment', 'generate'],
      ['control', 'videos'],
      ['none', 'generate'],
    ] as const) {
      expect(sampleOf(t, 't2v_requests_total', { arm, route, outcome: 'ok' }), `${arm} requests`).toBe(1);
      expect(sampleOf(t, 't2v_request_duration_seconds_count', { arm, route }), `${arm} durations`).toBe(1);
      expect(sampleOf(t, 't2v_generated_video_seconds_total', { arm }), `${arm} video-seconds`).toBe(1);
      expect(sampleOf(t, 't2v_gpu_seconds_total', { arm }), `${arm} GPU-seconds`).toBeGreaterThan(0);
      expect(sampleOf(t, 't2v_quality_temporal_ssim_count', { arm }), `${arm} quality`).toBe(1);
    }
  });

  it('starts ffmpeg after decoding on CPU and alongside the denoiser on GPU', async () => {
    const cpu = setup({ overlap: false });
    await settled(cpu.service, cpu.service.submit(request, 0).id);
    expect(events).toEqual(['generate', 'encoder', 'encode:4']);
    const gpu = setup({ overlap: true });
    await settled(gpu.service, gpu.service.submit(request, 0).id);
    expect(events).toEqual(['encoder', 'generate', 'encode:4']);
  });

  it('warms up without faults and without counting a request', async () => {
    const { service, text } = setup({ errorRate: 1 });
    await expect(service.warmUp(request)).resolves.toBeGreaterThanOrEqual(0);
    const t = await text();
    expect(t).not.toMatch(/^t2v_requests_total\{.*\} [1-9]/m);
    expect(t).toMatch(/t2v_denoise_step_duration_seconds_count\{[^}]*\} 0/);
    // Real requests do get the fault.
    await expect(service.generate(request, 0, new AbortController().signal)).rejects.toMatchObject({ code: 'FaultInjected' });
  });

  it('fails a job that outlives the request timeout with Timeout (504) and frees the slot', async () => {
    const { service, text, queue } = setup({ pipeline: pipeline({ hang: true }), timeoutMs: 20 });
    await expect(service.generate(request, performance.now(), new AbortController().signal)).rejects.toMatchObject({ code: 'Timeout', httpStatus: 504 });
    await queue.onIdle();
    expect(await text()).toMatch(/t2v_requests_total\{route="generate",outcome="timeout",status="504",[^}]*\} 1/);
  });

  it('turns a pipeline error into GenerationFailed and stops the early encoder', async () => {
    const { service } = setup({ pipeline: pipeline({ fail: new Error('onnx exploded') }), overlap: true });
    await expect(service.generate(request, 0, new AbortController().signal)).rejects.toMatchObject({ code: 'GenerationFailed', message: 'onnx exploded' });
    expect(events).toEqual(['encoder', 'generate', 'abort']);
  });

  it('an encoder started early that fails to start while the denoiser runs fails the job, not the process', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const slow: FrameGenerator = {
        // The denoiser outlasts the encoder's start: its rejection waits for a handler until generate() returns.
        generate: async (r, hooks) => (await new Promise((done) => setTimeout(done, 30)), pipeline().generate(r, hooks)),
      };
      const { service } = setup({ pipeline: slow, overlap: true, encoderFails: new EncodeError('cannot make a temp dir in /nope') });
      await expect(service.generate(request, 0, new AbortController().signal)).rejects.toMatchObject({
        code: 'EncodeFailed',
        message: 'cannot make a temp dir in /nope',
      });
      // The process's unhandledRejection handler (main.ts) exits the runtime: none may fire.
      await new Promise((done) => setImmediate(done));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('cancels a sync generation when its client goes away', async () => {
    const { service } = setup({ pipeline: pipeline({ hang: true }) });
    const gone = new AbortController();
    const p = service.generate(request, 0, gone.signal);
    gone.abort();
    await expect(p).rejects.toMatchObject({ code: 'Cancelled', httpStatus: 499 });
  });

  it('drain fails what outlives the grace period with ShuttingDown and refuses new work', async () => {
    const { service, lines } = setup({ pipeline: pipeline({ hang: true }) });
    const a = service.submit(request, 0);
    const b = service.submit(request, 0);
    await expect(service.drain(10, 1000)).resolves.toEqual({ abortedJobs: 2 });
    for (const job of [a, b]) expect(job).toMatchObject({ status: 'failed', error: { code: 'ShuttingDown' } });
    expect(() => service.submit(request, 0)).toThrow(/shutting down/);
    expect(lines.filter((l) => l.msg === 'job finished').map((l) => l.code)).toEqual(['ShuttingDown', 'ShuttingDown']);
  });

  it('reports a prompt the text encoder will cut as an adjustment at admission, with the token counts', () => {
    const tokenizing: FrameGenerator = {
      ...pipeline({ hang: true }),
      tokenize: (text: string) => ({ tokens: Math.min(8, text.length + 2), inputTokens: text.length + 2, maxLength: 8 }),
    };
    const { service } = setup({ pipeline: tokenizing });
    const seconds = { field: 'seconds', asked: 0.3, used: 0.25, unit: 'seconds', reason: 'r' };
    const job = service.submit({ ...request, prompt: 'a long prompt', negativePrompt: 'ok', adjustments: [seconds] }, 0);
    expect(job.request.adjustments).toEqual([
      seconds,
      { field: 'prompt', asked: 15, used: 8, unit: 'tokens', reason: 'the text encoder reads at most 8 tokens: the prompt was cut after 8 of its 15' },
    ]);
    expect(service.submit({ ...request, prompt: 'short' }, 0).request.adjustments).toEqual([]);
    service.cancel(job.id);
  });

  it('answers the same job for the same Idempotency-Key and body, and refuses the key with another body (422)', () => {
    const { service } = setup({ pipeline: pipeline({ hang: true }) });
    const first = service.submitOnce(request, 0, 'key-1', 'body-a');
    expect(first.replayed).toBe(false);
    const again = service.submitOnce(request, 0, 'key-1', 'body-a');
    expect(again).toEqual({ job: first.job, replayed: true });
    expect(() => service.submitOnce(request, 0, 'key-1', 'body-b')).toThrow(
      expect.objectContaining({ code: 'IdempotencyKeyReused', httpStatus: 422, jobId: first.job.id }),
    );
    expect(service.list(10)?.jobs.map((j) => j.id)).toEqual([first.job.id]);
    service.cancel(first.job.id);
  });

  it("gives a queued job's place and expected start, and none once it runs", () => {
    const { service, queue } = setup({ pipeline: pipeline({ hang: true }) });
    queue.observe({ steps: 1500, other: 500 }, generationCost(request)); // 2 s for a job like these
    const running = service.submit(request, 0);
    const waiting = service.submit(request, 0);
    expect(service.queuePlace(running)).toBeUndefined();
    const place = service.queuePlace(waiting);
    expect(place?.position).toBe(1);
    // The running job's expected 2 s, less the little it has run.
    expect(place?.startsInSeconds).toBeGreaterThan(1.5);
    expect(place?.startsInSeconds).toBeLessThanOrEqual(2);
    for (const j of [running, waiting]) service.cancel(j.id);
  });
});
