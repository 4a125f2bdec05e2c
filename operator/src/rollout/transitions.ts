// The state machine's transition table: every change of status.phase decide() can make, with its reason, the
// phases it can come from and when. DecisionPass.transition() refuses a pair this table does not list (the type
// check refuses most of them already: a phase's reason parameter is the union of its rows' reasons), the
// simulated cluster's tests check every transition they see against From, and docs/architecture.md's table is
// this one rendered (transition-table.test.ts).
import type { FailureReason, PhaseReason, StepReason } from '../api/reasons.js';
import type { Phase } from './types.js';

export const PHASES: readonly Phase[] = ['Initializing', 'Healthy', 'Shadowing', 'Progressing', 'Paused', 'RolledBack', 'Aborted', 'Invalid'];

/** A reason computed at run time, as a row names it: step n, or the rule that failed. */
type ComputedReason = 'Step{n}' | '{failed analysis}' | '{tripped breaker}';
/** Where a transition can come from: a phase, or `new` (no phase yet). */
type From = Phase | 'new';

export interface TransitionRow {
  readonly to: Phase;
  readonly reason: PhaseReason | ComputedReason;
  readonly from: readonly From[];
  readonly when: string;
}

const ACTIVE = ['Shadowing', 'Progressing', 'Paused'] as const;

export const TRANSITIONS = [
  { to: 'Initializing', reason: 'Initializing', from: ['new', 'Invalid'], when: 'the first valid spec: its template becomes the stable revision' },
  { to: 'Healthy', reason: 'Initialized', from: ['Initializing'], when: 'the first stable revision serves 100 % with all replicas ready' },
  { to: 'Healthy', reason: 'Promoted', from: ['Progressing'], when: 'the last step (100 %) baked: the candidate becomes the stable revision' },
  {
    to: 'Healthy',
    reason: 'Settled',
    from: [...ACTIVE, 'RolledBack', 'Aborted', 'Invalid'],
    when: 'back on stable (template reverted to it, or after a rollback or abort) with all replicas ready',
  },
  {
    to: 'Healthy',
    reason: 'Settling',
    from: ['Healthy', ...ACTIVE, 'RolledBack', 'Aborted', 'Invalid'],
    when: 'traffic or replicas are still moving back to stable (from Healthy only when status has no history yet)',
  },
  {
    to: 'Invalid',
    reason: 'InvalidSpec',
    from: ['new', ...PHASES],
    when: 'the spec cannot be acted on and no rollout is in flight; nothing is changed',
  },
  {
    to: 'Progressing',
    reason: 'RolloutStarted',
    from: ['Initializing', 'Healthy', 'Invalid'],
    when: 'the template changed: a candidate revision starts (no shadow)',
  },
  {
    to: 'Shadowing',
    reason: 'RolloutStarted',
    from: ['Initializing', 'Healthy', 'Invalid'],
    when: 'the same, with `strategy.shadow`: live traffic is mirrored first',
  },
  {
    to: 'Progressing',
    reason: 'Restarted',
    from: [...ACTIVE, 'RolledBack', 'Aborted'],
    when: 'the template changed again mid-rollout, or after a rollback or abort: (re)start from the first step',
  },
  { to: 'Shadowing', reason: 'Restarted', from: [...ACTIVE, 'RolledBack', 'Aborted'], when: 'the same, with shadow' },
  { to: 'Progressing', reason: 'Retried', from: ['RolledBack', 'Aborted'], when: 'annotation `modelrollout.dev/retry` on a failed candidate' },
  { to: 'Shadowing', reason: 'Retried', from: ['RolledBack', 'Aborted'], when: 'the same, with shadow' },
  { to: 'Shadowing', reason: 'ShadowStarted', from: ACTIVE, when: 'the mirror is in place; the shadow bake starts' },
  { to: 'Progressing', reason: 'Step{n}', from: ACTIVE, when: "step n's weight is applied (also when resumed)" },
  { to: 'Paused', reason: 'PausedByUser', from: ACTIVE, when: 'annotation `modelrollout.dev/paused`' },
  { to: 'Paused', reason: 'ManualGate', from: ACTIVE, when: 'a step listed in `strategy.manualGates` is reached' },
  {
    to: 'Paused',
    reason: 'AnalysisPaused',
    from: ACTIVE,
    when: 'analysis says pause (no data, or too many query errors with `onError: Pause`)',
  },
  { to: 'RolledBack', reason: '{failed analysis}', from: ACTIVE, when: "a step's or the shadow's analysis failed (the reason is the failed rule's)" },
  {
    to: 'RolledBack',
    reason: '{tripped breaker}',
    from: [...ACTIVE, 'Aborted'],
    when: "the sustained-window breaker tripped (ADR 0003; the reason is the tripped rule's)",
  },
  { to: 'Aborted', reason: 'AbortRequested', from: ACTIVE, when: 'annotation `modelrollout.dev/abort`' },
  {
    to: 'Aborted',
    reason: 'ProgressDeadlineExceeded',
    from: ['Progressing', 'Shadowing'],
    when: 'active waiting for GPUs or readiness exceeded `strategy.progressDeadline`',
  },
] as const satisfies readonly TransitionRow[];

