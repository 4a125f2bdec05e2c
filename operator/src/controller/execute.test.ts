// execute() against an in-memory API server double that answers like the real one (201, 409 AlreadyExists,
// 404, 422 Invalid): which writes are made, in which order, and where a pass stops.
import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { FreshCache, type ObjectSource } from '../kube/fresh-cache.js';
import type { EventRecorder } from '../kube/events.js';
import type { Action, BlockedWrite } from '../rollout/types.js';
import type { TrafficRouter } from '../traffic/router.js';
import type { ClusterCache } from './cluster-cache.js';
import { execute, type ExecuteDeps } from './execute.js';
import type { ModelRollout } from '../api/index.js';
import { revisionTemplateFor } from './resources.js';
import { syncRevisionHistory } from './revision-history.js';
import { API_VERSION, KIND } from '../api/index.js';

const NOW = new Date('2026-01-01T00:00:00.000Z');
const NS = 'ml';

function rollout(): ModelRollout {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name: 't2v', namespace: NS, uid: 'uid-t2v', generation: 1 },
    spec: {
      replicas: 2,
      model: { name: 'wan', version: 'v2' },
      service: { name: 't2v' },
      trafficRouting: { gatewayAPI: { httpRoute: 'edge-route' } },
      template: { spec: { containers: [{ name: 'server', image: 'example.invalid/t2v:v2' }] } },
    } as ModelRollout['spec'],
  };
}

class Store<T extends k8s.KubernetesObject> implements ObjectSource<T> {
  readonly objects = new Map<string, T>();
  get(name: string): T | undefined {
    return this.objects.get(name);
  }
  list(): readonly T[] {
    return [...this.objects.values()];
  }
}

function apiError(code: number, message: string): k8s.ApiException<string> {
  return new k8s.ApiException(code, 'HTTP-Code', JSON.stringify({ kind: 'Status', code, message }), {});
}

/** The API server double: objects by kind, every call logged, and per-call answers to override. */
class World {
  readonly calls: string[] = [];
  readonly events: string[] = [];
  readonly server = {
    deployments: new Store<k8s.V1Deployment>(),
    services: new Store<k8s.V1Service>(),
    controllerRevisions: new Store<k8s.V1ControllerRevision>(),
  };
  /** What the informers have seen (set up by a test); defaults to nothing. */
  readonly seen = {
    deployments: new Store<k8s.V1Deployment>(),
    services: new Store<k8s.V1Service>(),
    controllerRevisions: new Store<k8s.V1ControllerRevision>(),
  };
  refuse: Record<string, k8s.ApiException<string>> = {};
  routerWeights: unknown[] = [];

  private answer<T extends k8s.KubernetesObject>(call: string, store: Store<T>, name: string, make: () => T | undefined): T {
    this.calls.push(call);
    const refusal = this.refuse[call];
    if (refusal) throw refusal;
    const obj = make();
    if (!obj) throw apiError(404, `${name} not found`);
    store.objects.set(name, obj);
    return obj;
  }

  private create<T extends k8s.KubernetesObject>(kind: string, store: Store<T>, body: T): T {
    const name = body.metadata!.name!;
    if (store.objects.has(name) && !this.refuse[`create ${kind} ${name}`]) {
      this.calls.push(`create ${kind} ${name}`);
      throw apiError(409, `${kind} "${name}" already exists`);
    }
    return this.answer(`create ${kind} ${name}`, store, name, () => ({ ...body, metadata: { ...body.metadata, uid: `uid-${name}`, resourceVersion: '1' } }));
  }

  private read<T extends k8s.KubernetesObject>(kind: string, store: Store<T>, name: string): T {
    this.calls.push(`get ${kind} ${name}`);
    const obj = store.objects.get(name);
    if (!obj) throw apiError(404, `${name} not found`);
    return obj;
  }

