// Second attack on issue #17's probe header in the runtime's HTTP layer (http/server.ts): golden-prompt probes
// (X-ModelRollout-Probe) must stay out of every series the operator judges users' traffic by.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { QueueFullError } from '../errors.js';
import type { GenerationService } from '../jobs/generation-service.js';
import { MemoryJobs } from '../jobs/memory-jobs.js';
import type { GenerationRequest } from '../jobs/types.js';
import { createMetrics } from '../telemetry/metrics.js';
import type { RequestLimits } from './request-limits.js';
import { createHandler, type HttpDeps } from './server.js';

const limits: RequestLimits = {
  promptMaxChars: 200,
  width: { min: 32, max: 256, multipleOf: 16 },
  height: { min: 32, max: 256, multipleOf: 16 },
  fps: { min: 1, max: 30 },
  maxSeconds: 6,
  frames: { min: 1, max: 48 },
  steps: { min: 1, max: 50 },
  guidance: { min: 1, max: 20 },
  seed: { min: 0, max: 0xffffffff },
};

let server: http.Server | undefined;
afterEach(() => server?.close());

/** A generation service that answers every sync generation at once with a 2-frame 32×32 clip. */
const okService = {
  generate: async (request: GenerationRequest) => {
    const t = {
      onnxSeconds: 0,
      textSeconds: 0,
      denoiseSeconds: 0,
      decodeSeconds: 0,
      convertSeconds: 0,
      qualitySeconds: 0,
      encodeSeconds: 0,
      queueSeconds: 0,
      totalSeconds: 0,
    };
    return {
      id: 'vid_1',
      route: 'generate',
      status: 'succeeded',
      request: { ...request, seed: 1 },
      createdAt: 0,
      progress: { phase: 'done', step: 1, steps: 1 },
      result: {
        video: Buffer.from('mp4!'),
        frames: 2,
        seconds: 1,
        promptTokens: 1,
        promptTruncated: false,
        guided: false,
        rgbFrames: { width: 32, height: 32, data: Buffer.alloc(32 * 32 * 3 * 2) },
      },
      timings: t,
      controller: new AbortController(),
    };
  },
} as unknown as GenerationService;

/** A runtime whose queue is full: every generation is refused with 429 when submitted. */
async function fullRuntime(svc?: GenerationService): Promise<{ url: string; text: () => Promise<string> }> {
  const metrics = createMetrics({ name: 'm', version: 'v1' }, { queueDepth: () => 4, inflight: () => 1, gpuMemory: async () => undefined });
  const service =
    svc ??
    ({
      submit: () => {
        throw new QueueFullError(3, 4);
      },
      generate: () => {
        throw new QueueFullError(3, 4);
      },
    } as unknown as GenerationService);
  const d: HttpDeps = {
    log: pino({ level: 'silent' }),
    metrics,
    model: { name: 'm', version: 'v1' },
    state: () => ({ phase: 'ready', provider: 'cpu' }),
    service: () => service,
    limits,
    defaults: { width: 64, height: 64, fps: 8, seconds: 1, steps: 2, guidance: 1 },
    syncMaxSeconds: 5,
    maxBodyBytes: 65536,
    bodyTimeoutMs: 30_000,
    jobs: () => new MemoryJobs(service),
    faults: { errorRate: 0, latencyMs: 0, freezeFrames: 0 },
    randomSeed: () => 1,
    monotonic: () => performance.now(),
  };
  server = http.createServer(createHandler(d));
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, text: () => metrics.registry.metrics() };
}

const userSeries = (text: string, route: string, outcome: string): number =>
  Number(
    new RegExp(
      `^t2v_requests_total\\{[^}]*route="${route}"[^}]*outcome="${outcome}"[^}]*\\} (\\S+)$|^t2v_requests_total\\{[^}]*outcome="${outcome}"[^}]*route="${route}"[^}]*\\} (\\S+)$`,
      'm',
    )
      .exec(text)
      ?.slice(1)
      .find(Boolean) ?? 0,
  );
const probeCount = (text: string): number =>
  text
    .split('\n')
    .filter((l) => l.startsWith('t2v_probe_requests_total{'))
    .reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);

const body = JSON.stringify({ prompt: 'a lighthouse', seed: 1 });
const post = (url: string, headers: Record<string, string>) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

describe('attack2-17: probe requests refused at submission', () => {
  it("a probe on POST /v1/videos refused with 429 (queue full) is counted in t2v_probe_requests_total, not as a user's overloaded request (overload-rate)", async () => {
    const rt = await fullRuntime();
    const res = await post(`${rt.url}/v1/videos`, { 'x-modelrollout-probe': 'golden' });
    expect(res.status).toBe(429);
    await res.arrayBuffer();
    const text = await rt.text();
    expect(userSeries(text, 'videos', 'overloaded'), "users' overloaded /v1/videos requests").toBe(0);
    expect(probeCount(text)).toBe(1);
  });

  it('held up: a probe on POST /v1/generate refused with 429 is counted as a probe only', async () => {
    const rt = await fullRuntime();
    const res = await post(`${rt.url}/v1/generate`, { 'x-modelrollout-probe': 'golden' });
    expect(res.status).toBe(429);
    await res.arrayBuffer();
    const text = await rt.text();
    expect(userSeries(text, 'generate', 'overloaded')).toBe(0);
    expect(probeCount(text)).toBe(1);
  });
});

describe('attack2-17: who may send X-ModelRollout-Probe', () => {
  it('a user request carrying "X-ModelRollout-Probe: false" (or any value) through the route vanishes from every series the analysis reads: only the operator\'s value ("golden") should mark a probe', async () => {
    const rt = await fullRuntime();
    for (const value of ['false', '0', 'no']) {
      const res = await post(`${rt.url}/v1/generate`, { 'x-modelrollout-probe': value });
      await res.arrayBuffer();
    }
    expect(userSeries(await rt.text(), 'generate', 'overloaded'), "users' overloaded requests counted").toBe(3);
  });
});

describe('attack2-17: Accept negotiation with wildcards (RFC 9110 §12.5.1: the most specific range sets the q)', () => {
  const contentType = async (accept: string): Promise<string | null> => {
    const rt = await fullRuntime(okService);
    const res = await post(`${rt.url}/v1/generate`, { accept });
    await res.arrayBuffer();
    server?.close();
    return res.headers.get('content-type');
  };

  it('"video/mp4;q=0, */*" (anything but the MP4) gets the raw frames, not the one type the client refused', async () => {
    expect(await contentType('video/mp4;q=0, */*')).not.toBe('video/mp4');
  });

  it('held up: "application/x-t2v-rgb24;q=0, */*" gets the MP4', async () => {
    expect(await contentType('application/x-t2v-rgb24;q=0, */*')).toBe('video/mp4');
  });
});
