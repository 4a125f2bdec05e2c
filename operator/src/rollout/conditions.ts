import { CONDITION_TYPES, type ConditionType } from '../api/names.js';
import type { ConditionReason, FailureReason } from '../api/reasons.js';
import type { Condition } from './types.js';

/** A condition to set: its reason is one of api/reasons.ts's, but Degraded=True's, which names what failed. */
export type ConditionUpdate =
  | { type: ConditionType; status: Condition['status']; reason: ConditionReason; message: string }
  | { type: 'Degraded'; status: 'True'; reason: FailureReason; message: string };

/**
 * Sets a condition in place. lastTransitionTime moves only when status flips
 * (https://github.com/kubernetes/community/blob/master/contributors/devel/sig-architecture/api-conventions.md#typical-status-properties).
 */
export function setCondition(conditions: Condition[], update: ConditionUpdate, generation: number, now: Date): Condition[] {
  const existing = conditions.find((c) => c.type === update.type);
  const next: Condition = {
    ...update,
    observedGeneration: generation,
    lastTransitionTime: existing && existing.status === update.status ? existing.lastTransitionTime : now.toISOString(),
  };
  return [...conditions.filter((c) => c.type !== update.type), next].sort((a, b) => CONDITION_TYPES.indexOf(a.type) - CONDITION_TYPES.indexOf(b.type));
}
