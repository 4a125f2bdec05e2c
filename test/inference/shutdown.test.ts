// SIGTERM: stop accepting, let accepted jobs finish (or fail them with a reason once the grace period
// is over), then exit 0. No accepted job may end silently.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildModel,
  ffprobe,
  finishedJobs,
  metric,
  metricsText,
  postJson,
  RuntimeProcess,
  stopAll,
  tempDir,
  waitForJob,
  type JobView,
  type TempDir,
} from './support.js';

let tmp: TempDir;
let ddimModel: string;
let model: string;

beforeAll(() => {
  tmp = tempDir('t2v-shutdown-');
  model = buildModel(tmp.dir, { version: 'v-drain' });
  ddimModel = buildModel(tmp.dir, { version: 'v-drain', scheduler: 'ddim' });
});

afterAll(async () => {
  await stopAll();
  tmp?.remove();
});

async function submit(rt: RuntimeProcess, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await postJson(`${rt.url}/v1/videos`, { prompt: `job ${i}`, steps: 2, seed: i });
    expect(res.status).toBe(202);
    ids.push(((await res.json()) as JobView).id);
  }
  return ids;
}

describe('graceful shutdown', () => {
  it('finishes every accepted job (async and sync) before exiting 0, refusing new work meanwhile', async () => {
    const rt = await RuntimeProcess.start({
      T2V_MODEL_DIR: ddimModel,
      T2V_FAULT_LATENCY_MS: '400',
      T2V_SHUTDOWN_GRACE_MS: '60000',
      T2V_SHUTDOWN_LINGER_MS: '0',
    });
    const ids = await submit(rt, 3);
    const sync = postJson(`${rt.url}/v1/generate`, { prompt: 'sync while draining', steps: 2 });
    // The signal comes once the sync request is accepted too.
    await waitUntil(async () => rt.logs().some((l) => l.msg === 'job accepted' && l.route === 'generate'));
    rt.signal('SIGTERM');

    // Draining: not ready, new work refused with 503, status still served.
    await waitUntil(async () => (await fetch(`${rt.url}/readyz`)).status === 503);
    expect(await (await fetch(`${rt.url}/readyz`)).json()).toMatchObject({ status: 'draining' });
    const refused = await postJson(`${rt.url}/v1/videos`, { prompt: 'too late' });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(await refused.json()).toMatchObject({ error: { code: 'ShuttingDown' } });
    // A healthy replica leaving is not failing: its refusals are `draining`, never `server_error`.
    const draining = await metricsText(rt);
    expect(metric(draining, 't2v_requests_total', { route: 'videos', outcome: 'draining', status: '503' })).toBe(1);
    expect(metric(draining, 't2v_requests_total', { route: 'videos', outcome: 'server_error' })).toBe(0);

    const res = await sync;
    expect(res.status).toBe(200);
    expect(await ffprobe(Buffer.from(await res.arrayBuffer()), tmp.dir)).toMatchObject({ codec: 'h264', frames: 8 });

    expect((await rt.exited).code).toBe(0);
    const finished = finishedJobs(rt);
    for (const id of ids) expect(finished.get(id)).toMatchObject({ status: 'succeeded', route: 'videos' });
    expect([...finished.values()].filter((l) => l.route === 'generate')).toMatchObject([{ status: 'succeeded' }]);
    expect(rt.logs().at(-1)).toMatchObject({ msg: 'shutdown complete', abortedJobs: 0 });
  });

  it('fails what is still pending when the grace period is over, each with reason ShuttingDown', async () => {
    const rt = await RuntimeProcess.start({ T2V_MODEL_DIR: model, T2V_FAULT_LATENCY_MS: '60000', T2V_SHUTDOWN_GRACE_MS: '200', T2V_SHUTDOWN_LINGER_MS: '0' });
    const ids = await submit(rt, 3);
    const sync = postJson(`${rt.url}/v1/generate`, { prompt: 'sync', steps: 2 });
    await waitUntil(async () => metric(await metricsText(rt), 't2v_queue_depth') === 3);
    rt.signal('SIGTERM');

    // The sync client is told why, not dropped.
    const res = await sync;
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ error: { code: 'ShuttingDown', message: expect.stringContaining('shut down before this job finished') } });
    // Async clients still polling during the drain see the failure and its reason.
    const seen = await waitForJob(rt, ids[0] as string).catch(() => undefined);
    if (seen) expect(seen).toMatchObject({ status: 'failed', error: { code: 'ShuttingDown' } });

    expect((await rt.exited).code).toBe(0);
    const finished = finishedJobs(rt);
    expect(finished.size).toBe(4);
    for (const line of finished.values()) expect(line).toMatchObject({ status: 'failed', code: 'ShuttingDown', httpStatus: 503 });
    for (const id of ids) expect(finished.has(id)).toBe(true);
    expect(rt.logs().at(-1)).toMatchObject({ msg: 'shutdown complete', abortedJobs: 4 });
  });
});

describe('drain, then linger', () => {
  it('SIGTERM during a job: the job finishes, the client polls and downloads it, then the replica exits 0', async () => {
    // Linger up to a minute: the replica must leave as soon as the one result was fetched, not when the minute is over.
    const rt = await RuntimeProcess.start({
      T2V_MODEL_DIR: model,
      T2V_FAULT_LATENCY_MS: '1500',
      T2V_SHUTDOWN_GRACE_MS: '60000',
      T2V_SHUTDOWN_LINGER_MS: '60000',
    });
    const [id] = await submit(rt, 1);
    await waitUntil(async () => ((await (await fetch(`${rt.url}/v1/videos/${id}`)).json()) as JobView).status === 'running');
    rt.signal('SIGTERM');
    await waitUntil(async () => (await fetch(`${rt.url}/readyz`)).status === 503);

    const done = await waitForJob(rt, id as string);
    expect(done.status).toBe('succeeded');
    // Drained and still up: new work refused, the result served.
    expect((await postJson(`${rt.url}/v1/videos`, { prompt: 'too late' })).status).toBe(503);
    const content = await fetch(`${rt.url}/v1/videos/${id}/content`);
    expect(content.status).toBe(200);
    expect(await ffprobe(Buffer.from(await content.arrayBuffer()), tmp.dir)).toMatchObject({ codec: 'h264' });

    expect((await rt.exited).code).toBe(0);
    expect(rt.logs().some((l) => l.msg.startsWith('linger over'))).toBe(false);
    expect(rt.logs().at(-1)).toMatchObject({ msg: 'shutdown complete', abortedJobs: 0 });
  });
});

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}
