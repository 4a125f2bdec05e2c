// Async jobs in Redis (T2V_JOB_STORE) shared by two real runtime replicas and a shared results directory:
// any replica answers any poll, and a replica killed with a running and queued jobs loses none of them
// (BullMQ's stalled-job check on the survivor puts its running job back in the queue). A real redis-server
// (Debian's package) on a free loopback port, stopped by PID.
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel, ffprobe, postJson, RuntimeProcess, startRedis, stopAll, tempDir, type JobView, type RedisProcess, type TempDir } from './support.js';

let tmp: TempDir;
let redis: RedisProcess;
let model: string;

beforeAll(async () => {
  tmp = tempDir('t2v-shared-');
  redis = await startRedis(tmp.dir);
  model = buildModel(tmp.dir, { version: 'v-shared' });
});

afterAll(async () => {
  await stopAll();
  await redis?.stop();
  tmp?.remove();
});

/** A replica of revision `rev` on the shared store: a short lock so a dead replica's job comes back quickly. */
function replica(rev: string, extra: Record<string, string> = {}): Promise<RuntimeProcess> {
  return RuntimeProcess.start({
    T2V_MODEL_DIR: model,
    T2V_JOB_STORE: redis.url,
    T2V_RESULTS_DIR: path.join(tmp.dir, 'results'),
    T2V_JOB_LOCK_MS: '1000',
    MODELROLLOUT_REVISION: rev,
    T2V_SHUTDOWN_LINGER_MS: '0',
    ...extra,
  });
}

async function create(rt: RuntimeProcess, prompt: string): Promise<string> {
  const res = await postJson(`${rt.url}/v1/videos`, { prompt, steps: 1, seconds: 0.5, width: 32, height: 32 });
  expect(res.status).toBe(202);
  return ((await res.json()) as JobView).id;
}

/** Polls until the job ends; 'lost' if any poll answers 404. */
async function outcome(rt: RuntimeProcess, id: string, timeoutMs = 60_000): Promise<JobView | 'lost'> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${rt.url}/v1/videos/${id}`);
    if (res.status === 404) return 'lost';
    const job = (await res.json()) as JobView;
    if (job.status === 'succeeded' || job.status === 'failed') return job;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status}`);
    await sleep(100);
  }
}

