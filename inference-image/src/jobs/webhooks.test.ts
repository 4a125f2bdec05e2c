import { createHmac } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { WEBHOOK_RETRY_MS, Webhooks, webhookSignature } from './webhooks.js';

const log = { info: vi.fn(), warn: vi.fn() };

describe('Webhooks', () => {
  it('signs id.timestamp.body with HMAC-SHA256 (Standard Webhooks v1)', () => {
    const expected = createHmac('sha256', 'sekrit').update('msg_1.1700000000.{"a":1}').digest('base64');
    expect(webhookSignature('sekrit', 'msg_1', 1_700_000_000, '{"a":1}')).toBe(`v1,${expected}`);
  });

  it('POSTs the event with the signature headers, retrying a failed delivery after 1 s and 5 s', async () => {
    const calls: Array<{ url: string; init: RequestInit }> = [];
    const answers = [new Error('connect ECONNREFUSED'), new Response('no', { status: 503 }), new Response('ok', { status: 200 })];
    const fetchFake = (async (url: string, init: RequestInit) => {
      calls.push({ url, init });
      const a = answers.shift();
      if (a instanceof Error) throw a;
      return a as Response;
    }) as unknown as typeof fetch;
    const sleeps: number[] = [];
    const w = new Webhooks({
      secret: 's',
      timeoutMs: 100,
      log,
      allowPrivate: true,
      fetch: fetchFake,
      sleep: async (ms) => void sleeps.push(ms),
      clock: () => 1_700_000_000_000,
    });
    expect(await w.deliver('http://127.0.0.1:9/hook', { id: 'vid_1', status: 'succeeded' }, { id: 'vid_1' })).toBe(true);
    expect(sleeps).toEqual(WEBHOOK_RETRY_MS);
    const { init } = calls[2] as { init: RequestInit };
    const headers = init.headers as Record<string, string>;
    expect(headers['webhook-id']).toBe('vid_1.succeeded');
    expect(headers['webhook-timestamp']).toBe('1700000000');
    expect(headers['webhook-signature']).toBe(webhookSignature('s', 'vid_1.succeeded', 1_700_000_000, init.body as string));
    expect(JSON.parse(init.body as string)).toEqual({ type: 'video.completed', timestamp: '2023-11-14T22:13:20.000Z', data: { id: 'vid_1' } });
  });

  it('gives up after three attempts without throwing, and calls a failed job video.failed', async () => {
    const bodies: string[] = [];
    const fetchFake = (async (_: string, init: RequestInit) => {
      bodies.push(init.body as string);
      return new Response('', { status: 500 });
    }) as unknown as typeof fetch;
    const w = new Webhooks({ secret: 's', timeoutMs: 100, log, allowPrivate: true, fetch: fetchFake, sleep: async () => undefined });
    expect(await w.deliver('http://127.0.0.1:9/hook', { id: 'vid_2', status: 'failed' }, {})).toBe(false);
    expect(bodies).toHaveLength(3);
    expect(JSON.parse(bodies[0] as string)).toMatchObject({ type: 'video.failed' });
  });

  it('refuses link-local and metadata addresses always, private ones unless allowed, resolved names included', async () => {
    const posted: string[] = [];
    const fetchFake = (async (url: string) => {
      posted.push(url);
      return new Response(null, { status: 204 });
    }) as unknown as typeof fetch;
    const lookup = async (host: string): Promise<string[]> => (host === 'metadata.internal' ? ['169.254.169.254'] : ['10.1.2.3']);
    const strict = new Webhooks({ secret: 's', timeoutMs: 100, log, fetch: fetchFake, lookup, sleep: async () => undefined });
    const open = new Webhooks({ secret: 's', timeoutMs: 100, log, allowPrivate: true, fetch: fetchFake, lookup, sleep: async () => undefined });
    const job = { id: 'vid_3', status: 'succeeded' };
    expect(await strict.deliver('http://169.254.169.254/latest/meta-data/', job, {})).toBe(false);
    expect(await open.deliver('http://[fe80::1]/hook', job, {})).toBe(false);
    expect(await open.deliver('http://metadata.internal/hook', job, {})).toBe(false);
    expect(await strict.deliver('http://in-cluster.svc/hook', job, {})).toBe(false);
    expect(await strict.deliver('http://127.0.0.1:9/hook', job, {})).toBe(false);
    expect(posted).toEqual([]);
    expect(await open.deliver('http://in-cluster.svc/hook', job, {})).toBe(true);
    expect(posted).toEqual(['http://in-cluster.svc/hook']);
  });

  it('logs the URL without its password or query, and settled() waits for deliveries under way', async () => {
    const lines: unknown[] = [];
    const quiet = { info: (o: unknown) => void lines.push(o), warn: (o: unknown) => void lines.push(o) };
    let answer: (r: Response) => void = () => undefined;
    const fetchFake = (() => new Promise<Response>((resolve) => (answer = resolve))) as unknown as typeof fetch;
    const w = new Webhooks({ secret: 's', timeoutMs: 1000, log: quiet, allowPrivate: true, fetch: fetchFake, sleep: async () => undefined });
    w.send('http://user:pw@127.0.0.1:9/hook?token=abc', { id: 'vid_4', status: 'succeeded' }, {});
    expect(await w.settled(20)).toBe(1);
    answer(new Response(null, { status: 204 }));
    expect(await w.settled(1000)).toBe(0);
    expect(JSON.stringify(lines)).not.toMatch(/pw|token/);
    expect(lines).toEqual([expect.objectContaining({ url: 'http://127.0.0.1:9/hook' })]);
  });
});
