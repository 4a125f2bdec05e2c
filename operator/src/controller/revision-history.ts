// Each revision's rendered pod template, kept in a ControllerRevision that the rollout owns — as the
// StatefulSet and DaemonSet controllers keep theirs — so a Deployment of a revision the spec no longer
// names (the stable during a rollout, the previous stable) can be rebuilt when someone deletes it.
// https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/controller-revision-v1/
import type * as k8s from '@kubernetes/client-node';
import type { ClusterCache } from './cluster-cache.js';
import { LABEL_MODEL_NAME, LABEL_MODEL_VERSION, LABEL_NAME, LABEL_REVISION, type ModelRollout, revisionObjectName } from '../api/index.js';
import { FIELD_MANAGER } from './names.js';
import { isOwnedBy, ownerDescription, ownerReference, revisionSelector, type RevisionTemplate } from './resources.js';
import { ObjectNotOwnedError, writing } from './write-errors.js';
import { isConflict, isNotFound } from '../kube/errors.js';

export interface RevisionHistoryDeps {
  apps: k8s.AppsV1Api;
  cache: ClusterCache;
  onRequest: (verb: string, resource: string) => void;
}

const RESOURCE = 'controllerrevisions';

/** The stored template of `revision`, if this rollout owns a ControllerRevision for it. */
export function storedTemplate(ro: ModelRollout, revision: string, cache: ClusterCache): RevisionTemplate | undefined {
  const cr = cache.controllerRevisions.get(revisionObjectName(ro.metadata.name!, revision), ro.metadata.namespace);
  if (!cr || !isOwnedBy(cr, ro)) return undefined;
  const data = cr.data as Partial<RevisionTemplate> | undefined;
  return data?.template && data.modelName && data.modelVersion ? (data as RevisionTemplate) : undefined;
}

/**
 * Stores `revision`'s template unless this rollout already holds it.
 * @throws ObjectNotOwnedError when a ControllerRevision of that name belongs to someone else;
 *   ObjectWriteError when the API server refuses the create.
 */
export async function storeRevision(ro: ModelRollout, revision: string, stored: RevisionTemplate, deps: RevisionHistoryDeps): Promise<void> {
  const namespace = ro.metadata.namespace!;
  const name = revisionObjectName(ro.metadata.name!, revision);
  const object = `ControllerRevision ${name}`;
  const existing = deps.cache.controllerRevisions.get(name, namespace);
  if (existing) {
    if (!isOwnedBy(existing, ro)) throw new ObjectNotOwnedError(object, ownerDescription(existing));
    return;
  }
  const body: k8s.V1ControllerRevision = {
    apiVersion: 'apps/v1',
    kind: 'ControllerRevision',
    metadata: {
      name,
      namespace,
      labels: { ...revisionSelector(ro, revision), [LABEL_MODEL_NAME]: stored.modelName, [LABEL_MODEL_VERSION]: stored.modelVersion },
      ownerReferences: [ownerReference(ro)],
    },
    data: stored,
    revision: nextRevisionNumber(ro, deps.cache),
  };
  deps.onRequest('create', RESOURCE);
  try {
    deps.cache.controllerRevisions.remember(
      await writing(object, 'create', () => deps.apps.createNamespacedControllerRevision({ namespace, body, fieldManager: FIELD_MANAGER })),
    );
  } catch (err) {
    if (!isConflict(err)) throw err;
    // Stored by an earlier pass whose watch event has not arrived, or someone else's: read it to tell.
    deps.onRequest('get', RESOURCE);
    const current = await writing(object, 'get', () => deps.apps.readNamespacedControllerRevision({ name, namespace }));
    if (!isOwnedBy(current, ro)) throw new ObjectNotOwnedError(object, ownerDescription(current));
    deps.cache.controllerRevisions.remember(current);
  }
}

/**
 * Stores the template of each kept revision whose Deployment exists but has no ControllerRevision yet
 * (Deployments made before revisions were stored), and deletes stored revisions no longer kept.
 */
export async function syncRevisionHistory(ro: ModelRollout, keep: string[], deps: RevisionHistoryDeps): Promise<void> {
  const namespace = ro.metadata.namespace!;
  for (const revision of new Set(keep)) {
    if (storedTemplate(ro, revision, deps.cache)) continue;
    const dep = deps.cache.deployments.get(revisionObjectName(ro.metadata.name!, revision), namespace);
    if (!dep || !isOwnedBy(dep, ro) || !dep.spec?.template) continue;
    const labels = dep.metadata?.labels ?? {};
    await storeRevision(
      ro,
      revision,
      { template: dep.spec.template, modelName: labels[LABEL_MODEL_NAME] ?? '', modelVersion: labels[LABEL_MODEL_VERSION] ?? '' },
      deps,
    );
  }
  for (const cr of ownedRevisions(ro, deps.cache)) {
    const revision = cr.metadata?.labels?.[LABEL_REVISION];
    if (!revision || keep.includes(revision)) continue;
    const name = cr.metadata!.name!;
    deps.onRequest('delete', RESOURCE);
    await writing(`ControllerRevision ${name}`, 'delete', () =>
      deps.apps.deleteNamespacedControllerRevision({ name, namespace, body: { preconditions: { uid: cr.metadata!.uid } } }),
    ).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
    deps.cache.controllerRevisions.forget(name, namespace);
  }
}

function ownedRevisions(ro: ModelRollout, cache: ClusterCache): k8s.V1ControllerRevision[] {
  return cache.controllerRevisions
    .list(ro.metadata.namespace)
    .filter((cr) => cr.metadata?.labels?.[LABEL_NAME] === ro.metadata.name && isOwnedBy(cr, ro) && !cr.metadata?.deletionTimestamp);
}

/** ControllerRevision.revision orders a controller's revisions; one more than the highest stored. */
function nextRevisionNumber(ro: ModelRollout, cache: ClusterCache): number {
  return ownedRevisions(ro, cache).reduce((max, cr) => Math.max(max, cr.revision ?? 0), 0) + 1;
}
