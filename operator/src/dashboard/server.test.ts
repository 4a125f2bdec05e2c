import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { ModelRollout } from '../api/index.js';
import { parseArgs } from '../cli/commands.js';
import { type DashboardSource, type RunningDashboard, startDashboard, TOKEN_HEADER } from './server.js';

/** Named as the plugin names them. */
const PLUGIN = { listenSetting: '--address, --port', writeHint: 'start it with `kubectl modelrollout dashboard --write`' };

const NOW = new Date('2026-12-01T10:00:00Z');
const rollout = (name: string, phase = 'Progressing') =>
  ({ metadata: { name, namespace: 'ml' }, spec: {}, status: { phase, weights: { stable: 99, candidate: 1 } } }) as unknown as ModelRollout;

function fakeSource(): DashboardSource & { writes: [string, Record<string, string | null>][] } {
  const items = [rollout('zeta'), rollout('alpha', 'Paused')];
  const writes: [string, Record<string, string | null>][] = [];
  return {
    writes,
    list: async () => items,
    get: async (name) => {
      const r = items.find((x) => x.metadata.name === name);
      return r && { rollout: r, deployments: [], events: [] };
    },
    annotate: async (name, annotations) => {
      if (!items.some((x) => x.metadata.name === name)) return false;
      writes.push([name, annotations]);
      return true;
    },
  };
}

let running: RunningDashboard | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

async function start(write: boolean, source = fakeSource()) {
  running = await startDashboard({ source, namespace: 'ml', write, port: 0, address: '127.0.0.1', now: () => NOW, ...PLUGIN });
  const page = await (await fetch(running.url)).text();
  const token = /name="modelrollout-token" content="([^"]*)"/.exec(page)![1]!;
  return { url: running.url, source, page, token };
}

/** A raw request, so the test sets Host and Origin as a browser on another site would. */
function request(
  url: string,
  path: string,
  method: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: { error?: string; code?: string } }> {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(path, url), { method, headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(body) as { error?: string } }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('dashboard server', () => {
  it('lists rollouts by name and shows one; an unknown or malformed name is a 404/400 naming it', async () => {
    const { url, page } = await start(false);
    expect(page).toContain('<meta name="modelrollout-write" content="false">');
    expect(page).toContain('<meta name="modelrollout-token" content="">');
    const list = (await (await fetch(new URL('/api/rollouts', url))).json()) as { items: { name: string; phase: string }[]; time: string; write: boolean };
    expect(list.items.map((r) => [r.name, r.phase])).toEqual([
      ['alpha', 'Paused'],
      ['zeta', 'Progressing'],
    ]);
    expect(list).toMatchObject({ time: NOW.toISOString(), write: false });
    const one = (await (await fetch(new URL('/api/rollouts/zeta', url))).json()) as { rollout: { name: string; weights: unknown } };
    expect(one.rollout).toMatchObject({ name: 'zeta', weights: { stable: 99, candidate: 1 } });
    const missing = await fetch(new URL('/api/rollouts/nope', url));
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ code: 'RolloutNotFound', error: 'ModelRollout "nope" not found in namespace ml' });
    const bad = await fetch(new URL('/api/rollouts/Bad_Name', url));
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/"Bad_Name" is not a ModelRollout name/);
    expect((await fetch(new URL('/app.js', url))).headers.get('content-type')).toMatch(/javascript/);
    expect((await fetch(new URL('/rollouts/zeta', url))).status).toBe(200);
    expect((await fetch(new URL('/nowhere/else/at/all', url))).status).toBe(404);
  });

  it('read-only: controls answer 403 and say how to get write access; nothing is written', async () => {
    const { url, source } = await start(false);
    const r = await request(url, '/api/rollouts/zeta/pause', 'POST', {});
    expect(r.status).toBe(403);
    expect(r.body).toMatchObject({ code: 'ReadOnly', error: expect.stringContaining('--write') });
    expect(source.writes).toEqual([]);
  });

  it('with --write: a POST with the page token writes the plugin annotations; without it, or from another origin or host, 403/421', async () => {
    const { url, source, token, page } = await start(true);
    expect(page).toContain('<meta name="modelrollout-write" content="true">');
    expect(token).toMatch(/^[\w-]{20,}$/);
    const host = new URL(url).host;
    const ok = await request(url, '/api/rollouts/zeta/pause', 'POST', { [TOKEN_HEADER]: token, origin: `http://${host}` });
    expect(ok).toMatchObject({ status: 200, body: { message: 'modelrollout ml/zeta: pause requested' } });
    await request(url, '/api/rollouts/zeta/resume', 'POST', { [TOKEN_HEADER]: token });
    expect(source.writes).toEqual([
      ['zeta', { 'modelrollout.dev/paused': 'true' }],
      ['zeta', { 'modelrollout.dev/paused': null, 'modelrollout.dev/resume': NOW.toISOString() }],
    ]);

    expect(await request(url, '/api/rollouts/zeta/pause', 'POST', {})).toMatchObject({ status: 403, body: { code: 'BadToken' } });
    expect(await request(url, '/api/rollouts/zeta/pause', 'POST', { [TOKEN_HEADER]: `${token}x` })).toMatchObject({ status: 403, body: { code: 'BadToken' } });
    expect(await request(url, '/api/rollouts/zeta/pause', 'POST', { [TOKEN_HEADER]: token, origin: 'http://evil.example' })).toMatchObject({
      status: 403,
      body: { code: 'CrossOrigin' },
    });
    // DNS rebinding: a page of another name that resolves to 127.0.0.1 sends its own Host.
    expect(await request(url, '/api/rollouts', 'GET', { host: 'evil.example:80' })).toMatchObject({ status: 421, body: { code: 'WrongHost' } });
    expect(await request(url, '/api/rollouts/zeta/launch', 'POST', { [TOKEN_HEADER]: token })).toMatchObject({
      status: 404,
      body: { error: 'unknown control "launch": use one of pause, resume, promote, abort, retry' },
    });
    expect(await request(url, '/api/rollouts/nope/abort', 'POST', { [TOKEN_HEADER]: token })).toMatchObject({ status: 404, body: { code: 'RolloutNotFound' } });
    expect(source.writes).toHaveLength(2);
  });

  it('a failing cluster read is a 502 with the cause, not a crash', async () => {
    const source = { ...fakeSource(), list: () => Promise.reject(new Error('connection refused')) };
    const { url } = await start(false, source);
    const r = await fetch(new URL('/api/rollouts', url));
    expect(r.status).toBe(502);
    expect(((await r.json()) as { error: string }).error).toBe('reading the cluster failed: connection refused');
  });
});

