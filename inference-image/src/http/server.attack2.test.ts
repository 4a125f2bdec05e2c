// Second attack on issue #17's probe header in the runtime's HTTP layer (http/server.ts): golden-prompt probes
// (X-ModelRollout-Probe) must stay out of every series the operator judges users' traffic by.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { QueueFullError } from '../errors.js';
import type { GenerationService } from '../jobs/generation-service.js';
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

/** A runtime whose queue is full: every generation is refused with 429 when submitted. */
async function fullRuntime(): Promise<{ url: string; text: () => Promise<string> }> {
  const metrics = createMetrics({ name: 'm', version: 'v1' }, { queueDepth: () => 4, inflight: () => 1, gpuMemory: async () => undefined });
  const service = {
    submit: () => {
      throw new QueueFullError(3, 4);
    },
    generate: () => {
      throw new QueueFullError(3, 4);
    },
  } as unknown as GenerationService;
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
    faults: { errorRate: 0, latencyMs: 0, freezeFrames: 0 },
    randomSeed: () => 1,
    monotonic: () => performance.now(),
  };
  server = http.createServer(createHandler(d));
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, text: () => metrics.registry.metrics() };
}

const userSeries = (text: string, route: string, outcome: string): number =>
  Number(new RegExp(`^t2v_requests_total\\{[^}]*route="${route}"[^}]*outcome="${outcome}"[^}]*\\} (\\S+)$|^t2v_requests_total\\{[^}]*outcome="${outcome}"[^}]*route="${route}"[^}]*\\} (\\S+)$`, 'm').exec(text)?.slice(1).find(Boolean) ?? 0);
const probeCount = (text: string): number =>
  text
    .split('\n')
    .filter((l) => l.startsWith('t2v_probe_requests_total{'))
    .reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);

const body = JSON.stringify({ prompt: 'a lighthouse', seed: 1 });
const post = (url: string, headers: Record<string, string>) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

describe('attack2-17: probe requests refused at submission', () => {
  it('a probe on POST /v1/videos refused with 429 (queue full) is counted in t2v_probe_requests_total, not as a user\'s overloaded request (overload-rate)', async () => {
    const rt = await fullRuntime();
    const res = await post(`${rt.url}/v1/videos`, { 'x-modelrollout-probe': 'golden' });
    expect(res.status).toBe(429);
    await res.arrayBuffer();
    const text = await rt.text();
    expect(userSeries(text, 'videos', 'overloaded'), 'users\' overloaded /v1/videos requests').toBe(0);
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
    expect(userSeries(await rt.text(), 'generate', 'overloaded'), 'users\' overloaded requests counted').toBe(3);
  });
});
