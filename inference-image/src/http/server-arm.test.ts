// X-ModelRollout-Arm through the HTTP layer (issue #16): real requests on both POST routes, a real
// GenerationService on a fake pipeline and encoder, and /metrics read back by arm.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ARMS } from '../experiment-arm.js';
import { FaultInjector } from '../jobs/faults.js';
import { GenerationService } from '../jobs/generation-service.js';
import { JobQueue } from '../jobs/job-queue.js';
import { JobStore } from '../jobs/job-store.js';
import { MemoryJobs } from '../jobs/memory-jobs.js';
import type { FrameSource } from '../pipeline/frames.js';
import { createMetrics } from '../telemetry/metrics.js';
import type { RequestLimits } from './request-limits.js';
import { createHandler, type HttpDeps } from './server.js';

const limits: RequestLimits = {
  promptMaxChars: 200,
  width: { min: 16, max: 64, multipleOf: 16 },
  height: { min: 16, max: 64, multipleOf: 16 },
  fps: { min: 1, max: 30 },
  maxSeconds: 6,
  frames: { min: 1, max: 48 },
  steps: { min: 1, max: 50 },
  guidance: { min: 1, max: 20 },
  seed: { min: 0, max: 0xffffffff },
};
const source: FrameSource = { frames: 4, width: 16, height: 16, frame: (f) => new Uint8Array(16 * 16 * 3).map((_, i) => 100 + 8 * f + (i % 48)) };

let server: http.Server | undefined;
afterEach(() => server?.close());

/** A ready runtime whose generations succeed at once (4 frames at 4 fps: 1 s of video), or are all refused with 429. */
async function runtime(opts: { full?: boolean } = {}): Promise<{ url: string; text: () => Promise<string> }> {
  const queue = new JobQueue({ maxConcurrency: 1, maxQueue: opts.full ? 0 : 8 });
  const metrics = createMetrics(
    { name: 'm', version: 'v1' },
    { queueDepth: () => queue.depth, inflight: () => queue.inflight, gpuMemory: async () => undefined },
  );
  let ids = 0;
  const service = new GenerationService({
    pipeline: {
      generate: async () => ({
        video: source,
        guided: false,
        promptTokens: 3,
        promptTruncated: false,
        timings: { onnxSeconds: 0, textSeconds: 0, denoiseSeconds: 0, decodeSeconds: 0, totalSeconds: 0 },
      }),
    },
    startEncoder: async () => ({
      encode: async (v) => {
        for (let f = 0; f < v.frames; f++) v.frame(f);
        return Buffer.from('mp4!');
      },
      abort: async () => undefined,
    }),
    queue,
    store: new JobStore({ ttlMs: 60_000, maxFinished: 50 }),
    metrics,
    faults: new FaultInjector({ errorRate: 0, latencyMs: 0, freezeFrames: 0 }, () => 0),
    log: pino({ level: 'silent' }),
    model: { name: 'm', version: 'v1' },
    requestTimeoutMs: 60_000,
    ffmpegPath: 'ffmpeg',
    x264: { preset: 'veryfast', crf: 18 },
    overlapEncoderStart: false,
    newId: () => `vid_${++ids}`,
    clock: () => Date.now(),
    monotonic: () => performance.now(),
  });
  if (opts.full) {
    // maxQueue 0 with the one slot taken: every later submission is refused (429).
    queue
      .submit(
        () => new Promise(() => undefined),
        new AbortController(),
        () => undefined,
        { steps: 1, other: 1 },
      )
      .catch(() => undefined);
  }
  const d: HttpDeps = {
    log: pino({ level: 'silent' }),
    metrics,
    model: { name: 'm', version: 'v1' },
    state: () => ({ phase: 'ready', provider: 'cpu' }),
    service: () => service,
    jobs: () => new MemoryJobs(service),
    limits,
    defaults: { width: 16, height: 16, fps: 4, seconds: 1, steps: 2, guidance: 1 },
    syncMaxSeconds: 5,
    maxBodyBytes: 65536,
    bodyTimeoutMs: 30_000,
    faults: { errorRate: 0, latencyMs: 0, freezeFrames: 0 },
    randomSeed: () => 1,
    monotonic: () => performance.now(),
  };
  server = http.createServer(createHandler(d));
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, text: () => metrics.registry.metrics() };
}

const post = (url: string, headers: Record<string, string> = {}): Promise<Response> =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ prompt: 'a lighthouse', seed: 1 }) });

