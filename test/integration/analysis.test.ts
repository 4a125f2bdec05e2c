// Analysis against a real Prometheus (Debian package) scraping real /metrics endpoints: a stand-in that
// follows the operator's pods and serves, for each, what the inference runtime would — series labelled with
// the pod's revision as resolved from the downward-API env the operator set. Each pod behaves as its
// template says (T2V_FAULT_ERROR_RATE / T2V_FAULT_LATENCY_MS, the runtime's own drill settings) unless a
// test says otherwise.
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { ModelMetricsStandIn, type Behaviour, type PodView } from '../env/model-metrics-standin.js';
import { startPrometheus, type PrometheusServer } from '../env/prometheus.js';
import { startOperator } from './operator-process.js';
import { RolloutFixture, WeightRecorder, type RolloutObject } from './rollout-fixtures.js';
import { kubeConfig, testNamespace } from './support.js';

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const kubeconfigPath = inject('kubeconfigPath');
let standIn: ModelMetricsStandIn;
let prometheus: PrometheusServer;

// Enough traffic that 0 errors passes a 1 % bound at 95 % (299 requests) within one short step.
const healthy: Behaviour = { requestsPerSecond: 150, errorRate: 0, latencySeconds: 0.2 };

/** What the runtime in this pod would do: its drill env decides errors and added latency. */
function fromTemplate(pod: PodView): Behaviour {
  return {
    ...healthy,
    errorRate: Number(pod.env.T2V_FAULT_ERROR_RATE ?? 0),
    latencySeconds: healthy.latencySeconds + Number(pod.env.T2V_FAULT_LATENCY_MS ?? 0) / 1000,
  };
}

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
    interval: '2s',
    minRequests: 10,
    breakerInterval: '1s',
    breakerWindow: '5s',
    prometheus: { address, timeout: '2s' },
    metrics: [{ template: 'error-rate' }, { template: 'latency-p99', relative: { max: 1.5 } }],
    ...extra,
  };
}

/** A Healthy v1 rollout whose pods the stand-in serves metrics for. */
async function analysedRollout(
  prefix: string,
  address: string,
  extra: Record<string, unknown> = {},
  behaviourOf: (pod: PodView) => Behaviour = fromTemplate,
  stepDuration = '3s',
) {
  const ns = await testNamespace(kc, prefix);
  standIn.follow(core, ns, behaviourOf);
  onTestFinished(() => standIn.unfollow(ns));
  const fx = new RolloutFixture(kc, ns, 't2v', 'wan-t2v');
  await fx.createRoute();
  await startOperator(kubeconfigPath, ns);
  await fx.create(fx.spec({ strategy: { stepDuration, progressDeadline: '2m' }, analysis: analysis(address, extra) }));
  await fx.waitFor('stable Ready', (r) => fx.condition(r, 'Ready')?.status === 'True');
  return fx;
}

/** A new revision: the given model version and image tag, and env on the serving container. */
async function setTemplate(fx: RolloutFixture, version: string, image: string, env: Record<string, string> = {}) {
  await fx.patch({
    spec: {
      model: { name: fx.modelName, version },
      template: {
        spec: { containers: [{ name: 'server', image: `example.invalid/t2v:${image}`, env: Object.entries(env).map(([name, value]) => ({ name, value })) }] },
      },
    },
  });
}

type AnalysisView = {
  analysis?: {
    metrics?: { name: string; verdict: string; value?: number; raw?: string; samples?: number; kind: string }[];
    noData?: Record<string, { selector: string; query: string; why: string }>;
  };
};
const analysisOf = (r: RolloutObject) => (r.status as unknown as AnalysisView | undefined)?.analysis;

