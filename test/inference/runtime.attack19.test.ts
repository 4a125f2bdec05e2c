// Attack on #19 (the runtime as a fleet), kept as regression tests: each case is a defect found by trying the
// shared job store as a client of a hosted video API would (docs/attack-19.md, F1…). Real redis-servers on free
// loopback ports and real runtimes, stopped by PID.
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel, postJson, RuntimeProcess, startRedis, stopAll, tempDir, waitForJob, type JobView, type RedisProcess, type TempDir } from './support.js';

const SECRET = 'attack19-webhook-secret';
const PASSWORD = 'attack19-redis-password';
const small = { steps: 1, seconds: 0.5, width: 32, height: 32 };

let tmp: TempDir;
let redis: RedisProcess;
let locked: RedisProcess;
let model: string;
/** Short TTL (1 s): expiry cases. */
let a: RuntimeProcess;
/** Default TTL, each generation 0.8 s longer: queued jobs, Idempotency-Key, SIGTERM; its own results directory capped at 1 KiB. */
let b: RuntimeProcess;
/** On a Redis that needs a password, given in T2V_JOB_STORE. */
let auth: RuntimeProcess;

const resultsDir = (): string => path.join(tmp.dir, 'results');

function replica(store: string, extra: Record<string, string>): Promise<RuntimeProcess> {
  return RuntimeProcess.start({
    T2V_MODEL_DIR: model,
    T2V_JOB_STORE: store,
    T2V_RESULTS_DIR: resultsDir(),
    T2V_JOB_LOCK_MS: '1000',
    T2V_SHUTDOWN_LINGER_MS: '0',
    T2V_WEBHOOK_SECRET: SECRET,
    T2V_WARMUP_STEPS: '1',
    ...extra,
  });
}

beforeAll(async () => {
  tmp = tempDir('t2v-attack19-');
  [redis, locked] = await Promise.all([startRedis(tmp.dir), startRedis(tmp.dir, { password: PASSWORD })]);
  model = buildModel(tmp.dir, { version: 'v-attack19' });
  [a, b, auth] = await Promise.all([
    replica(redis.url, { MODELROLLOUT_REVISION: 'rev-a', T2V_JOB_TTL_MS: '1000' }),
    replica(redis.url, {
      MODELROLLOUT_REVISION: 'rev-b',
      T2V_FAULT_LATENCY_MS: '800',
      T2V_RESULTS_DIR: path.join(tmp.dir, 'results-b'),
      T2V_MAX_STORED_BYTES: '1024',
    }),
    replica(`redis://:${PASSWORD}@127.0.0.1:${locked.port}`, { MODELROLLOUT_REVISION: 'rev-auth' }),
  ]);
});

afterAll(async () => {
  // A runtime whose Redis is gone may not finish a graceful shutdown: these are killed.
  for (const rt of [a, b, auth]) rt?.signal('SIGKILL');
  await stopAll();
  await Promise.all([redis?.stop(), locked?.stop()]);
  tmp?.remove();
});

