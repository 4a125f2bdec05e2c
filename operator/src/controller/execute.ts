// Execute: applies decide()'s actions in the order given (decide already orders them safely:
// scale up, wait ready, shift traffic, scale down, so any prefix of them is safe). Every write goes
// through here. The first write that cannot be made stops the remaining writes of the pass; the outcome
// says why, and the reconciler puts it in status before anything is retried.
import * as k8s from '@kubernetes/client-node';
import type { EventRecorder } from '../kube/events.js';
import type { Action, BlockedWrite } from '../rollout/types.js';
import { definitionFor, type TrafficRoutingSpec } from '../traffic/index.js';
import type { TrafficRouter, Weights } from '../traffic/router.js';
import { experimentSalt } from '../analysis/experiment-assignment.js';
import { armRouting } from '../analysis/experiment-gate.js';
import { parseExperiment, type StoredExperiment } from '../analysis/experiment-spec.js';
import type { ClusterCache } from './cluster-cache.js';
import { candidateServiceName, FINALIZER, GROUP, KIND, type ModelRollout, PLURAL, revisionObjectName, stableServiceName, VERSION } from '../api/index.js';
import { FIELD_MANAGER } from './names.js';
import { deploymentFor, isOwnedBy, ownerDescription, revisionTemplateFor, serviceFor } from './resources.js';
import { storedTemplate, storeRevision } from './revision-history.js';
import { blockedWriteOf, ObjectNotOwnedError, RevisionTemplateLostError, retryInMs, writing } from './write-errors.js';
import { isConflict, isNotFound } from '../kube/errors.js';

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

export interface ExecuteContext {
  /** The revision the spec's template names (the one Deployment that can be built from the spec). */
  specRevision: string;
  router: TrafficRouter | undefined;
  /** status.blockedWrite of the last pass: that object is not tried again before its backoff ends. */
  previous: BlockedWrite | undefined;
  now: Date;
}

/**
 * done: every action was applied. blocked: a write was refused (or the object is someone else's) this
 * pass. backingOff: the write blocked earlier is not due for another try yet. failed: a transient error
 * (5xx, network): status is still written, then the error is thrown for the work queue's backoff.
 * In all but `done` the writes after the stop were not made; events were still recorded.
 */
export type ExecuteOutcome =
  | { kind: 'done' }
  | { kind: 'blocked'; blocked: BlockedWrite }
  | { kind: 'backingOff'; blocked: BlockedWrite; retryInMs: number }
  | { kind: 'failed'; error: unknown };

const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

export async function execute(actions: Action[], ro: ModelRollout, ctx: ExecuteContext, deps: ExecuteDeps): Promise<ExecuteOutcome> {
  let outcome: ExecuteOutcome = { kind: 'done' };
  for (const action of actions) {
    if (action.kind === 'event') {
      recordEvent(ro, action.type, action.reason, action.message, deps);
      continue;
    }
    if (outcome.kind !== 'done') continue;
    if (deps.canWrite && !deps.canWrite()) throw new NotLeaderError(`not writing ${action.kind}: this replica no longer holds the leader lease`);
    const targets = targetsOf(action, ro);
    const previous = ctx.previous;
    if (previous && targets.includes(previous.object)) {
      const wait = retryInMs(previous, ctx.now);
      if (wait > 0) {
        outcome = { kind: 'backingOff', blocked: previous, retryInMs: wait };
        continue;
      }
    }
    try {
      await apply(action, ro, ctx, deps);
    } catch (err) {
      const blocked = blockedWriteOf(err, targets[0]!, previous, ctx.now);
      if (blocked && 'revision' in action) blocked.revision ??= action.revision;
      outcome = blocked ? { kind: 'blocked', blocked } : { kind: 'failed', error: err };
    }
  }
  return outcome;
}

/** Events inform people; a reconcile does not wait for them, and a lost one is only logged. */
export function recordEvent(
  ro: ModelRollout,
  type: 'Normal' | 'Warning',
  reason: string,
  message: string,
  deps: Pick<ExecuteDeps, 'events' | 'onRequest' | 'onEventError'>,
): void {
  deps.onRequest('create', 'events');
  void deps.events
    .record(
      { apiVersion: `${GROUP}/${VERSION}`, kind: KIND, name: ro.metadata.name!, namespace: ro.metadata.namespace!, uid: ro.metadata.uid! },
      type,
      reason,
      message,
    )
    .catch((err: unknown) => deps.onEventError(err));
}

