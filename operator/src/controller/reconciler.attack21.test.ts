// Attack on #21's error contract (docs/attack-21.md): "every terminal error surfaced in status", "a terminal error
// the work queue does not retry hot". The finalizer patch and the status patch are writes outside execute(): a
// refusal there (403 from RBAC or an admission webhook, 422 from validation) is thrown raw — not a
// TerminalError, so the work queue retries it on its hot backoff (200 ms doubling) forever — and nothing
// reaches status.blockedWrite, condition ReconcileError or an event.
import * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { EventRecorder } from '../kube/events.js';
import { FreshCache, type ObjectSource } from '../kube/fresh-cache.js';
import type { RolloutSpec } from '../rollout/types.js';
import { isTerminal } from '../kube/errors.js';
import { createMetrics } from '../telemetry/metrics.js';
import type { AnalysisRunner } from './analysis-runner.js';
import type { ClusterCache } from './cluster-cache.js';
import { API_VERSION, FINALIZER, KIND, type ModelRollout } from '../api/index.js';
import { Reconciler } from './reconciler.js';

const NS = 'ml';
const STABLE = 'aaaaaaaaaa';
const CANDIDATE = 'bbbbbbbbbb';
const OURS = [{ apiVersion: API_VERSION, kind: KIND, name: 't2v', uid: 'uid-t2v', controller: true }];

class Store<T extends k8s.KubernetesObject> implements ObjectSource<T> {
  readonly objects = new Map<string, T>();
  get(name: string): T | undefined {
    return this.objects.get(name);
  }
  list(): readonly T[] {
    return [...this.objects.values()];
  }
}

const last: RolloutSpec = {
  replicas: 4,
  modelName: 'wan',
  modelVersion: 'v3',
  gpuResource: 'nvidia.com/gpu',
  gpusPerReplica: 1,
  steps: [1, 5, 20, 50, 100],
  stepDurationMs: 60_000,
  progressDeadlineMs: 600_000,
  manualGates: [],
  shadow: undefined,
  stableScale: 'Full',
};

function rollout(finalizers: string[]): ModelRollout {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name: 't2v', namespace: NS, uid: 'uid-t2v', generation: 1, resourceVersion: '1', finalizers },
    spec: {
      replicas: 1,
      model: { name: 'wan', version: 'v3' },
      service: { name: 't2v' },
      trafficRouting: { gatewayAPI: { httpRoute: 'edge-route' } },
      template: { spec: { containers: [{ name: 'server', image: 'example.invalid/t2v:v3' }] } },
    },
  } as unknown as ModelRollout;
}

function reconcilerWith(ro: ModelRollout, custom: Partial<k8s.CustomObjectsApi>, events: string[]): Reconciler {
  const empty = { get: () => undefined, list: () => [], remember: () => undefined };
  const cache = {
    rollouts: { get: () => ro, remember: () => undefined },
    deployments: empty,
    services: empty,
    controllerRevisions: empty,
    routes: new Map<string, unknown>([['gatewayAPI', empty]]),
    deploymentsOf: () => [],
    podsOf: () => [],
    freeGpus: () => [0],
  } as unknown as ClusterCache;
  return new Reconciler({
    apps: {} as k8s.AppsV1Api,
    core: {} as k8s.CoreV1Api,
    custom: custom as k8s.CustomObjectsApi,
    cache,
    events: {
      record: (_t: unknown, type: string, reason: string, message: string) => Promise.resolve(void events.push(`${type} ${reason} ${message}`)),
    } as unknown as EventRecorder,
    metrics: createMetrics({ queueDepth: () => 0, phases: () => ({}) }),
    log: pino({ level: 'silent' }),
    now: () => new Date('2026-01-01T00:00:10Z'),
    analysis: { run: () => Promise.resolve({ analysis: { result: 'pending', message: '' }, breaker: { tripped: false } }) } as unknown as AnalysisRunner,
  });
}

const refused = (code: number, message: string) => new k8s.ApiException(code, 'refused', JSON.stringify({ kind: 'Status', code, message }), {});

