// Attack on issue 13 item 4 vs item 5: "the remaining writes of that pass are skipped" after a refused write,
// but "abort ... always work whatever else is broken". decide() orders a rollback's stable scale-up before the
// route write, so a refused (or backing-off) stable scale-up keeps a failing candidate's traffic in place.
import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { FreshCache, type ObjectSource } from '../kube/fresh-cache.js';
import type { EventRecorder } from '../kube/events.js';
import { decide } from '../rollout/decide.js';
import type { BlockedWrite, DecideInput, DeploymentObservation, RolloutSpec } from '../rollout/types.js';
import type { TrafficRouter } from '../traffic/router.js';
import type { ClusterCache } from './cluster-cache.js';
import { execute, type ExecuteDeps } from './execute.js';
import type { ModelRollout } from './model-rollout.js';

const NOW = new Date('2026-01-01T00:00:00.000Z');
const NS = 'ml';
const STABLE = 'aaaaaaaaaa';
const CANDIDATE = 'bbbbbbbbbb';
const OURS = [{ apiVersion: 'modelrollout.dev/v1alpha1', kind: 'ModelRollout', name: 't2v', uid: 'uid-t2v', controller: true }];

class Store<T extends k8s.KubernetesObject> implements ObjectSource<T> {
  readonly objects = new Map<string, T>();
  get(name: string): T | undefined { return this.objects.get(name); }
  list(): readonly T[] { return [...this.objects.values()]; }
}

function rollout(): ModelRollout {
  return {
    apiVersion: 'modelrollout.dev/v1alpha1', kind: 'ModelRollout',
    metadata: { name: 't2v', namespace: NS, uid: 'uid-t2v', generation: 1 },
    spec: {
      replicas: 4, model: { name: 'wan', version: 'v3' }, service: { name: 't2v' },
      trafficRouting: { gatewayAPI: { httpRoute: 'edge-route' } },
      template: { spec: { containers: [{ name: 'server', image: 'example.invalid/t2v:v3' }] } },
    } as ModelRollout['spec'],
  };
}

const spec: RolloutSpec = {
  replicas: 4, modelName: 'wan', modelVersion: 'v3', gpuResource: 'nvidia.com/gpu', gpusPerReplica: 1,
  steps: [1, 5, 20, 50, 100], stepDurationMs: 60_000, progressDeadlineMs: 600_000, manualGates: [], shadow: undefined, stableScale: 'Dynamic',
};

function dep(revision: string, desired: number, ready = desired): DeploymentObservation {
  return { revision, exists: true, desiredReplicas: desired, readyReplicas: ready, gpusPerReplica: 1, podProblems: [] };
}

function world(refuseStablePatch: boolean) {
  const calls: string[] = [];
  const deployments = new Store<k8s.V1Deployment>();
  for (const [rev, replicas] of [[STABLE, 2], [CANDIDATE, 2]] as const) {
    deployments.objects.set(`t2v-${rev}`, { metadata: { name: `t2v-${rev}`, namespace: NS, ownerReferences: OURS, resourceVersion: '1' }, spec: { replicas, selector: {}, template: {} } });
  }
  const apps = {
    patchNamespacedDeployment: ({ name, body }: { name: string; body: { spec: { replicas: number } } }) => Promise.resolve().then(() => {
      calls.push(`patch Deployment ${name} ${body.spec.replicas}`);
      if (refuseStablePatch && name === `t2v-${STABLE}`) {
        throw new k8s.ApiException(403, 'Forbidden', JSON.stringify({ kind: 'Status', code: 403, message: 'admission webhook "gpu-quota.example" denied the request: replicas above team quota' }), {});
      }
      const d = structuredClone(deployments.objects.get(name)!);
      d.spec!.replicas = body.spec.replicas;
      return d;
    }),
  };
  const router: TrafficRouter = {
    observe: () => Promise.resolve({ found: true }),
    setWeights: (w) => { calls.push(`setWeights ${w.stableWeight}/${w.candidateWeight}`); return Promise.resolve(); },
  };
  const deps: ExecuteDeps = {
    apps: apps as unknown as k8s.AppsV1Api, core: {} as k8s.CoreV1Api, custom: {} as k8s.CustomObjectsApi,
    cache: { deployments: new FreshCache(deployments), services: new FreshCache(new Store()), controllerRevisions: new FreshCache(new Store()) } as unknown as ClusterCache,
    events: { record: () => Promise.resolve() } as unknown as EventRecorder, onRequest: () => undefined, onEventError: () => undefined,
  };
  return { calls, router, deps };
}

