// decideStyle(input) → { status, route, events, requeueAfterMs }: the StyleRollout state machine, pure (ADR 0001,
// ADR 0005). Much smaller than decide.ts: an adapter version lives on pods that already run, so a step is one
// route write — no replicas to size, no readiness to wait for, nothing to scale back.
import { ROUTE_RECHECK_MS, sameArms, StylePass } from './style-pass.js';
import { pinOf } from './style-spec.js';
import type { AdapterArm, AdapterRouteObservation, ServedUnpinned, StyleDecideInput, StyleDecision, StyleRolloutStatus, StyleSpec } from './style-types.js';
import type { StepStatus } from './types.js';

/** How soon to look again at a route the rollout cannot use (missing, or someone else's). */
const ROUTE_PROBLEM_RECHECK_MS = 10_000;

export function decideStyle(input: StyleDecideInput): StyleDecision {
  const pass = new StylePass(input);
  const { spec, route } = input;
  if (!spec) return invalid(pass);
  if (!route.found) return routeProblem(pass, route.error);
  if (pass.status.stableVersion && route.unclaimed && !sameArms(route.arms, expectedArms(pass.status))) forgetRule(pass);
  const adopted = pass.status.stableVersion ? {} : adopt(pass, spec, route.arms);
  if (adopted === 'wait') return pass.done();
  const stable = pass.status.stableVersion!;
  if (spec.version === stable) return settle(pass, stable);
  const phase = pass.status.phase;
  if (phase === 'Invalid' && pass.status.candidateVersion === spec.version) {
    const resumed = resumeAfterFix(pass, spec, stable);
    if (resumed) return resumed;
  }
  if (phase === 'RolledBack' && pass.status.candidateVersion === spec.version) return holdRolledBack(pass, stable);
  if (pass.status.candidateVersion !== spec.version || (phase !== 'Progressing' && phase !== 'Paused')) start(pass, spec, adopted.candidateShare);
  return progress(pass, spec, stable);
}

/** Nothing is changed on an invalid spec: the route keeps what it carries until the spec is fixed. */
function invalid(pass: StylePass): StyleDecision {
  const message = pass.input.specErrors.join('; ');
  if (pass.status.phase !== 'Invalid' || pass.status.message !== message) pass.transition('Invalid', 'InvalidSpec', message);
  return pass.done();
}

/** A missing route, or a rule that sends elsewhere (someone else's), is never written: reported and looked at again. */
function routeProblem(pass: StylePass, error: string): StyleDecision {
  if (pass.status.phase === 'Invalid' || !pass.status.phase) pass.transition('Initializing', 'Initializing', error);
  pass.status.message = error;
  pass.wakeIn(ROUTE_PROBLEM_RECHECK_MS);
  return pass.done();
}

/** What users get today becomes stable, so a first spec naming another version is a rollout, not a switch. */
function adopt(pass: StylePass, spec: StyleSpec, arms: AdapterArm[]): { candidateShare?: number } | 'wait' {
  const adopted = adoptedStable(arms, spec, pass.input.servedUnpinned);
  if ('wait' in adopted) {
    if (pass.status.phase !== 'Initializing') pass.transition('Initializing', 'Initializing', adopted.wait);
    pass.status.message = adopted.wait;
    pass.wakeIn(SERVED_UNPINNED_RECHECK_MS);
    return 'wait';
  }
  pass.status.stableVersion = adopted.version;
  pass.transition('Initializing', 'Initializing', adopted.message);
  return adopted.candidateShare === undefined ? {} : { candidateShare: adopted.candidateShare };
}

/** The spec was fixed with the same version: carry on where the rollout was, never back at step 1. */
function resumeAfterFix(pass: StylePass, spec: StyleSpec, stable: string): StyleDecision | undefined {
  const { status } = pass;
  if (status.currentStep) {
    pass.transition('Progressing', 'SpecFixed', `the spec is valid again: step ${status.currentStep.label} goes on`, status.currentStep.weight);
    return progress(pass, spec, stable);
  }
  if (status.failure) {
    pass.transition(
      'RolledBack',
      'SpecFixed',
      `the spec is valid again; ${spec.version} stays rolled back: ${status.failure.reason}: ${status.failure.message}`,
    );
    return holdRolledBack(pass, stable);
  }
  return undefined;
}

