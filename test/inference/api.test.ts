// The async API a user of a hosted video API expects, on the small model: adjustments reported (seconds
// rounded to frames, a prompt cut to the encoder's length), request-body timeouts, Range on the video, job
// listing in pages, and Idempotency-Key. One runtime, one-step clips of a few frames.
import { createHmac } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel, postJson, RuntimeProcess, stopAll, tempDir, waitForJob, type JobView, type TempDir } from './support.js';

const SECRET = 'whsec-test-0123456789abcdef';
let tmp: TempDir;
let rt: RuntimeProcess;

beforeAll(async () => {
  tmp = tempDir('t2v-api-');
  rt = await RuntimeProcess.start({
    T2V_MODEL_DIR: buildModel(tmp.dir, { version: 'v-api' }),
    T2V_MAX_QUEUE: '16',
    T2V_BODY_TIMEOUT_MS: '300',
    T2V_WEBHOOK_SECRET: SECRET,
  });
});

afterAll(async () => {
  await stopAll();
  tmp?.remove();
});

const small = { steps: 1, seconds: 0.5, width: 32, height: 32 };
/** 20 words: more than the small model's 16 tokens. */
const longPrompt = Array.from({ length: 20 }, (_, i) => `word${i % 4 === 0 ? 'a' : 'b'}`).join(' ');

interface Adjusted extends JobView {
  adjustments: Array<{ field: string; asked: number; used: number; unit: string; reason: string }>;
  queue?: { position: number; starts_in_seconds: number };
}

describe('adjustments', () => {
  it('the sync route says in X-Adjustments that seconds were rounded to whole frames and the prompt was cut', async () => {
    const res = await postJson(`${rt.url}/v1/generate`, { ...small, prompt: longPrompt, seconds: 0.3, fps: 8 });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-video-frames')).toBe('2');
    const header = res.headers.get('x-adjustments') ?? '';
    expect(header).toContain('seconds;asked=0.3;used=0.25;unit=seconds');
    expect(header).toMatch(/prompt;asked=\d+;used=16;unit=tokens/);
    await res.arrayBuffer();
    // Nothing adjusted: no header.
    const plain = await postJson(`${rt.url}/v1/generate`, { ...small, prompt: 'a cat' });
    expect(plain.headers.get('x-adjustments')).toBeNull();
    await plain.arrayBuffer();
  });

  it('the async job lists each adjustment with field, asked, used, unit and why, from the 202 on', async () => {
    const res = await postJson(`${rt.url}/v1/videos`, { ...small, prompt: longPrompt, seconds: 0.3, fps: 8 });
    expect(res.status).toBe(202);
    const accepted = (await res.json()) as Adjusted;
    expect(accepted.adjustments).toEqual([
      { field: 'seconds', asked: 0.3, used: 0.25, unit: 'seconds', reason: 'seconds × fps is rounded to whole frames: 2 at 8 fps' },
      { field: 'prompt', asked: expect.any(Number), used: 16, unit: 'tokens', reason: expect.stringContaining('at most 16 tokens') },
    ]);
    const done = (await waitForJob(rt, accepted.id)) as Adjusted;
    expect(done).toMatchObject({ status: 'succeeded', result: { frames: 2, seconds: 0.25, prompt_truncated: true } });
    expect(done.adjustments).toEqual(accepted.adjustments);
  });
});

describe('request body timeout', () => {
  it('answers a body that never finishes with 408 RequestTimeout and closes the connection', async () => {
    const socket = net.connect(rt.port, '127.0.0.1');
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString('utf8')));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write('POST /v1/videos HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"prompt":');
    await closed;
    expect(received).toMatch(/^HTTP\/1\.1 408 /);
    expect(received.toLowerCase()).toContain('connection: close');
    expect(received).toContain('"code":"RequestTimeout"');
    // The replica is not worse for it.
    expect((await fetch(`${rt.url}/readyz`)).status).toBe(200);
  });
});