  private patch<T extends k8s.KubernetesObject>(kind: string, store: Store<T>, name: string, change: (o: T) => T): T {
    return this.answer(`patch ${kind} ${name}`, store, name, () => {
      const obj = store.objects.get(name);
      return obj ? change(structuredClone(obj)) : undefined;
    });
  }

  deps(): ExecuteDeps {
    const s = this.server;
    const apps = {
      createNamespacedDeployment: ({ body }: { body: k8s.V1Deployment }) => Promise.resolve().then(() => this.create('Deployment', s.deployments, body)),
      readNamespacedDeployment: ({ name }: { name: string }) => Promise.resolve().then(() => this.read('Deployment', s.deployments, name)),
      patchNamespacedDeployment: ({ name, body }: { name: string; body: { spec: { replicas: number } } }) =>
        Promise.resolve().then(() => this.patch('Deployment', s.deployments, name, (d) => ({ ...d, spec: { ...d.spec!, replicas: body.spec.replicas } }))),
      deleteNamespacedDeployment: ({ name }: { name: string }) =>
        Promise.resolve().then(() => {
          this.calls.push(`delete Deployment ${name}`);
          s.deployments.objects.delete(name);
        }),
      createNamespacedControllerRevision: ({ body }: { body: k8s.V1ControllerRevision }) =>
        Promise.resolve().then(() => this.create('ControllerRevision', s.controllerRevisions, body)),
      readNamespacedControllerRevision: ({ name }: { name: string }) =>
        Promise.resolve().then(() => this.read('ControllerRevision', s.controllerRevisions, name)),
      deleteNamespacedControllerRevision: ({ name }: { name: string }) =>
        Promise.resolve().then(() => {
          this.calls.push(`delete ControllerRevision ${name}`);
          s.controllerRevisions.objects.delete(name);
        }),
    };
    const core = {
      createNamespacedService: ({ body }: { body: k8s.V1Service }) => Promise.resolve().then(() => this.create('Service', s.services, body)),
      readNamespacedService: ({ name }: { name: string }) => Promise.resolve().then(() => this.read('Service', s.services, name)),
      patchNamespacedService: ({ name, body }: { name: string; body: { spec: k8s.V1ServiceSpec } }) =>
        Promise.resolve().then(() => this.patch('Service', s.services, name, (svc) => ({ ...svc, spec: { ...svc.spec, ...body.spec } }))),
    };
    const cache = {
      deployments: new FreshCache(this.seen.deployments),
      services: new FreshCache(this.seen.services),
      controllerRevisions: new FreshCache(this.seen.controllerRevisions),
    };
    const events = { record: (_t: unknown, _type: string, reason: string) => Promise.resolve(void this.events.push(reason)) } as unknown as EventRecorder;
    return {
      apps: apps as unknown as k8s.AppsV1Api,
      core: core as unknown as k8s.CoreV1Api,
      custom: {} as k8s.CustomObjectsApi,
      cache: cache as unknown as ClusterCache,
      events,
      onRequest: () => undefined,
      onEventError: (err) => {
        throw err;
      },
    };
  }

  router(): TrafficRouter {
    return {
      observe: () => Promise.resolve({ found: true }),
      finalize: () => Promise.resolve(),
      setWeights: (w) => {
        this.calls.push('setWeights');
        this.routerWeights.push(w);
        return Promise.resolve();
      },
    };
  }

  /** Puts an object on the server and in the informer cache, as if it had been there for a while. */
  exists<K extends keyof World['server']>(kind: K, obj: World['server'][K] extends Store<infer T> ? T : never): void {
    (this.server[kind] as Store<k8s.KubernetesObject>).objects.set(obj.metadata!.name!, obj);
    (this.seen[kind] as Store<k8s.KubernetesObject>).objects.set(obj.metadata!.name!, obj);
  }
}

const OURS = [{ apiVersion: API_VERSION, kind: KIND, name: 't2v', uid: 'uid-t2v', controller: true }];
const SPEC_REVISION = 'bbbbbbbbbb';
const STABLE = 'aaaaaaaaaa';

