import type { Condition, ConditionType } from './types.js';

export interface ConditionUpdate {
  type: ConditionType;
  status: Condition['status'];
  reason: string;
  message: string;
}

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
  return [...conditions.filter((c) => c.type !== update.type), next].sort((a, b) => ORDER.indexOf(a.type) - ORDER.indexOf(b.type));
}

const ORDER: ConditionType[] = ['Ready', 'Available', 'Progressing', 'Paused', 'Degraded', 'InvalidSpec', 'ReconcileError'];
