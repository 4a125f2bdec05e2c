// Analysis against a real Prometheus (Debian package) scraping real /metrics endpoints: stand-in model
// servers with the inference runtime's metric names, whose error rate and latency each test sets.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { ModelMetricsStandIn } from '../env/model-metrics-standin.js';
import { startPrometheus, type PrometheusServer } from '../env/prometheus.js';
import { startOperator } from './operator-process.js';
import { RolloutFixture, WeightRecorder } from './rollout-fixtures.js';
import { kubeConfig, testNamespace } from './support.js';

const kc = kubeConfig();
const kubeconfigPath = inject('kubeconfigPath');
let standIn: ModelMetricsStandIn;
let prometheus: PrometheusServer;

const healthy = { requestsPerSecond: 40, errorRate: 0, latencySeconds: 0.2 };

beforeAll(async () => {
  standIn = new ModelMetricsStandIn();
  await standIn.start();
  standIn.set('warmup', 'v0', healthy);
  prometheus = await startPrometheus([standIn.target]);
  await prometheus.waitForSeries('t2v_requests_total{model_name="warmup"}');
});

afterAll(async () => {
  await prometheus?.stop();
  await standIn?.stop();
});

function analysis(address: string, extra: Record<string, unknown> = {}) {
  return {
    interval: '2s', minRequests: 10, breakerInterval: '1s', breakerWindow: '5s',
    prometheus: { address, timeout: '2s' },
    metrics: [{ template: 'error-rate' }, { template: 'latency-p99', relative: { max: 1.5 } }],
    ...extra,
  };
}

async function analysedRollout(prefix: string, model: string, address: string, extra: Record<string, unknown> = {}) {
  const ns = await testNamespace(kc, prefix);
  const fx = new RolloutFixture(kc, ns, 't2v', model);
  await fx.createRoute();
  await startOperator(kubeconfigPath, ns);
  await fx.create(fx.spec({ strategy: { stepDuration: '3s', progressDeadline: '2m' }, analysis: analysis(address, extra) }));
  await fx.waitFor('stable Ready', (r) => fx.condition(r, 'Ready')?.status === 'True');
  return fx;
}