describe('the video', () => {
  it('serves one byte range (206 with Content-Range) and refuses one past the end (416 naming the size)', async () => {
    const accepted = (await (await postJson(`${rt.url}/v1/videos`, { ...small, prompt: 'a range' })).json()) as JobView;
    const done = await waitForJob(rt, accepted.id);
    const url = `${rt.url}/v1/videos/${accepted.id}/content`;
    const whole = await fetch(url);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    const bytes = Buffer.from(await whole.arrayBuffer());
    const size = done.result?.bytes as number;
    expect(bytes.length).toBe(size);

    const part = await fetch(url, { headers: { Range: 'bytes=10-109' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 10-109/${size}`);
    expect(Buffer.from(await part.arrayBuffer())).toEqual(bytes.subarray(10, 110));
    const tail = await fetch(url, { headers: { Range: 'bytes=-16' } });
    expect(tail.status).toBe(206);
    expect(Buffer.from(await tail.arrayBuffer())).toEqual(bytes.subarray(size - 16));

    const past = await fetch(url, { headers: { Range: `bytes=${size}-` } });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe(`bytes */${size}`);
    expect(await past.json()).toMatchObject({ error: { code: 'RangeNotSatisfiable', field: 'Range', allowed: { unit: 'bytes', size } } });
  });
});

describe('GET /v1/videos', () => {
  it('lists jobs newest first in pages with a cursor, and names a bad limit or cursor', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(((await (await postJson(`${rt.url}/v1/videos`, { ...small, prompt: `list ${i}` })).json()) as JobView).id);
    const first = (await (await fetch(`${rt.url}/v1/videos?limit=2`)).json()) as { object: string; data: JobView[]; has_more: boolean; last_id: string };
    expect(first).toMatchObject({ object: 'list', has_more: true, first_id: ids[2], last_id: ids[1] });
    expect(first.data.map((j) => j.id)).toEqual([ids[2], ids[1]]);
    const next = (await (await fetch(`${rt.url}/v1/videos?limit=2&after=${first.last_id}`)).json()) as { data: JobView[] };
    expect(next.data[0]?.id).toBe(ids[0]);

    const badLimit = await fetch(`${rt.url}/v1/videos?limit=0`);
    expect(badLimit.status).toBe(400);
    expect(await badLimit.json()).toMatchObject({ error: { code: 'InvalidRequest', field: 'limit', allowed: { min: 1, max: 100 } } });
    const badCursor = await fetch(`${rt.url}/v1/videos?after=vid_nope`);
    expect(badCursor.status).toBe(400);
    expect(await badCursor.json()).toMatchObject({ error: { field: 'after', value: 'vid_nope' } });
    for (const id of ids) await waitForJob(rt, id);
  });
});

describe('Idempotency-Key', () => {
  const post = (body: unknown, key: string): Promise<Response> =>
    postJson(`${rt.url}/v1/videos`, body, { headers: { 'content-type': 'application/json', 'Idempotency-Key': key } });

  it('answers the same job for the same key and body (key order aside), 422 for the key with another body', async () => {
    const key = `k-${Date.now()}`;
    const first = await post({ ...small, prompt: 'once', seed: 1 }, key);
    expect(first.status).toBe(202);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const job = (await first.json()) as JobView;
    const again = await post({ seed: 1, prompt: 'once', ...small }, key);
    expect(again.status).toBe(202);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(((await again.json()) as JobView).id).toBe(job.id);

    const other = await post({ ...small, prompt: 'twice', seed: 1 }, key);
    expect(other.status).toBe(422);
    expect(await other.json()).toMatchObject({ error: { code: 'IdempotencyKeyReused', field: 'Idempotency-Key', value: key, job_id: job.id } });

    const bad = await post({ ...small, prompt: 'x' }, 'k'.repeat(300));
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'InvalidRequest', field: 'Idempotency-Key' } });
    await waitForJob(rt, job.id);
  });
});

describe('completion webhook', () => {
  it('POSTs the finished job to webhook_url, signed with HMAC-SHA256 over id.timestamp.body (Standard Webhooks)', async () => {
    const received: Array<{ headers: http.IncomingHttpHeaders; body: string }> = [];
    const receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString('utf8')));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(receiver.address() as net.AddressInfo).port}/hooks/t2v`;
    try {
      const accepted = (await (await postJson(`${rt.url}/v1/videos`, { ...small, prompt: 'call me back', webhook_url: url })).json()) as JobView & {
        request: { webhook_url: string };
      };
      expect(accepted.request.webhook_url).toBe(url);
      await waitForJob(rt, accepted.id);
      const deadline = Date.now() + 10_000;
      while (received.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(received).toHaveLength(1);
      const { headers, body } = received[0] as { headers: http.IncomingHttpHeaders; body: string };
      const id = String(headers['webhook-id']);
      const ts = String(headers['webhook-timestamp']);
      expect(id).toBe(`${accepted.id}.succeeded`);
      const expected = `v1,${createHmac('sha256', SECRET).update(`${id}.${ts}.${body}`).digest('base64')}`;
      expect(headers['webhook-signature']).toBe(expected);
      expect(JSON.parse(body)).toMatchObject({
        type: 'video.completed',
        data: { id: accepted.id, status: 'succeeded', result: { content_url: `/v1/videos/${accepted.id}/content` } },
      });
    } finally {
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
  });

  it('refuses webhook_url on the sync route and a URL that is not http(s), naming the field', async () => {
    const sync = await postJson(`${rt.url}/v1/generate`, { ...small, prompt: 'x', webhook_url: 'http://127.0.0.1:9/h' });
    expect(sync.status).toBe(400);
    expect(await sync.json()).toMatchObject({ error: { code: 'InvalidRequest', field: 'webhook_url', message: expect.stringContaining('POST /v1/videos') } });
    const bad = await postJson(`${rt.url}/v1/videos`, { ...small, prompt: 'x', webhook_url: 'ftp://example/x' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { field: 'webhook_url', allowed: { schemes: ['http', 'https'] } } });
  });
});