describe('a shared job store', () => {
  it('a job created on replica A is polled, listed and downloaded on replica B', async () => {
    const [a, b] = await Promise.all([replica('rev-one'), replica('rev-one')]);
    const id = await create(a, 'made on A');
    const done = await outcome(b, id);
    expect(done).toMatchObject({ status: 'succeeded', result: { content_url: `/v1/videos/${id}/content` } });
    const content = await fetch(`${b.url}/v1/videos/${id}/content`);
    expect(content.status).toBe(200);
    expect(await ffprobe(Buffer.from(await content.arrayBuffer()), tmp.dir)).toMatchObject({ codec: 'h264', frames: 4 });
    const list = (await (await fetch(`${b.url}/v1/videos?limit=5`)).json()) as { data: JobView[] };
    expect(list.data.map((j) => j.id)).toContain(id);
    // An Idempotency-Key holds across replicas: the same body on B answers A's job; another body is a 422.
    const keyed = (rt: RuntimeProcess, prompt: string): Promise<Response> =>
      postJson(
        `${rt.url}/v1/videos`,
        { prompt, steps: 1, seconds: 0.5, width: 32, height: 32 },
        { headers: { 'content-type': 'application/json', 'Idempotency-Key': 'shared-key-1' } },
      );
    const onA = (await (await keyed(a, 'keyed')).json()) as JobView;
    const onB = await keyed(b, 'keyed');
    expect(onB.headers.get('idempotent-replayed')).toBe('true');
    expect(((await onB.json()) as JobView).id).toBe(onA.id);
    expect((await keyed(b, 'other body')).status).toBe(422);
    await outcome(a, onA.id);
    // Deleted on B: gone on A too.
    expect((await fetch(`${b.url}/v1/videos/${id}`, { method: 'DELETE' })).status).toBe(200);
    expect((await fetch(`${a.url}/v1/videos/${id}`)).status).toBe(404);
    await Promise.all([a.stop(), b.stop()]);
  });

  it('SIGKILL of a replica with a running and queued jobs: every job ends succeeded or failed with a reason, none is lost', async () => {
    // Each generation first sleeps 1.5 s: long enough to kill A in the middle of one.
    const slow = { T2V_FAULT_LATENCY_MS: '1500' };
    const a = await replica('rev-two', slow);
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await create(a, `job ${i}`));
    // A runs the first; the others wait in Redis. Then A dies without a word.
    const deadline = Date.now() + 30_000;
    while (!a.logs().some((l) => l.msg === 'job accepted' && ids.includes(String(l.jobId)))) {
      if (Date.now() > deadline) throw new Error('A never started a job');
      await sleep(50);
    }
    const killed = String(a.logs().find((l) => l.msg === 'job accepted' && ids.includes(String(l.jobId)))?.jobId);
    a.signal('SIGKILL');
    await a.exited;

    const b = await replica('rev-two', slow);
    const results = await Promise.all(ids.map((id) => outcome(b, id)));
    const lost = results.filter((r) => r === 'lost').length;
    expect(lost).toBe(0);
    for (const r of results) {
      if (r === 'lost') continue;
      if (r.status === 'failed') expect(r.error).toMatchObject({ code: expect.any(String), message: expect.any(String) });
      else expect(r.status).toBe('succeeded');
    }
    // The killed replica's running job was recovered by B's stalled-job check, not failed: all four succeed.
    expect(results.map((r) => (r === 'lost' ? r : r.status))).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    expect(b.logs().find((l) => l.msg.startsWith('job stalled'))).toMatchObject({ jobId: killed });
    await b.stop();
  });

  it('a revision scaled to zero (SIGTERM, as a rollback does) leaves queued jobs: the surviving revision re-queues and runs them', async () => {
    const canary = await replica('rev-canary', { T2V_FAULT_LATENCY_MS: '1500', T2V_SHUTDOWN_GRACE_MS: '60000' });
    const stable = await replica('rev-stable');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await create(canary, `canary ${i}`));
    const deadline = Date.now() + 30_000;
    while (!canary.logs().some((l) => l.msg === 'job accepted')) {
      if (Date.now() > deadline) throw new Error('the canary never started a job');
      await sleep(50);
    }
    const ranOnCanary = String(canary.logs().find((l) => l.msg === 'job accepted')?.jobId);
    canary.signal('SIGTERM');
    expect((await canary.exited).code).toBe(0);

    const results = await Promise.all(ids.map((id) => outcome(stable, id)));
    expect(results.filter((r) => r === 'lost')).toHaveLength(0);
    for (const [i, r] of results.entries()) {
      expect(r).toMatchObject({ status: 'succeeded' });
      // The one the canary was running finished there; the queued ones moved to stable, and say so.
      if (ids[i] === ranOnCanary) expect(r).not.toHaveProperty('requeued_from');
      else expect(r).toMatchObject({ requeued_from: 'rev-canary' });
    }
    expect(
      stable
        .logs()
        .filter((l) => l.msg.startsWith('job of a revision with no workers left'))
        .map((l) => l.jobId),
    ).toHaveLength(2);
    await stable.stop();
  });

  it('SIGTERM whose grace runs out mid-job hands the job back to the queue: another replica of the revision runs it', async () => {
    // A's generations sleep a minute first; its grace is 300 ms.
    const a = await replica('rev-four', { T2V_FAULT_LATENCY_MS: '60000', T2V_SHUTDOWN_GRACE_MS: '300' });
    const id = await create(a, 'handed back');
    const deadline = Date.now() + 30_000;
    while (!a.logs().some((l) => l.msg === 'job accepted' && l.jobId === id)) {
      if (Date.now() > deadline) throw new Error('A never started the job');
      await sleep(50);
    }
    const b = await replica('rev-four');
    a.signal('SIGTERM');
    expect((await a.exited).code).toBe(0);
    expect(a.logs().some((l) => l.msg.startsWith('shutdown grace over: job handed back') && l.jobId === id)).toBe(true);
    expect(await outcome(b, id)).toMatchObject({ status: 'succeeded' });
    await b.stop();
  });
});