/** How soon to ask the pods again which version unpinned requests get. */
const SERVED_UNPINNED_RECHECK_MS = 5000;

/** Whether decideStyle needs ServedUnpinned this pass: no stable yet, and a backendRef with traffic pins no version. */
export function needsServedUnpinned(status: StyleRolloutStatus, route: AdapterRouteObservation): boolean {
  return !status.stableVersion && route.found && route.arms.some((a) => a.weight > 0 && a.version === '');
}

/**
 * The version users of the style get today, which a new StyleRollout adopts as stable: the version with the
 * largest share of the rule (an unpinned backendRef counts for the library's newest version, which the runtime
 * serves it); the spec's version when the rule serves none (no traffic, or only unpinned requests to a library
 * without the style or whose newest version the pods refuse: such requests fail today).
 */
function adoptedStable(
  arms: AdapterArm[],
  spec: StyleSpec,
  served: ServedUnpinned | undefined,
): { version: string; message: string; candidateShare?: number } | { wait: string } {
  const shares = new Map<string, number>();
  let unpinnedShare = 0;
  for (const arm of arms) {
    if (arm.weight <= 0) continue;
    if (arm.version !== '') shares.set(arm.version, (shares.get(arm.version) ?? 0) + arm.weight);
    else unpinnedShare += arm.weight;
  }
  if (unpinnedShare > 0) {
    if (!served) return { wait: `the rule does not pin a version of ${spec.style}: asking a ready pod which version its requests get today` };
    if (!served.ok) return { wait: `the rule does not pin a version of ${spec.style}, and which one its requests get could not be read: ${served.message}` };
    if (served.version) shares.set(served.version, (shares.get(served.version) ?? 0) + unpinnedShare);
  }
  const total = arms.reduce((n, a) => n + Math.max(0, a.weight), 0);
  // Switched off (every backendRef at weight 0): the team's choice, not a rule to fill.
  if (arms.length > 0 && total === 0)
    return { wait: `the rule's backendRefs all have weight 0 (switched off): nothing to adopt or roll out until one has a weight` };
  const ranked = [...shares].sort((a, b) => b[1] - a[1]);
  const percentOf = (weight: number) => Math.round((weight * 100) / total);
  const listed = ranked.map(([version, weight]) => `${version} (${percentOf(weight)} %)`).join(', ');
  // A StyleRollout moves users between two versions; it never moves a third version's users, or the users of a
  // split it is not part of, without a step and analysis: such a rule waits for the team.
  if (ranked.length > 2)
    return { wait: `the rule splits ${spec.style} among ${listed}: a StyleRollout moves users between two versions; bring the rule to at most two` };
  if (ranked.length === 2 && !shares.has(spec.version))
    return {
      wait: `the rule is split between ${listed} and spec.version is ${spec.version}: set spec.version to one of them to finish (or undo) that split first`,
    };
  const [top] = ranked;
  if (!top)
    return { version: spec.version, message: `the rule serves no working version of ${spec.style} yet: ${spec.style}@${spec.version} is the stable version` };
  // A rule already split between the spec's version and another (a move begun by hand, or by a StyleRollout that
  // was deleted and created again) is a rollout under way: the other version is stable, the spec's the candidate
  // at the share it has, so adopting it moves nobody.
  const candidate = shares.get(spec.version);
  const stable = ranked.find(([version]) => version !== spec.version);
  if (candidate !== undefined && stable) {
    const share = percentOf(candidate);
    return {
      version: stable[0],
      candidateShare: share,
      message: `the rule serves ${spec.style}@${stable[0]} to ${percentOf(stable[1])} % and ${spec.style}@${spec.version} to ${share} % of its requests: ${stable[0]} is the stable version and the rollout of ${spec.version} goes on from ${share} %`,
    };
  }
  return { version: top[0], message: `the rule serves ${spec.style}@${top[0]} to ${percentOf(top[1])} % of its requests: ${top[0]} is the stable version` };
}

/** What the rule carries when this StyleRollout wrote it last: the step's split, or stable alone. */
function expectedArms(status: StyleRolloutStatus): AdapterArm[] {
  const { stableVersion, candidateVersion, currentStep } = status;
  if (candidateVersion && currentStep && status.weights) return armsAt(stableVersion!, candidateVersion, status.weights.candidate);
  return [{ version: stableVersion!, weight: 100 }];
}