/** Sum of the samples of `name` carrying all of `labels` (other labels summed over, as PromQL's sum). */
function sum(text: string, name: string, labels: Record<string, string>): number {
  let total = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z0-9_:]+)\{(.*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] as string).matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) total += Number(m[3]);
  }
  return total;
}

async function finished(url: string, id: string): Promise<string> {
  for (let i = 0; i < 500; i++) {
    const job = (await (await fetch(`${url}/v1/videos/${id}`)).json()) as { status: string };
    if (job.status === 'succeeded' || job.status === 'failed') return job.status;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`job ${id} did not finish`);
}

describe('X-ModelRollout-Arm on the POST routes', () => {
  it("counts each arm's sync and async requests, durations, cost and quality under that arm (the header name in any case)", async () => {
    const rt = await runtime();
    const names: Record<string, string> = { treatment: 'X-ModelRollout-Arm', control: 'x-modelrollout-arm', none: 'X-MODELROLLOUT-ARM' };
    for (const arm of ARMS) {
      const sync = await post(`${rt.url}/v1/generate`, { [names[arm]!]: arm });
      expect(sync.status, arm).toBe(200);
      await sync.arrayBuffer();
      const async = await post(`${rt.url}/v1/videos`, { [names[arm]!]: arm });
      expect(async.status, arm).toBe(202);
      expect(await finished(rt.url, ((await async.json()) as { id: string }).id)).toBe('succeeded');
    }
    // No header at all: `none`.
    await (await post(`${rt.url}/v1/generate`)).arrayBuffer();
    const text = await rt.text();
    for (const arm of ARMS) {
      const extra = arm === 'none' ? 1 : 0;
      expect(sum(text, 't2v_requests_total', { arm, route: 'generate', outcome: 'ok' }), `${arm} generate`).toBe(1 + extra);
      expect(sum(text, 't2v_requests_total', { arm, route: 'videos', outcome: 'ok' }), `${arm} videos`).toBe(1);
      expect(sum(text, 't2v_request_duration_seconds_count', { arm }), `${arm} durations`).toBe(2 + extra);
      expect(sum(text, 't2v_generated_video_seconds_total', { arm }), `${arm} video-seconds`).toBe(2 + extra);
      expect(sum(text, 't2v_gpu_seconds_total', { arm }), `${arm} GPU-seconds`).toBeGreaterThan(0);
      expect(sum(text, 't2v_quality_flicker_luma_levels_count', { arm }), `${arm} quality`).toBe(2 + extra);
    }
  });

  it('refuses a bad value with 400 InvalidRequest naming the header, the value and the allowed values, counted under none', async () => {
    const rt = await runtime();
    for (const [route, value] of [
      ['generate', 'Treatment'],
      ['generate', ''],
      ['videos', 'treatment, control'],
      ['videos', 'candidate'],
    ] as const) {
      const res = await post(`${rt.url}/v1/${route}`, { 'X-ModelRollout-Arm': value });
      expect(res.status, value).toBe(400);
      const body = (await res.json()) as { error: Record<string, unknown> };
      expect(body.error).toMatchObject({ code: 'InvalidRequest', field: 'X-ModelRollout-Arm', value, allowed: { values: [...ARMS], absent: 'none' } });
      expect(body.error.message).toMatch(/X-ModelRollout-Arm must be exactly one of none, treatment, control/);
    }
    const text = await rt.text();
    expect(sum(text, 't2v_requests_total', { arm: 'none', outcome: 'client_error', status: '400' })).toBe(4);
    expect(sum(text, 't2v_requests_total', { outcome: 'ok' })).toBe(0);
  });

  it("counts a refusal (429 queue full, a bad Idempotency-Key) under the request's arm", async () => {
    const rt = await runtime({ full: true });
    for (const route of ['generate', 'videos']) {
      const res = await post(`${rt.url}/v1/${route}`, { 'X-ModelRollout-Arm': 'treatment' });
      expect(res.status).toBe(429);
      await res.arrayBuffer();
    }
    const badKey = await post(`${rt.url}/v1/videos`, { 'X-ModelRollout-Arm': 'control', 'Idempotency-Key': 'has space' });
    expect(badKey.status).toBe(400);
    await badKey.arrayBuffer();
    const text = await rt.text();
    expect(sum(text, 't2v_requests_total', { arm: 'treatment', outcome: 'overloaded', status: '429' })).toBe(2);
    expect(sum(text, 't2v_requests_total', { arm: 'none', outcome: 'overloaded' })).toBe(0);
    expect(sum(text, 't2v_requests_total', { arm: 'control', route: 'videos', outcome: 'client_error', status: '400' })).toBe(1);
  });
});