describe('analysis with a real Prometheus', () => {
  it('a healthy candidate passes every step on its metrics and is promoted', async () => {
    const fx = await analysedRollout('an-ok', prometheus.address);
    await fx.setVersion('v2');
    const measured = await fx.waitFor('a step judged on metrics', (r) => analysisOf(r)?.metrics?.some((m) => m.kind === 'step') ?? false);
    const metrics = analysisOf(measured)!.metrics!.filter((m) => m.kind === 'step');
    expect(metrics.map((m) => [m.name, m.verdict])).toEqual(
      expect.arrayContaining([
        ['error-rate', 'pass'],
        ['latency-p99', 'pass'],
        ['overload-rate', 'pass'],
      ]),
    );
    // Each measurement keeps its sample count.
    expect(metrics.find((m) => m.name === 'error-rate')!.samples).toBeGreaterThanOrEqual(299);
    const done = await fx.waitFor('promotion', (r) => r.status?.stable?.modelVersion === 'v2' && fx.condition(r, 'Ready')?.status === 'True');
    expect(done.status?.history?.filter((h) => h.reason === 'StepPassed')).toHaveLength(4);
  });

  it('a candidate with 5 % errors is rolled back and status names the metric', async () => {
    const fx = await analysedRollout('an-err', prometheus.address);
    await setTemplate(fx, 'v2', 'v2', { T2V_FAULT_ERROR_RATE: '0.05' });
    const rolled = await fx.waitFor('rolled back', (r) => r.status?.phase === 'RolledBack');
    expect(rolled.status?.failure?.reason).toBe('error-rate');
    expect(rolled.status?.failure?.message).toMatch(/error-rate \d+\/\d+ = 0\.0\d+ \(max 0\.01; lower 95 % bound 0\.0\d+ > 0\.01\): fail/);
    expect(fx.condition(rolled, 'Degraded')).toMatchObject({ status: 'True', reason: 'error-rate' });
    await fx.waitFor('candidate at zero', (r) => r.status?.weights?.candidate === 0);
    expect(await fx.weights()).toEqual([100, 0]);
    const events = await fx.events();
    expect(events.some((e) => e.type === 'Warning' && e.reason === 'error-rate' && /error-rate/.test(e.message ?? ''))).toBe(true);
  });

  it('a template change that keeps the model version and injects 50 % errors is rolled back at the 1 % step', async () => {
    const fx = await analysedRollout('an-same-version', prometheus.address);
    const recorder = new WeightRecorder(fx, 2);
    recorder.start();
    // Same model name and version, same image: only the pod template moves (as a broken config would).
    await setTemplate(fx, 'v1', 'v1', { T2V_FAULT_ERROR_RATE: '0.5' });
    const rolled = await fx.waitFor('rolled back', (r) => r.status?.phase === 'RolledBack', 60_000);
    await recorder.stop();
    expect(rolled.status?.stable?.modelVersion).toBe('v1');
    expect(rolled.status?.failure?.reason).toBe('error-rate');
    expect(rolled.status?.failure?.message).toMatch(/error-rate \d+\/\d+/);
    expect(Math.max(...recorder.weights)).toBe(1);
    expect(await fx.weights()).toEqual([100, 0]);
  });

  it('a candidate whose p99 is far above stable is rolled back on the relative bound', async () => {
    const fx = await analysedRollout('an-slow', prometheus.address);
    await setTemplate(fx, 'v2', 'v2', { T2V_FAULT_LATENCY_MS: '600' });
    const rolled = await fx.waitFor('rolled back', (r) => r.status?.phase === 'RolledBack');
    expect(rolled.status?.failure?.reason).toBe('latency-p99');
    expect(rolled.status?.failure?.message).toMatch(/candidate\/stable ratio .* \(max 1\.5\): fail/);
    expect(await fx.weights()).toEqual([100, 0]);
  });

  it('a severe error rate trips the breaker during the bake, before the step is judged', async () => {
    let broken = false;
    const fx = await analysedRollout(
      'an-severe',
      prometheus.address,
      {},
      (pod) => (broken && pod.image.endsWith(':v2') ? { ...healthy, errorRate: 0.5 } : healthy),
      '5m',
    );
    await fx.setVersion('v2');
    await fx.waitFor('at 1 %', (r) => r.status?.weights?.candidate === 1);
    broken = true;
    const rolled = await fx.waitFor('breaker tripped', (r) => r.status?.phase === 'RolledBack', 60_000);
    expect(rolled.status?.failure?.message).toMatch(/breaker: error-rate \d+\/\d+ \(95 % bounds 0\.\d+–0\.\d+\) > severe bound 0\.1 at /);
    expect(await fx.weights()).toEqual([100, 0]);
  });

  it('at 1 request per 10 s, a candidate failing every request is rolled back within 3 requests', async () => {
    const slow: Behaviour = { requestsPerSecond: 0.1, errorRate: 1, latencySeconds: 30 };
    // The breaker window (5 s) never holds two requests at this rate: with fewer than minRequests in it, the
    // counts rule looks back over the whole step. The breaker checks every second.
    const fx = await analysedRollout('an-low-rate', prometheus.address, {}, (pod) => (pod.image.endsWith(':v2') ? slow : healthy), '10m');
    await fx.setVersion('v2');
    const atOne = await fx.waitFor('at 1 %', (r) => r.status?.weights?.candidate === 1);
    const revision = atOne.status!.candidate!.revision;
    const rolled = await fx.waitFor('rolled back on the breaker', (r) => r.status?.phase === 'RolledBack', 90_000);
    const rolledAt = Date.now();
    await fx.waitFor('candidate at zero', (r) => r.status?.weights?.candidate === 0);
    // What the candidate had served when the rollback was seen (its pod keeps serving until scaled down).
    const served = standIn.served(fx.namespace).filter((s) => s.revision === revision && s.at <= rolledAt);
    expect(served.length).toBeGreaterThanOrEqual(2);
    expect(served.length).toBeLessThanOrEqual(3);
    expect(served.every((s) => s.outcome === 'server_error')).toBe(true);
    expect(rolled.status?.failure?.message).toMatch(/breaker: error-rate [23]\/[23] \(95 % bounds/);
  });

  it('a spec version that matches nothing the pods report becomes NoData naming the query, then the configured action', async () => {
    // A custom metric written against model_version: the pods report the version in their image (v2), the spec says v2.0.
    const byVersion =
      'sum(increase(t2v_requests_total{model_version="{{version}}",outcome="server_error"}[{{interval}}])) / sum(increase(t2v_requests_total{model_version="{{version}}"}[{{interval}}]))';
    const fx = await analysedRollout('an-nodata', prometheus.address, {
      metrics: [{ name: 'errors-by-version', query: byVersion, max: 0.01 }],
      noDataDeadline: '10s',
      onNoData: 'Rollback',
    });
    await setTemplate(fx, 'v2.0', 'v2');
    const named = await fx.waitFor(
      'NoData in the Progressing condition',
      (r) => /NoData: errors-by-version: no series/.test(fx.condition(r, 'Progressing')?.message ?? ''),
      60_000,
    );
    expect(fx.condition(named, 'Progressing')?.message).toContain('{model_version="v2.0",outcome="server_error"}');
    expect(analysisOf(named)?.noData?.['errors-by-version']).toMatchObject({ why: 'no series', selector: '{model_version="v2.0",outcome="server_error"}' });
    expect(named.status?.weights?.candidate).toBe(1);
    const rolled = await fx.waitFor('rolled back past the no-data deadline', (r) => r.status?.phase === 'RolledBack', 60_000);
    expect(rolled.status?.failure?.reason).toBe('NoData');
    expect(rolled.status?.failure?.message).toMatch(
      /NoData past the 10 s deadline: errors-by-version: no series since .* for \{model_version="v2\.0",outcome="server_error"\}/,
    );
    expect(await fx.weights()).toEqual([100, 0]);
  });

  it('a NaN-valued custom query never passes: it is no data, kept as NaN, and pauses at the deadline', async () => {
    // 0/0: every outcome is initialised to zero, and no request is a client error.
    const nan =
      'sum(rate(t2v_requests_total{modelrollout_revision="{{revision}}",outcome="client_error"}[{{interval}}])) / sum(rate(t2v_requests_total{modelrollout_revision="{{revision}}",outcome="client_error"}[{{interval}}]))';
    const fx = await analysedRollout('an-nan', prometheus.address, {
      metrics: [{ name: 'nan-ratio', query: nan, max: 0.5 }],
      noDataDeadline: '8s',
      onNoData: 'Pause',
    });
    await fx.setVersion('v2');
    const paused = await fx.waitFor('paused past the no-data deadline', (r) => r.status?.phase === 'Paused', 60_000);
    expect(fx.condition(paused, 'Paused')?.reason).toBe('AnalysisPaused');
    expect(paused.status?.message).toMatch(/NoData past the 8 s deadline: nan-ratio: returned NaN/);
    expect(analysisOf(paused)?.metrics?.find((m) => m.name === 'nan-ratio' && m.kind === 'step')).toMatchObject({ verdict: 'noData', raw: 'NaN' });
    expect(paused.status?.history?.some((h) => h.reason === 'StepPassed')).toBe(false);
    expect(paused.status?.weights?.candidate).toBe(1);
    // A person resuming gives the metric a fresh deadline: it pauses again, on no data recorded after the resume.
    const resumedAt = new Date().toISOString();
    await fx.annotate({ 'modelrollout.dev/resume': 'r1' });
    await fx.waitFor('resumed', (r) => r.status?.phase === 'Progressing', 30_000);
    const again = await fx.waitFor('paused again past a fresh deadline', (r) => r.status?.phase === 'Paused', 60_000);
    const since = /nan-ratio: returned NaN since (\S+)/.exec(again.status?.message ?? '')?.[1];
    expect(since && since >= resumedAt.slice(0, 19)).toBe(true);
  });

  it('holds while Prometheus is down, then takes the configured action', async () => {
    const own = await startPrometheus([standIn.target]);
    try {
      const fx = await analysedRollout('an-down', own.address, { onMetricsError: { consecutiveErrors: 2, action: 'Rollback' } });
      const recorder = new WeightRecorder(fx, 2);
      recorder.start();
      await fx.setVersion('v2');
      await fx.waitFor('at 1 %', (r) => r.status?.weights?.candidate === 1);
      await own.stop();
      const held = await fx.waitFor(
        'holding on metrics errors',
        (r) => /metrics unavailable, holding/.test(fx.condition(r, 'Progressing')?.message ?? ''),
        60_000,
      );
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