/**
 * An unclaimed rule that does not carry what this StyleRollout last wrote is another rule (the spec moved to it),
 * or one someone rewrote: what it serves is adopted again rather than overwritten with a split its users never had.
 */
function forgetRule(pass: StylePass): void {
  const { status } = pass;
  for (const field of ['stableVersion', 'candidateVersion', 'currentStep', 'weights', 'analysis', 'failure', 'preloaded', 'assignment'] as const)
    delete status[field];
}

/** Every request for the style on the stable version; Healthy once the route carries only it. */
function settle(pass: StylePass, stable: string): StyleDecision {
  const { status } = pass;
  const wasRollingOut = status.candidateVersion !== undefined && (status.phase === 'Progressing' || status.phase === 'Paused');
  if (!pass.carries([{ version: stable, weight: 100 }])) return pass.done();
  status.weights = { stable: 100, candidate: 0 };
  delete status.currentStep;
  if (status.phase === 'Healthy') return pass.done();
  const style = styleOf(pass);
  if (wasRollingOut) pass.transition('Healthy', 'Reverted', `spec.version is back on ${stable}: every ${style} request gets ${stable}`);
  else if (status.phase === 'RolledBack') pass.transition('Healthy', 'Reverted', `spec.version is back on ${stable} after the rollback`);
  else pass.transition('Healthy', 'Initialized', `every ${style} request gets ${stable}`);
  delete status.candidateVersion;
  delete status.analysis;
  return pass.done();
}

function holdRolledBack(pass: StylePass, stable: string): StyleDecision {
  if (pass.carries([{ version: stable, weight: 100 }])) pass.status.weights = { stable: 100, candidate: 0 };
  return pass.done();
}

/**
 * A rollout of spec.version from its first step — or, adopting a rule where it already has `adoptedShare` %, from
 * that share (a step of its own, then the plan's next step above it).
 */
function start(pass: StylePass, spec: StyleSpec, adoptedShare?: number): void {
  const { status } = pass;
  status.candidateVersion = spec.version;
  status.rolloutCount = (status.rolloutCount ?? 0) + 1;
  // A sticky split adopted mid-rollout keeps its salt for this rollout: its users stay where they are.
  const route = pass.input.route;
  if (adoptedShare !== undefined && route.found && route.sticky?.salt) status.adoptedSalt = route.sticky.salt;
  else delete status.adoptedSalt;
  if (adoptedShare !== undefined && adoptedShare > 0) {
    const next = spec.steps.findIndex((w) => w > adoptedShare);
    status.currentStep = { index: (next < 0 ? spec.steps.length : next) - 1, weight: adoptedShare, label: `adopted at ${adoptedShare} %` };
  } else status.currentStep = stepAt(spec, 0);
  delete status.analysis;
  delete status.failure;
  delete status.preloaded;
  pass.transition('Progressing', 'RolloutStarted', `${spec.style}@${spec.version} rolls out over ${status.stableVersion} in steps ${spec.steps.join(', ')} %`);
}

function progress(pass: StylePass, spec: StyleSpec, stable: string): StyleDecision {
  const { status, input } = pass;
  const candidate = status.candidateVersion!;
  if (input.analysisStatus && input.analysisStatus.revision === pinOf(spec.style, candidate)) status.analysis = input.analysisStatus;
  const failure = input.breaker.tripped
    ? { reason: input.breaker.reason, message: input.breaker.message }
    : input.analysis.result === 'fail'
      ? { reason: input.analysis.reason, message: input.analysis.message }
      : undefined;
  if (failure) return rollBack(pass, stable, candidate, failure);
  if (needsPreload(spec, status) && !preloaded(pass, stable, candidate)) return pass.done();
  const step = status.currentStep ?? stepAt(spec, 0);
  const arms = armsAt(stable, candidate, step.weight);
  if (input.analysis.result === 'pause') {
    if (status.phase !== 'Paused') pass.transition('Paused', 'AnalysisPaused', input.analysis.message, step.weight);
    return pass.done();
  }
  if (status.phase === 'Paused') pass.transition('Progressing', 'Resumed', `analysis no longer holds step ${step.label}`, step.weight);
  if (!pass.carries(arms)) return pass.done();
  status.weights = { stable: 100 - step.weight, candidate: step.weight };
  if (!step.trafficShiftedAt) {
    status.currentStep = { ...step, trafficShiftedAt: input.now.toISOString() };
    status.message = `step ${step.label}: ${step.weight} % of ${spec.style} requests get ${candidate}`;
    pass.wakeIn(spec.stepDurationMs);
    pass.wakeIn(input.analysisWakeInMs);
    return pass.done();
  }
  const bakedForMs = input.now.getTime() - Date.parse(step.trafficShiftedAt);
  if (bakedForMs < spec.stepDurationMs || input.analysis.result !== 'pass') {
    pass.wakeIn(Math.max(0, spec.stepDurationMs - bakedForMs) || undefined);
    pass.wakeIn(input.analysisWakeInMs ?? spec.stepDurationMs);
    if (input.analysis.result !== 'pass') status.message = `step ${step.label}: ${input.analysis.message}`;
    return pass.done();
  }
  if (step.index + 1 < spec.steps.length) {
    const next = stepAt(spec, step.index + 1);
    status.currentStep = next;
    pass.carries(armsAt(stable, candidate, next.weight));
    status.message = `step ${next.label}: moving ${next.weight} % of ${spec.style} requests to ${candidate}`;
    return pass.done();
  }
  return promote(pass, spec, candidate);
}