describe('dashboard flags', () => {
  it('parses the flags and names a bad one', () => {
    expect(parseArgs(['dashboard', '-n', 'ml'])).toEqual({
      command: 'dashboard',
      namespace: 'ml',
      allNamespaces: false,
      port: 0,
      address: '127.0.0.1',
      write: false,
    });
    expect(parseArgs(['dashboard', '--port=8099', '--address', '0.0.0.0', '--write'])).toMatchObject({ port: 8099, address: '0.0.0.0', write: true });
    expect(() => parseArgs(['dashboard', '--port', 'http'])).toThrow(/^--port http: the port must be a whole number from 0 to 65535/);
    expect(() => parseArgs(['dashboard', '--port', '70000'])).toThrow(/^--port 70000/);
    expect(() => parseArgs(['dashboard', '--port'])).toThrow(/^--port needs a value/);
    expect(() => parseArgs(['dashboard', 't2v'])).toThrow(/^dashboard takes no name/);
    expect(() => parseArgs(['dashboard', '-A'])).toThrow(/use -n <namespace>, not -A/);
    expect(() => parseArgs(['pause', 't2v', '--write'])).toThrow(/^--write is for dashboard only/);
  });

  it('on a wildcard address, answers the listed names, loopback names and IP literals (any port), and no other name', async () => {
    running = await startDashboard({
      source: fakeSource(),
      namespace: 'ml',
      write: false,
      port: 0,
      address: '0.0.0.0',
      allowedHosts: ['mro-dashboard.ops.svc'],
      ...PLUGIN,
    });
    const url = running.url;
    const status = async (host: string) => (await request(url, '/api/rollouts', 'GET', { host })).status;
    expect(await Promise.all(['mro-dashboard.ops.svc:8090', 'localhost:9999', '[::1]:1', '10.1.2.3:8090', '[fd00::1]:80'].map(status))).toEqual([
      200, 200, 200, 200, 200,
    ]);
    expect(await Promise.all(['evil.example:8090', 'mro-dashboard.ops.svc.evil.example', '10.1.2.3.nip.io'].map(status))).toEqual([421, 421, 421]);
  });

  it('names the address and port it could not listen on', async () => {
    const { url } = await start(false);
    const port = Number(new URL(url).port);
    await expect(startDashboard({ source: fakeSource(), namespace: 'ml', write: false, port, address: '127.0.0.1', ...PLUGIN })).rejects.toThrow(
      /^cannot listen on 127.0.0.1 port \d+ \(--address, --port\): listen EADDRINUSE/,
    );
  });
});
