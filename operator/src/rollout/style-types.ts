// A StyleRollout's vocabulary (ADR 0005): one style (a LoRA adapter) moves from one version to the next on the
// same pods. Only the route changes — two backendRefs to the same Service, each pinning a version with a
// request header — so there are no replicas, revisions or capacity here, unlike a ModelRollout.
import type { AnalysisStatus } from '../analysis/types.js';
import type { AnalysisVerdict, Condition, StepStatus } from './types.js';

export type StylePhase = 'Initializing' | 'Healthy' | 'Progressing' | 'Paused' | 'RolledBack' | 'Invalid';

/** One arm of the managed rule: the adapter version it pins and its weight. */
export interface AdapterArm {
  version: string;
  weight: number;
}

/** What the managed rule carries now (traffic/adapter-route.ts reads it). */
export type AdapterRouteObservation =
  | {
      found: true;
      arms: AdapterArm[];
      /** The rule does not carry this StyleRollout's claim annotation yet: the next write adds it. */
      unclaimed?: true;
      /**
       * Set when the style's arms ride on the rule's X-Adapter-Split (strategy.assignment: sticky), not on
       * backendRef pins; `salt` is the rule's X-Adapter-Assignment-Salt.
       */
      sticky?: { salt?: string };
    }
  | { found: false; error: string; reason?: 'RouteRuleNotOwned' | 'RouteNotFound' | 'RuleNotFound' };

/**
 * The version of the style the runtime serves a request the rule does not pin: the newest in the pods' library
 * (`GET /v1/adapters` → `latest`; undefined when the library has none or the pods refuse it: such requests fail
 * today). Asked of one ready pod, only while a StyleRollout adopts a rule that has an unpinned backendRef
 * (needsServedUnpinned).
 */
export type ServedUnpinned = { ok: true; version: string | undefined } | { ok: false; message: string };

export interface StyleSpec {
  /** The adapter's name in the library (`ink-wash`). */
  style: string;
  /** The wanted version (`v2`). */
  version: string;
  steps: number[];
  stepDurationMs: number;
  /** Load the new version on every ready pod (`POST /v1/adapters/<style@vN>:load`) before its first step. */
  preload: boolean;
  /**
   * How requests are split between the versions: `weighted` (default) — weighted backendRefs, each pinning its
   * version (Gateway API Extended: backendRef filters), a draw per request; `sticky` — one backendRef and the
   * rule's X-Adapter-Split with a per-rollout salt (Gateway API core), so a request carrying
   * X-Adapter-Assignment-Key keeps its version for the whole rollout (docs/experiment-assignment.md).
   */
  assignment: 'weighted' | 'sticky';
}

/** What loading the candidate on the pods gave (controller/style-controller.ts); absent when it was not tried. */
export type PreloadResult = { ok: true; pods: number } | { ok: false; retry: boolean; message: string };

export interface StyleHistoryEntry {
  time: string;
  phase: StylePhase;
  reason: string;
  message: string;
  weight?: number;
}

export interface StyleRolloutStatus {
  observedGeneration?: number;
  phase?: StylePhase;
  message?: string;
  /** The version every request for the style gets when no rollout is in flight. */
  stableVersion?: string;
  /** The version being rolled out (or the one rolled back, while phase is RolledBack). */
  candidateVersion?: string;
  /** Rollouts this StyleRollout has started, this one included: sticky assignment's salt is new for each. */
  rolloutCount?: number;
  /** The salt of a sticky split adopted mid-rollout: kept for that rollout, so adopting it moves nobody. */
  adoptedSalt?: string;
  currentStep?: StepStatus;
  weights?: { stable: number; candidate: number };
  analysis?: AnalysisStatus;
  /** The candidate version loaded on every ready pod before its first step (spec.strategy.preload). */
  preloaded?: { version: string; pods: number; at: string };
  /** Why the last candidate was rolled back. */
  failure?: { reason: string; message: string; at: string };
  /** The rule this StyleRollout manages (and claimed): the controller releases it when the spec moves to another. */
  rule?: { httpRoute: string; ruleIndex: number; service: string; port: number; style: string };
  /**
   * strategy.assignment sticky, while a candidate takes traffic: what an app needs to tell a user's version —
   * the salt, the request header the key travels in, and the buckets (0…9 999) that get the candidate.
   */
  assignment?: { salt: string; keyHeader: string; candidateBuckets: { from: number; to: number } };
  conditions?: Condition[];
  history?: StyleHistoryEntry[];
}

export interface StyleDecideInput {
  /** The StyleRollout's metadata.uid: it salts sticky assignment (a new salt per rollout). */
  uid: string;
  /** Undefined when the spec is invalid (`specErrors` say why). */
  spec: StyleSpec | undefined;
  specErrors: string[];
  generation: number;
  status: StyleRolloutStatus;
  route: AdapterRouteObservation;
  analysis: AnalysisVerdict;
  breaker: { tripped: false } | { tripped: true; reason: string; message: string };
  /** What analysis measured this pass; stored while it is about the current candidate. */
  analysisStatus?: AnalysisStatus;
  /** When analysis wants to look again. */
  analysisWakeInMs?: number;
  /** The preload tried this pass (when needsPreload said so). */
  preload?: PreloadResult;
  /** What unpinned requests get today (when needsServedUnpinned said so). */
  servedUnpinned?: ServedUnpinned;
  now: Date;
}

/** The route the rule should carry: the stable arm, and the candidate's while a rollout is in flight. */
export interface DesiredRoute {
  arms: AdapterArm[];
  /** Sticky assignment: the arms go on the rule's X-Adapter-Split, candidate first, salted so. */
  sticky?: { salt: string };
}

export interface StyleDecision {
  status: StyleRolloutStatus;
  /** Set: write the managed rule so; absent: the rule is right (or must not be touched). */
  route?: DesiredRoute;
  events: { type: 'Normal' | 'Warning'; reason: string; message: string }[];
  requeueAfterMs?: number;
}
