// Free GPUs per node the template can be scheduled on, from the node and pod caches. The scheduler
// counts an extended resource by the requests of pods bound to the node; pods that are finished or
// terminating are counted as freed here, since their GPUs come back without any decision of ours.
import type * as k8s from '@kubernetes/client-node';

/** What of a pod template decides where it may run (spec.tolerations, nodeSelector, required node affinity). */
export type Placement = Pick<k8s.V1PodSpec, 'tolerations' | 'nodeSelector' | 'affinity'>;

/**
 * Free `resourceName` per usable node (nodes with none free are left out). A node is usable when it is
 * Ready, not cordoned, every NoSchedule/NoExecute taint is tolerated, and the template's nodeSelector
 * and required node affinity match it.
 * Rules: https://kubernetes.io/docs/concepts/scheduling-eviction/taint-and-toleration/ and
 * https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/
 */
export function freeGpusPerNode(nodes: readonly k8s.V1Node[], pods: readonly k8s.V1Pod[], resourceName: string, placement: Placement = {}): number[] {
  const used = new Map<string, number>();
  for (const pod of pods) {
    const node = pod.spec?.nodeName;
    if (!node || pod.metadata?.deletionTimestamp || pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') continue;
    used.set(node, (used.get(node) ?? 0) + podRequest(pod, resourceName));
  }
  return nodes
    .filter((n) => usable(n, placement))
    .map((n) => {
      const allocatable = Number(n.status?.allocatable?.[resourceName] ?? 0);
      return Math.max(0, allocatable - (used.get(n.metadata!.name!) ?? 0));
    })
    .filter((free) => free > 0);
}

/**
 * What the scheduler charges a pod: max(largest init container, sum of app containers + sidecars), where
 * sidecars are init containers with restartPolicy Always (https://kubernetes.io/docs/concepts/workloads/pods/sidecar-containers/#resource-sharing-within-containers).
 */
export function podRequest(pod: Pick<k8s.V1Pod, 'spec'>, resourceName: string): number {
  const of = (c: k8s.V1Container) => Number(c.resources?.requests?.[resourceName] ?? c.resources?.limits?.[resourceName] ?? 0);
  let sidecars = 0;
  let initPeak = 0;
  for (const c of pod.spec?.initContainers ?? []) {
    // An init container runs next to the sidecars started before it.
    if (c.restartPolicy === 'Always') sidecars += of(c);
    else initPeak = Math.max(initPeak, sidecars + of(c));
  }
  const running = (pod.spec?.containers ?? []).reduce((sum, c) => sum + of(c), 0) + sidecars;
  return Math.max(initPeak, running);
}

export function usable(node: k8s.V1Node, placement: Placement): boolean {
  // A cordoned node takes only pods that tolerate node.kubernetes.io/unschedulable (the NodeUnschedulable plugin).
  if (node.spec?.unschedulable && !(placement.tolerations ?? []).some((tol) => tolerates(tol, UNSCHEDULABLE_TAINT))) return false;
  if (node.status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'True') return false;
  const taints = (node.spec?.taints ?? []).filter((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute');
  if (!taints.every((t) => (placement.tolerations ?? []).some((tol) => tolerates(tol, t)))) return false;
  const labels = node.metadata?.labels ?? {};
  if (!Object.entries(placement.nodeSelector ?? {}).every(([k, v]) => labels[k] === v)) return false;
  const required = placement.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  // Terms are ORed; the expressions of one term are ANDed. An empty term list matches nothing.
  if (required && !required.nodeSelectorTerms.some((term) => termMatches(term, node))) return false;
  return true;
}

const UNSCHEDULABLE_TAINT: k8s.V1Taint = { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' };

/** A toleration with an empty effect matches every effect; operator Exists matches any value (and an empty key any taint). */
export function tolerates(tol: k8s.V1Toleration, taint: k8s.V1Taint): boolean {
  if (tol.effect && tol.effect !== taint.effect) return false;
  if (!tol.key) return tol.operator === 'Exists';
  if (tol.key !== taint.key) return false;
  return tol.operator === 'Exists' || (tol.value ?? '') === (taint.value ?? '');
}

function termMatches(term: k8s.V1NodeSelectorTerm, node: k8s.V1Node): boolean {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return false;
  const labels = node.metadata?.labels ?? {};
  return (
    exprs.every((e) => requirementMatches(e, labels[e.key])) && fields.every((f) => f.key === 'metadata.name' && requirementMatches(f, node.metadata?.name))
  );
}

function requirementMatches(req: k8s.V1NodeSelectorRequirement, value: string | undefined): boolean {
  const values = req.values ?? [];
  switch (req.operator) {
    case 'In':
      return value !== undefined && values.includes(value);
    case 'NotIn':
      return value === undefined || !values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
      return value !== undefined && Number(value) > Number(values[0]);
    case 'Lt':
      return value !== undefined && Number(value) < Number(values[0]);
    default:
      return false;
  }
}

/** Why pods cannot become ready, in words a person can act on (deduplicated). */
export function podProblems(pods: readonly k8s.V1Pod[]): string[] {
  const problems = new Set<string>();
  for (const pod of pods) {
    const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
    if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') problems.add(`Unschedulable: ${scheduled.message ?? ''}`.trim());
    for (const cs of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) {
      const reason = cs.state?.waiting?.reason;
      if (reason && ['CrashLoopBackOff', 'ImagePullBackOff', 'ErrImagePull', 'CreateContainerConfigError', 'InvalidImageName'].includes(reason)) {
        problems.add(`${cs.name}: ${reason}${cs.state?.waiting?.message ? ` (${cs.state.waiting.message})` : ''}`);
      }
    }
  }
  return [...problems].sort().slice(0, 5);
}

/** A pod counts as ready as an EndpointSlice counts it: Ready=True and not terminating. */
export function podIsReady(pod: k8s.V1Pod): boolean {
  return !pod.metadata?.deletionTimestamp && pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
}

/** Median seconds from creation to Ready of the ready pods; undefined when none is ready. */
export function medianReadySeconds(pods: readonly k8s.V1Pod[]): number | undefined {
  const seconds = pods
    .filter(podIsReady)
    .map((p) => {
      const ready = p.status!.conditions!.find((c) => c.type === 'Ready')!.lastTransitionTime;
      const created = p.metadata?.creationTimestamp;
      return ready && created ? (new Date(ready).getTime() - new Date(created).getTime()) / 1000 : NaN;
    })
    .filter((s) => Number.isFinite(s) && s >= 0)
    .sort((a, b) => a - b);
  if (seconds.length === 0) return undefined;
  const mid = Math.floor(seconds.length / 2);
  return seconds.length % 2 ? seconds[mid]! : (seconds[mid - 1]! + seconds[mid]!) / 2;
}
