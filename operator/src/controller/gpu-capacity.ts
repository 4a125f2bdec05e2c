// Free GPUs per schedulable node, from the node and pod caches. The scheduler counts an extended
// resource by the requests of pods bound to the node and not finished; we count the same way.
import type * as k8s from '@kubernetes/client-node';

export function freeGpusPerNode(nodes: readonly k8s.V1Node[], pods: readonly k8s.V1Pod[], resourceName: string): number[] {
  const used = new Map<string, number>();
  for (const pod of pods) {
    const node = pod.spec?.nodeName;
    if (!node || pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') continue;
    used.set(node, (used.get(node) ?? 0) + podRequest(pod, resourceName));
  }
  return nodes.filter(schedulable).map((n) => {
    const allocatable = Number(n.status?.allocatable?.[resourceName] ?? 0);
    return Math.max(0, allocatable - (used.get(n.metadata!.name!) ?? 0));
  }).filter((free) => free > 0);
}

function podRequest(pod: k8s.V1Pod, resourceName: string): number {
  return (pod.spec?.containers ?? []).reduce((sum, c) => sum + Number(c.resources?.requests?.[resourceName] ?? c.resources?.limits?.[resourceName] ?? 0), 0);
}

/** Ready, not cordoned, no NoSchedule/NoExecute taint. */
function schedulable(node: k8s.V1Node): boolean {
  if (node.spec?.unschedulable) return false;
  if ((node.spec?.taints ?? []).some((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute')) return false;
  return node.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
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
