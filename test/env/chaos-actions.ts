// What the world does to a rollout, as tests and the chaos driver do it on the local control plane:
// GPU nodes tainted or cordoned, pods lost, containers crash-looping. Each returns what it changed so
// the caller can undo it; nothing here waits for the operator.
import * as k8s from '@kubernetes/client-node';
import { LABEL_NAME, LABEL_REVISION } from '../../operator/src/api/index.js';
import { GPU_TAINT } from './gpu-nodes.js';
import { TEST_CRASH_LOOP_ANNOTATION } from './kwok-stages.js';
import { isConflict, isNotFound } from '../../operator/src/kube/errors.js';

const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
/** The annotation createGpuNodes puts on every fake node (kwok manages nodes carrying it). */
const KWOK_NODE_ANNOTATION = 'kwok.x-k8s.io/node';

/** Names of the fake GPU nodes kwok manages, sorted. */
export async function gpuNodeNames(kc: k8s.KubeConfig): Promise<string[]> {
  const nodes = await kc.makeApiClient(k8s.CoreV1Api).listNode();
  return nodes.items
    .filter((n) => n.metadata?.annotations?.[KWOK_NODE_ANNOTATION] === 'fake')
    .map((n) => n.metadata!.name!)
    .sort();
}

/** Marks nodes unschedulable (`kubectl cordon`): running pods stay, new pods cannot land there. */
export async function cordonNodes(kc: k8s.KubeConfig, names: string[]): Promise<void> {
  await setUnschedulable(kc, names, true);
}

/** Undoes cordonNodes (`kubectl uncordon`). */
export async function uncordonNodes(kc: k8s.KubeConfig, names: string[]): Promise<void> {
  await setUnschedulable(kc, names, false);
}

async function setUnschedulable(kc: k8s.KubeConfig, names: string[], unschedulable: boolean): Promise<void> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  await Promise.all(names.map((name) => core.patchNode({ name, body: { spec: { unschedulable } } }, mergePatch)));
}

/** Adds `taint` (GPU_TAINT by default: nvidia.com/gpu=present:NoSchedule) to each node that lacks it. */
export async function taintNodes(kc: k8s.KubeConfig, names: string[], taint: k8s.V1Taint = GPU_TAINT): Promise<void> {
  await Promise.all(names.map((name) => editTaints(kc, name, (taints) => (taints.some((t) => sameTaint(t, taint)) ? taints : [...taints, taint]))));
}

/** Removes `taint` (GPU_TAINT by default) from each node. */
export async function untaintNodes(kc: k8s.KubeConfig, names: string[], taint: k8s.V1Taint = GPU_TAINT): Promise<void> {
  await Promise.all(names.map((name) => editTaints(kc, name, (taints) => taints.filter((t) => !sameTaint(t, taint)))));
}

function sameTaint(a: k8s.V1Taint, b: k8s.V1Taint): boolean {
  return a.key === b.key && a.effect === b.effect;
}

/** Read-modify-write of spec.taints; the resourceVersion in the patch makes a concurrent node write a 409, retried. */
async function editTaints(kc: k8s.KubeConfig, name: string, edit: (taints: k8s.V1Taint[]) => k8s.V1Taint[]): Promise<void> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  for (let attempt = 0; ; attempt++) {
    const node = await core.readNode({ name });
    const body = { metadata: { resourceVersion: node.metadata!.resourceVersion }, spec: { taints: edit(node.spec?.taints ?? []) } };
    try {
      await core.patchNode({ name, body }, mergePatch);
      return;
    } catch (err) {
      if (!isConflict(err) || attempt >= 10) throw err;
    }
  }
}

/**
 * Deletes the pods matching `labelSelector` at once (grace period 0, as a node failure would take them).
 * Their ReplicaSet recreates them; with every GPU node cordoned the new ones stay Pending.
 * Returns the names deleted.
 */
export async function deletePods(kc: k8s.KubeConfig, namespace: string, labelSelector: string): Promise<string[]> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const pods = (await core.listNamespacedPod({ namespace, labelSelector })).items.filter((p) => !p.metadata?.deletionTimestamp);
  await Promise.all(
    pods.map((p) =>
      core.deleteNamespacedPod({ name: p.metadata!.name!, namespace, gracePeriodSeconds: 0 }).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      }),
    ),
  );
  return pods.map((p) => p.metadata!.name!);
}

/** Label selector of the pods of one revision of a ModelRollout (the operator's labels). */
export function revisionSelector(rollout: string, revision: string): string {
  return `${LABEL_NAME}=${rollout},${LABEL_REVISION}=${revision}`;
}

export interface LostPods {
  deleted: string[];
  cordoned: string[];
  /** Uncordons the nodes again, so the replacements can be scheduled (they then take their readiness delay). */
  restore(): Promise<void>;
}

/**
 * Issue 12 case 3: a revision loses its pods and cannot get them back. Cordons every GPU node, then
 * deletes the revision's pods; the replacements stay Pending (Unschedulable) until restore().
 */
export async function losePods(kc: k8s.KubeConfig, namespace: string, rollout: string, revision: string): Promise<LostPods> {
  const cordoned = await gpuNodeNames(kc);
  await cordonNodes(kc, cordoned);
  const deleted = await deletePods(kc, namespace, revisionSelector(rollout, revision));
  return { deleted, cordoned, restore: () => uncordonNodes(kc, cordoned) };
}

/**
 * Makes the running pods matching `labelSelector` crash-loop: kwok's pod-crash-loop stage (kwok-pod-stages.yaml)
 * turns them Ready=False with a container waiting in CrashLoopBackOff (3 restarts). Pods created later are
 * not affected. Returns the names annotated.
 */
export async function crashLoopPods(kc: k8s.KubeConfig, namespace: string, labelSelector: string): Promise<string[]> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const pods = (await core.listNamespacedPod({ namespace, labelSelector })).items.filter((p) => !p.metadata?.deletionTimestamp);
  await Promise.all(
    pods.map((p) =>
      core
        .patchNamespacedPod(
          {
            name: p.metadata!.name!,
            namespace,
            body: { metadata: { annotations: { [TEST_CRASH_LOOP_ANNOTATION]: 'true' } } },
          },
          mergePatch,
        )
        .catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        }),
    ),
  );
  return pods.map((p) => p.metadata!.name!);
}
