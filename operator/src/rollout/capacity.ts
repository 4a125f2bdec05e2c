// Ready capacity → the weights a route may carry. Pure arithmetic, no I/O.
//
// The invariant (issue 12): a Service that carries w % of traffic has at least
// max(1, ceil(w/100 × replicas)) ready replicas behind it, where `replicas` is spec.replicas (the
// number that carries 100 %). Every weight the operator writes is chosen by this module.

/**
 * The largest weight (percent, integer 0–100) that `ready` replicas can carry when `fullReplicas`
 * carry 100 %: floor(100 × ready / full), 100 once ready ≥ full, 0 with none ready.
 * Inverse of `max(1, ceil(w × full / 100)) ≤ ready`.
 */
export function weightCarriedBy(ready: number, fullReplicas: number): number {
  if (ready <= 0) return 0;
  if (ready >= fullReplicas) return 100;
  return Math.floor((100 * ready) / fullReplicas);
}

/** Ready replicas that `weight` percent needs: max(1, ceil(weight × full / 100)); 0 for weight 0. */
export function readyNeededFor(weight: number, fullReplicas: number): number {
  return weight <= 0 ? 0 : Math.max(1, Math.ceil((weight * fullReplicas) / 100));
}

export interface WeightChoice {
  /** Candidate weight to set (stable gets 100 − it). */
  candidateWeight: number;
  /**
   * Why it differs from the target: `capacity` when ready replicas hold it back (the invariant holds),
   * `overload` when neither side has the ready replicas for its share (the policy below applied),
   * `drain` when a failing candidate was drained regardless of stable's capacity.
   */
  limitedBy?: 'capacity' | 'overload' | 'drain';
}

export interface WeightInput {
  /** Candidate weight the route carries now. */
  current: number;
  /** Candidate weight the rollout wants (the step weight, or 0 to go back to stable). */
  target: number;
  candidateReady: number;
  stableReady: number;
  fullReplicas: number;
  /** The candidate is failing (severe breaker, crash loop, failed analysis): serving errors is worse than queueing. */
  drainCandidate: boolean;
}

/**
 * The candidate weight this pass may set.
 *
 * Feasible weights are [100 − stableCarries, candidateCarries]. When that interval is not empty:
 * - moving up (target > current) the weight goes to the target only if the target is feasible, else it
 *   stays where it is (a step is applied whole, never half);
 * - moving down it goes as far toward the target as stable's ready replicas allow, so traffic returns
 *   to stable only as fast as stable becomes ready;
 * - a current weight the world made infeasible (pods lost) moves to the feasible weight nearest the
 *   target, but never further from the target than it is (a stable that lost pods is not relieved by
 *   sending the candidate more than its step allows);
 * When the interval is empty (neither side has the ready replicas for all traffic) the policy is:
 * - a failing candidate (drainCandidate) is drained at once to the target, normally 0, whatever
 *   stable can carry, and never gets weight back: its requests would fail, a queue is the lesser harm;
 * - otherwise traffic is split in proportion to ready replicas, so both sides are equally overloaded
 *   (what one Service over all ready pods would do) — but the candidate never gets more than it has
 *   now (a step is not entered on an overloaded stable). With no ready replica anywhere nothing moves.
 */
export function chooseCandidateWeight(input: WeightInput): WeightChoice {
  const { current, target, fullReplicas } = input;
  if (input.drainCandidate) return target < current ? { candidateWeight: target, limitedBy: 'drain' } : { candidateWeight: Math.min(current, target) };
  // Weights never move away from the target: a stable that lost pods is not relieved by sending more
  // to a candidate than its step allows (its ReplicaSet replaces the pods).
  const upper = Math.max(current, target);
  const hi = weightCarriedBy(input.candidateReady, fullReplicas);
  const lo = 100 - weightCarriedBy(input.stableReady, fullReplicas);
  if (lo <= hi) {
    if (current >= lo && current <= hi) {
      if (target >= current) return target <= hi ? { candidateWeight: target } : { candidateWeight: current, limitedBy: 'capacity' };
      const w = Math.max(target, lo);
      return w === target ? { candidateWeight: w } : { candidateWeight: w, limitedBy: 'capacity' };
    }
    // The world moved under us: go to the feasible weight nearest the target, on the way from current.
    const w = Math.min(clamp(target, lo, hi), upper);
    return { candidateWeight: w, limitedBy: w === target ? undefined : 'capacity' };
  }
  const total = input.candidateReady + input.stableReady;
  if (total === 0) return { candidateWeight: current, limitedBy: 'overload' };
  const proportional = Math.round((100 * input.candidateReady) / total);
  // Overloaded either way: never more to the candidate than it has now.
  const w = Math.min(proportional, current);
  return { candidateWeight: w, limitedBy: 'overload' };
}

function clamp(value: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, value));
}