describe('analysis with a real Prometheus', () => {
  it('a healthy candidate passes every step on its metrics and is promoted', async () => {
    standIn.set('m-ok', 'v1', healthy);
    standIn.set('m-ok', 'v2', healthy);
    const fx = await analysedRollout('an-ok', 'm-ok', prometheus.address);
    await fx.setVersion('v2');
    const measured = await fx.waitFor('a step judged on metrics', (r) => (r.status as { analysis?: { metrics?: unknown[] } } | undefined)?.analysis?.metrics?.some((m) => (m as { kind: string }).kind === 'step') ?? false);
    const metrics = (measured.status as unknown as { analysis: { metrics: { name: string; verdict: string; value?: number; kind: string }[] } }).analysis.metrics;
    expect(metrics.filter((m) => m.kind === 'step').map((m) => [m.name, m.verdict])).toEqual(expect.arrayContaining([['error-rate', 'pass'], ['latency-p99', 'pass']]));
    const done = await fx.waitFor('promotion', (r) => r.status?.stable?.modelVersion === 'v2' && fx.condition(r, 'Ready')?.status === 'True');
    expect(done.status?.history?.filter((h) => h.reason === 'StepPassed')).toHaveLength(4);
  });

  it('a candidate with 5 % errors is rolled back and status names the metric', async () => {
    standIn.set('m-err', 'v1', healthy);
    standIn.set('m-err', 'v2', { ...healthy, errorRate: 0.05 });
    const fx = await analysedRollout('an-err', 'm-err', prometheus.address);
    await fx.setVersion('v2');
    const rolled = await fx.waitFor('rolled back', (r) => r.status?.phase === 'RolledBack');
    expect(rolled.status?.failure?.reason).toBe('error-rate');
    expect(rolled.status?.failure?.message).toMatch(/error-rate 0\.0\d+ \(max 0\.01\): fail/);
    expect(fx.condition(rolled, 'Degraded')).toMatchObject({ status: 'True', reason: 'error-rate' });
    await fx.waitFor('candidate at zero', (r) => r.status?.weights?.candidate === 0);
    expect(await fx.weights()).toEqual([100, 0]);
    const events = await fx.events();
    expect(events.some((e) => e.type === 'Warning' && e.reason === 'error-rate' && /error-rate/.test(e.message ?? ''))).toBe(true);
  });

  it('a candidate whose p99 is far above stable is rolled back on the relative bound', async () => {
    standIn.set('m-slow', 'v1', healthy);
    standIn.set('m-slow', 'v2', { ...healthy, latencySeconds: 0.8 });
    const fx = await analysedRollout('an-slow', 'm-slow', prometheus.address);
    await fx.setVersion('v2');
    const rolled = await fx.waitFor('rolled back', (r) => r.status?.phase === 'RolledBack');
    expect(rolled.status?.failure?.reason).toBe('latency-p99');
    expect(rolled.status?.failure?.message).toMatch(/candidate\/stable ratio .* \(max 1\.5\): fail/);
    expect(await fx.weights()).toEqual([100, 0]);
  });

  it('a severe error rate trips the breaker during the bake, before the step is judged', async () => {
    standIn.set('m-severe', 'v1', healthy);
    standIn.set('m-severe', 'v2', healthy);
    const ns = await testNamespace(kc, 'an-severe');
    const fx = new RolloutFixture(kc, ns, 't2v', 'm-severe');
    await fx.createRoute();
    await startOperator(kubeconfigPath, ns);
    await fx.create(fx.spec({ strategy: { stepDuration: '5m', progressDeadline: '2m' }, analysis: analysis(prometheus.address) }));
    await fx.waitFor('stable Ready', (r) => fx.condition(r, 'Ready')?.status === 'True');
    await fx.setVersion('v2');
    await fx.waitFor('at 1 %', (r) => r.status?.weights?.candidate === 1);
    standIn.set('m-severe', 'v2', { ...healthy, errorRate: 0.5 });
    const rolled = await fx.waitFor('breaker tripped', (r) => r.status?.phase === 'RolledBack', 60_000);
    expect(rolled.status?.failure?.message).toMatch(/breaker: error-rate 0\.\d+ > severe bound 0\.1 at /);
    expect(await fx.weights()).toEqual([100, 0]);
  });

  it('holds while Prometheus is down, then takes the configured action', async () => {
    const own = await startPrometheus([standIn.target]);
    try {
      standIn.set('m-down', 'v1', healthy);
      standIn.set('m-down', 'v2', healthy);
      await own.waitForSeries('t2v_requests_total{model_name="m-down"}');
      const fx = await analysedRollout('an-down', 'm-down', own.address, { onMetricsError: { consecutiveErrors: 2, action: 'Rollback' } });
      const recorder = new WeightRecorder(fx, 2);
      recorder.start();
      await fx.setVersion('v2');
      await fx.waitFor('at 1 %', (r) => r.status?.weights?.candidate === 1);
      await own.stop();
      const held = await fx.waitFor('holding on metrics errors', (r) => /metrics unavailable, holding/.test(fx.condition(r, 'Progressing')?.message ?? ''), 60_000);
      expect(held.status?.weights?.candidate).toBe(1);
      const rolled = await fx.waitFor('rolled back after errors', (r) => r.status?.phase === 'RolledBack', 60_000);
      expect(rolled.status?.failure?.reason).toBe('AnalysisError');
      expect(rolled.status?.failure?.message).toMatch(/unreachable/);
      await recorder.stop();
      expect(Math.max(...recorder.weights)).toBe(1);
    } finally {
      await own.stop().catch(() => undefined);
    }
  });
});