/** The objects an action writes, as "Kind name" (how BlockedWrite.object names them). */
export function targetsOf(action: Action, ro: ModelRollout): string[] {
  switch (action.kind) {
    case 'ensureDeployment':
    case 'scaleDeployment': {
      // Creating a revision's Deployment first stores its template under the same name.
      const name = revisionObjectName(ro.metadata.name!, action.revision);
      return [`Deployment ${name}`, `ControllerRevision ${name}`];
    }
    case 'deleteDeployment':
      return [`Deployment ${revisionObjectName(ro.metadata.name!, action.revision)}`];
    case 'ensureServices':
      return [`Service ${stableServiceName(ro.spec.service.name)}`, `Service ${candidateServiceName(ro.spec.service.name)}`];
    case 'setTraffic': {
      const routing = ro.spec.trafficRouting as TrafficRoutingSpec | undefined;
      const router = definitionFor(routing);
      return [router ? `${router.watches.kind} ${router.objectName(routing![router.specKey])}` : 'the traffic route (spec.trafficRouting names no router)'];
    }
    case 'removeFinalizer':
    case 'event':
      return [`${KIND} ${ro.metadata.name}`];
  }
}

async function apply(action: Exclude<Action, { kind: 'event' }>, ro: ModelRollout, ctx: ExecuteContext, deps: ExecuteDeps): Promise<void> {
  switch (action.kind) {
    case 'ensureDeployment':
    case 'scaleDeployment':
      return scaleOrCreate(ro, action.revision, action.replicas, ctx.specRevision, deps);
    case 'deleteDeployment':
      return deleteDeployment(ro, action.revision, deps);
    case 'ensureServices':
      await ensureService(ro, serviceFor(ro, 'stable', action.stableRevision), deps);
      await ensureService(ro, serviceFor(ro, 'candidate', action.candidateRevision), deps);
      return;
    case 'setTraffic':
      if (!ctx.router) throw new Error('no traffic router for this rollout');
      return ctx.router.setWeights({
        stableWeight: action.stableWeight,
        candidateWeight: action.candidateWeight,
        mirrorPercent: action.mirrorPercent,
        ...armsOf(ro, action.candidateWeight),
      });
    case 'removeFinalizer':
      // Traffic is back on stable (decide() orders setTraffic first); the router cleans up, then the finalizer goes.
      await ctx.router?.finalize();
      return removeFinalizer(ro, deps);
  }
}

/** An A/B experiment's arm rules at this candidate weight (experiment-gate.ts armRouting); none without spec.experiment. */
export function armsOf(ro: ModelRollout, candidateWeight: number): Pick<Weights, 'arms'> {
  const config = parseExperiment(ro.spec.experiment as StoredExperiment | undefined, []);
  const candidate = ro.status?.candidate?.revision;
  if (!config || !candidate) return {};
  const published = ro.status?.analysis?.experiment?.assignment;
  const salt = published?.salt ?? experimentSalt(ro.metadata.uid ?? ro.metadata.name!, candidate);
  const arms = armRouting({ assignment: config.assignment, salt, maxDurationMs: config.maxDurationMs }, candidateWeight, published?.ended ?? false);
  return arms ? { arms } : {};
}

async function scaleOrCreate(ro: ModelRollout, revision: string, replicas: number, specRevision: string, deps: ExecuteDeps): Promise<void> {
  const namespace = ro.metadata.namespace!;
  const name = revisionObjectName(ro.metadata.name!, revision);
  const object = `Deployment ${name}`;
  const existing = deps.cache.deployments.get(name, namespace);
  if (existing && !isOwnedBy(existing, ro)) throw new ObjectNotOwnedError(object, ownerDescription(existing));
  if (existing && !existing.metadata?.deletionTimestamp) {
    const scaled = await scale(ro, name, replicas, deps);
    if (scaled) return;
    // Deleted since the cache saw it: rebuild it below.
  }
  // The spec's own revision is built from the spec (and its template stored first, so a Deployment never
  // exists without a copy to rebuild it from); any other revision from its stored template.
  const template = revision === specRevision ? revisionTemplateFor(ro, revision) : storedTemplate(ro, revision, deps.cache);
  if (!template) throw new RevisionTemplateLostError(object, revision, specRevision);
  if (revision === specRevision) await storeRevision(ro, revision, template, deps);
  deps.onRequest('create', 'deployments');
  try {
    const created = await writing(object, 'create', () =>
      deps.apps.createNamespacedDeployment({ namespace, body: deploymentFor(ro, revision, replicas, template), fieldManager: FIELD_MANAGER }),
    );
    deps.cache.deployments.remember(created);
  } catch (err) {
    if (!isConflict(err)) throw err;
    // Created by an earlier pass whose watch event has not arrived yet, or someone else's: read it to tell.
    deps.onRequest('get', 'deployments');
    const current = await writing(object, 'get', () => deps.apps.readNamespacedDeployment({ name, namespace }));
    if (!isOwnedBy(current, ro)) throw new ObjectNotOwnedError(object, ownerDescription(current));
    await scale(ro, name, replicas, deps);
  }
}

