// One decision pass (DecisionPass): the status being built, the actions collected and the earliest wake-up.
// Mutable inside decide() only; decide() as a whole stays a pure function of its input.
import type { NoteReason, PhaseReason, RouteReason } from '../api/reasons.js';
import { setCondition, type ConditionUpdate } from './conditions.js';
import { reasonText, transitionRow, type TransitionReason, type Transitioned } from './transitions.js';
import type { Action, DecideInput, Decision, HandledControls, HistoryEntry, Phase, RolloutStatus } from './types.js';

export const HISTORY_LIMIT = 20;
const WARNING_PHASES: Phase[] = ['RolledBack', 'Aborted', 'Invalid'];

export type ControlName = keyof HandledControls;

export class DecisionPass {
  readonly status: RolloutStatus;
  readonly actions: Action[] = [];
  /** The phase changes this pass made, each with its row of the transition table. */
  readonly transitions: Transitioned[] = [];
  /** Replicas decided for each revision in this pass, whether or not that needed a write. */
  readonly sized = new Map<string, number>();
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

  /** Leaves a fresh control unhandled, so a later pass (once a hold ends) acts on it. */
  defer(name: ControlName): void {
    if (!this.fresh[name]) return;
    this.fresh[name] = false;
    const previous = this.input.status.controls?.[name];
    const controls = { ...this.status.controls };
    if (previous === undefined) delete controls[name];
    else controls[name] = previous;
    this.status.controls = controls;
  }

  get now(): string {
    return this.input.now.toISOString();
  }

  act(action: Action): void {
    this.actions.push(action);
  }

  /** An event without a history entry: a state seen again (an invalid spec, a route rule someone else owns). */
  event(type: 'Normal' | 'Warning', reason: PhaseReason | RouteReason | NoteReason, message: string): void {
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

  /**
   * Records a phase change (or a new reason within a phase) in history and as an event; repeated calls are no-ops.
   * Only a transition the table lists (rollout/transitions.ts) is made: any other is a bug, thrown.
   */
  transition<P extends Phase>(phase: P, reason: TransitionReason<P>, message: string): void {
    const row = transitionRow(phase, reason);
    const text = reasonText(reason);
    const last = this.status.history?.[this.status.history.length - 1];
    const changed = this.status.phase !== phase || last?.reason !== text;
    const from = this.status.phase ?? 'new';
    this.status.phase = phase;
    this.status.message = message;
    if (!changed) return;
    this.transitions.push({ from, to: phase, reason: text, row });
    this.record(text, message, WARNING_PHASES.includes(phase) ? 'Warning' : 'Normal');
  }

  /** A history entry and an event without a phase change (a step passed, GPUs freed, ...). */
  note(reason: NoteReason, message: string, type: 'Normal' | 'Warning' = 'Normal'): void {
    this.record(reason, message, type);
  }

  private record(reason: string, message: string, type: 'Normal' | 'Warning'): void {
    const entry: HistoryEntry = { time: this.now, phase: this.status.phase ?? 'Initializing', reason, message };
    if (this.status.currentStep) entry.weight = this.status.currentStep.weight;
    this.status.history = [...(this.status.history ?? []), entry].slice(-HISTORY_LIMIT);
    this.actions.push({ kind: 'event', type, reason, message });
  }

  finish(): Decision {
    return { status: this.status, actions: safeOrder(this.actions, this.input), requeueAfterMs: this.requeueAfterMs, transitions: this.transitions };
  }
}

/**
 * The order that makes every prefix of a pass's writes safe (the operator may die after any of them):
 * shift traffic back toward stable (onto replicas already ready) → scale up → re-point Services (only
 * idle ones are re-pointed) → shift traffic up (only onto ready replicas) → scale down and delete →
 * release the finalizer. Of several plans for one Deployment the
 * last wins. Events go last: they inform, they protect nothing.
 */
export function safeOrder(actions: readonly Action[], input: DecideInput): Action[] {
  const lastPlan = new Map<string, number>();
  const keyOf = (a: Action): string | undefined =>
    a.kind === 'ensureDeployment' || a.kind === 'scaleDeployment'
      ? `deployment/${a.revision}`
      : a.kind === 'setTraffic' || a.kind === 'ensureServices'
        ? a.kind
        : undefined;
  actions.forEach((a, i) => {
    const key = keyOf(a);
    if (key) lastPlan.set(key, i);
  });
  const rank = (a: Action): number => {
    switch (a.kind) {
      case 'ensureDeployment':
        return 0;
      case 'scaleDeployment':
        return a.replicas > (input.deployments[a.revision]?.desiredReplicas ?? 0) ? 0 : 3;
      case 'ensureServices':
        return 1;
      // A shift toward stable was chosen from stable's *observed* ready pods: it depends on no other write of
      // this pass, so it goes first — an abort or a drain must not wait behind a refused scale-up.
      case 'setTraffic':
        return a.candidateWeight < (input.route.candidateWeight ?? 0) || a.mirrorPercent < (input.route.mirrorPercent ?? 0) ? -1 : 2;
      case 'deleteDeployment':
        return 3;
      case 'removeFinalizer':
        return 4;
      case 'event':
        return 5;
    }
  };
  return actions
    .map((a, i) => ({ a, i }))
    .filter(({ a, i }) => {
      const key = keyOf(a);
      return key === undefined || lastPlan.get(key) === i;
    })
    .sort((x, y) => rank(x.a) - rank(y.a) || x.i - y.i)
    .map(({ a }) => a);
}
