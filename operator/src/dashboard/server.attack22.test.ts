// Attack on #22's operator-served dashboard (docs/attack-22.md).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../config.js';
import { fakeSource } from './fake-source.test-support.js';
import { type RunningDashboard, startDashboard, TOKEN_HEADER } from './server.js';

const { source, writes } = fakeSource();

let running: RunningDashboard | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

/** A request to 127.0.0.1 carrying the Host (and Origin) a browser sends after DNS rebinding evil.example to it. */
function asRebound(port: number, path: string, method: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers: { host: `evil.example:${port}`, ...headers } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('attack22: the operator-served dashboard', () => {
  // F4: the Host check (against DNS rebinding) is switched off whenever the dashboard listens on a wildcard
  // address — which is what the operator does in a pod (the chart, and the documented example 0.0.0.0:8090). A user
  // who `kubectl port-forward`s the dashboard Service gets 127.0.0.1:<port> on their machine; a page on
  // evil.example that rebinds its name to 127.0.0.1 then reads the dashboard and, with write on, reads the token
  // from the page and sends a control with its own (matching) Origin.
  it('refuses a foreign Host when listening on 0.0.0.0 (as in the chart), so a rebinding page cannot read the token and abort', async () => {
    const config = loadConfig({
      MODELROLLOUT_DASHBOARD_ADDRESS: '0.0.0.0:0',
      MODELROLLOUT_DASHBOARD_NAMESPACE: 'ml',
      MODELROLLOUT_DASHBOARD_WRITE: 'true',
    }).dashboard!;
    running = await startDashboard({ ...config, source });
    const port = (running.server.address() as AddressInfo).port;
    const page = await asRebound(port, '/', 'GET');
    const token = /name="modelrollout-token" content="([^"]*)"/.exec(page.text)?.[1] ?? '';
    const control = await asRebound(port, '/api/rollouts/t2v/abort', 'POST', { origin: `http://evil.example:${port}`, [TOKEN_HEADER]: token });
    expect({ page: page.status, control: control.status, writes }).toEqual({ page: 421, control: 421, writes: [] });
  });

  // F5: MODELROLLOUT_DASHBOARD_ADDRESS is matched as (.*):port, so a URL is taken as a host name; the operator then
  // dies at start-up with "cannot listen on http://0.0.0.0 port 8090 (--address, --port): getaddrinfo ENOTFOUND",
  // naming the plugin's flags instead of the setting.
  it('refuses a URL in MODELROLLOUT_DASHBOARD_ADDRESS, naming the setting', () => {
    expect(() => loadConfig({ MODELROLLOUT_DASHBOARD_ADDRESS: 'http://0.0.0.0:8090' })).toThrow(ConfigError);
  });

  it('a port already in use names the setting the operator was given, not the plugin flags', async () => {
    const busy = http.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as AddressInfo).port;
    try {
      const config = loadConfig({ MODELROLLOUT_DASHBOARD_ADDRESS: `127.0.0.1:${port}` }).dashboard!;
      await expect(startDashboard({ ...config, source })).rejects.toThrow('MODELROLLOUT_DASHBOARD_ADDRESS');
    } finally {
      await new Promise((r) => busy.close(r));
    }
  });
});