/** A local webhook receiver: answers each delivery with `statuses[i]` (the last one repeated). */
async function startReceiver(
  statuses: number[],
): Promise<{ url: string; got: Array<{ status: number; body: { type: string; data: JobView } }>; close(): Promise<void> }> {
  const got: Array<{ status: number; body: { type: string; data: JobView } }> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString('utf8')));
    req.on('end', () => {
      const status = statuses[Math.min(got.length, statuses.length - 1)] as number;
      got.push({ status, body: JSON.parse(body) as { type: string; data: JobView } });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/hook`;
  return { url, got, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

type Receiver = Awaited<ReturnType<typeof startReceiver>>;

/** Runs `body` with a receiver, closed afterwards. */
async function withReceiver(statuses: number[], body: (hook: Receiver) => Promise<void>): Promise<void> {
  const hook = await startReceiver(statuses);
  try {
    await body(hook);
  } finally {
    await hook.close();
  }
}

/** One inline Redis command's reply line (e.g. `:0`), over a raw socket. */
function redisCommand(port: number, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(`${command}\r\n`));
    socket.once('data', (d: Buffer) => {
      socket.destroy();
      resolve(d.toString().trim());
    });
    socket.once('error', reject);
  });
}

async function create(rt: RuntimeProcess, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<JobView> {
  const res = await postJson(`${rt.url}/v1/videos`, { ...small, ...body }, { headers: { 'content-type': 'application/json', ...headers } });
  expect(res.status).toBe(202);
  return (await res.json()) as JobView;
}

/** Status, or the error name when no answer came within `ms` (a hung request). */
async function answerWithin(url: string, ms: number): Promise<number | string> {
  return fetch(url, { signal: AbortSignal.timeout(ms) }).then(
    (res) => res.status,
    (err: unknown) => (err as Error).name,
  );
}

async function until(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('F1: a Redis that needs a password (every managed Redis)', () => {
  it('uses the password given in T2V_JOB_STORE (redis://:password@host:port)', async () => {
    const res = await postJson(`${auth.url}/v1/videos`, { ...small, prompt: 'needs auth' }, { signal: AbortSignal.timeout(2000) }).catch(
      (err: unknown) => err as Error,
    );
    expect(res instanceof Response ? res.status : res.name).toBe(202);
  });

  it('never writes the password to the log, and logs JSON only', () => {
    expect.soft(auth.rawOutput).not.toContain(PASSWORD);
    expect(auth.rawOutput.split('\n').filter((l) => l !== '' && !l.startsWith('{'))).toEqual([]);
  });
});

describe('F3: result expiry (expires_at)', () => {
  it('a job past its expires_at is gone (404), not still served', async () => {
    const job = await create(a, { prompt: 'short-lived' });
    const done = (await waitForJob(a, job.id)) as JobView & { result: { expires_at: string } };
    expect(done.status).toBe('succeeded');
    const expiresAt = Date.parse(done.result.expires_at);
    await sleep(Math.max(0, expiresAt - Date.now()) + 500);
    expect.soft((await fetch(`${a.url}/v1/videos/${job.id}`)).status).toBe(404);
    expect((await fetch(`${a.url}/v1/videos/${job.id}/content`)).status).toBe(404);
  });

  it('an expired job leaves no MP4 in T2V_RESULTS_DIR and no entry in the job index', async () => {
    const first = await create(a, { prompt: 'expires first' });
    await waitForJob(a, first.id);
    await sleep(1500);
    // Another job finishing is when BullMQ drops the first one's record (removeOnComplete by age).
    const second = await create(a, { prompt: 'expires second' });
    await waitForJob(a, second.id);
    expect.soft((await fetch(`${a.url}/v1/videos/${first.id}`)).status).toBe(404);
    expect.soft(fs.existsSync(path.join(resultsDir(), `${first.id}.mp4`))).toBe(false);
    expect(await redisCommand(redis.port, `HEXISTS t2v:job-queues ${first.id}`)).toBe(':0');
  });
});

describe('F5: webhook_url to a link-local (cloud metadata) address', () => {
  it.each(['http://169.254.169.254/latest/meta-data/iam/security-credentials/', 'http://[fe80::1]/hook'])(
    '%s is refused (400 naming webhook_url)',
    async (url) => {
      const res = await postJson(`${a.url}/v1/videos`, { ...small, prompt: 'ssrf', webhook_url: url });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: { field: 'webhook_url' } });
    },
  );
});

describe('F6: prompts with nothing a model can read', () => {
  it.each([
    ['only control characters', '\u0000\u0007\u001b\u007f'],
    ['a lone surrogate (not Unicode; \\ud800 escaped in the JSON)', '\ud800'],
  ])('%s is a 400 naming prompt', async (_what, prompt) => {
    const res = await postJson(`${a.url}/v1/videos`, { ...small, prompt });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { field: 'prompt' } });
  });
});

describe('F7: Idempotency-Key after its job was deleted', () => {
  it('the same key and body make a new job, as in memory mode (not 409 "still being processed")', async () => {
    const headers = { 'Idempotency-Key': `attack19-${Date.now()}` };
    const job = await create(b, { prompt: 'keyed then deleted' }, headers);
    await waitForJob(b, job.id);
    expect((await fetch(`${b.url}/v1/videos/${job.id}`, { method: 'DELETE' })).status).toBe(200);
    const again = await postJson(
      `${b.url}/v1/videos`,
      { ...small, prompt: 'keyed then deleted' },
      { headers: { 'content-type': 'application/json', ...headers } },
    );
    expect(again.status).toBe(202);
    const view = (await again.json()) as JobView;
    expect(view.id).not.toBe(job.id);
    await waitForJob(b, view.id);
  });
});

describe('F8: a job cancelled while queued (Redis store)', () => {
  it('is still listed as GET shows it, its webhook says video.failed, and (F9) a cursor naming it still pages', async () => {
    await withReceiver([204], async (hook) => {
      const running = await create(b, { prompt: 'runs first' });
      const queued = await create(b, { prompt: 'cancelled in the queue', webhook_url: hook.url });
      expect((await fetch(`${b.url}/v1/videos/${queued.id}`, { method: 'DELETE' })).status).toBe(202);
      expect(await (await fetch(`${b.url}/v1/videos/${queued.id}`)).json()).toMatchObject({ status: 'failed', error: { code: 'Cancelled' } });
      const list = (await (await fetch(`${b.url}/v1/videos?limit=100`)).json()) as { data: JobView[] };
      expect.soft(list.data.map((j) => j.id)).toContain(queued.id);
      // F9: the cursor of a page whose last job was cancelled (or expired, or deleted) meanwhile still gives the next page.
      expect.soft((await fetch(`${b.url}/v1/videos?limit=1&after=${queued.id}`)).status).toBe(200);
      await waitForJob(b, running.id);
      await until('a webhook for the cancelled job', () => hook.got.length > 0, 1500).catch(() => undefined);
      expect(hook.got.map((g) => [g.body.data.id, g.body.type])).toEqual([[queued.id, 'video.failed']]);
    });
  });
});

describe('F10: HEAD on the video (what players and download managers send first)', () => {
  it('answers 200 with Content-Length and Accept-Ranges, no body', async () => {
    const job = await create(a, { prompt: 'head me' });
    await waitForJob(a, job.id);
    const head = await fetch(`${a.url}/v1/videos/${job.id}/content`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('accept-ranges')).toBe('bytes');
    expect(Number(head.headers.get('content-length'))).toBeGreaterThan(0);
  });
});

describe('F11: a video larger than T2V_MAX_STORED_BYTES', () => {
  it('the job that just succeeded can be downloaded (the cap evicts older results, not the one just made)', async () => {
    const job = await create(b, { prompt: 'bigger than the cap' });
    const done = (await waitForJob(b, job.id)) as JobView;
    expect(done.status).toBe('succeeded');
    expect((await fetch(`${b.url}/v1/videos/${job.id}/content`)).status).toBe(200);
  });
});

describe('F4: SIGTERM while a job with a webhook runs', () => {
  it('the replica leaves only after its webhook was delivered (the retry after a 500 included)', async () => {
    await withReceiver([500, 204], async (hook) => {
      const job = await create(b, { prompt: 'finishes during the drain', webhook_url: hook.url });
      await until('the job to start on B', () => b.logs().some((l) => l.msg === 'job accepted' && l.jobId === job.id));
      b.signal('SIGTERM');
      expect((await b.exited).code).toBe(0);
      expect(await waitForJob(a, job.id)).toMatchObject({ status: 'succeeded' });
      // The replica is gone: whatever it had not sent by now is never sent.
      await sleep(1500);
      expect(hook.got.map((g) => g.status)).toEqual([500, 204]);
    });
  });
});

describe('F2: Redis unreachable', () => {
  it('a poll is answered (503) within seconds instead of hanging, and /readyz says not ready', async () => {
    const job = await create(a, { prompt: 'before Redis went away' });
    await waitForJob(a, job.id);
    await redis.stop();
    expect.soft(await answerWithin(`${a.url}/v1/videos/${job.id}`, 2000)).toBe(503);
    expect(await answerWithin(`${a.url}/readyz`, 2000)).toBe(503);
  });
});