function promote(pass: StylePass, spec: StyleSpec, candidate: string): StyleDecision {
  const { status } = pass;
  status.stableVersion = candidate;
  delete status.candidateVersion;
  delete status.currentStep;
  delete status.analysis;
  // The rule keeps one arm, pinning the new stable version (the same traffic as the last step's).
  if (pass.carries([{ version: candidate, weight: 100 }])) status.weights = { stable: 100, candidate: 0 };
  pass.transition('Healthy', 'Promoted', `${spec.style}@${candidate} is the stable version: every ${spec.style} request gets it`);
  return pass.done();
}

/**
 * Whether the candidate must still be loaded on the pods: before its first step only (a pod that starts later
 * loads it on its first request), so a version the pods refuse is rolled back before any user request gets it.
 */
export function needsPreload(spec: StyleSpec, status: StyleRolloutStatus): boolean {
  const candidate = status.candidateVersion;
  return (
    spec.preload &&
    status.phase === 'Progressing' &&
    candidate === spec.version &&
    status.preloaded?.version !== candidate &&
    (status.currentStep?.index ?? 0) === 0 &&
    !status.currentStep?.trafficShiftedAt
  );
}

/** True once the candidate is loaded on every ready pod; otherwise waits, or rolls back when a pod refuses it. */
function preloaded(pass: StylePass, stable: string, candidate: string): boolean {
  const { status, input } = pass;
  const result = input.preload;
  if (result?.ok) {
    status.preloaded = { version: candidate, pods: result.pods, at: input.now.toISOString() };
    return true;
  }
  if (result && !result.retry) {
    rollBack(pass, stable, candidate, { reason: 'AdapterLoadFailed', message: result.message }, 'AdapterLoadFailed');
    return false;
  }
  status.message = result ? `loading ${candidate} on the pods: ${result.message}` : `loading ${candidate} on the pods before the first step`;
  pass.wakeIn(result ? 5000 : ROUTE_RECHECK_MS);
  return false;
}

function rollBack(
  pass: StylePass,
  stable: string,
  candidate: string,
  failure: { reason: string; message: string },
  reason: 'AnalysisFailed' | 'AdapterLoadFailed' = 'AnalysisFailed',
): StyleDecision {
  const { status, input } = pass;
  status.failure = { ...failure, at: input.now.toISOString() };
  delete status.currentStep;
  if (pass.carries([{ version: stable, weight: 100 }])) status.weights = { stable: 100, candidate: 0 };
  pass.transition('RolledBack', reason, `${candidate} rolled back to ${stable}: ${failure.reason}: ${failure.message}`);
  return pass.done();
}

function stepAt(spec: StyleSpec, index: number): StepStatus {
  return { index, weight: spec.steps[index]!, label: `${index + 1}/${spec.steps.length}` };
}

/** The arms at `weight` % on the candidate; an arm at 0 % is left out (it would carry nothing). */
export function armsAt(stable: string, candidate: string, weight: number): AdapterArm[] {
  return [
    { version: stable, weight: 100 - weight },
    { version: candidate, weight },
  ].filter((a) => a.weight > 0);
}

function styleOf(pass: StylePass): string {
  return pass.input.spec?.style ?? 'style';
}
