// The Deployment of a revision and the two Services, built from the ModelRollout's spec.
import type * as k8s from '@kubernetes/client-node';
import {
  candidateServiceName,
  GROUP,
  KIND,
  LABEL_MODEL_NAME,
  LABEL_MODEL_VERSION,
  LABEL_NAME,
  LABEL_REVISION,
  LABEL_ROLE,
  type ModelRollout,
  revisionObjectName,
  stableServiceName,
  VERSION,
} from '../api/index.js';

/** Whether `obj` carries an owner reference to this very ModelRollout (its uid, not its name). */
export function isOwnedBy(obj: k8s.KubernetesObject, ro: ModelRollout): boolean {
  return (obj.metadata?.ownerReferences ?? []).some((o) => o.uid === ro.metadata.uid);
}

/** Who an object belongs to, for messages: its controller (or first) owner, else the managers that wrote it. */
export function ownerDescription(obj: k8s.KubernetesObject): string {
  const refs = obj.metadata?.ownerReferences ?? [];
  const owner = refs.find((o) => o.controller) ?? refs[0];
  if (owner) return `${owner.kind} ${owner.name} (uid ${owner.uid})`;
  const managers = [...new Set((obj.metadata?.managedFields ?? []).map((m) => m.manager).filter((m): m is string => !!m))];
  return managers.length > 0 ? `none; written by ${managers.join(', ')}` : 'none';
}

export function ownerReference(ro: ModelRollout): k8s.V1OwnerReference {
  return { apiVersion: `${GROUP}/${VERSION}`, kind: KIND, name: ro.metadata.name!, uid: ro.metadata.uid!, controller: true, blockOwnerDeletion: true };
}

export function revisionSelector(ro: ModelRollout, revision: string): Record<string, string> {
  return { [LABEL_NAME]: ro.metadata.name!, [LABEL_REVISION]: revision };
}

/**
 * What a revision's pods are made of: the rendered pod template (our labels, GPUs on the serving
 * container, the target port) and the model identity. Stored in the revision's ControllerRevision so
 * the Deployment can be rebuilt after the spec has moved on to another template.
 */
export interface RevisionTemplate {
  template: k8s.V1PodTemplateSpec;
  modelName: string;
  modelVersion: string;
}

/** The spec's pod template rendered for `revision` (the spec's current revision). */
export function revisionTemplateFor(ro: ModelRollout, revision: string): RevisionTemplate {
  const spec = ro.spec;
  const template = structuredClone(spec.template) as k8s.V1PodTemplateSpec;
  const labels = {
    ...(template.metadata?.labels ?? {}),
    ...revisionSelector(ro, revision),
    [LABEL_MODEL_NAME]: spec.model.name,
    [LABEL_MODEL_VERSION]: spec.model.version,
  };
  template.metadata = { ...(template.metadata ?? {}), labels };
  const podSpec = template.spec!;
  const gpu = spec.gpu ?? {};
  const resourceName = gpu.resourceName ?? 'nvidia.com/gpu';
  const perReplica = String(gpu.perReplica ?? 1);
  const container = podSpec.containers.find((c) => c.name === gpu.container) ?? podSpec.containers[0]!;
  // Extended resources are requested through limits; requests must equal limits when both are set.
  container.resources = {
    ...(container.resources ?? {}),
    limits: { ...(container.resources?.limits ?? {}), [resourceName]: perReplica },
    requests: { ...(container.resources?.requests ?? {}), [resourceName]: perReplica },
  };
  // The GPUs it is given, so the runtime's GPU-seconds counter (cost per generated second) uses the real count.
  container.env = [
    ...(container.env ?? []).filter((e) => !(e.name in IDENTITY_ENV) && e.name !== GPUS_ENV),
    ...identityEnv(),
    { name: GPUS_ENV, value: perReplica },
  ];
  const targetPort = spec.service.targetPort ?? 8080;
  if (!container.ports?.some((p) => p.containerPort === targetPort))
    container.ports = [...(container.ports ?? []), { name: 'http', containerPort: targetPort }];
  return { template, modelName: spec.model.name, modelVersion: spec.model.version };
}

/** The revision's Deployment, from the spec's template or from a stored one (see revision-history.ts). */
export function deploymentFor(
  ro: ModelRollout,
  revision: string,
  replicas: number,
  stored: RevisionTemplate = revisionTemplateFor(ro, revision),
): k8s.V1Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: revisionObjectName(ro.metadata.name!, revision),
      namespace: ro.metadata.namespace,
      labels: { ...revisionSelector(ro, revision), [LABEL_MODEL_NAME]: stored.modelName, [LABEL_MODEL_VERSION]: stored.modelVersion },
      ownerReferences: [ownerReference(ro)],
    },
    spec: { replicas, selector: { matchLabels: revisionSelector(ro, revision) }, template: structuredClone(stored.template) },
  };
}

/**
 * The pod's identity as env through the downward API, so a runtime can label its metrics with the revision
 * (and rollout) that analysis selects by. Values come from the pod's own labels and namespace:
 * https://kubernetes.io/docs/concepts/workloads/pods/downward-api/#downwardapi-fieldRef
 */
export const IDENTITY_ENV = {
  MODELROLLOUT_REVISION: `metadata.labels['${LABEL_REVISION}']`,
  MODELROLLOUT_NAME: `metadata.labels['${LABEL_NAME}']`,
  MODELROLLOUT_NAMESPACE: 'metadata.namespace',
} as const;

/**
 * The runtime's GPUs per replica (inference-image/README.md): the count the operator puts in the container's
 * limits, as a literal, since the downward API's resourceFieldRef does not expose extended resources.
 */
export const GPUS_ENV = 'T2V_GPUS_PER_REPLICA';

function identityEnv(): k8s.V1EnvVar[] {
  return Object.entries(IDENTITY_ENV).map(([name, fieldPath]) => ({ name, valueFrom: { fieldRef: { fieldPath } } }));
}

export function serviceFor(ro: ModelRollout, role: 'stable' | 'candidate', revision: string): k8s.V1Service {
  const name = role === 'stable' ? stableServiceName(ro.spec.service.name) : candidateServiceName(ro.spec.service.name);
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name,
      namespace: ro.metadata.namespace,
      labels: { [LABEL_NAME]: ro.metadata.name!, [LABEL_ROLE]: role },
      ownerReferences: [ownerReference(ro)],
    },
    spec: {
      selector: revisionSelector(ro, revision),
      ports: [{ name: 'http', port: ro.spec.service.port ?? 80, targetPort: ro.spec.service.targetPort ?? 8080, protocol: 'TCP' }],
    },
  };
}

/** GPUs each pod of a Deployment asks for (limits, as extended resources are set). */
export function gpusPerReplicaOf(dep: k8s.V1Deployment, resourceName: string): number {
  return (dep.spec?.template.spec?.containers ?? []).reduce(
    (sum, c) => sum + Number(c.resources?.limits?.[resourceName] ?? c.resources?.requests?.[resourceName] ?? 0),
    0,
  );
}
