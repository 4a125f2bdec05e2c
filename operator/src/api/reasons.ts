// The reasons the operator writes: on status.conditions, on status.history entries and events, in
// status.blockedWrite. The one list of them (docs/architecture.md's transition table names the phase reasons);
// the types below are unions of these lists, so a reason spelled anywhere else fails the type check.
// Reasons computed at run time are typed apart: `Step<n>`, and a failure's reason (an analysis rule's name).

/** Why status.phase changed: the reason of the history entry and event a transition records. */
export const PHASE_REASONS = [
  'Initializing',
  'Initialized',
  'Promoted',
  'Settled',
  'Settling',
  'InvalidSpec',
  'RolloutStarted',
  'Restarted',
  'Retried',
  'ShadowStarted',
  'PausedByUser',
  'ManualGate',
  'AnalysisPaused',
  'AbortRequested',
  'ProgressDeadlineExceeded',
] as const;
export type PhaseReason = (typeof PHASE_REASONS)[number];

/** Step n's weight applied (`Step1`, `Step2`, …): the reason of the transition into Progressing at step n. */
export type StepReason = `Step${number}`;
/** The reason of the transition into step `index` (0-based). */
export function stepReason(index: number): StepReason {
  return `Step${index + 1}`;
}

/** A history entry and event without a phase change. */
export const NOTE_REASONS = [
  'StrategyChanged',
  'CandidateAbandoned',
  'ShadowPassed',
  'GateResumed',
  'StepPassed',
  'StepsChanged',
  'CandidateCapacityLost',
  'GPUsFreed',
  'WebhookGateHeld',
  'WebhookGateOpened',
] as const;
export type NoteReason = (typeof NOTE_REASONS)[number];

/**
 * What the route observation says when traffic cannot be weighed: the route is missing, or the rule the
 * rollout names belongs to someone else (a Warning event and the Ready/Progressing reason).
 */
export const ROUTE_REASONS = ['RouteNotFound', 'RouteRuleNotOwned'] as const;
export type RouteReason = (typeof ROUTE_REASONS)[number];

/** Reasons of status.blockedWrite and of the ReconcileError condition, set by the controller. */
export const BLOCKED_WRITE_REASONS = ['ObjectNotOwned', 'WriteRefused', 'TemplateRefused', 'RevisionTemplateLost'] as const;
export type BlockedWriteReason = (typeof BLOCKED_WRITE_REASONS)[number];
/** The ReconcileError condition's reason once writes go through again. */
export const RECONCILE_SUCCEEDED = 'ReconcileSucceeded';

/**
 * Condition reasons (besides a phase reason, a route reason, a blocked write's and RECONCILE_SUCCEEDED): the
 * state a condition is in when no phase change names it.
 */
export const CONDITION_REASONS = [
  'SpecValid',
  'Healthy',
  'RolloutComplete',
  'NoRollout',
  'NotPaused',
  'Paused',
  'AsExpected',
  'RolledBack',
  'Aborted',
  'WaitingForStable',
  'WaitingForCandidate',
  'InsufficientGPU',
  'RolloutInProgress',
  'Baking',
  'AwaitingAnalysis',
  'AnalysisInconclusive',
  'WebhookGateHeld',
  'StableAvailable',
  'StableUnavailable',
] as const;

/** Every reason a condition can have but Degraded=True's, which names what failed (FailureReason). */
export type ConditionReason = (typeof CONDITION_REASONS)[number] | PhaseReason | RouteReason | BlockedWriteReason | typeof RECONCILE_SUCCEEDED;

/**
 * Why a candidate failed, as found at run time: the name of the analysis or breaker rule that failed, or what
 * the analysis runner says (NoData, AnalysisError, CandidateCrashing). Open: rule names are the user's.
 */
export type FailureReason = string;

/** The Warning event when spec.notifications' Secret or its keys cannot be read (the global receivers are still told). */
export const NOTIFICATION_RECEIVERS_MISSING = 'NotificationReceiversMissing';
