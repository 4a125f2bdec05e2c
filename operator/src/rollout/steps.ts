// Re-reading strategy.steps mid-rollout (issue 13): where a rollout stands is its current step's weight,
// not an index into a list that may have changed.
import type { StepStatus } from './types.js';

/**
 * The step a rollout is at in `steps` (ascending, last 100), given its current step and the weight the
 * route carries now (`routeWeight`, below the step's weight while traffic still waits to move up):
 * - the current step's weight is still a step → that step, keeping its bake timer;
 * - otherwise → the first step at or above the weight the route carries (traffic moves to it and bakes
 *   again), so nothing between is skipped and a promotion happens only after 100 % has baked.
 * Returns `current` itself when nothing changed.
 */
export function rederiveStep(current: StepStatus, steps: readonly number[], routeWeight = current.weight): StepStatus {
  const label = (index: number) => `${index + 1}/${steps.length}`;
  const same = steps.indexOf(current.weight);
  if (same >= 0) {
    if (same === current.index && label(same) === current.label) return current;
    return { ...current, index: same, label: label(same) };
  }
  const anchor = Math.min(current.weight, routeWeight);
  let next = steps.findIndex((w) => w >= anchor && w > 0);
  if (next < 0) next = steps.length - 1;
  return { index: next, weight: steps[next]!, label: label(next) };
}
