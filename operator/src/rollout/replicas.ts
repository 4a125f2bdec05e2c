// Scaling math: how many GPU replicas each side needs for its share of traffic.

/** Candidate replicas that can carry `weight` percent: ceil(weight × full / 100), at least 1. */
export function candidateReplicasFor(weight: number, fullReplicas: number): number {
  return Math.max(1, Math.ceil((weight * fullReplicas) / 100));
}

/**
 * Stable replicas for the stable side's share. Never below 1 before promotion, so an abort
 * has a warm pod to land on.
 */
export function stableReplicasFor(stableWeight: number, fullReplicas: number): number {
  return Math.max(1, Math.ceil((stableWeight * fullReplicas) / 100));
}

/** How many more replicas of `gpusPerReplica` GPUs fit, each on a single node. */
export function replicasThatFit(freePerNode: number[], gpusPerReplica: number): number {
  return freePerNode.reduce((sum, free) => sum + Math.floor(Math.max(0, free) / gpusPerReplica), 0);
}
