import { describe, expect, it } from 'vitest';
import { createGpuMemoryReader, parseNvidiaSmi } from './gpu-memory.js';
import { createMetrics } from './metrics.js';

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
    m.requestFinished('generate', 200, 0.3);
    m.requestFinished('videos', 429);
    m.setProvider('cpu');
    const text = await m.registry.metrics();
    const samples = text.split('\n').filter((l) => l && !l.startsWith('#'));
    expect(samples.length).toBeGreaterThan(20);
    for (const s of samples) expect(s).toMatch(/model_name="tiny".*model_version="v9"|model_version="v9".*model_name="tiny"/);
    const model = { model_name: 'tiny', model_version: 'v9' };
    expect(sample(text, 't2v_requests_total', { ...model, status: '200', route: 'generate' })).toBe(1);
    expect(sample(text, 't2v_requests_total', { ...model, status: '429', route: 'videos' })).toBe(1);
    expect(sample(text, 't2v_queue_depth', model)).toBe(3);
    expect(sample(text, 't2v_inflight_jobs', model)).toBe(1);
    expect(sample(text, 't2v_execution_provider_info', { ...model, provider: 'cpu' })).toBe(1);
    // Only accepted requests get a duration.
    expect(sample(text, 't2v_request_duration_seconds_count', { ...model, route: 'generate' })).toBe(1);
    expect(sample(text, 't2v_request_duration_seconds_count', { route: 'videos' })).toBeUndefined();
    for (const le of ['0.1', '0.25', '0.5', '1', '2', '5', '10', '30', '60']) expect(text).toContain(`t2v_request_duration_seconds_bucket{le="${le}",`);
    expect(text).not.toMatch(/^t2v_gpu_memory_used_bytes\{/m);
  });

  it('exports GPU memory only where it can be read', async () => {
    const m = createMetrics({ name: 'n', version: 'v' }, {
      queueDepth: () => 0, inflight: () => 0,
      gpuMemory: async () => ({ deviceId: 1, memory: { usedBytes: 123, totalBytes: 456 } }),
    });
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
