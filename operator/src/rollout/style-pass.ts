// The working state of one decideStyle() pass: the status being built, the route wanted, events and when to look
// again. The one place a StyleRollout's phase changes (transition(): it records the change in history and as an
// event), as DecisionPass is for a ModelRollout.
import { experimentSalt } from '../analysis/experiment-assignment.js';
import type { ConditionReason } from '../api/reasons.js';
import { pinOf } from './style-spec.js';
import { setCondition, type ConditionUpdate } from './conditions.js';
import type { AdapterArm, DesiredRoute, StyleDecideInput, StyleDecision, StylePhase, StyleRolloutStatus } from './style-types.js';

const HISTORY_LIMIT = 20;
/** How soon to look again after a route write (the informer brings the change sooner). */
export const ROUTE_RECHECK_MS = 2000;

/** The StyleRollout transitions: the table in docs/adr/0005-style-rollouts.md lists the same (checked by style-decide.test.ts). */
export const STYLE_TRANSITIONS = [
  ['Initializing', 'Initializing'],
  ['Healthy', 'Initialized'],
  ['Healthy', 'Promoted'],
  ['Healthy', 'Reverted'],
  ['Progressing', 'RolloutStarted'],
  ['Progressing', 'Resumed'],
  ['Progressing', 'SpecFixed'],
  ['RolledBack', 'SpecFixed'],
  ['Paused', 'AnalysisPaused'],
  ['RolledBack', 'AnalysisFailed'],
  ['RolledBack', 'AdapterLoadFailed'],
  ['Invalid', 'InvalidSpec'],
] as const;
type Reason = (typeof STYLE_TRANSITIONS)[number][1];

export class StylePass {
  readonly status: StyleRolloutStatus;
  readonly events: StyleDecision['events'] = [];
  route?: DesiredRoute;
  requeueAfterMs?: number;

  constructor(readonly input: StyleDecideInput) {
    this.status = structuredClone(input.status);
    this.status.observedGeneration = input.generation;
  }

  transition(phase: StylePhase, reason: Reason, message: string, weight?: number): void {
    const time = this.input.now.toISOString();
    this.status.phase = phase;
    this.status.message = message;
    this.status.history = [...(this.status.history ?? []), { time, phase, reason, message, ...(weight !== undefined ? { weight } : {}) }].slice(-HISTORY_LIMIT);
    this.events.push({ type: phase === 'RolledBack' || phase === 'Invalid' ? 'Warning' : 'Normal', reason, message });
  }

  /**
   * Asks for `arms` on the route unless it carries them already, in the spec's form (pins, or a sticky split with
   * this rollout's salt) and with the claim; true when it does.
   */
  carries(arms: AdapterArm[]): boolean {
    const route = this.input.route;
    const sticky = this.sticky();
    const form = sticky ? route.found && route.sticky !== undefined && (arms.length <= 1 || route.sticky.salt === sticky.salt) : route.found && !route.sticky;
    if (route.found && !route.unclaimed && form && sameArms(route.arms, arms)) return true;
    this.route = { arms, ...(sticky ? { sticky } : {}) };
    this.wakeIn(ROUTE_RECHECK_MS);
    return false;
  }

  /** strategy.assignment sticky: the salt of the rollout in flight (of the stable version when none). */
  sticky(): { salt: string } | undefined {
    const { spec, uid } = this.input;
    const version = this.status.candidateVersion ?? this.status.stableVersion;
    if (spec?.assignment !== 'sticky' || !version) return undefined;
    if (this.status.adoptedSalt) return { salt: this.status.adoptedSalt };
    // A new salt per attempt: a version retried after a rollback does not reach the same users first again.
    return { salt: experimentSalt(uid, `${pinOf(spec.style, version)}#${this.status.rolloutCount ?? 0}`) };
  }

  wakeIn(ms: number | undefined): void {
    if (ms === undefined) return;
    this.requeueAfterMs = this.requeueAfterMs === undefined ? ms : Math.min(this.requeueAfterMs, ms);
  }

  done(): StyleDecision {
    this.conditions();
    this.assignment();
    return { status: this.status, ...(this.route ? { route: this.route } : {}), events: this.events, requeueAfterMs: this.requeueAfterMs };
  }

  /** status.assignment: published while a sticky rollout gives its candidate traffic, so apps can tell a user's version. */
  private assignment(): void {
    const { status } = this;
    const sticky = this.sticky();
    const weight = status.weights?.candidate ?? 0;
    if (sticky && status.candidateVersion && (status.phase === 'Progressing' || status.phase === 'Paused') && weight > 0)
      status.assignment = { salt: sticky.salt, keyHeader: 'X-Adapter-Assignment-Key', candidateBuckets: { from: 0, to: weight * 100 } };
    else delete status.assignment;
  }

  private conditions(): void {
    const { status, input } = this;
    const phase = status.phase ?? 'Initializing';
    const set = (update: ConditionUpdate) => {
      status.conditions = setCondition(status.conditions ?? [], update, input.generation, input.now);
    };
    const message = status.message ?? '';
    const bool = (on: boolean) => (on ? 'True' : 'False');
    set({ type: 'Ready', status: bool(phase === 'Healthy'), reason: READY_REASON[phase], message });
    const rolling = phase === 'Progressing' || phase === 'Paused';
    set({ type: 'Progressing', status: bool(rolling), reason: phase === 'Paused' ? 'Paused' : rolling ? 'RolloutInProgress' : 'NoRollout', message });
    // Degraded=True names what failed: the route's problem, or the rule (or preload) that rolled the candidate back.
    const failed =
      !input.route.found && phase !== 'Invalid'
        ? (input.route.reason ?? 'RouteNotFound')
        : phase === 'RolledBack'
          ? (status.failure?.reason ?? 'RolledBack')
          : undefined;
    set(failed ? { type: 'Degraded', status: 'True', reason: failed, message } : { type: 'Degraded', status: 'False', reason: 'AsExpected', message });
    set({ type: 'InvalidSpec', status: bool(phase === 'Invalid'), reason: phase === 'Invalid' ? 'InvalidSpec' : 'SpecValid', message });
  }
}

/** Condition Ready's reason in each phase (api/reasons.ts). */
const READY_REASON: Record<StylePhase, ConditionReason> = {
  Initializing: 'Initializing',
  Healthy: 'Healthy',
  Progressing: 'RolloutInProgress',
  Paused: 'Paused',
  RolledBack: 'RolledBack',
  Invalid: 'InvalidSpec',
};

/** Same traffic: the same versions with the same shares (weights 1:1 and 50:50 are the same split). */
export function sameArms(a: readonly AdapterArm[], b: readonly AdapterArm[]): boolean {
  const shares = (arms: readonly AdapterArm[]) => {
    const total = arms.reduce((n, x) => n + x.weight, 0);
    const out = new Map<string, number>();
    for (const x of arms) if (x.weight > 0) out.set(x.version, (out.get(x.version) ?? 0) + x.weight / total);
    return out;
  };
  const sa = shares(a);
  const sb = shares(b);
  return sa.size === sb.size && [...sa].every(([v, s]) => Math.abs((sb.get(v) ?? -1) - s) < 1e-9);
}
