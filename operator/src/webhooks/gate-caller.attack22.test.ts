// Attack on #22's gate caller (docs/attack-22.md): real gates on 127.0.0.1.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { WebhookGate } from '../rollout/webhook-gates.js';
import { callGate, type GateRequest } from './gate-caller.js';

// /approve redirects (as an SSO proxy in front of an approval service does) to /login, a page that answers 200.
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    if (req.url === '/approve') res.writeHead(302, { location: '/login' }).end();
    else if (req.url === '/login') res.writeHead(200, { 'content-type': 'text/html' }).end('<html>Sign in</html>');
    else res.writeHead(404).end();
  });
});
const body: GateRequest = { name: 't2v', namespace: 'ml', phase: 'Progressing', type: 'confirm-promotion', checksum: 'bbbbbbbbbb', metadata: {} };

describe('attack22: callGate and redirects', () => {
  // F1: fetch follows the 302 (turning the POST into a GET) and the login page's 200 opens the gate: a promotion
  // nobody approved. A gate must fail closed: a 3xx is not a yes.
  it('does not open a gate whose URL redirects to a page answering 200', async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/approve`;
    const gate: WebhookGate = { name: 'approval', type: 'confirm-promotion', url, timeoutMs: 2_000, metadata: {} };
    const answer = await callGate(gate, body).finally(() => server.close());
    expect(answer.ok).toBe(false);
    expect(answer.message).toMatch(/^HTTP 302/);
  });
});
