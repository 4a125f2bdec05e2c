// The pure core's vocabulary: what a rollout wants (spec), what it remembers (status), what the
// world looks like right now (observations) and what should be done about it (actions).
// Nothing here imports Kubernetes or HTTP code.
import type { AnalysisStatus } from '../analysis/types.js';
import type { ConditionType } from '../api/names.js';
import type { BlockedWriteReason, RouteReason } from '../api/reasons.js';
import type { Transitioned } from './transitions.js';
import type { WebhookAnswer, WebhookGate, WebhookGateHold } from './webhook-gates.js';

export type Phase =
  | 'Initializing' // the first template is coming up as stable
  | 'Healthy' // stable carries 100 %, no candidate
  | 'Shadowing' // live traffic mirrored to the candidate
  | 'Progressing' // stepping the candidate's weight
  | 'Paused' // a manual gate or a pause control holds the rollout
  | 'RolledBack' // analysis tripped; back on stable until the template changes
  | 'Aborted' // deadline or abort control; back on stable until the template changes or a retry
  | 'Invalid'; // the spec cannot be acted on; nothing was changed

export interface ShadowSpec {
  mirrorPercent: number;
  durationMs: number;
}

/** A validated spec with durations parsed and defaults applied. */
export interface RolloutSpec {
  replicas: number;
  modelName: string;
  modelVersion: string;
  gpuResource: string;
  gpusPerReplica: number;
  steps: number[];
  stepDurationMs: number;
  progressDeadlineMs: number;
  manualGates: number[];
  shadow: ShadowSpec | undefined;
  /**
   * `Dynamic` (default): stable shrinks to its traffic share as the candidate grows, freeing GPUs; an
   * abort then waits for stable to become ready again. `Full`: stable stays at `replicas` throughout
   * (Argo Rollouts' default), so an abort is instant, at the cost of up to twice the GPUs.
   */
  stableScale: 'Dynamic' | 'Full';
  /** spec.webhooks: gates asked before the first traffic and before promotion (webhook-gates.ts); none when absent. */
  webhooks?: WebhookGate[];
  /** With webhooks: how often a held gate is asked again (ms): spec.analysis.interval, at least 2 s (gatePollMs). */
  gateIntervalMs?: number;
}

export interface Condition {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration: number;
  lastTransitionTime: string;
}

export interface RevisionRef {
  revision: string;
  modelVersion: string;
}

export interface StepStatus {
  index: number;
  weight: number;
  /** "2/5": printer-column friendly. */
  label: string;
  /** When the step's weight was applied to the route; the bake timer starts here. */
  trafficShiftedAt?: string;
}

export interface HistoryEntry {
  time: string;
  phase: Phase;
  reason: string;
  message: string;
  weight?: number;
}

/** Last value of each edge-triggered control annotation that was acted on. */
export interface HandledControls {
  resume?: string;
  promote?: string;
  abort?: string;
  retry?: string;
}

export interface RolloutStatus {
  observedGeneration?: number;
  phase?: Phase;
  message?: string;
  stable?: RevisionRef;
  candidate?: RevisionRef;
  /** The stable before the last promotion; its Deployment is kept at zero replicas for a quick manual return. */
  previousStable?: RevisionRef;
  currentStep?: StepStatus;
  shadowStartedAt?: string;
  /** A manual gate passed for this step index (resume was given). */
  gatePassedForStep?: number;
  /** Start of the current stretch of active waiting for GPUs or readiness. */
  waitingSince?: string;
  /** Active waiting before the current stretch (ms); pauses are not counted. progressDeadline applies to the sum. */
  waitedMs?: number;
  /** The last spec that passed validation: an invalid spec mid-rollout still lets abort, pause and the breaker act on it. */
  lastValidSpec?: RolloutSpec;
  /** While traffic moves back to stable at the pace of stable's ready replicas. */
  returnToStable?: ReturnToStable;
  /** Times the candidate's weight was lowered because its ready replicas could not carry it. */
  candidateCapacityLost?: number;
  rolloutStartedAt?: string;
  weights?: { stable: number; candidate: number; mirrorPercent?: number };
  replicas?: { stable: ReplicaCount; candidate: ReplicaCount };
  controls?: HandledControls;
  conditions?: Condition[];
  history?: HistoryEntry[];
  /** Analysis state of the current candidate (measurements, breach windows, counters). */
  analysis?: AnalysisStatus;
  /** Set by analysis when it trips; kept so the reason stays visible. */
  failure?: { reason: string; message: string; at: string };
  /** The gate webhook that holds the rollout (spec.webhooks); absent while none does. */
  webhookGate?: WebhookGateHold;
  /** Every pre-rollout webhook said yes for this candidate (cleared with the candidate: a retry asks again). */
  preRolloutPassed?: boolean;
  /** A write the controller could not make; set after execution by the controller, carried over untouched by decide(). */
  blockedWrite?: BlockedWrite;
}

/**
 * A write the controller stopped at: the API server refused it, or the object belongs to someone else.
 * The rest of that pass's writes were not made; the write is tried again after a backoff that grows
 * with `attempts`.
 */