const rollForward: Action[] = [
  { kind: 'event', type: 'Normal', reason: 'Step1', message: 'step 1' },
  { kind: 'ensureDeployment', revision: SPEC_REVISION, replicas: 1 },
  { kind: 'setTraffic', stableWeight: 99, candidateWeight: 1, mirrorPercent: 0 },
  { kind: 'scaleDeployment', revision: STABLE, replicas: 1 },
  { kind: 'event', type: 'Normal', reason: 'StepPassed', message: 'passed' },
];

function run(world: World, actions: Action[], previous?: BlockedWrite, now = NOW) {
  return execute(actions, rollout(), { specRevision: SPEC_REVISION, router: world.router(), previous, now }, world.deps());
}

describe('execute', () => {
  it('makes every write in order when nothing is refused: template stored before its Deployment', async () => {
    const world = new World();
    world.exists('deployments', {
      metadata: { name: `t2v-${STABLE}`, namespace: NS, ownerReferences: OURS, uid: 'd1', resourceVersion: '1' },
      spec: { replicas: 2, selector: {}, template: {} },
    });
    expect(await run(world, rollForward)).toEqual({ kind: 'done' });
    expect(world.calls).toEqual([
      `create ControllerRevision t2v-${SPEC_REVISION}`,
      `create Deployment t2v-${SPEC_REVISION}`,
      'setWeights',
      `patch Deployment t2v-${STABLE}`,
    ]);
    expect(world.events).toEqual(['Step1', 'StepPassed']);
  });

  it('stops at a refused pod template: no traffic moves, stable is not shrunk, events still go out', async () => {
    const world = new World();
    world.refuse[`create Deployment t2v-${SPEC_REVISION}`] = apiError(
      422,
      'Deployment.apps "t2v-bbbbbbbbbb" is invalid: spec.template.spec.containers[0].name: Invalid value: "Bad_Name"',
    );
    const outcome = await run(world, rollForward);
    expect(outcome).toMatchObject({
      kind: 'blocked',
      blocked: { reason: 'TemplateRefused', object: `Deployment t2v-${SPEC_REVISION}`, code: 422, revision: SPEC_REVISION, attempts: 1 },
    });
    expect(outcome.kind === 'blocked' && outcome.blocked.message).toContain('Bad_Name');
    expect(world.calls).not.toContain('setWeights');
    expect(world.calls.filter((c) => c.startsWith('patch'))).toEqual([]);
    expect(world.events).toEqual(['Step1', 'StepPassed']);
  });

  it('does not try a blocked write again before its backoff ends, and does after', async () => {
    const world = new World();
    world.exists('deployments', {
      metadata: { name: `t2v-${STABLE}`, namespace: NS, ownerReferences: OURS, uid: 'd1', resourceVersion: '1' },
      spec: { replicas: 2, selector: {}, template: {} },
    });
    const previous: BlockedWrite = {
      reason: 'TemplateRefused',
      object: `Deployment t2v-${SPEC_REVISION}`,
      message: 'no',
      since: NOW.toISOString(),
      lastAttempt: NOW.toISOString(),
      attempts: 1,
    };
    expect(await run(world, rollForward, previous, new Date(NOW.getTime() + 4_000))).toEqual({ kind: 'backingOff', blocked: previous, retryInMs: 1_000 });
    expect(world.calls).toEqual([]);
    expect(await run(world, rollForward, previous, new Date(NOW.getTime() + 5_000))).toEqual({ kind: 'done' });
    expect(world.calls).toContain(`create Deployment t2v-${SPEC_REVISION}`);
  });

  it('leaves a Service the user created alone (create meets it: 409, read, not ours)', async () => {
    const world = new World();
    world.server.services.objects.set('t2v-stable', {
      metadata: { name: 't2v-stable', namespace: NS, managedFields: [{ manager: 'kubectl-create' }] },
      spec: { selector: { app: 'legacy-t2v' } },
    });
    const outcome = await run(world, [
      { kind: 'ensureServices', stableRevision: STABLE, candidateRevision: SPEC_REVISION },
      { kind: 'setTraffic', stableWeight: 100, candidateWeight: 0, mirrorPercent: 0 },
    ]);
    expect(outcome).toMatchObject({ kind: 'blocked', blocked: { reason: 'ObjectNotOwned', object: 'Service t2v-stable' } });
    expect(outcome.kind === 'blocked' && outcome.blocked.message).toContain('(owner: none; written by kubectl-create)');
    expect(world.calls).toEqual(['create Service t2v-stable', 'get Service t2v-stable']);
    expect(world.server.services.get('t2v-stable')!.spec!.selector).toEqual({ app: 'legacy-t2v' });
  });

  it("leaves another rollout's Service alone when the cache already holds it", async () => {
    const world = new World();
    const other = [{ ...OURS[0]!, name: 'other', uid: 'uid-other' }];
    world.exists('services', {
      metadata: { name: 't2v-stable', namespace: NS, ownerReferences: other, resourceVersion: '1' },
      spec: { selector: { 'modelrollout.dev/name': 'other' } },
    });
    const outcome = await run(world, [{ kind: 'ensureServices', stableRevision: STABLE, candidateRevision: SPEC_REVISION }]);
    expect(outcome).toMatchObject({ kind: 'blocked', blocked: { reason: 'ObjectNotOwned', object: 'Service t2v-stable' } });
    expect(outcome.kind === 'blocked' && outcome.blocked.message).toContain('(owner: ModelRollout other (uid uid-other))');
    expect(world.calls).toEqual([]);
  });

  it("neither scales nor deletes a Deployment of the generated name that is someone else's", async () => {
    const world = new World();
    world.exists('deployments', {
      metadata: { name: `t2v-${STABLE}`, namespace: NS, resourceVersion: '1' },
      spec: { replicas: 1, selector: {}, template: {} },
    });
    expect(await run(world, [{ kind: 'scaleDeployment', revision: STABLE, replicas: 0 }])).toMatchObject({
      kind: 'blocked',
      blocked: { reason: 'ObjectNotOwned' },
    });
    expect(await run(world, [{ kind: 'deleteDeployment', revision: STABLE }])).toEqual({ kind: 'done' });
    expect(world.calls).toEqual([]);
  });

  it('rebuilds a lost Deployment of a revision the spec no longer names from its ControllerRevision', async () => {
    const world = new World();
    const v1 = rollout();
    v1.spec.model.version = 'v1';
    v1.spec.template = { spec: { containers: [{ name: 'server', image: 'example.invalid/t2v:v1' }] } } as ModelRollout['spec']['template'];
    world.exists('controllerRevisions', {
      metadata: { name: `t2v-${STABLE}`, namespace: NS, ownerReferences: OURS, resourceVersion: '1' },
      revision: 1,
      data: revisionTemplateFor(v1, STABLE),
    });
    expect(
      await run(world, [
        { kind: 'ensureDeployment', revision: STABLE, replicas: 2 },
        { kind: 'setTraffic', stableWeight: 100, candidateWeight: 0, mirrorPercent: 0 },
      ]),
    ).toEqual({ kind: 'done' });
    const rebuilt = world.server.deployments.get(`t2v-${STABLE}`)!;
    expect(rebuilt.spec?.template.spec?.containers[0]?.image).toBe('example.invalid/t2v:v1');
    expect(rebuilt.metadata?.labels?.['modelrollout.dev/model-version']).toBe('v1');
    expect(rebuilt.spec?.replicas).toBe(2);
    expect(world.calls).toEqual([`create Deployment t2v-${STABLE}`, 'setWeights']);
  });

  it('reports a lost Deployment with no stored template as RevisionTemplateLost, without throwing', async () => {
    const world = new World();
    const outcome = await run(world, [
      { kind: 'ensureDeployment', revision: STABLE, replicas: 2 },
      { kind: 'setTraffic', stableWeight: 100, candidateWeight: 0, mirrorPercent: 0 },
    ]);
    expect(outcome).toMatchObject({ kind: 'blocked', blocked: { reason: 'RevisionTemplateLost', revision: STABLE } });
    expect(world.calls).toEqual([]);
  });

  it('recreates a Deployment the cache still shows but the server has lost (patch 404)', async () => {
    const world = new World();
    world.seen.deployments.objects.set(`t2v-${SPEC_REVISION}`, {
      metadata: { name: `t2v-${SPEC_REVISION}`, namespace: NS, ownerReferences: OURS, resourceVersion: '1' },
      spec: { replicas: 1, selector: {}, template: {} },
    });
    expect(await run(world, [{ kind: 'scaleDeployment', revision: SPEC_REVISION, replicas: 2 }])).toEqual({ kind: 'done' });
    expect(world.calls).toEqual([
      `patch Deployment t2v-${SPEC_REVISION}`,
      `create ControllerRevision t2v-${SPEC_REVISION}`,
      `create Deployment t2v-${SPEC_REVISION}`,
    ]);
  });

  it('hands a transient error (503) to the work queue, after stopping the pass', async () => {
    const world = new World();
    world.refuse[`create ControllerRevision t2v-${SPEC_REVISION}`] = apiError(503, 'etcd leader changed');
    const outcome = await run(world, rollForward);
    expect(outcome.kind).toBe('failed');
    expect(world.calls).toEqual([`create ControllerRevision t2v-${SPEC_REVISION}`]);
  });
});