/** At 50 % (stable 2/4 in Dynamic mode), the breaker trips: the failing candidate is to be drained at once. */
function rollbackActions() {
  const input: DecideInput = {
    now: NOW, generation: 1, spec, specErrors: [], specRevision: CANDIDATE,
    status: {
      phase: 'Progressing', stable: { revision: STABLE, modelVersion: 'v2' }, candidate: { revision: CANDIDATE, modelVersion: 'v3' },
      currentStep: { index: 3, weight: 50, label: '4/5', trafficShiftedAt: NOW.toISOString() }, lastValidSpec: spec,
    },
    deployments: { [STABLE]: dep(STABLE, 2), [CANDIDATE]: dep(CANDIDATE, 2) },
    services: { stableSelects: STABLE, candidateSelects: CANDIDATE },
    route: { found: true, stableWeight: 50, candidateWeight: 50, mirrorPercent: 0 },
    gpus: { freePerNode: [0] }, analysis: { result: 'pass' },
    breaker: { tripped: true, reason: 'ErrorRateBreaker', message: 'candidate 5xx rate 60 %' }, controls: { paused: false }, deleting: false,
  };
  const d = decide(input);
  expect(d.status.phase).toBe('RolledBack');
  expect(d.actions.some((a) => a.kind === 'setTraffic' && a.candidateWeight === 0)).toBe(true); // decide() does drain
  return d.actions;
}

describe('attack-13: a refused stable scale-up must not hold back a rollback drain', () => {
  it('breaker trips at 50 %, the stable scale-up 2→4 is refused (403 by a webhook): the route must still drain the failing candidate', async () => {
    const w = world(true);
    const outcome = await execute(rollbackActions(), rollout(), { specRevision: CANDIDATE, router: w.router, previous: undefined, now: NOW }, w.deps);
    expect(outcome.kind).toBe('blocked'); // reported, fine
    expect(w.calls).toContain('setWeights 100/0');
  });

  it('the stable scale-up blocked in an earlier pass and backing off: the drain is not even tried until the backoff ends', async () => {
    const w = world(false);
    const previous: BlockedWrite = { reason: 'WriteRefused', object: `Deployment t2v-${STABLE}`, message: '403', code: 403, since: NOW.toISOString(), lastAttempt: NOW.toISOString(), attempts: 6 };
    const outcome = await execute(rollbackActions(), rollout(), { specRevision: CANDIDATE, router: w.router, previous, now: new Date(NOW.getTime() + 1_000) }, w.deps);
    expect(outcome.kind).toBe('backingOff');
    expect(w.calls).toContain('setWeights 100/0');
  });
});

describe('attack-13: a ControllerRevision whose modelrollout.dev/name label was removed by hand', () => {
  it('the stable Deployment is deleted: its template is still on the server (owned by us) but the label-selected cache does not see it, so the rebuild fails with RevisionTemplateLost', async () => {
    const { revisionTemplateFor } = await import('./resources.js');
    const v2 = rollout();
    v2.spec.model.version = 'v2';
    const server = new Map<string, k8s.V1ControllerRevision>();
    // On the server, owned by this rollout, data intact; only the label is gone (data is immutable, labels are not).
    server.set(`t2v-${STABLE}`, { metadata: { name: `t2v-${STABLE}`, namespace: NS, ownerReferences: OURS, labels: { 'modelrollout.dev/revision': STABLE } }, revision: 1, data: revisionTemplateFor(v2, STABLE) });
    const calls: string[] = [];
    const apps = {
      readNamespacedControllerRevision: ({ name }: { name: string }) => Promise.resolve().then(() => {
        calls.push(`get ControllerRevision ${name}`);
        const cr = server.get(name);
        if (!cr) throw new k8s.ApiException(404, 'NotFound', '{}', {});
        return cr;
      }),
      createNamespacedControllerRevision: ({ body }: { body: k8s.V1ControllerRevision }) => Promise.resolve().then(() => {
        calls.push(`create ControllerRevision ${body.metadata!.name}`);
        throw new k8s.ApiException(409, 'Conflict', JSON.stringify({ message: 'already exists' }), {});
      }),
      createNamespacedDeployment: ({ body }: { body: k8s.V1Deployment }) => Promise.resolve().then(() => {
        calls.push(`create Deployment ${body.metadata!.name}`);
        return { ...body, metadata: { ...body.metadata, uid: 'new', resourceVersion: '2' } };
      }),
    };
    const deps: ExecuteDeps = {
      apps: apps as unknown as k8s.AppsV1Api, core: {} as k8s.CoreV1Api, custom: {} as k8s.CustomObjectsApi,
      cache: { deployments: new FreshCache(new Store()), services: new FreshCache(new Store()), controllerRevisions: new FreshCache(new Store()) } as unknown as ClusterCache,
      events: { record: () => Promise.resolve() } as unknown as EventRecorder, onRequest: () => undefined, onEventError: () => undefined,
    };
    const outcome = await execute([{ kind: 'ensureDeployment', revision: STABLE, replicas: 4 }], rollout(), { specRevision: CANDIDATE, router: undefined, previous: undefined, now: NOW }, deps);
    expect(outcome).toEqual({ kind: 'done' });
    expect(calls).toContain(`create Deployment t2v-${STABLE}`);
  });
});

