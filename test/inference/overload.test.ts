// Bounded concurrency and queue: with one slot and one queue place, the third request gets 429 with
// Retry-After. Fault-injected latency keeps the first job busy long enough to observe, without timing
// assertions.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel, metric, metricsText, postJson, RuntimeProcess, stopAll, tempDir, waitForJob, type JobView, type TempDir } from './support.js';

let tmp: TempDir;
let rt: RuntimeProcess;

beforeAll(async () => {
  tmp = tempDir('t2v-overload-');
  rt = await RuntimeProcess.start({
    T2V_MODEL_DIR: buildModel(tmp.dir, { version: 'v-overload' }),
    T2V_MAX_CONCURRENCY: '1',
    T2V_MAX_QUEUE: '1',
    // Every generation first sleeps 30 s; jobs are cancelled by the test long before that.
    T2V_FAULT_LATENCY_MS: '30000',
  });
});

afterAll(async () => {
  await stopAll();
  tmp?.remove();
});

describe('overload', () => {
  it('queues one job behind the running one, refuses the next with 429 + Retry-After, and cancels on DELETE', async () => {
    const m = { model_name: 'tiny-t2v', model_version: 'v-overload' };
    const running = (await (await postJson(`${rt.url}/v1/videos`, { prompt: 'first' })).json()) as JobView;
    const queued = (await (await postJson(`${rt.url}/v1/videos`, { prompt: 'second' })).json()) as JobView;
    expect(running.status).toBe('running');
    expect(queued.status).toBe('queued');
    // Where the queued job stands: next to start, after the running job's expected remainder.
    expect(queued).toMatchObject({ queue: { position: 1, starts_in_seconds: expect.any(Number) } });
    expect(running).not.toHaveProperty('queue');

    for (const route of ['/v1/videos', '/v1/generate']) {
      const refused = await postJson(`${rt.url}${route}`, { prompt: 'third' });
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(await refused.json()).toMatchObject({ error: { code: 'QueueFull', retry_after_seconds: expect.any(Number) } });
    }

    let text = await metricsText(rt);
    expect(metric(text, 't2v_queue_depth', m)).toBe(1);
    expect(metric(text, 't2v_inflight_jobs', m)).toBe(1);
    // Shedding load is `overloaded` (its own guardrail), not an error and not invisible.
    expect(metric(text, 't2v_requests_total', { ...m, route: 'videos', status: '429', outcome: 'overloaded' })).toBe(1);
    expect(metric(text, 't2v_requests_total', { ...m, route: 'generate', status: '429', outcome: 'overloaded' })).toBe(1);
    expect(metric(text, 't2v_requests_total', { ...m, route: 'generate', outcome: 'server_error' })).toBe(0);

    // Content of an unfinished job is a 409 that says what to do.
    const early = await fetch(`${rt.url}/v1/videos/${queued.id}/content`);
    expect(early.status).toBe(409);
    expect(await early.json()).toMatchObject({ error: { code: 'Conflict', message: expect.stringContaining('poll') } });

    // Cancelling frees the queue place at once, and the running job in its slot.
    expect((await fetch(`${rt.url}/v1/videos/${queued.id}`, { method: 'DELETE' })).status).toBe(202);
    expect(await waitForJob(rt, queued.id)).toMatchObject({ status: 'failed', error: { code: 'Cancelled' } });
    expect((await fetch(`${rt.url}/v1/videos/${running.id}`, { method: 'DELETE' })).status).toBe(202);
    expect(await waitForJob(rt, running.id)).toMatchObject({ status: 'failed', error: { code: 'Cancelled', message: 'cancelled by DELETE' } });
    const gone = await fetch(`${rt.url}/v1/videos/${running.id}/content`);
    expect(gone.status).toBe(409);
    expect(((await gone.json()) as { error: { message: string } }).error.message).toMatch(/failed \(Cancelled\)/);

    text = await metricsText(rt);
    expect(metric(text, 't2v_requests_total', { ...m, route: 'videos', status: '499', outcome: 'cancelled' })).toBe(2);
    expect(metric(text, 't2v_queue_depth', m)).toBe(0);
  });

  it('marks fault injection as on in /healthz and /metrics', async () => {
    const health = (await (await fetch(`${rt.url}/healthz`)).json()) as Record<string, unknown>;
    expect(health.fault_injection).toEqual({ enabled: true, error_rate: 0, latency_ms: 30000, freeze_frames: 0 });
    const text = await metricsText(rt);
    expect(metric(text, 't2v_fault_injection', { kind: 'latency_seconds' })).toBe(30);
    expect(metric(text, 't2v_fault_injection', { kind: 'error_rate' })).toBe(0);
    expect(rt.logs().some((l) => l.level === 40 && /FAULT INJECTION ENABLED/.test(l.msg))).toBe(true);
  });
});
