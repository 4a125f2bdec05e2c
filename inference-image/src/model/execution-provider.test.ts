import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';
import { describe, expect, it, vi } from 'vitest';
import { ExecutionProviderError } from '../errors.js';
import { createSessions, disableOrtTelemetry, sessionOptions, type ProviderOptions, type SessionFactory } from './execution-provider.js';

interface Call {
  file: string;
  provider: string;
}

/** A session factory that fails CUDA the way onnxruntime-node does without its CUDA libraries. */
function fakeOrt(opts: { cuda: boolean; failCudaOn?: string }): { create: SessionFactory; calls: Call[]; released: string[] } {
  const calls: Call[] = [];
  const released: string[] = [];
  const create: SessionFactory = async (file, options) => {
    const ep = options.executionProviders?.[0];
    const provider = typeof ep === 'string' ? ep : (ep?.name ?? 'cpu');
    calls.push({ file, provider });
    if (provider === 'cuda' && (!opts.cuda || opts.failCudaOn === file)) {
      throw new Error('OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library');
    }
    return { release: async () => void released.push(`${file}@${provider}`) } as unknown as InferenceSession;
  };
  return { create, calls, released };
}

const files = { textEncoder: 'te', denoiser: 'dn', vaeDecoder: 'vae' };

function options(over: Partial<ProviderOptions>): ProviderOptions {
  return {
    preference: 'auto',
    cudaDeviceId: 0,
    cpuThreads: 0,
    create: fakeOrt({ cuda: false }).create,
    log: { info: vi.fn(), warn: vi.fn() } as never,
    hasGpuDriver: () => true,
    ...over,
  };
}

