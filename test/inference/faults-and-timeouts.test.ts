// Rollout-drill faults (error probability, added latency) and the per-request timeout, end to end.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel, metric, metricsText, postJson, RuntimeProcess, stopAll, tempDir, waitForJob, type JobView, type TempDir } from './support.js';

let tmp: TempDir;
let failing: RuntimeProcess;
let slow: RuntimeProcess;

beforeAll(async () => {
  tmp = tempDir('t2v-faults-');
  const modelDir = buildModel(tmp.dir, { version: 'v-faulty' });
  [failing, slow] = await Promise.all([
    RuntimeProcess.start({ T2V_MODEL_DIR: modelDir, T2V_FAULT_ERROR_RATE: '1' }),
    RuntimeProcess.start({ T2V_MODEL_DIR: modelDir, T2V_FAULT_LATENCY_MS: '60000', T2V_REQUEST_TIMEOUT_MS: '300', T2V_MAX_QUEUE: '4' }),
  ]);
});

afterAll(async () => {
  // Also stops a runtime whose sibling failed to start (so it was never assigned here).
  await stopAll();
  tmp?.remove();
});

describe('fault injection (error rate 1)', () => {
  it('fails generations with 500 FaultInjected, counted as 500s', async () => {
    const res = await postJson(`${failing.url}/v1/generate`, { prompt: 'a' });
    expect(res.status).toBe(500);
    // A failed answer still names its version: a client behind a weighted route counts failures per version.
    expect(res.headers.get('x-model-version')).toBe('v-faulty');
    expect(await res.json()).toMatchObject({ error: { code: 'FaultInjected', message: expect.stringContaining('T2V_FAULT_ERROR_RATE') } });
    const job = (await (await postJson(`${failing.url}/v1/videos`, { prompt: 'a' })).json()) as JobView;
    expect(await waitForJob(failing, job.id)).toMatchObject({ status: 'failed', error: { code: 'FaultInjected' } });
    const text = await metricsText(failing);
    const m = { model_name: 'tiny-t2v', model_version: 'v-faulty' };
    expect(metric(text, 't2v_requests_total', { ...m, route: 'generate', status: '500' })).toBe(1);
    expect(metric(text, 't2v_requests_total', { ...m, route: 'videos', status: '500' })).toBe(1);
    expect(metric(text, 't2v_fault_injection', { ...m, kind: 'error_rate' })).toBe(1);
    // The warm-up bypasses faults: the replica still became ready.
    expect((await fetch(`${failing.url}/readyz`)).status).toBe(200);
  });
});

describe('per-request timeout', () => {
  it('answers 504 Timeout on the sync route and fails async jobs with Timeout', async () => {
    const res = await postJson(`${slow.url}/v1/generate`, { prompt: 'a' });
    expect(res.status).toBe(504);
    expect(await res.json()).toMatchObject({ error: { code: 'Timeout', message: 'generation did not finish within 300 ms' } });
    const job = (await (await postJson(`${slow.url}/v1/videos`, { prompt: 'a' })).json()) as JobView;
    expect(await waitForJob(slow, job.id)).toMatchObject({ status: 'failed', error: { code: 'Timeout' } });
    const text = await metricsText(slow);
    expect(metric(text, 't2v_requests_total', { route: 'generate', status: '504' })).toBe(1);
    expect(metric(text, 't2v_requests_total', { route: 'videos', status: '504' })).toBe(1);
    // Timed-out work does not keep the slot: nothing is left running.
    expect(metric(text, 't2v_inflight_jobs')).toBe(0);
  });
});
