import { describe, expect, it } from 'vitest';
import { createGpuMemoryReader, parseNvidiaSmi } from './gpu-memory.js';
import { ARMS } from '../experiment-arm.js';
import { createMetrics, OUTCOME_STATUSES, OUTCOMES, outcomeOf, REQUEST_DURATION_BUCKETS } from './metrics.js';

const QUALITY_COUNTS = [
  't2v_quality_flicker_luma_levels_count',
  't2v_quality_frozen_frame_ratio_count',
  't2v_quality_blank_frame_ratio_count',
  't2v_quality_temporal_ssim_count',
  't2v_quality_compute_seconds_count',
];

/** Value of the sample `name` carrying all of `labels` (label order does not matter), or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z0-9_:]+)\{(.*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] as string).matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

describe('runtime metrics', () => {
  it('labels every series with model_name and model_version', async () => {
    const m = createMetrics({ name: 'tiny', version: 'v9' }, { queueDepth: () => 3, inflight: () => 1, gpuMemory: async () => undefined });
    m.requestFinished('generate', 'none', undefined, 0.3);
    m.requestFinished('videos', 'none', { code: 'QueueFull', httpStatus: 429 });
    m.setProvider('cpu');
    const text = await m.registry.metrics();
    const samples = text.split('\n').filter((l) => l && !l.startsWith('#'));
    expect(samples.length).toBeGreaterThan(20);
    for (const s of samples) expect(s).toMatch(/model_name="tiny".*model_version="v9"|model_version="v9".*model_name="tiny"/);
    const model = { model_name: 'tiny', model_version: 'v9' };
    expect(sample(text, 't2v_requests_total', { ...model, status: '200', route: 'generate', outcome: 'ok', arm: 'none' })).toBe(1);
    expect(sample(text, 't2v_requests_total', { ...model, status: '429', route: 'videos', outcome: 'overloaded', arm: 'none' })).toBe(1);
    expect(sample(text, 't2v_queue_depth', model)).toBe(3);
    expect(sample(text, 't2v_inflight_jobs', model)).toBe(1);
    expect(sample(text, 't2v_execution_provider_info', { ...model, provider: 'cpu' })).toBe(1);
    // Only accepted requests get a duration; the other route's histogram is there, at zero.
    expect(sample(text, 't2v_request_duration_seconds_count', { ...model, route: 'generate', arm: 'none' })).toBe(1);
    expect(sample(text, 't2v_request_duration_seconds_count', { route: 'videos', arm: 'none' })).toBe(0);
    expect(text).not.toMatch(/^t2v_gpu_memory_used_bytes\{/m);
  });

  it('has a zero sample for every outcome of both routes and every arm before the first request', async () => {
    const m = createMetrics({ name: 'n', version: 'v' }, { queueDepth: () => 0, inflight: () => 0, gpuMemory: async () => undefined });
    const text = await m.registry.metrics();
    for (const arm of ARMS) {
      for (const route of ['generate', 'videos']) {
        for (const outcome of OUTCOMES)
          for (const status of OUTCOME_STATUSES[outcome])
            expect(sample(text, 't2v_requests_total', { route, outcome, status: String(status), arm }), `${arm}/${route}/${outcome}/${status}`).toBe(0);
        expect(sample(text, 't2v_request_duration_seconds_count', { route, arm })).toBe(0);
      }
      // The per-clip cost and quality series an experiment compares, at 0 for each arm too.
      for (const name of ['t2v_gpu_seconds_total', 't2v_generated_video_seconds_total', ...QUALITY_COUNTS])
        expect(sample(text, name, { arm }), `${name}{arm="${arm}"}`).toBe(0);
    }
  });

  it("labels a request's count, duration, cost and quality with its experiment arm, and no other arm", async () => {
    const m = createMetrics({ name: 'n', version: 'v' }, { queueDepth: () => 0, inflight: () => 0, gpuMemory: async () => undefined });
    m.requestFinished('videos', 'treatment', undefined, 2);
    m.requestFinished('generate', 'control', { code: 'GenerationFailed', httpStatus: 500 }, 1);
    m.gpuSeconds.inc({ arm: 'treatment' }, 3);
    m.generatedVideoSeconds.inc({ arm: 'treatment' }, 1.5);
    m.observeQuality({ frames: 4, flicker: 2, frozenRatio: 0, blankRatio: 0, temporalSsim: 0.9 }, 0.01, 'control');
    const text = await m.registry.metrics();
    expect(sample(text, 't2v_requests_total', { route: 'videos', outcome: 'ok', status: '200', arm: 'treatment' })).toBe(1);
    expect(sample(text, 't2v_requests_total', { route: 'videos', outcome: 'ok', status: '200', arm: 'control' })).toBe(0);
    expect(sample(text, 't2v_requests_total', { route: 'generate', outcome: 'server_error', status: '500', arm: 'control' })).toBe(1);
    expect(sample(text, 't2v_requests_total', { route: 'generate', outcome: 'server_error', status: '500', arm: 'none' })).toBe(0);
    expect(sample(text, 't2v_request_duration_seconds_count', { route: 'videos', arm: 'treatment' })).toBe(1);
    expect(sample(text, 't2v_request_duration_seconds_count', { route: 'generate', arm: 'control' })).toBe(1);
    expect(sample(text, 't2v_gpu_seconds_total', { arm: 'treatment' })).toBe(3);
    expect(sample(text, 't2v_generated_video_seconds_total', { arm: 'treatment' })).toBe(1.5);
    for (const name of QUALITY_COUNTS) {
      expect(sample(text, name, { arm: 'control' }), name).toBe(1);
      expect(sample(text, name, { arm: 'treatment' }), name).toBe(0);
    }
  });

  it('sorts requests into outcomes by error code: shedding, draining and leaving are not server errors', () => {
    expect(outcomeOf(undefined)).toBe('ok');
    expect(outcomeOf({ code: 'QueueFull', httpStatus: 429 })).toBe('overloaded');
    expect(outcomeOf({ code: 'NotReady', httpStatus: 503 })).toBe('overloaded');
    expect(outcomeOf({ code: 'ShuttingDown', httpStatus: 503 })).toBe('draining');
    expect(outcomeOf({ code: 'Timeout', httpStatus: 504 })).toBe('timeout');
    expect(outcomeOf({ code: 'Cancelled', httpStatus: 499 })).toBe('cancelled');
    expect(outcomeOf({ code: 'GenerationFailed', httpStatus: 500 })).toBe('server_error');
    expect(outcomeOf({ code: 'FaultInjected', httpStatus: 500 })).toBe('server_error');
    expect(outcomeOf({ code: 'InvalidRequest', httpStatus: 400 })).toBe('client_error');
    expect(outcomeOf({ code: 'BodyTooLarge', httpStatus: 413 })).toBe('client_error');
  });

  it("labels every series with the pod's rollout identity when it has one", async () => {
    const identity = { namespace: 'ml', name: 't2v', revision: '0a1b2c3d4e' };
    const m = createMetrics({ name: 'n', version: 'v' }, { queueDepth: () => 0, inflight: () => 0, gpuMemory: async () => undefined }, identity);
    const samples = (await m.registry.metrics()).split('\n').filter((l) => l && !l.startsWith('#'));
    for (const s of samples) for (const [k, v] of Object.entries(identity)) expect(s).toContain(`modelrollout_${k}="${v}"`);
  });

  it('has latency buckets fine enough that a 1.5× change in p99 crosses a boundary from 50 ms to 10 min', () => {
    expect(REQUEST_DURATION_BUCKETS[0]).toBe(0.05);
    expect(REQUEST_DURATION_BUCKETS.at(-1)!).toBeGreaterThanOrEqual(600);
    for (let i = 1; i < REQUEST_DURATION_BUCKETS.length; i++) expect(REQUEST_DURATION_BUCKETS[i]! / REQUEST_DURATION_BUCKETS[i - 1]!).toBeLessThan(1.3);
  });

  it('exports GPU memory only where it can be read', async () => {
    const m = createMetrics(
      { name: 'n', version: 'v' },
      {
        queueDepth: () => 0,
        inflight: () => 0,
        gpuMemory: async () => ({ deviceId: 1, memory: { usedBytes: 123, totalBytes: 456 } }),
      },
    );
    expect(sample(await m.registry.metrics(), 't2v_gpu_memory_used_bytes', { device: '1', model_name: 'n', model_version: 'v' })).toBe(123);
  });
});

describe('nvidia-smi reader', () => {
  it('parses MiB into bytes and rejects junk', () => {
    expect(parseNvidiaSmi('1024, 81559\n')).toEqual({ usedBytes: 1024 * 2 ** 20, totalBytes: 81559 * 2 ** 20 });
    expect(parseNvidiaSmi('No devices were found')).toBeUndefined();
  });

  it('caches readings and answers undefined when nvidia-smi is missing', async () => {
    let now = 0;
    let calls = 0;
    const read = createGpuMemoryReader(0, { now: () => now, maxAgeMs: 1000, exec: async () => (calls++, '10, 20') });
    expect(await read()).toEqual({ usedBytes: 10 * 2 ** 20, totalBytes: 20 * 2 ** 20 });
    await read();
    expect(calls).toBe(1);
    now = 2000;
    await read();
    expect(calls).toBe(2);
    const missing = createGpuMemoryReader(0, { exec: async () => Promise.reject(new Error('ENOENT')) });
    expect(await missing()).toBeUndefined();
  });
});

describe('zero series for every outcome and status an error can produce', () => {
  it('lists the (outcome, status) of every error class in errors.ts', async () => {
    const errors = await import('../errors.js');
    const seen: string[] = [];
    for (const [name, value] of Object.entries(errors)) {
      if (typeof value !== 'function' || value === errors.T2vError || !(value.prototype instanceof errors.T2vError)) continue;
      // Constructors only format messages: empty arguments are enough to read code and httpStatus.
      const e = new (value as unknown as new (...args: unknown[]) => InstanceType<typeof errors.T2vError>)([], []);
      const outcome = outcomeOf(e);
      seen.push(name);
      expect(OUTCOME_STATUSES[outcome], `${name} (${e.code}, HTTP ${e.httpStatus}) → ${outcome}`).toContain(e.httpStatus);
    }
    expect(seen.length).toBeGreaterThanOrEqual(15);
  });
});
