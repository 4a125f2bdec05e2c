// Attack on issue 13 item 4 while the ModelRollout is being deleted: a refused write in the finalizer pass
// (here a 403 on the HTTPRoute) must still reach people (an event naming the object and the server's
// message). reconcileOnce() throws a bare Error for a blocked deleting pass: no event, no condition.
import * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { EventRecorder } from '../kube/events.js';
import { FreshCache, type ObjectSource } from '../kube/fresh-cache.js';
import { createMetrics } from '../telemetry/metrics.js';
import type { RolloutSpec } from '../rollout/types.js';
import type { AnalysisRunner } from './analysis-runner.js';
import type { ClusterCache } from './cluster-cache.js';
import { FINALIZER, type ModelRollout } from '../api/index.js';
import { Reconciler } from './reconciler.js';
import { API_VERSION, KIND } from '../api/index.js';

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

describe('attack-13: a write refused while the ModelRollout is deleted', () => {
  it('403 on the HTTPRoute in the finalizer pass: a Warning event names the route and the server message', async () => {
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
    const thrown = await reconciler.reconcile(`${NS}/t2v`).then(
      () => undefined,
      (e: unknown) => e,
    ); // the work queue retries; fine
    expect(String(thrown)).toContain('HTTPRoute edge-route'); // the pass did stop at the refused route write
    expect(events, String(thrown)).toSatisfy((es: string[]) =>
      es.some((e) => e.startsWith('Warning') && e.includes('HTTPRoute edge-route') && e.includes('forbidden')),
    );
  });
});
