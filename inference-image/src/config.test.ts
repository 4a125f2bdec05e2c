import { describe, expect, it } from 'vitest';
import { faultsEnabled, loadConfig, redactUrl } from './config.js';
import { ConfigError } from './errors.js';

describe('loadConfig', () => {
  it('has safe defaults: auto provider, one generation at a time, faults off', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      modelDir: '/models/current',
      host: '127.0.0.1',
      port: 8080,
      executionProvider: 'auto',
      cudaDeviceId: 0,
      maxConcurrency: 1,
      maxQueue: 8,
      requestTimeoutMs: 600_000,
      faults: { errorRate: 0, latencyMs: 0, freezeFrames: 0 },
      qualitySample: 1,
      gpusPerReplica: 1,
    });
    expect(faultsEnabled(c.faults)).toBe(false);
  });

  it('keeps async jobs in memory by default; a Redis job store needs a shared results directory', () => {
    expect(loadConfig({})).toMatchObject({
      jobStore: 'memory',
      jobLockMs: 30_000,
      bodyTimeoutMs: 30_000,
      shutdownLingerMs: 15_000,
      maxStoredBytes: 512 * 1024 * 1024,
    });
    expect(loadConfig({ T2V_JOB_STORE: 'redis://127.0.0.1:6390/2', T2V_RESULTS_DIR: '/results', T2V_JOB_LOCK_MS: '2000' })).toMatchObject({
      jobStore: { redisUrl: 'redis://127.0.0.1:6390/2' },
      resultsDir: '/results',
      jobLockMs: 2000,
    });
    expect(() => loadConfig({ T2V_JOB_STORE: 'redis://127.0.0.1:6390' })).toThrow(/T2V_RESULTS_DIR: required/);
    expect(() => loadConfig({ T2V_JOB_STORE: 'postgres://x', T2V_RESULTS_DIR: '/r' })).toThrow(/T2V_JOB_STORE=postgres:\/\/x: must be memory or redis/);
    expect(loadConfig({ T2V_JOB_STORE: 'rediss://:pw@cache:6380', T2V_RESULTS_DIR: '/r' })).toMatchObject({
      jobStore: { redisUrl: 'rediss://:pw@cache:6380' },
    });
    // A refused store URL is shown without its password.
    expect(() => loadConfig({ T2V_JOB_STORE: 'mysql://u:secret@x' })).toThrow(/T2V_JOB_STORE=mysql:\/\/\*\*\*:\*\*\*@x/);
    expect(redactUrl('redis://:secret@h:1/2')).toBe('redis://:***@h:1/2');
    expect(() => loadConfig({ T2V_WEBHOOK_ALLOW_PRIVATE: 'yes' })).toThrow(/T2V_WEBHOOK_ALLOW_PRIVATE=yes: must be true or false/);
    expect(loadConfig({ T2V_WEBHOOK_ALLOW_PRIVATE: 'true' }).webhookAllowPrivate).toBe(true);
    expect(() => loadConfig({ T2V_JOB_STORE: 'nonsense', T2V_RESULTS_DIR: '/r' })).toThrow(ConfigError);
  });

  it('turns completion webhooks on with a secret of at least 16 characters', () => {
    expect(loadConfig({})).toMatchObject({ webhookSecret: undefined, webhookTimeoutMs: 5000 });
    expect(loadConfig({ T2V_WEBHOOK_SECRET: 'x'.repeat(16) }).webhookSecret).toBe('x'.repeat(16));
    expect(() => loadConfig({ T2V_WEBHOOK_SECRET: 'short' })).toThrow(/T2V_WEBHOOK_SECRET: must be at least 16 characters \(got 5\)/);
  });

  it('reads every contract variable', () => {
    const c = loadConfig({
      T2V_MODEL_DIR: '/m',
      T2V_HOST: '0.0.0.0',
      T2V_PORT: '0',
      T2V_EXECUTION_PROVIDER: 'cuda',
      T2V_CUDA_DEVICE_ID: '3',
      T2V_MAX_CONCURRENCY: '2',
      T2V_MAX_QUEUE: '0',
      T2V_REQUEST_TIMEOUT_MS: '1500',
      T2V_FAULT_ERROR_RATE: '0.25',
      T2V_FAULT_LATENCY_MS: '400',
    });
    expect(c).toMatchObject({
      modelDir: '/m',
      host: '0.0.0.0',
      port: 0,
      executionProvider: 'cuda',
      cudaDeviceId: 3,
      maxConcurrency: 2,
      maxQueue: 0,
      requestTimeoutMs: 1500,
      faults: { errorRate: 0.25, latencyMs: 400 },
    });
    expect(faultsEnabled(c.faults)).toBe(true);
  });

  it('reads the quality sample, GPUs per replica and the freeze fault', () => {
    const c = loadConfig({ T2V_QUALITY_SAMPLE: '0.25', T2V_GPUS_PER_REPLICA: '8', T2V_FAULT_FREEZE_FRAMES: '0.5' });
    expect(c).toMatchObject({ qualitySample: 0.25, gpusPerReplica: 8, faults: { freezeFrames: 0.5 } });
    expect(faultsEnabled(c.faults)).toBe(true);
  });

  it('reads the adapter library and its cache size (no library by default)', () => {
    expect(loadConfig({})).toMatchObject({ adapterDir: undefined, adapterCacheSize: 8 });
    expect(loadConfig({ T2V_ADAPTER_DIR: ' /adapters ', T2V_ADAPTER_CACHE: '2' })).toMatchObject({ adapterDir: '/adapters', adapterCacheSize: 2 });
    expect(() => loadConfig({ T2V_ADAPTER_CACHE: '0' })).toThrow(/T2V_ADAPTER_CACHE=0: must be an integer in \[1, 10000\]/);
  });

  it('reads the pod identity the operator passes through the downward API, and leaves it out when absent', () => {
    expect(loadConfig({ MODELROLLOUT_NAMESPACE: 'ml', MODELROLLOUT_NAME: 'wan-t2v', MODELROLLOUT_REVISION: '5f0c1e2d3a' }).identity).toEqual({
      namespace: 'ml',
      name: 'wan-t2v',
      revision: '5f0c1e2d3a',
    });
    expect(loadConfig({}).identity).toEqual({});
  });

  it.each([
    ['T2V_EXECUTION_PROVIDER', 'tensorrt', /auto, cuda or cpu/],
    ['T2V_PORT', '70000', /T2V_PORT=70000: must be an integer in \[0, 65535\]/],
    ['T2V_MAX_CONCURRENCY', '0', /T2V_MAX_CONCURRENCY/],
    ['T2V_FAULT_ERROR_RATE', '1.5', /T2V_FAULT_ERROR_RATE=1.5: must be a number in \[0, 1\]/],
    ['T2V_REQUEST_TIMEOUT_MS', 'soon', /T2V_REQUEST_TIMEOUT_MS/],
    ['T2V_QUALITY_SAMPLE', '2', /T2V_QUALITY_SAMPLE=2: must be a number in \[0, 1\]/],
    ['T2V_GPUS_PER_REPLICA', '0', /T2V_GPUS_PER_REPLICA=0: must be a number in \[0.001, 1024\]/],
    ['T2V_FAULT_FREEZE_FRAMES', '-0.1', /T2V_FAULT_FREEZE_FRAMES/],
    ['T2V_X264_PRESET', 'turbo', /ultrafast, superfast, veryfast/],
    ['MODELROLLOUT_REVISION', 'Not A Label', /MODELROLLOUT_REVISION=Not A Label: must be a Kubernetes name/],
  ])('rejects %s=%s', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });
});
