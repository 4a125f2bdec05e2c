// The ConfigMap `<rollout>-experiment` (#16): what apps and edges need to assign users to an experiment's arms
// (salt, bucket ranges, header), the same as status.analysis.experiment.assignment, for those that mount or
// watch a ConfigMap rather than read the ModelRollout. Owned by the rollout (garbage-collected with it); one
// that belongs to someone else is never overwritten (ObjectNotOwnedError, a blocked write in status).
import type * as k8s from '@kubernetes/client-node';
import type { PublishedAssignment } from '../analysis/experiment-gate.js';
import { LABEL_NAME, type ModelRollout } from '../api/index.js';
import { isConflict, isNotFound } from '../kube/errors.js';
import { FIELD_MANAGER } from './names.js';
import { isOwnedBy, ownerDescription, ownerReference } from './resources.js';
import { ObjectNotOwnedError, writing } from './write-errors.js';

/** The ConfigMap's name: the rollout's name and `-experiment` (a ModelRollout name is at most 52 characters). */
export function experimentConfigMapName(rolloutName: string): string {
  return `${rolloutName}-experiment`;
}

/** The ConfigMap's data: `assignment.json` (the whole PublishedAssignment) and one key per field for shell users. */
export function experimentConfigMapData(a: PublishedAssignment): Record<string, string> {
  return {
    'assignment.json': JSON.stringify(a),
    mode: a.mode,
    ...(a.cookie ? { cookie: a.cookie } : {}),
    header: a.header,
    salt: a.salt,
    buckets: String(a.buckets),
    weight: String(a.weight),
    treatment: `${a.treatment.from}-${a.treatment.to}`,
    control: `${a.control.from}-${a.control.to}`,
    ended: String(a.ended),
  };
}

export interface ExperimentConfigMapDeps {
  core: k8s.CoreV1Api;
  onRequest: (verb: string, resource: string) => void;
  /** The pass's time, milliseconds since the epoch. */
  now: () => number;
}

/**
 * How long an assignment this process wrote is trusted without reading the ConfigMap again: someone may delete or
 * edit it (nothing here watches ConfigMaps), and apps must not go without their ranges for longer than this.
 */
export const CONFIGMAP_RECHECK_MS = 10_000;

/** Last assignment written per rollout (`namespace/name`, with its uid) by this process, and when it was checked. */
const written = new Map<string, { json: string; checkedAt: number }>();

/**
 * Makes the ConfigMap carry `assignment` (creates or replaces it). Level-triggered: a pass with the same
 * assignment as this process last wrote or found does nothing for CONFIGMAP_RECHECK_MS, then reads it again (a
 * deleted or edited ConfigMap is written back within that time).
 * @throws ObjectNotOwnedError when a ConfigMap of that name belongs to someone else; ObjectWriteError when refused.
 */
export async function syncExperimentConfigMap(ro: ModelRollout, assignment: PublishedAssignment, deps: ExperimentConfigMapDeps): Promise<void> {
  const namespace = ro.metadata.namespace!;
  const name = experimentConfigMapName(ro.metadata.name!);
  const data = experimentConfigMapData(assignment);
  const key = `${namespace}/${ro.metadata.name}`;
  const json = `${ro.metadata.uid} ${JSON.stringify(assignment)}`;
  const now = deps.now();
  const last = written.get(key);
  if (last?.json === json && now - last.checkedAt < CONFIGMAP_RECHECK_MS) return;
  const object = `ConfigMap ${name}`;
  for (let attempt = 0; attempt < 3; attempt++) {
    let existing: k8s.V1ConfigMap | undefined;
    try {
      deps.onRequest('get', 'configmaps');
      existing = await deps.core.readNamespacedConfigMap({ name, namespace });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (existing && !isOwnedBy(existing, ro)) throw new ObjectNotOwnedError(object, ownerDescription(existing));
    try {
      if (!existing) {
        deps.onRequest('create', 'configmaps');
        const body: k8s.V1ConfigMap = {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name, namespace, labels: { [LABEL_NAME]: ro.metadata.name! }, ownerReferences: [ownerReference(ro)] },
          data,
        };
        await writing(object, 'create', () => deps.core.createNamespacedConfigMap({ namespace, body, fieldManager: FIELD_MANAGER }));
      } else if (JSON.stringify(existing.data ?? {}) !== JSON.stringify(data)) {
        deps.onRequest('update', 'configmaps');
        const body: k8s.V1ConfigMap = { ...existing, data };
        await writing(object, 'update', () => deps.core.replaceNamespacedConfigMap({ name, namespace, body, fieldManager: FIELD_MANAGER }));
      }
      written.set(key, { json, checkedAt: now });
      return;
    } catch (err) {
      // Someone wrote it between our read and write: read again.
      if (isConflict(err)) continue;
      throw err;
    }
  }
  throw new Error(`${object}: kept conflicting with other writers (3 attempts)`);
}

/** The rollout (`namespace/name`) is gone: forget what was written for it. */
export function forgetExperimentConfigMap(key: string): void {
  written.delete(key);
}
