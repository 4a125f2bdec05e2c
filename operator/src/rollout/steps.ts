// Re-reading strategy.steps mid-rollout (issue 13): where a rollout stands is its current step's weight,
// not an index into a list that may have changed.
import type { StepStatus } from './types.js';

/**
 * The step a rollout at `current.weight` is at in `steps` (ascending, last 100):
 * - the weight is still a step → that step, keeping its bake timer;
 * - otherwise → the first step above the weight (traffic moves up to it and bakes again), so a
 *   promotion happens only after the last step (100 %) has baked.
 * Returns `current` itself when nothing changed.
 */
export function rederiveStep(current: StepStatus, steps: readonly number[]): StepStatus {
  const label = (index: number) => `${index + 1}/${steps.length}`;
  const same = steps.indexOf(current.weight);
  if (same >= 0) {
    if (same === current.index && label(same) === current.label) return current;
    return { ...current, index: same, label: label(same) };
  }
  let next = steps.findIndex((w) => w > current.weight);
  if (next < 0) next = steps.length - 1;
  return { index: next, weight: steps[next]!, label: label(next) };
}