export interface BlockedWrite {
  reason: BlockedWriteReason;
  /** "Deployment t2v-0123456789", "Service t2v-stable", "HTTPRoute edge-route". */
  object: string;
  /** The server's message (or who owns the object), as shown in the condition and event. */
  message: string;
  /** HTTP status the API server answered with, when it answered. */
  code?: number;
  /** The revision whose Deployment it was, when it was one. */
  revision?: string;
  /** First refusal of this object for this reason (RFC 3339). */
  since: string;
  /** Last attempt (RFC 3339); the next one waits retryBackoffMs(attempts) from here. */
  lastAttempt: string;
  attempts: number;
}

export interface ReturnToStable {
  since: string;
  /** Candidate weight still in place (percent). */
  candidateWeight: number;
  stableReady: number;
  stableNeeded: number;
  /** Seconds until stable is expected to carry 100 %, from how long its pods have taken to become ready; absent when unknown. */
  expectedSeconds?: number;
  message: string;
}

export interface ReplicaCount {
  desired: number;
  ready: number;
}

/** What the controller saw of one revision's Deployment. */
export interface DeploymentObservation {
  revision: string;
  exists: boolean;
  desiredReplicas: number;
  readyReplicas: number;
  /** Pods the scheduler could not place (PodScheduled=False); absent when none. */
  unschedulableReplicas?: number;
  /** Median seconds its ready pods took from creation to Ready; undefined when none is ready yet. */
  readySeconds?: number;
  /** GPUs each of its pods asks for (read from its pod template). */
  gpusPerReplica: number;
  /** Why pods of this revision cannot become ready, when the controller could tell (Unschedulable, CrashLoopBackOff, ...). */
  podProblems: string[];
}

export interface RouteObservation {
  found: boolean;
  /** undefined when the route exists but the managed rule does not carry our two backends yet. */
  stableWeight?: number;
  candidateWeight?: number;
  mirrorPercent?: number;
  error?: string;
  /** Why the route cannot be used, when found is false: RouteNotFound (default) or RouteRuleNotOwned (someone else's backends). */
  reason?: RouteReason;
  /**
   * The A/B experiment's arm rules (traffic/router.ts Weights.arms), when found: all present as the router
   * writes them for the managed rule now, none there, or some there but missing, edited or stale.
   */
  arms?: 'present' | 'absent' | 'differ';
}

export interface ServiceObservation {
  stableSelects?: string;
  candidateSelects?: string;
}

export interface GpuCapacity {
  /** Free GPUs on each schedulable node: a replica must fit on one node. */
  freePerNode: number[];
}

/** The pluggable analysis verdict for the current step (or shadow phase). */
export type AnalysisVerdict =
  | { result: 'pass' }
  | { result: 'pending'; message: string }
  | { result: 'inconclusive'; message: string }
  /** Analysis cannot decide (metrics unavailable or inconclusive too long): hold for a person. */
  | { result: 'pause'; message: string }
  | { result: 'fail'; reason: string; message: string };

export interface Controls {
  paused: boolean;
  resume?: string;
  promote?: string;
  abort?: string;
  retry?: string;
}

export interface DecideInput {
  now: Date;
  generation: number;
  /** Undefined when the spec failed validation. */
  spec: RolloutSpec | undefined;
  specErrors: string[];
  /** Hash of the spec's template (the revision it names). */
  specRevision: string;
  status: RolloutStatus;
  deployments: Record<string, DeploymentObservation>;
  services: ServiceObservation;
  route: RouteObservation;
  gpus: GpuCapacity;
  analysis: AnalysisVerdict;
  /** Analysis' fast breaker: a trip here rolls back at once, whatever the step timer says. */
  breaker: { tripped: false } | { tripped: true; reason: string; message: string };
  /**
   * What this pass's analysis measured, for status.analysis: kept only while it is about the candidate the
   * decision still has (a new candidate starts without it). Absent: status.analysis stays as it was.
   */
  analysisStatus?: AnalysisStatus;
  /** When analysis wants to look again (its breaker or step interval), while the rollout is active. */
  analysisWakeInMs?: number;
  controls: Controls;
  deleting: boolean;
  /** The gate webhooks' last answers (webhooks/gate-caller.ts's cache); only those about the candidate count. */
  webhookAnswers?: WebhookAnswer[];
}

export type Action =
  | { kind: 'ensureDeployment'; revision: string; replicas: number }
  | { kind: 'scaleDeployment'; revision: string; replicas: number }
  | { kind: 'deleteDeployment'; revision: string }
  | { kind: 'ensureServices'; stableRevision: string; candidateRevision: string }
  | { kind: 'setTraffic'; stableWeight: number; candidateWeight: number; mirrorPercent: number }
  | { kind: 'event'; type: 'Normal' | 'Warning'; reason: string; message: string }
  | { kind: 'removeFinalizer' };

export interface Decision {
  status: RolloutStatus;
  actions: Action[];
  /** Undefined: nothing to wait for (the next watch event will wake us). */
  requeueAfterMs: number | undefined;
  /** The phase changes made (each also in status.history), with their rows of the transition table. */
  transitions?: Transitioned[];
}
