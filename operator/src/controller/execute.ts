// Execute: applies decide()'s actions in the order given (decide already orders them safely:
// scale up, wait ready, shift traffic, scale down). Every write goes through here.
import * as k8s from '@kubernetes/client-node';
import type { EventRecorder } from '../kube/events.js';
import type { Action } from '../rollout/types.js';
import type { TrafficRouter } from '../traffic/router.js';
import type { ClusterCache } from './cluster-cache.js';
import type { ModelRollout } from './model-rollout.js';
import { deploymentName, FIELD_MANAGER, FINALIZER, GROUP, KIND, PLURAL, VERSION } from './names.js';
import { deploymentFor, serviceFor } from './resources.js';

export interface ExecuteDeps {
  apps: k8s.AppsV1Api;
  core: k8s.CoreV1Api;
  custom: k8s.CustomObjectsApi;
  cache: ClusterCache;
  events: EventRecorder;
  onRequest: (verb: string, resource: string) => void;
  onEventError: (err: unknown) => void;
  /** Leader fencing: false once this replica may no longer write (lease not renewed in time). */
  canWrite?: () => boolean;
}

/** This replica lost (or may have lost) the lease: no further write is made. */
export class NotLeaderError extends Error {
  readonly code = 'NotLeader';
}

/** A revision's Deployment is gone and the spec no longer holds its template: it cannot be rebuilt. */
export class RevisionTemplateLostError extends Error {
  readonly code = 'RevisionTemplateLost';
}

const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

export async function execute(actions: Action[], ro: ModelRollout, specRevision: string, router: TrafficRouter | undefined, deps: ExecuteDeps): Promise<void> {
  for (const action of actions) {
    if (action.kind !== 'event' && deps.canWrite && !deps.canWrite()) throw new NotLeaderError(`not writing ${action.kind}: this replica no longer holds the leader lease`);
    await apply(action, ro, specRevision, router, deps);
  }
}

async function apply(action: Action, ro: ModelRollout, specRevision: string, router: TrafficRouter | undefined, deps: ExecuteDeps): Promise<void> {
  const namespace = ro.metadata.namespace!;
  switch (action.kind) {
    case 'ensureDeployment':
    case 'scaleDeployment':
      return scaleOrCreate(ro, action.revision, action.replicas, specRevision, deps);
    case 'deleteDeployment': {
      deps.onRequest('delete', 'deployments');
      const name = deploymentName(ro.metadata.name!, action.revision);
      await deps.apps.deleteNamespacedDeployment({ name, namespace }).catch(ignore404);
      deps.cache.deployments.forget(name, namespace);
      return;
    }
    case 'ensureServices':
      await ensureService(serviceFor(ro, 'stable', action.stableRevision), deps);
      await ensureService(serviceFor(ro, 'candidate', action.candidateRevision), deps);
      return;
    case 'setTraffic':
      if (!router) throw new Error('no traffic router for this rollout');
      return router.setWeights({ stableWeight: action.stableWeight, candidateWeight: action.candidateWeight, mirrorPercent: action.mirrorPercent });
    case 'event':
      // Events inform people; a reconcile does not wait for them, and a lost one is only logged.
      deps.onRequest('create', 'events');
      void deps.events.record({ apiVersion: `${GROUP}/${VERSION}`, kind: KIND, name: ro.metadata.name!, namespace, uid: ro.metadata.uid! }, action.type, action.reason, action.message)
        .catch((err: unknown) => deps.onEventError(err));
      return;
    case 'removeFinalizer': {
      const finalizers = (ro.metadata.finalizers ?? []).filter((f) => f !== FINALIZER);
      deps.onRequest('patch', PLURAL);
      await deps.custom.patchNamespacedCustomObject({
        group: GROUP, version: VERSION, plural: PLURAL, namespace, name: ro.metadata.name!,
        body: { metadata: { finalizers, resourceVersion: ro.metadata.resourceVersion } },
      }, mergePatch).catch(ignore404);
      return;
    }
  }
}

async function scaleOrCreate(ro: ModelRollout, revision: string, replicas: number, specRevision: string, deps: ExecuteDeps): Promise<void> {
  const namespace = ro.metadata.namespace!;
  const name = deploymentName(ro.metadata.name!, revision);
  const existing = deps.cache.deployments.get(name, namespace);
  if (existing) {
    deps.onRequest('patch', 'deployments');
    const updated = await deps.apps.patchNamespacedDeployment({ name, namespace, body: { spec: { replicas } }, fieldManager: FIELD_MANAGER }, mergePatch);
    deps.cache.deployments.remember(updated);
    return;
  }
  if (revision !== specRevision) throw new RevisionTemplateLostError(`Deployment ${name} of revision ${revision} is gone and the spec now holds revision ${specRevision}'s template`);
  deps.onRequest('create', 'deployments');
  try {
    const created = await deps.apps.createNamespacedDeployment({ namespace, body: deploymentFor(ro, revision, replicas), fieldManager: FIELD_MANAGER });
    deps.cache.deployments.remember(created);
  } catch (err) {
    // Created by an earlier pass whose watch event has not arrived yet: scale it instead.
    if ((err as k8s.ApiException<unknown>).code !== 409) throw err;
    deps.onRequest('patch', 'deployments');
    const updated = await deps.apps.patchNamespacedDeployment({ name, namespace, body: { spec: { replicas } }, fieldManager: FIELD_MANAGER }, mergePatch);
    deps.cache.deployments.remember(updated);
  }
}

async function ensureService(svc: k8s.V1Service, deps: ExecuteDeps): Promise<void> {
  const namespace = svc.metadata!.namespace!;
  const name = svc.metadata!.name!;
  const existing = deps.cache.services.get(name, namespace);
  if (existing) {
    if (JSON.stringify(existing.spec?.selector) === JSON.stringify(svc.spec!.selector) && existing.spec?.ports?.[0]?.port === svc.spec!.ports![0]!.port) return;
    deps.onRequest('patch', 'services');
    const updated = await deps.core.patchNamespacedService({ name, namespace, body: { metadata: { labels: svc.metadata!.labels }, spec: { selector: svc.spec!.selector, ports: svc.spec!.ports } }, fieldManager: FIELD_MANAGER }, mergePatch);
    deps.cache.services.remember(updated);
    return;
  }
  deps.onRequest('create', 'services');
  try {
    deps.cache.services.remember(await deps.core.createNamespacedService({ namespace, body: svc, fieldManager: FIELD_MANAGER }));
  } catch (err) {
    if ((err as k8s.ApiException<unknown>).code !== 409) throw err;
    deps.onRequest('patch', 'services');
    deps.cache.services.remember(await deps.core.patchNamespacedService({ name, namespace, body: { spec: { selector: svc.spec!.selector, ports: svc.spec!.ports } }, fieldManager: FIELD_MANAGER }, mergePatch));
  }
}

function ignore404(err: unknown): void {
  if ((err as k8s.ApiException<unknown>).code !== 404) throw err;
}