describe('execution provider selection', () => {
  it('auto: uses CUDA when it loads', async () => {
    const ort = fakeOrt({ cuda: true });
    const r = await createSessions(files, options({ create: ort.create }));
    expect(r.provider).toBe('cuda');
    expect(ort.calls.map((c) => c.provider)).toEqual(['cuda', 'cuda', 'cuda']);
  });

  it('auto: falls back to CPU with a warning when CUDA throws, releasing partial CUDA sessions', async () => {
    const ort = fakeOrt({ cuda: true, failCudaOn: 'dn' });
    const warn = vi.fn();
    const r = await createSessions(files, options({ create: ort.create, log: { info: vi.fn(), warn } as never }));
    expect(r.provider).toBe('cpu');
    expect(ort.calls.map((c) => `${c.file}@${c.provider}`)).toEqual(['te@cuda', 'dn@cuda', 'te@cpu', 'dn@cpu', 'vae@cpu']);
    expect(ort.released).toEqual(['te@cuda']);
    expect(warn).toHaveBeenCalledOnce();
    expect(warn.mock.calls[0]?.[1]).toMatch(/falling back to CPU/);
  });

  it('auto: goes to CPU without trying CUDA when there is no NVIDIA driver (no native error line on a CPU-only start)', async () => {
    const ort = fakeOrt({ cuda: true });
    const warn = vi.fn();
    const r = await createSessions(files, options({ create: ort.create, log: { info: vi.fn(), warn } as never, hasGpuDriver: () => false }));
    expect(r.provider).toBe('cpu');
    expect(ort.calls.map((c) => c.provider)).toEqual(['cpu', 'cpu', 'cpu']);
    expect(warn.mock.calls[0]?.[1]).toMatch(/no NVIDIA driver on this machine; falling back to CPU/);
  });

  it('cuda: fails hard instead of running a GPU pod on CPU', async () => {
    const ort = fakeOrt({ cuda: false });
    const p = createSessions(files, options({ preference: 'cuda', cudaDeviceId: 3, create: ort.create }));
    await expect(p).rejects.toBeInstanceOf(ExecutionProviderError);
    await expect(p).rejects.toMatchObject({ code: 'ExecutionProviderUnavailable', message: expect.stringMatching(/device 3/) });
    expect(ort.calls.every((c) => c.provider === 'cuda')).toBe(true);
  });

  it('cpu: never tries CUDA', async () => {
    const ort = fakeOrt({ cuda: true });
    expect((await createSessions(files, options({ preference: 'cpu', create: ort.create }))).provider).toBe('cpu');
    expect(ort.calls.map((c) => c.provider)).toEqual(['cpu', 'cpu', 'cpu']);
  });

  it('passes the CUDA device id and CPU thread count to onnxruntime', () => {
    expect(sessionOptions('cuda', { cudaDeviceId: 2, cpuThreads: 4 }).executionProviders).toEqual([{ name: 'cuda', deviceId: 2 }]);
    expect(sessionOptions('cpu', { cudaDeviceId: 2, cpuThreads: 4 })).toMatchObject({ executionProviders: ['cpu'], intraOpNumThreads: 4 });
    expect(sessionOptions('cpu', { cudaDeviceId: 0, cpuThreads: 0 })).not.toHaveProperty('intraOpNumThreads');
  });

  it("turns onnxruntime's telemetry off before the first session, unless the operator set ORT_DISABLE_TELEMETRY", async () => {
    const env: NodeJS.ProcessEnv = {};
    disableOrtTelemetry(env);
    expect(env.ORT_DISABLE_TELEMETRY).toBe('1');
    const chosen: NodeJS.ProcessEnv = { ORT_DISABLE_TELEMETRY: '0' };
    disableOrtTelemetry(chosen);
    expect(chosen.ORT_DISABLE_TELEMETRY).toBe('0');
    const seen: (string | undefined)[] = [];
    const saved = process.env.ORT_DISABLE_TELEMETRY;
    delete process.env.ORT_DISABLE_TELEMETRY;
    try {
      const ort = fakeOrt({ cuda: false });
      await createSessions(files, options({ preference: 'cpu', create: (f, o) => (seen.push(process.env.ORT_DISABLE_TELEMETRY), ort.create(f, o)) }));
      expect(seen).toEqual(['1', '1', '1']);
    } finally {
      if (saved === undefined) delete process.env.ORT_DISABLE_TELEMETRY;
      else process.env.ORT_DISABLE_TELEMETRY = saved;
    }
  });

  it('stops the thread pools spinning after each run, on both providers', () => {
    for (const provider of ['cpu', 'cuda'] as const)
      expect(sessionOptions(provider, { cudaDeviceId: 0, cpuThreads: 0 }).extra).toEqual({ session: { force_spinning_stop: '1' } });
  });

  it('sets only config keys the installed onnxruntime knows (it accepts any key silently: a misspelt one does nothing)', () => {
    // onnxruntime-node flattens `extra` into dotted keys ({ session: { x: '1' } } → session.x); the library holds each
    // key it reads as a NUL-terminated string (onnxruntime_session_options_config_keys.h).
    const flatten = (o: object, prefix = ''): string[] =>
      Object.entries(o).flatMap(([k, v]) => (typeof v === 'object' && v !== null ? flatten(v as object, `${prefix}${k}.`) : [`${prefix}${k}`]));
    const keys = flatten(sessionOptions('cpu', { cudaDeviceId: 0, cpuThreads: 0 }).extra ?? {});
    expect(keys).not.toEqual([]);
    const bin = path.join(path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node')), '../bin');
    const dir = fs.readdirSync(bin).map((napi) => path.join(bin, napi, process.platform, process.arch))[0] as string;
    const library = fs.readFileSync(path.join(dir, fs.readdirSync(dir).find((f) => /^(lib)?onnxruntime\.(so|dylib|dll)/.test(f)) as string));
    for (const key of keys) expect(library.includes(Buffer.from(`${key}\0`)), key).toBe(true);
    expect(library.includes(Buffer.from('session.force_spining_stop\0'))).toBe(false);
  });
});