type Row = (typeof TRANSITIONS)[number];

/** What failed, named at run time: the reason of a transition into RolledBack. */
export interface Failure {
  readonly by: 'analysis' | 'breaker';
  readonly reason: FailureReason;
}
export const analysisFailure = (reason: FailureReason): Failure & { by: 'analysis' } => ({ by: 'analysis', reason });
export const breakerFailure = (reason: FailureReason): Failure & { by: 'breaker' } => ({ by: 'breaker', reason });

/** The reason argument a row takes: its literal reason, a step's, or the failure it names. */
type ArgumentOf<R> = R extends 'Step{n}'
  ? StepReason
  : R extends '{failed analysis}'
    ? Failure & { by: 'analysis' }
    : R extends '{tripped breaker}'
      ? Failure & { by: 'breaker' }
      : R;
/** The reasons a transition into phase P can give: the union of P's rows. */
export type TransitionReason<P extends Phase> = ArgumentOf<Extract<Row, { to: P }>['reason']>;

/** A transition decide() made in one pass, and the row that lists it. */
export interface Transitioned {
  from: From;
  to: Phase;
  reason: string;
  row: TransitionRow;
}

/** The reason as status.history and the event record it. */
export function reasonText(reason: TransitionReason<Phase>): string {
  return typeof reason === 'string' ? reason : reason.reason;
}

/** A transition the table does not list: a bug in decide(), never a state of the world. */
export class UnlistedTransitionError extends Error {
  readonly code = 'UnlistedTransition';
}

function rowMatches(row: TransitionRow, to: Phase, reason: TransitionReason<Phase>): boolean {
  if (row.to !== to) return false;
  if (typeof reason !== 'string') return row.reason === (reason.by === 'analysis' ? '{failed analysis}' : '{tripped breaker}');
  return row.reason === 'Step{n}' ? /^Step[1-9]\d*$/.test(reason) : row.reason === reason;
}

/** The row of a transition into `to` for `reason`. @throws UnlistedTransitionError when there is none. */
export function transitionRow(to: Phase, reason: TransitionReason<Phase>): TransitionRow {
  const row = (TRANSITIONS as readonly TransitionRow[]).find((r) => rowMatches(r, to, reason));
  if (!row) throw new UnlistedTransitionError(`transition to ${to} (${reasonText(reason)}) is not in the transition table (rollout/transitions.ts)`);
  return row;
}

/** Whether the table lists the phase this transition came from. */
export function listedFrom(t: Transitioned): boolean {
  return t.row.from.includes(t.from);
}

/** docs/architecture.md's table, rendered from TRANSITIONS. */
export function transitionTable(): string {
  const code = (s: string) => (s.startsWith('{') || s.includes('{n}') ? `\`${s}\`` : s);
  const from = (f: readonly From[]) => (['new', ...PHASES].every((p) => f.includes(p as From)) ? 'any' : f.map((p) => (p === 'new' ? '(new)' : p)).join(', '));
  const rows = (TRANSITIONS as readonly TransitionRow[]).map((r) => `| ${r.to} | ${code(r.reason)} | ${from(r.from)} | ${r.when} |`);
  return ['| To | Reason | From | When |', '| --- | --- | --- | --- |', ...rows].join('\n');
}
