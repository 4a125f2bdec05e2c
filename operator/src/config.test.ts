import { afterEach, describe, expect, it } from 'vitest';
import type { ModelRollout } from './api/index.js';
import { ConfigError, loadConfig } from './config.js';
import { startDashboard, type RunningDashboard } from './dashboard/server.js';

const running: RunningDashboard[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((d) => d.close()));
});

describe('the operator-served dashboard', () => {
  it('is off by default, and on with MODELROLLOUT_DASHBOARD_ADDRESS (read-only unless MODELROLLOUT_DASHBOARD_WRITE=true)', () => {
    expect(loadConfig({}).dashboard).toBeUndefined();
    expect(loadConfig({ MODELROLLOUT_DASHBOARD_ADDRESS: '0.0.0.0:8090', MODELROLLOUT_WATCH_NAMESPACE: 'ml' }).dashboard).toEqual({
      address: '0.0.0.0',
      port: 8090,
      namespace: 'ml',
      write: false,
      allowedHosts: [],
      listenSetting: 'MODELROLLOUT_DASHBOARD_ADDRESS',
      writeHint: 'set MODELROLLOUT_DASHBOARD_WRITE=true (chart: dashboard.write) on the operator',
    });
    expect(
      loadConfig({ MODELROLLOUT_DASHBOARD_ADDRESS: '[::1]:0', MODELROLLOUT_DASHBOARD_NAMESPACE: 'video', MODELROLLOUT_DASHBOARD_WRITE: 'true' }).dashboard,
    ).toMatchObject({ address: '::1', port: 0, namespace: 'video', write: true });
    expect(
      loadConfig({ MODELROLLOUT_DASHBOARD_ADDRESS: '0.0.0.0:8090', MODELROLLOUT_DASHBOARD_ALLOWED_HOSTS: 'mro-dashboard, mro-dashboard.ops.svc,fd00::1' })
        .dashboard?.allowedHosts,
    ).toEqual(['mro-dashboard', 'mro-dashboard.ops.svc', '[fd00::1]']);
    expect(() => loadConfig({ MODELROLLOUT_DASHBOARD_ADDRESS: '0.0.0.0:8090', MODELROLLOUT_DASHBOARD_ALLOWED_HOSTS: 'svc,http://svc.ops:8090' })).toThrow(
      'MODELROLLOUT_DASHBOARD_ALLOWED_HOSTS: "http://svc.ops:8090" is not a host name or IP address',
    );
    expect(() => loadConfig({ MODELROLLOUT_DASHBOARD_ADDRESS: '8090' })).toThrow(ConfigError);
    expect(() => loadConfig({ MODELROLLOUT_DASHBOARD_ADDRESS: ':8090:x' })).toThrow(
      'MODELROLLOUT_DASHBOARD_ADDRESS=:8090:x: must be host:port (an IP address or a host name, no scheme or path), e.g. 0.0.0.0:8090',
    );
    expect(() => loadConfig({ MODELROLLOUT_DASHBOARD_ADDRESS: '127.0.0.1:0', MODELROLLOUT_DASHBOARD_WRITE: 'yes' })).toThrow(
      'MODELROLLOUT_DASHBOARD_WRITE=yes: must be true or false',
    );
  });

  it('starts from that config and answers, read-only: a control is refused', async () => {
    const config = loadConfig({ MODELROLLOUT_DASHBOARD_ADDRESS: '127.0.0.1:0', MODELROLLOUT_DASHBOARD_NAMESPACE: 'ml' }).dashboard!;
    const annotated: string[] = [];
    const rollout = { metadata: { name: 't2v', namespace: 'ml' }, spec: {}, status: { phase: 'Healthy' } } as unknown as ModelRollout;
    const dashboard = await startDashboard({
      ...config,
      source: {
        list: () => Promise.resolve([rollout]),
        get: () => Promise.resolve({ rollout, deployments: [], events: [] }),
        annotate: (name) => Promise.resolve(annotated.push(name) > 0),
      },
    });
    running.push(dashboard);
    const list = (await (await fetch(new URL('/api/rollouts', dashboard.url))).json()) as { items: { name: string }[]; write: boolean };
    expect(list.items.map((i) => i.name)).toEqual(['t2v']);
    expect(list.write).toBe(false);
    const control = await fetch(new URL('/api/rollouts/t2v/pause', dashboard.url), { method: 'POST' });
    expect(control.status).toBeGreaterThanOrEqual(400);
    expect(annotated).toEqual([]);
  });
});