describe('attack #21: writes outside execute() and the error contract', () => {
  it('a 403 on the finalizer patch is terminal (no hot retry) and reaches people (an event)', async () => {
    const events: string[] = [];
    const r = reconcilerWith(rollout([]), { patchNamespacedCustomObject: () => Promise.reject(refused(403, 'modelrollouts "t2v" is forbidden')) }, events);
    const thrown = await r.reconcile(`${NS}/t2v`).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(thrown).toBeDefined();
    expect.soft(isTerminal(thrown), `thrown: ${String(thrown)}`).toBe(true);
    expect.soft(events, 'no event names the refusal').toSatisfy((es: string[]) => es.some((e) => e.includes('forbidden')));
  });

  it('a 422 on the status patch is terminal (no hot retry) and reaches people (an event)', async () => {
    const events: string[] = [];
    const ro = rollout([FINALIZER]);
    const r = reconcilerWith(
      ro,
      {
        patchNamespacedCustomObject: () => Promise.resolve(ro),
        patchNamespacedCustomObjectStatus: () => Promise.reject(refused(422, 'ModelRollout.modelrollout.dev "t2v" is invalid: status.message: Too long')),
      },
      events,
    );
    const thrown = await r.reconcile(`${NS}/t2v`).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(thrown).toBeDefined();
    expect.soft(isTerminal(thrown), `thrown: ${String(thrown)}`).toBe(true);
    expect.soft(events, 'no event names the refusal').toSatisfy((es: string[]) => es.some((e) => e.includes('invalid')));
  });

  it('a blocked write while deleting backs off: each finalizer pass waits longer than the last', async () => {
    const ro = {
      apiVersion: API_VERSION,
      kind: KIND,
      metadata: {
        name: 't2v',
        namespace: NS,
        uid: 'uid-t2v',
        generation: 3,
        resourceVersion: '9',
        finalizers: [FINALIZER],
        deletionTimestamp: new Date('2026-01-01T00:00:00Z'),
      },
      spec: {
        replicas: 4,
        model: { name: 'wan', version: 'v3' },
        service: { name: 't2v' },
        trafficRouting: { gatewayAPI: { httpRoute: 'edge-route' } },
        template: { spec: { containers: [{ name: 'server', image: 'example.invalid/t2v:v3' }] } },
      },
      status: {
        phase: 'Progressing',
        stable: { revision: STABLE, modelVersion: 'v2' },
        candidate: { revision: CANDIDATE, modelVersion: 'v3' },
        currentStep: { index: 3, weight: 50, label: '4/5' },
        lastValidSpec: last,
      },
    } as unknown as ModelRollout;
    const route = {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'edge-route', namespace: NS, resourceVersion: '1' },
      spec: {
        rules: [
          {
            backendRefs: [
              { name: 't2v-stable', port: 80, weight: 50 },
              { name: 't2v-candidate', port: 80, weight: 50 },
            ],
          },
        ],
      },
    };
    const deployments = new Store<k8s.V1Deployment>();
    deployments.objects.set(`t2v-${STABLE}`, {
      metadata: {
        name: `t2v-${STABLE}`,
        namespace: NS,
        ownerReferences: OURS,
        labels: { 'modelrollout.dev/name': 't2v', 'modelrollout.dev/revision': STABLE },
      },
      spec: { replicas: 4, selector: {}, template: {} },
    });
    const pods = [0, 1, 2, 3].map((i) => ({
      metadata: {
        name: `s${i}`,
        namespace: NS,
        labels: { 'modelrollout.dev/name': 't2v', 'modelrollout.dev/revision': STABLE },
        creationTimestamp: new Date('2025-12-31T23:00:00Z'),
      },
      status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: new Date('2025-12-31T23:01:00Z') }] },
    }));
    const services = new Store<k8s.V1Service>();
    for (const [role, rev] of [
      ['stable', STABLE],
      ['candidate', CANDIDATE],
    ] as const) {
      services.objects.set(`t2v-${role}`, {
        metadata: { name: `t2v-${role}`, namespace: NS, ownerReferences: OURS },
        spec: { selector: { 'modelrollout.dev/name': 't2v', 'modelrollout.dev/revision': rev } },
      });
    }
    const cache = {
      rollouts: { get: () => ro, remember: () => undefined },
      deployments: new FreshCache(deployments),
      services: new FreshCache(services),
      controllerRevisions: new FreshCache(new Store()),
      routes: new Map<string, unknown>([
        ['gatewayAPI', { get: () => route, remember: () => undefined }],
        ['istio', { get: () => undefined, remember: () => undefined }],
      ]),
      deploymentsOf: () => [...deployments.objects.values()],
      podsOf: () => pods,
      freeGpus: () => [0],
    } as unknown as ClusterCache;
    const events: string[] = [];
    const custom = {
      replaceNamespacedCustomObject: () =>
        Promise.reject(
          new k8s.ApiException(403, 'Forbidden', JSON.stringify({ kind: 'Status', code: 403, message: 'httproutes "edge-route" is forbidden' }), {}),
        ),
      patchNamespacedCustomObject: () => Promise.resolve(ro),
      patchNamespacedCustomObjectStatus: () => Promise.resolve(ro),
    } as unknown as k8s.CustomObjectsApi;
    const reconciler = new Reconciler({
      apps: {} as k8s.AppsV1Api,
      core: {} as k8s.CoreV1Api,
      custom,
      cache,
      events: {
        record: (_t: unknown, type: string, reason: string, message: string) => Promise.resolve(void events.push(`${type} ${reason} ${message}`)),
      } as unknown as EventRecorder,
      metrics: createMetrics({ queueDepth: () => 0, phases: () => ({}) }),
      log: pino({ level: 'silent' }),
      now: () => new Date('2026-01-01T00:00:10Z'),
      analysis: {
        run: () => {
          throw new Error('no analysis while deleting');
        },
      } as unknown as AnalysisRunner,
    });
    const waits: (number | undefined)[] = [];
    for (let i = 0; i < 4; i++) {
      const thrown = await reconciler.reconcile(`${NS}/t2v`).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isTerminal(thrown), String(thrown)).toBe(true);
      waits.push((thrown as { retryAfterMs?: number }).retryAfterMs);
    }
    // "retried only after its own backoff" (docs/architecture.md): 5 s doubling per attempt (retryBackoffMs). No status is
    // written while deleting, so the attempt count never grows: every pass waits 5 s, and posts another Warning event, forever.
    expect(waits, `waits: ${JSON.stringify(waits)}, events: ${events.length}`).toEqual([5_000, 10_000, 20_000, 40_000]);
  });
});