describe('syncRevisionHistory', () => {
  const dep = (revision: string, version: string): k8s.V1Deployment => ({
    metadata: {
      name: `t2v-${revision}`,
      namespace: NS,
      ownerReferences: OURS,
      resourceVersion: '1',
      labels: { 'modelrollout.dev/model-name': 'wan', 'modelrollout.dev/model-version': version },
    },
    spec: { replicas: 2, selector: {}, template: { spec: { containers: [{ name: 'server', image: `example.invalid/t2v:${version}` }] } } },
  });
  const cr = (revision: string, owners = OURS): k8s.V1ControllerRevision => ({
    metadata: {
      name: `t2v-${revision}`,
      namespace: NS,
      ownerReferences: owners,
      resourceVersion: '1',
      labels: { 'modelrollout.dev/name': 't2v', 'modelrollout.dev/revision': revision },
    },
    revision: 3,
    data: {},
  });

  it('stores the template of a kept revision whose Deployment predates stored revisions', async () => {
    const world = new World();
    world.exists('deployments', dep(STABLE, 'v1'));
    await syncRevisionHistory(rollout(), [STABLE], world.deps());
    expect(world.calls).toEqual([`create ControllerRevision t2v-${STABLE}`]);
    const stored = world.server.controllerRevisions.get(`t2v-${STABLE}`)!;
    expect(stored.data).toEqual({ template: dep(STABLE, 'v1').spec!.template, modelName: 'wan', modelVersion: 'v1' });
    expect(stored.metadata?.ownerReferences).toEqual([expect.objectContaining({ uid: 'uid-t2v', controller: true })]);
  });

  it("deletes stored revisions no longer kept, never someone else's", async () => {
    const world = new World();
    world.exists('controllerRevisions', cr(STABLE));
    world.exists('controllerRevisions', cr('cccccccccc'));
    world.exists('controllerRevisions', cr('dddddddddd', [{ ...OURS[0]!, name: 'other', uid: 'uid-other' }]));
    await syncRevisionHistory(rollout(), [STABLE, SPEC_REVISION], world.deps());
    expect(world.calls).toEqual(['delete ControllerRevision t2v-cccccccccc']);
  });
});
