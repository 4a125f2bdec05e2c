// One decision pass: the status being built, the actions collected and the earliest wake-up.
// Mutable inside decide() only; decide() as a whole stays a pure function of its input.
import { setCondition, type ConditionUpdate } from './conditions.js';
import type { Action, DecideInput, Decision, HandledControls, HistoryEntry, Phase, RolloutStatus } from './types.js';

export const HISTORY_LIMIT = 20;
const WARNING_PHASES: Phase[] = ['RolledBack', 'Aborted', 'Invalid'];

export type ControlName = keyof HandledControls;

export class Pass {
  readonly status: RolloutStatus;
  readonly actions: Action[] = [];
  private requeueAfterMs: number | undefined;
  /** Edge-triggered controls that arrived since the last pass; consumed whether or not they apply. */
  readonly fresh: Record<ControlName, boolean>;

  constructor(readonly input: DecideInput) {
    this.status = structuredClone(input.status);
    this.status.observedGeneration = input.generation;
    this.fresh = { resume: false, promote: false, abort: false, retry: false };
    for (const name of Object.keys(this.fresh) as ControlName[]) {
      const token = input.controls[name];
      if (token && token !== input.status.controls?.[name]) {
        this.fresh[name] = true;
        this.status.controls = { ...this.status.controls, [name]: token };
      }
    }
  }

  get now(): string {
    return this.input.now.toISOString();
  }

  act(action: Action): void {
    this.actions.push(action);
  }

  event(type: 'Normal' | 'Warning', reason: string, message: string): void {
    this.actions.push({ kind: 'event', type, reason, message });
  }

  /** Wake up again after `ms` (the earliest of all requests wins). */
  wakeIn(ms: number): void {
    const clamped = Math.max(0, Math.ceil(ms));
    this.requeueAfterMs = this.requeueAfterMs === undefined ? clamped : Math.min(this.requeueAfterMs, clamped);
  }

  condition(update: ConditionUpdate): void {
    this.status.conditions = setCondition(this.status.conditions ?? [], update, this.input.generation, this.input.now);
  }

  /** Records a phase change (or a new reason within a phase) in history and as an event; repeated calls are no-ops. */
  transition(phase: Phase, reason: string, message: string, type?: 'Normal' | 'Warning'): void {
    const last = this.status.history?.[this.status.history.length - 1];
    const changed = this.status.phase !== phase || last?.reason !== reason;
    this.status.phase = phase;
    this.status.message = message;
    if (!changed) return;
    this.note(reason, message, type ?? (WARNING_PHASES.includes(phase) ? 'Warning' : 'Normal'));
  }

  /** A history entry and an event without a phase change (a step passed, GPUs freed, ...). */
  note(reason: string, message: string, type: 'Normal' | 'Warning' = 'Normal'): void {
    const entry: HistoryEntry = { time: this.now, phase: this.status.phase ?? 'Initializing', reason, message };
    if (this.status.currentStep) entry.weight = this.status.currentStep.weight;
    this.status.history = [...(this.status.history ?? []), entry].slice(-HISTORY_LIMIT);
    this.event(type, reason, message);
  }

  finish(): Decision {
    return { status: this.status, actions: this.actions, requeueAfterMs: this.requeueAfterMs };
  }
}