/** Sets replicas; false when the Deployment is gone (404). */
async function scale(ro: ModelRollout, name: string, replicas: number, deps: ExecuteDeps): Promise<boolean> {
  const namespace = ro.metadata.namespace!;
  deps.onRequest('patch', 'deployments');
  try {
    const updated = await writing(`Deployment ${name}`, 'patch', () =>
      deps.apps.patchNamespacedDeployment({ name, namespace, body: { spec: { replicas } }, fieldManager: FIELD_MANAGER }, mergePatch),
    );
    deps.cache.deployments.remember(updated);
    return true;
  } catch (err) {
    if (!isNotFound(err)) throw err;
    deps.cache.deployments.forget(name, namespace);
    return false;
  }
}

async function deleteDeployment(ro: ModelRollout, revision: string, deps: ExecuteDeps): Promise<void> {
  const namespace = ro.metadata.namespace!;
  const name = revisionObjectName(ro.metadata.name!, revision);
  const existing = deps.cache.deployments.get(name, namespace);
  // Only our own: the uid precondition makes the server refuse if the name now holds another object.
  if (!existing || !isOwnedBy(existing, ro)) return;
  deps.onRequest('delete', 'deployments');
  await writing(`Deployment ${name}`, 'delete', () =>
    deps.apps.deleteNamespacedDeployment({ name, namespace, body: { preconditions: { uid: existing.metadata!.uid } } }),
  ).catch((err: unknown) => {
    if (!isNotFound(err)) throw err;
  });
  deps.cache.deployments.forget(name, namespace);
}

async function ensureService(ro: ModelRollout, svc: k8s.V1Service, deps: ExecuteDeps): Promise<void> {
  const namespace = svc.metadata!.namespace!;
  const name = svc.metadata!.name!;
  const object = `Service ${name}`;
  const existing = deps.cache.services.get(name, namespace);
  if (existing) {
    if (!isOwnedBy(existing, ro)) throw new ObjectNotOwnedError(object, ownerDescription(existing));
    if (JSON.stringify(existing.spec?.selector) === JSON.stringify(svc.spec!.selector) && existing.spec?.ports?.[0]?.port === svc.spec!.ports![0]!.port) return;
    if (await patchService(svc, deps)) return;
  }
  deps.onRequest('create', 'services');
  try {
    deps.cache.services.remember(
      await writing(object, 'create', () => deps.core.createNamespacedService({ namespace, body: svc, fieldManager: FIELD_MANAGER })),
    );
  } catch (err) {
    if (!isConflict(err)) throw err;
    // Ours from an earlier pass whose watch event is still on its way, or the user's (the cache only
    // holds Services with our label): read it, and change it only if it is ours.
    deps.onRequest('get', 'services');
    const current = await writing(object, 'get', () => deps.core.readNamespacedService({ name, namespace }));
    if (!isOwnedBy(current, ro)) throw new ObjectNotOwnedError(object, ownerDescription(current));
    await patchService(svc, deps);
  }
}

/** Points an owned Service at its revision; false when it is gone (404). */
async function patchService(svc: k8s.V1Service, deps: ExecuteDeps): Promise<boolean> {
  const namespace = svc.metadata!.namespace!;
  const name = svc.metadata!.name!;
  deps.onRequest('patch', 'services');
  try {
    const body = { metadata: { labels: svc.metadata!.labels }, spec: { selector: svc.spec!.selector, ports: svc.spec!.ports } };
    deps.cache.services.remember(
      await writing(`Service ${name}`, 'patch', () => deps.core.patchNamespacedService({ name, namespace, body, fieldManager: FIELD_MANAGER }, mergePatch)),
    );
    return true;
  } catch (err) {
    if (!isNotFound(err)) throw err;
    deps.cache.services.forget(name, namespace);
    return false;
  }
}

async function removeFinalizer(ro: ModelRollout, deps: ExecuteDeps): Promise<void> {
  const finalizers = (ro.metadata.finalizers ?? []).filter((f) => f !== FINALIZER);
  deps.onRequest('patch', PLURAL);
  await writing(`${KIND} ${ro.metadata.name}`, 'patch', () =>
    deps.custom.patchNamespacedCustomObject(
      {
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace: ro.metadata.namespace!,
        name: ro.metadata.name!,
        body: { metadata: { finalizers, resourceVersion: ro.metadata.resourceVersion } },
      },
      mergePatch,
    ),
  ).catch((err: unknown) => {
    if (!isNotFound(err)) throw err;
  });
}