describe('attack-13: a revision Deployment whose modelrollout.dev/name label was removed by hand', () => {
  it('the label-selected informer no longer sees it, so every pass creates (409), reads and patches replicas, and never puts the label back: observe() keeps reporting the revision as absent (0 ready)', async () => {
    const server = new Map<string, k8s.V1Deployment>();
    const labels = { 'modelrollout.dev/revision': STABLE, 'modelrollout.dev/model-name': 'wan', 'modelrollout.dev/model-version': 'v3' }; // name label removed
    server.set(`t2v-${STABLE}`, { metadata: { name: `t2v-${STABLE}`, namespace: NS, ownerReferences: OURS, labels, uid: 'd1', resourceVersion: '5' }, spec: { replicas: 4, selector: {}, template: {} } });
    const calls: string[] = [];
    const apps = {
      createNamespacedControllerRevision: ({ body }: { body: k8s.V1ControllerRevision }) => Promise.resolve({ ...body, metadata: { ...body.metadata, resourceVersion: '1' } }),
      createNamespacedDeployment: ({ body }: { body: k8s.V1Deployment }) => Promise.resolve().then(() => {
        calls.push('create');
        if (server.has(body.metadata!.name!)) throw new k8s.ApiException(409, 'Conflict', JSON.stringify({ message: 'already exists' }), {});
        return body;
      }),
      readNamespacedDeployment: ({ name }: { name: string }) => Promise.resolve().then(() => { calls.push('get'); return server.get(name)!; }),
      patchNamespacedDeployment: ({ name, body }: { name: string; body: { metadata?: { labels?: Record<string, string> }; spec: { replicas: number } } }) => Promise.resolve().then(() => {
        calls.push('patch');
        const d = structuredClone(server.get(name)!);
        d.spec!.replicas = body.spec.replicas;
        d.metadata!.labels = { ...d.metadata!.labels, ...(body.metadata?.labels ?? {}) };
        server.set(name, d);
        return d;
      }),
    };
    const deps = (): ExecuteDeps => ({
      apps: apps as unknown as k8s.AppsV1Api, core: {} as k8s.CoreV1Api, custom: {} as k8s.CustomObjectsApi,
      cache: { deployments: new FreshCache(new Store()), services: new FreshCache(new Store()), controllerRevisions: new FreshCache(new Store()) } as unknown as ClusterCache,
      events: { record: () => Promise.resolve() } as unknown as EventRecorder, onRequest: () => undefined, onEventError: () => undefined,
    });
    // The stable is the spec's revision here (steady state): decide() asks for it every pass since it looks absent.
    const ro = rollout();
    await execute([{ kind: 'ensureDeployment', revision: STABLE, replicas: 4 }], ro, { specRevision: STABLE, router: undefined, previous: undefined, now: NOW }, deps());
    expect(server.get(`t2v-${STABLE}`)!.metadata!.labels!['modelrollout.dev/name']).toBe('t2v');
  });
});
