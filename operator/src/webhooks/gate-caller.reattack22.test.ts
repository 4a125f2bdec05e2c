// Re-attack on #22's gate caller (docs/reattack-22.md): every kind of redirect, and a URL with credentials. Real
// gates on 127.0.0.1.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseWebhooks, type WebhookGate } from '../rollout/webhook-gates.js';
import { callGate, type GateRequest } from './gate-caller.js';

// /r<code> answers <code> with Location /ok (none for /r<code>-bare); /https answers 301 to the https:// of the same
// place (an HTTP→HTTPS upgrade); /ok answers 200.
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const m = /^\/r(\d{3})(-bare)?$/.exec(req.url ?? '');
    if (m) res.writeHead(Number(m[1]), m[2] ? {} : { location: '/ok' }).end();
    else if (req.url === '/https') res.writeHead(301, { location: `https://${req.headers.host}/ok` }).end();
    else if (req.url === '/ok') res.writeHead(200).end('approved');
    else res.writeHead(404).end();
  });
});
let base = '';
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const body: GateRequest = { name: 't2v', namespace: 'ml', phase: 'Progressing', type: 'confirm-promotion', checksum: 'bbbbbbbbbb', metadata: {} };
const gateAt = (url: string): WebhookGate => ({ name: 'approval', type: 'confirm-promotion', url, timeoutMs: 2_000, metadata: {} });

describe('reattack22: callGate and every kind of redirect (held)', () => {
  it.each(['/r301', '/r303', '/r307', '/r308', '/r302-bare', '/r307-bare', '/https'])('%s is a no, saying it was not followed', async (path) => {
    const answer = await callGate(gateAt(`${base}${path}`), body);
    expect(answer.ok).toBe(false);
    expect(answer.message).toMatch(/^HTTP 30\d \(.*not followed\)$/);
  });
});

describe('reattack22: spec.webhooks[].url kinds (held)', () => {
  it.each(['javascript:alert(1)', 'file:///etc/passwd', 'ftp://approve.example/', 'http://exa mple.com/'])('refuses %s', (url) => {
    const errors: string[] = [];
    expect(parseWebhooks([{ name: 'approval', type: 'confirm-promotion', url }], errors)).toEqual([]);
    expect(errors).toEqual([expect.stringMatching(/^spec\.webhooks\[0\]\.url: /)]);
  });

  it.each(['http://[::1]:8080/gate', `https://approve.example/${'a'.repeat(2048)}`])('accepts %s', (url) => {
    const errors: string[] = [];
    expect(parseWebhooks([{ name: 'approval', type: 'confirm-promotion', url }], errors)).toHaveLength(1);
    expect(errors).toEqual([]);
  });
});

describe('reattack22: a gate URL with credentials', () => {
  // R2: http://user:password@approve.example/ parses (so parseWebhooks accepts it), but Node's fetch refuses every
  // URL with userinfo ("Request cannot be constructed from a URL that includes credentials: <the URL>"). The gate
  // holds forever, and failureOf() puts that message — the password in clear — into status.webhookGate.lastAnswer,
  // the Progressing condition and status.message, readable by anyone who may `kubectl get` the rollout.
  it('is refused by parseWebhooks, naming the field', () => {
    const errors: string[] = [];
    expect(parseWebhooks([{ name: 'approval', type: 'confirm-promotion', url: 'https://bot:s3cr3t@approve.example/gate' }], errors)).toEqual([]);
    expect(errors).toEqual([expect.stringMatching(/^spec\.webhooks\[0\]\.url: /)]);
  });

  it("never puts the password into the answer (the rollout's status)", async () => {
    const answer = await callGate(gateAt(`http://bot:s3cr3t@${base.slice('http://'.length)}/ok`), body);
    expect(answer.ok).toBe(false);
    expect(answer.message).not.toContain('s3cr3t');
  });
});
