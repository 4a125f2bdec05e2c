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
import type { ModelRollout } from '../api/index.js';
import { API_VERSION, KIND } from '../api/index.js';

const NOW = new Date('2026-01-01T00:00:00.000Z');
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

function rollout(): ModelRollout {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name: 't2v', namespace: NS, uid: 'uid-t2v', generation: 1 },
    spec: {
      replicas: 4,
      model: { name: 'wan', version: 'v3' },
      service: { name: 't2v' },
      trafficRouting: { gatewayAPI: { httpRoute: 'edge-route' } },
      template: { spec: { containers: [{ name: 'server', image: 'example.invalid/t2v:v3' }] } },
    } as ModelRollout['spec'],
  };
}

const spec: RolloutSpec = {
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
  stableScale: 'Dynamic',
};

function dep(revision: string, desired: number, ready = desired): DeploymentObservation {
  return { revision, exists: true, desiredReplicas: desired, readyReplicas: ready, gpusPerReplica: 1, podProblems: [] };
}

function world(refuseStablePatch: boolean) {
  const calls: string[] = [];
  const deployments = new Store<k8s.V1Deployment>();
  for (const [rev, replicas] of [
    [STABLE, 2],
    [CANDIDATE, 2],
  ] as const) {
    deployments.objects.set(`t2v-${rev}`, {
      metadata: { name: `t2v-${rev}`, namespace: NS, ownerReferences: OURS, resourceVersion: '1' },
      spec: { replicas, selector: {}, template: {} },
    });
  }
  const apps = {
    patchNamespacedDeployment: ({ name, body }: { name: string; body: { spec: { replicas: number } } }) =>
      Promise.resolve().then(() => {
        calls.push(`patch Deployment ${name} ${body.spec.replicas}`);
        if (refuseStablePatch && name === `t2v-${STABLE}`) {
          throw new k8s.ApiException(
            403,
            'Forbidden',
            JSON.stringify({ kind: 'Status', code: 403, message: 'admission webhook "gpu-quota.example" denied the request: replicas above team quota' }),
            {},
          );
        }
        const d = structuredClone(deployments.objects.get(name)!);
        d.spec!.replicas = body.spec.replicas;
        return d;
      }),
  };
  const router: TrafficRouter = {
    observe: () => Promise.resolve({ found: true }),
    finalize: () => Promise.resolve(),
    setWeights: (w) => {
      calls.push(`setWeights ${w.stableWeight}/${w.candidateWeight}`);
      return Promise.resolve();
    },
  };
  const deps: ExecuteDeps = {
    apps: apps as unknown as k8s.AppsV1Api,
    core: {} as k8s.CoreV1Api,
    custom: {} as k8s.CustomObjectsApi,
    cache: {
      deployments: new FreshCache(deployments),
      services: new FreshCache(new Store()),
      controllerRevisions: new FreshCache(new Store()),
    } as unknown as ClusterCache,
    events: { record: () => Promise.resolve() } as unknown as EventRecorder,
    onRequest: () => undefined,
    onEventError: () => undefined,
  };
  return { calls, router, deps };
}

/** At 50 % (stable 2/4 in Dynamic mode), the breaker trips: the failing candidate is to be drained at once. */
function rollbackActions() {
  const input: DecideInput = {
    now: NOW,
    generation: 1,
    spec,
    specErrors: [],
    specRevision: CANDIDATE,
    status: {
      phase: 'Progressing',
      stable: { revision: STABLE, modelVersion: 'v2' },
      candidate: { revision: CANDIDATE, modelVersion: 'v3' },
      currentStep: { index: 3, weight: 50, label: '4/5', trafficShiftedAt: NOW.toISOString() },
      lastValidSpec: spec,
    },
    deployments: { [STABLE]: dep(STABLE, 2), [CANDIDATE]: dep(CANDIDATE, 2) },
    services: { stableSelects: STABLE, candidateSelects: CANDIDATE },
    route: { found: true, stableWeight: 50, candidateWeight: 50, mirrorPercent: 0 },
    gpus: { freePerNode: [0] },
    analysis: { result: 'pass' },
    breaker: { tripped: true, reason: 'ErrorRateBreaker', message: 'candidate 5xx rate 60 %' },
    controls: { paused: false },
    deleting: false,
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
    const previous: BlockedWrite = {
      reason: 'WriteRefused',
      object: `Deployment t2v-${STABLE}`,
      message: '403',
      code: 403,
      since: NOW.toISOString(),
      lastAttempt: NOW.toISOString(),
      attempts: 6,
    };
    const outcome = await execute(
      rollbackActions(),
      rollout(),
      { specRevision: CANDIDATE, router: w.router, previous, now: new Date(NOW.getTime() + 1_000) },
      w.deps,
    );
    expect(outcome.kind).toBe('backingOff');
    expect(w.calls).toContain('setWeights 100/0');
  });
});
