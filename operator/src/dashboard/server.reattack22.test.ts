// Re-attack on #22's dashboard Host and Origin checks (docs/reattack-22.md): Host and Origin variants a browser can
// send after DNS rebinding, against the operator's setting (0.0.0.0, write on). All held.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { fakeSource } from './fake-source.test-support.js';
import { type RunningDashboard, startDashboard, TOKEN_HEADER } from './server.js';

const { source, writes } = fakeSource();

let running: RunningDashboard;
let port = 0;
beforeAll(async () => {
  const config = loadConfig({
    MODELROLLOUT_DASHBOARD_ADDRESS: '0.0.0.0:0',
    MODELROLLOUT_DASHBOARD_NAMESPACE: 'ml',
    MODELROLLOUT_DASHBOARD_WRITE: 'true',
    MODELROLLOUT_DASHBOARD_ALLOWED_HOSTS: 'dash.ml.svc',
  }).dashboard!;
  running = await startDashboard({ ...config, source });
  port = (running.server.address() as AddressInfo).port;
});
afterAll(() => running.close());

function request(path: string, method: string, headers: Record<string, string>): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

const tokenOf = (page: string) => /name="modelrollout-token" content="([^"]*)"/.exec(page)?.[1] ?? '';

describe('reattack22: Host variants', () => {
  // A rebinding page's Host is its own name: refused before the page (and its token) is served, for GET and HEAD.
  it.each(['evil.example', 'EVIL.example', 'localhost.evil.example', '127.0.0.1.nip.io', 'localhost.', 'dash.ml.svc.', '127.1', '0x7f.1'])(
    'refuses Host "%s" (and serves no token)',
    async (name) => {
      for (const method of ['GET', 'HEAD']) {
        const page = await request('/', method, { host: `${name}:${port}` });
        expect(page.status).toBe(421);
        expect(page.text).not.toContain('modelrollout-token');
      }
    },
  );

  // IP literals cannot be rebound (a page whose origin is a name never sends an IP Host); loopback names and the
  // allowed names, in any case, with any port.
  it.each(['localhost', 'LOCALHOST', '127.0.0.1', '[::1]', '[::ffff:127.0.0.1]', '10.1.2.3', 'dash.ml.svc', 'DASH.ML.SVC'])(
    'accepts Host "%s"',
    async (name) => {
      const page = await request('/', 'GET', { host: `${name}:${port}` });
      expect(page.status).toBe(200);
      expect(tokenOf(page.text)).not.toBe('');
    },
  );
});

describe('reattack22: Origin variants on a control', () => {
  it.each([['null'], ['http://localhost:OTHER'], ['http://evil.example'], ['https://localhost:PORT']])('refuses Origin %s', async (origin) => {
    const host = `localhost:${port}`;
    const token = tokenOf((await request('/', 'GET', { host })).text);
    const control = await request('/api/rollouts/t2v/abort', 'POST', {
      host,
      origin: origin.replace('PORT', String(port)).replace('OTHER', String(port + 1)),
      [TOKEN_HEADER]: token,
    });
    expect(control.status).toBe(403);
    expect(writes).toEqual([]);
  });

  it('refuses a control without the token even with no Origin', async () => {
    const control = await request('/api/rollouts/t2v/abort', 'POST', { host: `localhost:${port}` });
    expect(control.status).toBe(403);
    expect(writes).toEqual([]);
  });
});
