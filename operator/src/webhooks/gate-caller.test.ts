import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebhookGate } from '../rollout/webhook-gates.js';
import { callGate, GateCaller, type GateRequest } from './gate-caller.js';

// A real gate on 127.0.0.1: /yes answers 200, /no 403 with a reason, /slow never in time.
const bodies: GateRequest[] = [];
const server = http.createServer((req, res) => {
  let text = '';
  req.on('data', (c: Buffer) => (text += c.toString()));
  req.on('end', () => {
    bodies.push(JSON.parse(text) as GateRequest);
    if (req.url === '/yes') res.writeHead(200).end('approved');
    else if (req.url === '/no') res.writeHead(403).end('not approved\nby the on-call');
    // /slow: keeps the request open past the gate's timeout (closed in afterAll).
  });
});
let base = '';
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const gate = (path: string, over: Partial<WebhookGate> = {}): WebhookGate => ({
  name: 'approval',
  type: 'confirm-promotion',
  url: `${base}${path}`,
  timeoutMs: 2_000,
  metadata: { team: 'ml' },
  ...over,
});
const body: GateRequest = { name: 't2v', namespace: 'ml', phase: 'Progressing', type: 'confirm-promotion', checksum: 'bbbbbbbbbb', metadata: { team: 'ml' } };

describe('callGate', () => {
  it("posts Flagger's body and tells 2xx from a refusal, with the answer's text", async () => {
    expect(await callGate(gate('/yes'), body)).toEqual({ ok: true, message: 'HTTP 200: approved' });
    expect(bodies.at(-1)).toEqual(body);
    expect(await callGate(gate('/no'), body)).toEqual({ ok: false, message: 'HTTP 403: not approved by the on-call' });
  });

  it('holds on a gate that does not answer within its timeout', async () => {
    expect(await callGate(gate('/slow', { timeoutMs: 200 }), body)).toEqual({ ok: false, message: 'no answer within 0.2 s' });
  });

  it('holds on a gate nobody listens on', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    expect(await callGate(gate('/', { url: `http://127.0.0.1:${port}/` }), body)).toEqual({ ok: false, message: 'connection refused (ECONNREFUSED)' });
  });
});

describe('GateCaller', () => {
  it('asks in the background, caches the answer per revision, requeues, and asks again only when stale', async () => {
    let now = Date.parse('2026-12-01T10:00:00Z');
    const woken: string[] = [];
    let answered: () => void = () => undefined;
    const caller = new GateCaller({
      now: () => new Date(now),
      onAnswer: (key) => {
        woken.push(key);
        answered();
      },
    });
    const subject = { namespace: 'ml', name: 't2v', phase: 'Progressing', revision: 'bbbbbbbbbb', since: new Date(now).toISOString(), intervalMs: 10_000 };
    const next = () => new Promise<void>((r) => (answered = r));
    let arrived = next();
    caller.ask('ml/t2v', subject, [gate('/no')]);
    expect(caller.answersFor('ml/t2v')).toEqual([]);
    await arrived;
    expect(woken).toEqual(['ml/t2v']);
    expect(caller.answersFor('ml/t2v')).toEqual([
      {
        name: 'approval',
        type: 'confirm-promotion',
        revision: 'bbbbbbbbbb',
        ok: false,
        message: 'HTTP 403: not approved by the on-call',
        at: '2026-12-01T10:00:00.000Z',
      },
    ]);
    // Within the interval: not asked again.
    const asked = bodies.length;
    now += 5_000;
    caller.ask('ml/t2v', subject, [gate('/yes')]);
    expect(bodies.length).toBe(asked);
    // Past it, and for another revision at once.
    now += 6_000;
    arrived = next();
    caller.ask('ml/t2v', { ...subject, revision: 'cccccccccc' }, [gate('/yes')]);
    await arrived;
    expect(caller.answersFor('ml/t2v')).toMatchObject([{ revision: 'cccccccccc', ok: true }]);
    caller.forget('ml/t2v');
    expect(caller.answersFor('ml/t2v')).toEqual([]);
  });
});
