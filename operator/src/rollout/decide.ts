// The rollout state machine: decide(input) → { status, actions, requeueAfterMs }. No I/O.
// Every pass starts from what is observed (Deployments, ready pods, Services, route, free GPUs) and what
// status remembers, so a restarted operator or a new leader resumes at the same step.
//
// The invariant every pass keeps (issue 12): a Service that carries w % has at least
// max(1, ceil(w/100 × replicas)) ready replicas behind it. Weights are only ever chosen by
// moveTraffic() from observed ready counts; DecisionPass.finish() orders the writes so any prefix is safe
// (scale up → re-point idle Services → shift traffic → scale down).
import { ANNOTATION_ABORT, ANNOTATION_PAUSED, ANNOTATION_RESUME, ANNOTATION_RETRY } from '../api/names.js';
import { stepReason } from '../api/reasons.js';
import { chooseCandidateWeight, weightCarriedBy, type WeightChoice } from './capacity.js';
import { DecisionPass } from './decision-pass.js';
import { candidateReplicasFor, replicasThatFit, stableReplicasFor } from './replicas.js';
import { rederiveStep } from './steps.js';
import { analysisFailure, breakerFailure, reasonText, type TransitionReason } from './transitions.js';
import type { DecideInput, Decision, DeploymentObservation, RolloutSpec, StepStatus } from './types.js';
import { beforePromotion, gateOpen } from './webhook-gates.js';

/** How often a waiting rollout looks again when no watch event is expected (pods stuck, GPUs busy). */
export const WAIT_POLL_MS = 5_000;
export const ANALYSIS_POLL_MS = 10_000;
export const ROUTE_MISSING_POLL_MS = 10_000;
/** While traffic waits for ready replicas, look again this often (pod events also wake the rollout). */
export const CAPACITY_POLL_MS = 2_000;

export function decide(input: DecideInput): Decision {
  return withAnalysis(input, decidePass(input));
}

/** The analysis runner's measurements and wake-up flow out through the decision, not patched on afterwards. */
function withAnalysis(input: DecideInput, decision: Decision): Decision {
  const { analysisStatus, analysisWakeInMs } = input;
  if (analysisStatus && decision.status.candidate?.revision === analysisStatus.revision) decision.status.analysis = analysisStatus;
  const phase = decision.status.phase;
  const active = phase === 'Progressing' || phase === 'Shadowing' || phase === 'Paused';
  if (active && analysisWakeInMs !== undefined) decision.requeueAfterMs = Math.min(decision.requeueAfterMs ?? Infinity, analysisWakeInMs);
  return decision;
}

function decidePass(input: DecideInput): Decision {
  const pass = new DecisionPass(input);
  // Level-triggered: a gate still holding says so again below (keeping its `since`).
  delete pass.status.webhookGate;
  if (input.deleting) return deleting(pass);
  if (!input.spec) return invalid(pass);
  pass.condition({ type: 'InvalidSpec', status: 'False', reason: 'SpecValid', message: '' });
  const spec = input.spec;
  const changed = pass.status.candidate && pass.status.lastValidSpec ? strategyChanges(pass.status.lastValidSpec, spec) : [];
  if (changed.length > 0) pass.note('StrategyChanged', `spec changed mid-rollout and is re-read from the current step: ${changed.join('; ')}`);
  pass.status.lastValidSpec = spec;
  if (!pass.status.stable) {
    pass.status.stable = { revision: input.specRevision, modelVersion: spec.modelVersion };
    pass.transition('Initializing', 'Initializing', `starting ${spec.modelName} ${spec.modelVersion} as the stable revision ${input.specRevision}`);
  }
  if (input.specRevision === pass.status.stable!.revision) steady(pass, spec);
  else rollout(pass, spec, input.specRevision, false);
  summarise(pass, spec);
  return pass.finish();
}

/** What changed between two specs in what drives a rollout (not the template: that is a new revision). */
function strategyChanges(before: RolloutSpec, after: RolloutSpec): string[] {
  const fields: (keyof RolloutSpec)[] = ['replicas', 'steps', 'stepDurationMs', 'progressDeadlineMs', 'manualGates', 'shadow', 'stableScale'];
  return fields
    .filter((f) => JSON.stringify(before[f]) !== JSON.stringify(after[f]))
    .map((f) => `${f} ${JSON.stringify(before[f]) ?? 'unset'} → ${JSON.stringify(after[f]) ?? 'unset'}`);
}

// ---------------------------------------------------------------- deletion and invalid specs

/**
 * Finalizer: traffic goes back to 100 % stable, as fast as stable's ready replicas allow, before the
 * object (and what it owns) goes away.
 */
function deleting(pass: DecisionPass): Decision {
  const { input, status } = pass;
  const spec = input.spec ?? status.lastValidSpec;
  const idle = (input.route.candidateWeight ?? 0) === 0 && (input.route.mirrorPercent ?? 0) === 0;
  const ours = input.services.stableSelects !== undefined && input.services.candidateSelects !== undefined;
  if (!ours) {
    // Neither Service is ours (a neighbour's, or never created): the route is not ours to touch.
    pass.act({ kind: 'removeFinalizer' });
    return pass.finish();
  }
  if (!input.route.found || !spec || !status.stable || idle) {
    if (input.route.found && !routeIs(pass, 100, 0, 0) && input.route.stableWeight !== undefined)
      pass.act({ kind: 'setTraffic', stableWeight: 100, candidateWeight: 0, mirrorPercent: 0 });
    pass.act({ kind: 'removeFinalizer' });
    return pass.finish();
  }
  ensureReplicas(pass, status.stable.revision, spec.replicas);
  const done = moveTraffic(pass, spec, { target: 0, mirror: 0, drain: false });
  if (done) pass.act({ kind: 'removeFinalizer' });
  return pass.finish();
}

/**
 * An invalid spec changes nothing it does not have to. A rollout in flight keeps the last valid spec
 * for what keeps people safe — abort, pause, the breaker and weights that follow ready capacity — but
 * does not advance.
 */
function invalid(pass: DecisionPass): Decision {
  const { status } = pass;
  const message = `spec is invalid; nothing was changed: ${pass.input.specErrors.join('; ')}`;
  const wasInvalid = status.conditions?.find((c) => c.type === 'InvalidSpec')?.status === 'True';
  pass.condition({ type: 'InvalidSpec', status: 'True', reason: 'InvalidSpec', message });
  const last = status.lastValidSpec;
  if (!last || !status.stable || !status.candidate) {
    pass.condition({ type: 'Ready', status: 'False', reason: 'InvalidSpec', message });
    pass.transition('Invalid', 'InvalidSpec', message);
    // Traffic still on an abandoned candidate (a revert under way) keeps going back as stable becomes ready.
    if (last && status.stable && pass.input.route.found && (pass.input.route.candidateWeight ?? 0) > 0) {
      ensureReplicas(pass, status.stable.revision, last.replicas);
      moveTraffic(pass, last, { target: 0, mirror: 0, drain: false });
    }
    return pass.finish();
  }
  if (!wasInvalid) pass.event('Warning', 'InvalidSpec', `${message}; the rollout holds at its current weight (abort and pause still work)`);
  rollout(pass, last, status.candidate.revision, true);
  summarise(pass, last);
  return pass.finish();
}

// ---------------------------------------------------------------- steady state

/** The spec names the stable revision: full replicas, both Services on stable, 100/0, others retired. */
function steady(pass: DecisionPass, spec: RolloutSpec): void {
  const { input, status } = pass;
  const stable = status.stable!.revision;
  if (status.candidate) {
    pass.note(
      'CandidateAbandoned',
      `template is back to the stable revision ${stable}; moving traffic off candidate ${status.candidate.revision} as stable becomes ready`,
    );
    clearRollout(pass);
  }
  ensureReplicas(pass, stable, spec.replicas);
  // An abandoned candidate found failing while its traffic still returns is drained at once.
  const settled =
    input.route.found &&
    stableServiceOn(pass, stable) &&
    moveTraffic(pass, spec, { target: 0, mirror: 0, drain: input.breaker.tripped }) &&
    candidateServiceOn(pass, stable);
  retireOthers(pass, [stable]);
  if (!input.route.found) routeMissing(pass);

  const dep = input.deployments[stable];
  const ready = settled && !!dep && dep.readyReplicas >= spec.replicas && dep.desiredReplicas === spec.replicas;
  if (ready) {
    delete status.returnToStable;
    if (status.phase !== 'Healthy')
      pass.transition(
        'Healthy',
        status.phase === 'Initializing' ? 'Initialized' : 'Settled',
        `${spec.modelName} ${spec.modelVersion} (${stable}) serves 100 % with ${spec.replicas} ready replica(s)`,
      );
    pass.condition({ type: 'Ready', status: 'True', reason: 'Healthy', message: `stable revision ${stable} serves 100 % of traffic` });
  } else {
    settling(pass, spec, settled);
  }
  pass.condition({
    type: 'Progressing',
    status: 'False',
    reason: status.history?.some((h) => h.reason === 'Promoted') ? 'RolloutComplete' : 'NoRollout',
    message: '',
  });
  pass.condition({ type: 'Paused', status: 'False', reason: 'NotPaused', message: '' });
  pass.condition({ type: 'Degraded', status: 'False', reason: 'AsExpected', message: '' });
}

/** Stable is not yet back at full size with all the traffic: Healthy, settling, until it is. */
function settling(pass: DecisionPass, spec: RolloutSpec, settled: boolean): void {
  const { input, status } = pass;
  const stable = status.stable!.revision;
  // Already Healthy (stable lost a pod): no transition, the phase and its reason stay and the message says why.
  if (status.phase === 'Healthy' && status.history?.length) status.message = `settling on stable revision ${stable}`;
  else if (status.phase !== 'Initializing') pass.transition('Healthy', 'Settling', `settling on stable revision ${stable}`);
  const readyCount = input.deployments[stable]?.readyReplicas ?? 0;
  if (input.route.found)
    pass.condition({
      type: 'Ready',
      status: 'False',
      reason: 'Settling',
      message: `stable revision ${stable}: ${readyCount}/${spec.replicas} ready${settled ? '' : ', traffic or Services still moving to it'}`,
    });
  pass.wakeIn(WAIT_POLL_MS);
}

/**
 * Points the stable Service at `revision`. A Service is re-pointed only while it carries no traffic or
 * the new revision has the ready replicas for what it carries; true once it is observed there.
 */
function stableServiceOn(pass: DecisionPass, revision: string): boolean {
  const { services, route } = pass.input;
  if (services.stableSelects === revision) return true;
  // A Service that selects none of our revisions (absent) serves nothing yet: create it at once.
  const carried = services.stableSelects === undefined ? 0 : (route.stableWeight ?? 100);
  if (!canCarry(pass, revision, carried)) {
    pass.condition({
      type: 'Progressing',
      status: 'True',
      reason: 'WaitingForStable',
      message: `stable Service waits for ${revision} to have the ready replicas for ${carried} %`,
    });
    pass.wakeIn(CAPACITY_POLL_MS);
    return false;
  }
  pass.act({ kind: 'ensureServices', stableRevision: revision, candidateRevision: services.candidateSelects ?? revision });
  pass.wakeIn(0);
  return false;
}

/** Points the candidate Service at `revision` once it carries nothing (or `revision` can carry it). */
function candidateServiceOn(pass: DecisionPass, revision: string): boolean {
  const { services, route } = pass.input;
  if (services.candidateSelects === revision) return true;
  const carried = services.candidateSelects === undefined ? 0 : Math.max(route.candidateWeight ?? 0, route.mirrorPercent ?? 0);
  if (carried > 0 && !canCarry(pass, revision, carried)) return false;
  pass.act({ kind: 'ensureServices', stableRevision: services.stableSelects ?? pass.status.stable!.revision, candidateRevision: revision });
  pass.wakeIn(0);
  return false;
}

function canCarry(pass: DecisionPass, revision: string, weight: number): boolean {
  const full = (pass.input.spec ?? pass.status.lastValidSpec)?.replicas ?? 1;
  return weight <= 0 || readyOf(pass, revision) >= Math.max(1, Math.ceil((weight * full) / 100));
}

// ---------------------------------------------------------------- rollout

function rollout(pass: DecisionPass, spec: RolloutSpec, revision: string, frozen: boolean): void {
  const { input, status } = pass;
  if (status.candidate?.revision !== revision) startOrRestart(pass, spec, revision);
  if (status.phase === 'RolledBack' || status.phase === 'Aborted') {
    // A candidate found failing while an abort still returns its traffic is drained at once.
    if (status.phase === 'Aborted' && input.breaker.tripped && (input.route.candidateWeight ?? 0) > 0)
      return fail(pass, spec, 'RolledBack', breakerFailure(input.breaker.reason), input.breaker.message);
    if (frozen) pass.defer('retry');
    if (!pass.fresh.retry || frozen) return returnToStable(pass, spec);
    startRollout(pass, spec, revision, 'Retried', `retrying the rollout of ${revision} from the first step`);
  }
  if (pass.fresh.abort) return fail(pass, spec, 'Aborted', 'AbortRequested', `abort requested (annotation ${ANNOTATION_ABORT})`);
  if (input.breaker.tripped) return fail(pass, spec, 'RolledBack', breakerFailure(input.breaker.reason), input.breaker.message);
  pass.condition({ type: 'Degraded', status: 'False', reason: 'AsExpected', message: '' });
  pass.condition({ type: 'Ready', status: 'False', reason: 'RolloutInProgress', message: `candidate ${revision} is being rolled out` });
  if (!input.route.found) return routeMissing(pass);
  if (input.controls.paused || frozen) return hold(pass, spec, frozen);
  if (!candidateServiceReady(pass, spec)) return;
  retireOthers(pass, [status.stable!.revision, status.candidate!.revision]);
  if (spec.shadow && !status.currentStep) return shadowPhase(pass, spec);
  stepPhase(pass, spec);
}

/** A new candidate revision: the rollout starts, or starts again from the first step if one was under way. */
function startOrRestart(pass: DecisionPass, spec: RolloutSpec, revision: string): void {
  const { status } = pass;
  const previous = status.candidate;
  startRollout(
    pass,
    spec,
    revision,
    previous ? 'Restarted' : 'RolloutStarted',
    previous
      ? `template changed during the rollout of ${previous.revision}; restarting from the first step with ${revision} (${spec.modelVersion})`
      : `rolling out ${spec.modelName} ${spec.modelVersion} (${revision}) over ${status.stable!.modelVersion} (${status.stable!.revision})`,
  );
}

/** Paused by a person, or frozen by an invalid spec: nothing advances, weights still follow capacity. */
function hold(pass: DecisionPass, spec: RolloutSpec, frozen: boolean): void {
  const { status } = pass;
  pauseWaitClock(pass);
  const { services, route } = pass.input;
  // Held where it is, whichever revision the candidate Service selects (the old one mid-restart too),
  // but never above what ready pods carry.
  if (services.candidateSelects && services.candidateSelects !== services.stableSelects) {
    moveTraffic(pass, spec, { target: route.candidateWeight ?? 0, mirror: route.mirrorPercent ?? 0, drain: false });
  }
  // A promote given while held is kept for when the hold ends (a retry too, while the spec is invalid).
  pass.defer('promote');
  if (frozen) {
    pass.condition({
      type: 'Progressing',
      status: 'Unknown',
      reason: 'InvalidSpec',
      message: 'the spec is invalid: the rollout holds at its current weight (abort and pause still work) until it is fixed',
    });
    return;
  }
  pass.transition('Paused', 'PausedByUser', `paused (annotation ${ANNOTATION_PAUSED}); weights and replicas are held`);
  pass.condition({ type: 'Paused', status: 'True', reason: 'PausedByUser', message: status.message ?? '' });
  pass.condition({ type: 'Progressing', status: 'Unknown', reason: 'Paused', message: 'paused by user' });
}

function startRollout(pass: DecisionPass, spec: RolloutSpec, revision: string, reason: 'RolloutStarted' | 'Restarted' | 'Retried', message: string): void {
  const { status } = pass;
  clearRollout(pass);
  status.candidate = { revision, modelVersion: spec.modelVersion };
  status.rolloutStartedAt = pass.now;
  pass.transition(spec.shadow ? 'Shadowing' : 'Progressing', reason, message);
  pass.condition({ type: 'Progressing', status: 'True', reason, message });
}

function clearRollout(pass: DecisionPass): void {
  const { status } = pass;
  delete status.candidate;
  delete status.currentStep;
  delete status.shadowStartedAt;
  delete status.gatePassedForStep;
  delete status.waitingSince;
  delete status.waitedMs;
  delete status.rolloutStartedAt;
  delete status.failure;
  delete status.analysis;
  delete status.candidateCapacityLost;
  delete status.preRolloutPassed;
  delete status.webhookGate;
}

/**
 * The candidate Service must select the candidate revision before traffic moves. It is re-pointed only
 * while it carries no traffic: after a restart the old candidate's traffic first goes back to stable,
 * as fast as stable's ready replicas allow.
 */
function candidateServiceReady(pass: DecisionPass, spec: RolloutSpec): boolean {
  const { input, status } = pass;
  const stable = status.stable!.revision;
  const candidate = status.candidate!.revision;
  if (input.services.stableSelects === stable && input.services.candidateSelects === candidate) return true;
  if (input.services.stableSelects !== stable) {
    stableServiceOn(pass, stable);
    return false;
  }
  // A restart begins again at the first step: stable goes back to full size before traffic returns to it.
  ensureReplicas(pass, stable, Math.max(pass.input.deployments[stable]?.desiredReplicas ?? 0, spec.replicas));
  const idle = moveTraffic(pass, spec, { target: 0, mirror: 0, drain: false });
  if (idle) candidateServiceOn(pass, candidate);
  return false;
}

function shadowPhase(pass: DecisionPass, spec: RolloutSpec): void {
  const { input, status } = pass;
  const shadow = spec.shadow!;
  if (!stillPausedByAnalysis(pass)) {
    pass.transition(
      'Shadowing',
      'ShadowStarted',
      `mirroring ${shadow.mirrorPercent} % of live traffic to ${status.candidate!.revision} for ${Math.round(shadow.durationMs / 1000)} s`,
    );
    pass.condition({ type: 'Paused', status: 'False', reason: 'NotPaused', message: '' });
  }
  const needed = candidateReplicasFor(shadow.mirrorPercent, spec.replicas);
  if (!candidateCapacity(pass, spec, needed, `shadow (${shadow.mirrorPercent} % mirrored)`)) return mirrorOffUnlessReady(pass, spec, needed);
  if (!candidateReady(pass, spec, needed)) return mirrorOffUnlessReady(pass, spec, needed);
  if (!preRolloutOpen(pass, spec, needed)) return;
  endWait(pass);
  if (!routeIs(pass, 100, 0, shadow.mirrorPercent)) {
    moveTraffic(pass, spec, { target: 0, mirror: shadow.mirrorPercent, drain: false, shrinkStable: true });
    status.shadowStartedAt ??= pass.now;
    return;
  }
  status.shadowStartedAt ??= pass.now;
  const verdict = input.analysis;
  if (verdict.result === 'fail') return fail(pass, spec, 'RolledBack', analysisFailure(verdict.reason), `shadow analysis failed: ${verdict.message}`);
  if (!bakeDone(pass, status.shadowStartedAt, shadow.durationMs, 'shadow')) return;
  if (!analysisPassed(pass)) return;
  pass.note('ShadowPassed', `shadow phase passed; starting step 1 (${spec.steps[0]} %)`);
  enterStep(pass, spec, 0);
  pass.wakeIn(0);
}

/** A mirror the candidate can no longer serve is switched off (it comes back once the candidate is ready). */
function mirrorOffUnlessReady(pass: DecisionPass, spec: RolloutSpec, needed: number): void {
  if ((pass.input.route.mirrorPercent ?? 0) > 0 && readyOf(pass, pass.status.candidate!.revision) < needed) {
    moveTraffic(pass, spec, { target: 0, mirror: 0, drain: false });
    delete pass.status.shadowStartedAt;
  }
}

function stepPhase(pass: DecisionPass, spec: RolloutSpec): void {
  const { input, status } = pass;
  if (!status.currentStep) enterStep(pass, spec, 0);
  syncStepWithSpec(pass, spec);
  const step = status.currentStep!;
  const weight = step.weight;
  if (spec.manualGates.includes(weight) && status.gatePassedForStep !== step.index) {
    if (pass.fresh.resume || pass.fresh.promote) {
      status.gatePassedForStep = step.index;
      pass.note('GateResumed', `manual gate before ${weight} % resumed`);
    } else {
      pauseWaitClock(pass);
      moveTraffic(pass, spec, { target: Math.min(weight, input.route.candidateWeight ?? 0), mirror: 0, drain: false });
      pass.transition(
        'Paused',
        'ManualGate',
        `paused before step ${step.label} (${weight} %): resume with \`kubectl modelrollout resume\` or annotation ${ANNOTATION_RESUME}`,
      );
      pass.condition({ type: 'Paused', status: 'True', reason: 'ManualGate', message: status.message ?? '' });
      pass.condition({ type: 'Progressing', status: 'Unknown', reason: 'ManualGate', message: status.message ?? '' });
      return;
    }
  }
  if (!stillPausedByAnalysis(pass)) {
    pass.condition({ type: 'Paused', status: 'False', reason: 'NotPaused', message: '' });
    pass.transition('Progressing', stepReason(step.index), `step ${step.label}: ${weight} % to ${status.candidate!.revision}`);
  }

  const needed = candidateReplicasFor(weight, spec.replicas);
  const haveCapacity = candidateCapacity(pass, spec, needed, `step ${step.label} (${weight} %)`);
  if (haveCapacity && !preRolloutOpen(pass, spec, needed)) return;
  const atWeight = moveTraffic(pass, spec, {
    target: haveCapacity ? weight : Math.min(weight, input.route.candidateWeight ?? 0),
    mirror: 0,
    drain: false,
    shrinkStable: true,
  });
  if (!haveCapacity) return;
  if (!atWeight) {
    delete step.trafficShiftedAt;
    candidateReady(pass, spec, needed);
    return;
  }
  endWait(pass);
  step.trafficShiftedAt ??= pass.now;

  const verdict = input.analysis;
  if (verdict.result === 'fail')
    return fail(pass, spec, 'RolledBack', analysisFailure(verdict.reason), `step ${step.label} (${weight} %) analysis failed: ${verdict.message}`);
  const skip = pass.fresh.promote;
  if (!skip && !bakeDone(pass, step.trafficShiftedAt, spec.stepDurationMs, `step ${step.label}`)) return;
  if (!skip && !analysisPassed(pass)) return;
  if (beforePromotion(spec, step.index) && !gateOpen(pass, spec, 'confirm-promotion', `at step ${step.label} (${weight} %)`)) return pauseWaitClock(pass);
  if (step.index === spec.steps.length - 1) return promote(pass, spec);
  pass.note('StepPassed', `step ${step.label} (${weight} %) passed${skip ? ' (promoted by user)' : ''}`);
  enterStep(pass, spec, step.index + 1);
  pass.wakeIn(0);
}

/**
 * Pre-rollout webhooks are asked once the candidate's replicas for its first traffic (or mirror) are ready, before
 * it gets any; a candidate that already carries traffic (a webhook added mid-rollout) is past that point.
 */
function preRolloutOpen(pass: DecisionPass, spec: RolloutSpec, needed: number): boolean {
  const { status, input } = pass;
  if (status.preRolloutPassed || !spec.webhooks?.some((w) => w.type === 'pre-rollout')) return true;
  const carrying = (input.route.candidateWeight ?? 0) > 0 || (input.route.mirrorPercent ?? 0) > 0;
  if (!carrying) {
    if (!candidateReady(pass, spec, needed)) return false;
    if (!gateOpen(pass, spec, 'pre-rollout', 'before its first traffic')) {
      pauseWaitClock(pass);
      return false;
    }
  }
  status.preRolloutPassed = true;
  return true;
}

/** strategy.steps may change mid-rollout: the position is re-derived from the current step's weight. */
function syncStepWithSpec(pass: DecisionPass, spec: RolloutSpec): void {
  const { status } = pass;
  const step = status.currentStep!;
  // A gate passed at another step (state from an older operator, or an edit) does not open this one.
  if (status.gatePassedForStep !== undefined && status.gatePassedForStep !== step.index) delete status.gatePassedForStep;
  const next = rederiveStep(step, spec.steps, pass.input.route.candidateWeight ?? 0);
  if (next.index === step.index && next.weight === step.weight && next.label === step.label) return;
  if (status.gatePassedForStep === step.index) {
    if (next.weight === step.weight) status.gatePassedForStep = next.index;
    else delete status.gatePassedForStep;
  }
  status.currentStep = next;
  pass.note(
    'StepsChanged',
    `strategy.steps is now [${spec.steps.join(', ')}]; the rollout at ${step.weight} % continues at step ${next.label} (${next.weight} %)`,
  );
}

function enterStep(pass: DecisionPass, spec: RolloutSpec, index: number): void {
  const step: StepStatus = { index, weight: spec.steps[index]!, label: `${index + 1}/${spec.steps.length}` };
  pass.status.currentStep = step;
  // A gate passed belongs to the step it was passed at; a new step starts with its own gate closed.
  delete pass.status.gatePassedForStep;
}

function bakeDone(pass: DecisionPass, since: string, durationMs: number, what: string): boolean {
  const remaining = Date.parse(since) + durationMs - pass.input.now.getTime();
  if (remaining <= 0) return true;
  pass.condition({
    type: 'Progressing',
    status: 'True',
    reason: 'Baking',
    message: `${what}: baking until ${new Date(Date.parse(since) + durationMs).toISOString()}`,
  });
  pass.wakeIn(remaining);
  return false;
}

/** Paused by analysis last pass and analysis still says pause: leave phase and conditions as they are. */
function stillPausedByAnalysis(pass: DecisionPass): boolean {
  return (
    pass.input.analysis.result === 'pause' &&
    pass.status.phase === 'Paused' &&
    pass.status.conditions?.find((c) => c.type === 'Paused')?.reason === 'AnalysisPaused'
  );
}

function analysisPassed(pass: DecisionPass): boolean {
  const verdict = pass.input.analysis;
  if (verdict.result === 'pass') return true;
  if (verdict.result === 'pause') {
    pass.transition('Paused', 'AnalysisPaused', `${verdict.message}; resume with \`kubectl modelrollout resume\` or annotation ${ANNOTATION_RESUME}`);
    pass.condition({ type: 'Paused', status: 'True', reason: 'AnalysisPaused', message: pass.status.message ?? '' });
    pass.condition({ type: 'Progressing', status: 'Unknown', reason: 'AnalysisPaused', message: verdict.message });
    pass.wakeIn(ANALYSIS_POLL_MS);
    return false;
  }
  const message = verdict.message;
  pass.condition({ type: 'Progressing', status: 'True', reason: verdict.result === 'pending' ? 'AwaitingAnalysis' : 'AnalysisInconclusive', message });
  pass.wakeIn(ANALYSIS_POLL_MS);
  return false;
}

/**
 * The last step (100 %) has baked. The candidate becomes stable; steady() then points the stable
 * Service at it (it carries 0 % now), moves traffic over and retires the old revision — one safe
 * write per observed state.
 */
function promote(pass: DecisionPass, spec: RolloutSpec): void {
  const { status } = pass;
  const candidate = status.candidate!;
  const previous = status.stable!;
  // A phase change like any other: through transition(), so history records it as Healthy (at the 100 % weight).
  pass.transition(
    'Healthy',
    'Promoted',
    `promoted ${spec.modelName} ${candidate.modelVersion} (${candidate.revision}); ${previous.modelVersion} (${previous.revision}) is scaled to zero`,
  );
  clearRollout(pass);
  status.previousStable = previous;
  status.stable = candidate;
  steady(pass, spec);
}

// ---------------------------------------------------------------- traffic and capacity

interface TrafficGoal {
  /** Candidate weight wanted. */
  target: number;
  mirror: number;
  /** A failing candidate: its traffic leaves at once, whatever stable can carry. */
  drain: boolean;
  /** Stepping forward: stable may shrink to its share once traffic has left it. Never on the way back or while held. */
  shrinkStable?: boolean;
}

/**
 * Moves the route toward the goal as far as ready replicas allow (capacity.ts), and sizes both sides:
 * each keeps the replicas for the larger of its share before and after this pass, so traffic always
 * moves onto replicas that are already ready and away from ones that are still there.
 * Returns true when the route is at the goal.
 */
function moveTraffic(pass: DecisionPass, spec: RolloutSpec, goal: TrafficGoal): boolean {
  const { input, status } = pass;
  const route = input.route;
  const stableSide = input.services.stableSelects;
  const candidateSide = input.services.candidateSelects;
  // Without both Services of our own the route's backends are not ours to weigh (a neighbour's, or none yet).
  if (!route.found || !stableSide || !candidateSide) return false;
  const current = route.candidateWeight ?? 0;
  let choice: WeightChoice =
    candidateSide && candidateSide !== stableSide
      ? chooseCandidateWeight({
          current,
          target: goal.target,
          candidateReady: readyOf(pass, candidateSide),
          stableReady: stableSide ? readyOf(pass, stableSide) : 0,
          fullReplicas: spec.replicas,
          drainCandidate: goal.drain,
        })
      : { candidateWeight: goal.target };
  const stableReady = stableSide ? readyOf(pass, stableSide) : 0;
  if (choice.candidateWeight === current && goal.target < current && stableReady >= 1 && stableStarvedOfGpus(pass, spec, stableSide, candidateSide, current)) {
    // Deadlock on the way back: stable's pods cannot be scheduled while the candidate holds the GPUs.
    // Stable takes the share of one replica more than it has ready (overloaded by at most one
    // replica), so a candidate replica can go and its GPUs schedule stable's next pod.
    const swapped = Math.max(goal.target, 100 - weightCarriedBy(stableReady + 1, spec.replicas));
    if (swapped < current) choice = { candidateWeight: swapped, limitedBy: 'overload' };
  }
  const next = choice.candidateWeight;
  // A mirror only while the candidate answers no user (shadow): once it carries weight it sees real traffic, and
  // a router may not carry both (a mirroring TraefikService has one main service).
  const mirror = next === 0 && candidateSide && readyOf(pass, candidateSide) >= candidateReplicasFor(goal.mirror, spec.replicas) ? goal.mirror : 0;
  if (route.stableWeight !== 100 - next || current !== next || (route.mirrorPercent ?? 0) !== mirror) {
    pass.act({ kind: 'setTraffic', stableWeight: 100 - next, candidateWeight: next, mirrorPercent: mirror });
  }
  // Lowered below where the rollout is heading: the candidate's ready pods could not carry it.
  if (next < current && next < goal.target) recordCapacityLoss(pass, current, next, choice.limitedBy);
  sizeSides(pass, spec, goal, current, next, stableSide, candidateSide);
  const atGoal =
    next === goal.target && mirror === goal.mirror && current === next && (route.mirrorPercent ?? 0) === mirror && route.stableWeight === 100 - next;
  if (!atGoal) {
    pass.wakeIn(next === current ? CAPACITY_POLL_MS : 0);
    if (goal.target < current) reportReturn(pass, spec, next, stableSide);
  }
  if (atGoal && goal.target === 0) delete status.returnToStable;
  return atGoal;
}

/**
 * Stable is stuck for GPUs: pods it wants cannot be scheduled, none of its pods is on its way to ready,
 * and the candidate has already given back every replica its current share allows. Only then does
 * waiting not help.
 */
function stableStarvedOfGpus(
  pass: DecisionPass,
  spec: RolloutSpec,
  stableSide: string | undefined,
  candidateSide: string | undefined,
  current: number,
): boolean {
  const stable = stableSide ? pass.input.deployments[stableSide] : undefined;
  const candidate = candidateSide ? pass.input.deployments[candidateSide] : undefined;
  if (!stable || !candidate) return false;
  const unschedulable = stable.unschedulableReplicas ?? 0;
  const starting = stable.desiredReplicas - stable.readyReplicas - unschedulable;
  return unschedulable > 0 && starting <= 0 && candidate.desiredReplicas <= candidateReplicasFor(current, spec.replicas);
}

/**
 * Stable: grows at once to its share of the larger stable weight (before/after this pass); shrinks only
 * when stepping forward with traffic already off it. Candidate side: on the way back it shrinks to its
 * share of the larger candidate weight, freeing GPUs for stable as its traffic leaves (a GPU-tight
 * cluster would otherwise never get stable back).
 */
function sizeSides(
  pass: DecisionPass,
  spec: RolloutSpec,
  goal: TrafficGoal,
  current: number,
  next: number,
  stableSide: string | undefined,
  candidateSide: string | undefined,
): void {
  const { status } = pass;
  const stable = status.stable!.revision;
  const stableShare = spec.stableScale === 'Full' ? spec.replicas : stableReplicasFor(100 - Math.min(current, next), spec.replicas);
  const planned = plannedReplicas(pass, stable);
  const desired = planned ?? (pass.input.deployments[stable]?.exists ? pass.input.deployments[stable]!.desiredReplicas : 0);
  const forward = goal.shrinkStable === true && goal.target >= current;
  if (desired < stableShare) ensureReplicas(pass, stable, stableShare);
  else if (desired > stableShare && planned === undefined && forward && stableSide === stable) ensureReplicas(pass, stable, stableShare);
  if (!candidateSide || candidateSide === stable || goal.target >= current) return;
  const keep = Math.max(current, next);
  const dep = pass.input.deployments[candidateSide];
  if (!dep?.exists) return;
  if (keep > 0) {
    if (dep.desiredReplicas > candidateReplicasFor(keep, spec.replicas)) ensureReplicas(pass, candidateSide, candidateReplicasFor(keep, spec.replicas));
  } else if (candidateSide !== status.candidate?.revision) {
    ensureReplicas(pass, candidateSide, 0);
  }
}

/** Replicas this pass already decided for the revision (even when that needed no write), if any. */
function plannedReplicas(pass: DecisionPass, revision: string): number | undefined {
  return pass.sized.get(revision);
}

function recordCapacityLoss(pass: DecisionPass, from: number, to: number, why: WeightChoice['limitedBy']): void {
  const { status, input } = pass;
  const candidate = input.services.candidateSelects ?? '';
  if (candidate !== status.candidate?.revision) return;
  status.candidateCapacityLost = (status.candidateCapacityLost ?? 0) + 1;
  const ready = readyOf(pass, candidate);
  pass.note(
    'CandidateCapacityLost',
    `candidate ${candidate} has ${ready} ready replica(s), too few for ${from} %; its weight drops to ${to} %${why === 'overload' ? ' (stable is short too: traffic split by ready replicas)' : ''}`,
    'Warning',
  );
}

/** status.returnToStable: how far traffic is from 100 % stable and how long stable is expected to take. */
function reportReturn(pass: DecisionPass, spec: RolloutSpec, next: number, stableSide: string | undefined): void {
  const { status } = pass;
  const dep = stableSide ? pass.input.deployments[stableSide] : undefined;
  const ready = dep?.readyReplicas ?? 0;
  const since = status.returnToStable?.since ?? pass.now;
  const elapsed = (pass.input.now.getTime() - Date.parse(since)) / 1000;
  const perPod = dep?.readySeconds;
  const expectedSeconds = perPod === undefined ? undefined : Math.max(0, Math.ceil(perPod - elapsed));
  status.returnToStable = {
    since,
    candidateWeight: next,
    stableReady: ready,
    stableNeeded: spec.replicas,
    ...(expectedSeconds !== undefined ? { expectedSeconds } : {}),
    message:
      `traffic returns to stable as its replicas become ready: ${ready}/${spec.replicas} ready, candidate still carries ${next} %` +
      (expectedSeconds !== undefined ? `; about ${expectedSeconds} s more (stable pods have taken ${Math.round(perPod!)} s to become ready)` : ''),
  };
}

/**
 * Makes room for `needed` candidate replicas. Extra replicas must fit the free GPUs of nodes the
 * template can use; failing that, stable may shrink to what its *current* traffic share needs. Otherwise hold.
 */
function candidateCapacity(pass: DecisionPass, spec: RolloutSpec, needed: number, what: string): boolean {
  const { input, status } = pass;
  const candidate = status.candidate!.revision;
  const current = input.deployments[candidate];
  const have = current?.exists ? current.desiredReplicas : 0;
  if (have >= needed) {
    if (!current?.exists) ensureReplicas(pass, candidate, needed);
    return true;
  }
  const extra = needed - have;
  const fit = replicasThatFit(input.gpus.freePerNode, spec.gpusPerReplica);
  if (fit >= extra) {
    ensureReplicas(pass, candidate, needed);
    return true;
  }
  const stable = input.deployments[status.stable!.revision];
  const stableFloor = spec.stableScale === 'Full' ? spec.replicas : stableReplicasFor(input.route.stableWeight ?? 100, spec.replicas);
  const freeable = stable ? Math.max(0, stable.desiredReplicas - stableFloor) : 0;
  // A freed stable replica makes room for candidates only if a candidate fits in its GPUs.
  const perFreed = stable && spec.gpusPerReplica <= stable.gpusPerReplica ? Math.floor(stable.gpusPerReplica / spec.gpusPerReplica) : 0;
  if (perFreed > 0 && fit + freeable * perFreed >= extra) {
    const release = Math.ceil((extra - fit) / perFreed);
    ensureReplicas(pass, stable!.revision, stable!.desiredReplicas - release);
    pass.note(
      'GPUsFreed',
      `scaled stable from ${stable!.desiredReplicas} to ${stable!.desiredReplicas - release} replica(s) (its traffic share needs ${stableFloor}) to free GPUs for ${what}`,
    );
    ensureReplicas(pass, candidate, needed);
    return true;
  }
  const free = input.gpus.freePerNode.reduce((a, b) => a + Math.max(0, b), 0);
  const freeableGpus = freeable * (stable?.gpusPerReplica ?? 0);
  return waiting(
    pass,
    spec,
    'InsufficientGPU',
    `${what} needs ${extra} more candidate replica(s) × ${spec.gpusPerReplica} ${spec.gpuResource} = ${extra * spec.gpusPerReplica} GPUs; ` +
      `${free} free on nodes the template can be scheduled on (room for ${fit} replica(s)), ${freeableGpus} more can be freed from stable without taking capacity from its traffic`,
  );
}

function candidateReady(pass: DecisionPass, spec: RolloutSpec, needed: number): boolean {
  const dep = pass.input.deployments[pass.status.candidate!.revision];
  const ready = dep?.readyReplicas ?? 0;
  if (ready >= needed) return true;
  const problems = dep?.podProblems.length ? `; ${dep.podProblems.join('; ')}` : '';
  // A refused write of the candidate's Deployment is why it is not coming up: say so where people look.
  const blocked =
    pass.status.blockedWrite?.revision === pass.status.candidate!.revision ? `; ${pass.status.blockedWrite.reason}: ${pass.status.blockedWrite.message}` : '';
  return waiting(pass, spec, 'WaitingForCandidate', `candidate ${ready}/${needed} replica(s) ready${problems}${blocked}`);
}

/**
 * Waiting for GPUs or readiness counts against progressDeadline; past it the rollout aborts. Only
 * time spent actively waiting counts: pauses (by a person, a gate, analysis) stop the clock.
 */
function waiting(pass: DecisionPass, spec: RolloutSpec, reason: 'InsufficientGPU' | 'WaitingForCandidate', message: string): false {
  const { status } = pass;
  if (stillPausedByAnalysis(pass)) {
    // Paused by analysis: the clock stands still like for any other pause.
    pauseWaitClock(pass);
    pass.wakeIn(WAIT_POLL_MS);
    return false;
  }
  status.waitingSince ??= pass.now;
  const waitedMs = (status.waitedMs ?? 0) + pass.input.now.getTime() - Date.parse(status.waitingSince);
  if (waitedMs >= spec.progressDeadlineMs) {
    fail(pass, spec, 'Aborted', 'ProgressDeadlineExceeded', `no progress within ${Math.round(spec.progressDeadlineMs / 1000)} s: ${message}`);
    return false;
  }
  pass.condition({ type: 'Progressing', status: 'True', reason, message });
  pass.wakeIn(Math.min(WAIT_POLL_MS, spec.progressDeadlineMs - waitedMs));
  return false;
}

/** A pause stops the progress-deadline clock; the time waited so far is kept. */
function pauseWaitClock(pass: DecisionPass): void {
  const { status } = pass;
  if (!status.waitingSince) return;
  status.waitedMs = (status.waitedMs ?? 0) + Math.max(0, pass.input.now.getTime() - Date.parse(status.waitingSince));
  delete status.waitingSince;
}

function endWait(pass: DecisionPass): void {
  delete pass.status.waitingSince;
  delete pass.status.waitedMs;
}

// ---------------------------------------------------------------- failure and return to stable

function fail<P extends 'RolledBack' | 'Aborted'>(pass: DecisionPass, spec: RolloutSpec, phase: P, reason: TransitionReason<P>, message: string): void {
  pass.status.failure = { reason: reasonText(reason), message, at: pass.now };
  endWait(pass);
  pass.transition(phase, reason, `${phase === 'RolledBack' ? 'rolled back' : 'aborted'}: ${message}`);
  returnToStable(pass, spec);
}

/**
 * Back to 100 % stable. Stable is scaled to full at once; traffic follows as its replicas become
 * ready. A rolled-back candidate (analysis or the breaker found it failing) is drained at once
 * instead: its requests fail, and a queue on stable is the lesser harm. The candidate keeps its
 * replicas until its traffic has left, then goes to zero.
 */
function returnToStable(pass: DecisionPass, spec: RolloutSpec): void {
  const { status } = pass;
  const stable = status.stable!.revision;
  ensureReplicas(pass, stable, spec.replicas);
  const back = pass.input.route.found && moveTraffic(pass, spec, { target: 0, mirror: 0, drain: status.phase === 'RolledBack' });
  if (back) {
    for (const dep of Object.values(pass.input.deployments)) {
      if (dep.revision !== stable && dep.exists && dep.desiredReplicas > 0) ensureReplicas(pass, dep.revision, 0);
    }
    // Nothing carries traffic now: the candidate Service comes to this candidate (after a restart it may
    // still select an older one), and revisions no Service selects are retired.
    const candidate = status.candidate?.revision;
    if (candidate && pass.input.services.candidateSelects !== candidate) candidateServiceOn(pass, candidate);
    retireOthers(pass, [stable, ...(candidate ? [candidate] : [])]);
  }
  failedConditions(pass, back);
}

/** Conditions of a rolled-back or aborted rollout; `back`: its traffic is all on stable again. */
function failedConditions(pass: DecisionPass, back: boolean): void {
  const { status } = pass;
  const failure = status.failure;
  // Only a rolled-back or aborted rollout returns to stable.
  const outcome = status.phase === 'Aborted' ? 'Aborted' : 'RolledBack';
  pass.condition({ type: 'Degraded', status: 'True', reason: failure?.reason ?? outcome, message: failure?.message ?? '' });
  pass.condition({
    type: 'Progressing',
    status: 'False',
    reason: outcome,
    message: back
      ? `traffic is back on stable; change the template or retry (annotation ${ANNOTATION_RETRY})`
      : (status.returnToStable?.message ?? 'traffic is moving back to stable'),
  });
  pass.condition({
    type: 'Ready',
    status: 'False',
    reason: outcome,
    message: `candidate ${status.candidate?.revision ?? ''} was ${status.phase === 'Aborted' ? 'aborted' : 'rolled back'}: ${failure?.message ?? ''}`,
  });
  pass.condition({ type: 'Paused', status: 'False', reason: 'NotPaused', message: '' });
}

// ---------------------------------------------------------------- helpers

/** Ready pods of a revision that will stay: beyond its desired replicas they are about to be removed. */
function readyOf(pass: DecisionPass, revision: string): number {
  const dep = pass.input.deployments[revision];
  return dep ? Math.min(dep.readyReplicas, dep.desiredReplicas) : 0;
}

function routeIs(pass: DecisionPass, stableWeight: number, candidateWeight: number, mirrorPercent: number): boolean {
  const r = pass.input.route;
  return r.found && r.stableWeight === stableWeight && r.candidateWeight === candidateWeight && (r.mirrorPercent ?? 0) === mirrorPercent;
}

function routeMissing(pass: DecisionPass): void {
  const message = pass.input.route.error ?? 'the traffic route was not found';
  const reason = pass.input.route.reason ?? 'RouteNotFound';
  const before = pass.status.conditions?.find((c) => c.type === 'Ready');
  if (reason === 'RouteRuleNotOwned' && before?.reason !== reason) pass.event('Warning', reason, `${message}; the rollout waits and changes nothing of it`);
  pass.condition({ type: 'Progressing', status: 'False', reason, message });
  pass.condition({ type: 'Ready', status: 'False', reason, message });
  pass.wakeIn(ROUTE_MISSING_POLL_MS);
}

/** Create the revision's Deployment or set its replicas, unless it already is so (the last call in a pass wins). */
function ensureReplicas(pass: DecisionPass, revision: string, replicas: number): void {
  const dep = pass.input.deployments[revision];
  const have = plannedReplicas(pass, revision) ?? (dep?.exists ? dep.desiredReplicas : undefined);
  pass.sized.set(revision, replicas);
  if (have === replicas) return;
  if (!dep?.exists) pass.act({ kind: 'ensureDeployment', revision, replicas });
  else pass.act({ kind: 'scaleDeployment', revision, replicas });
}

/**
 * Revisions no Service selects any more: the previous stable is kept at zero replicas, the rest deleted.
 * A revision a Service still selects waits until the Service has moved (traffic leaves first).
 */
function retireOthers(pass: DecisionPass, keep: string[]): void {
  const { input, status } = pass;
  for (const dep of Object.values(input.deployments) as DeploymentObservation[]) {
    if (!dep.exists || keep.includes(dep.revision)) continue;
    if (input.services.stableSelects === dep.revision || input.services.candidateSelects === dep.revision) continue;
    if (dep.revision === status.previousStable?.revision) {
      if (dep.desiredReplicas > 0) pass.act({ kind: 'scaleDeployment', revision: dep.revision, replicas: 0 });
    } else {
      pass.act({ kind: 'deleteDeployment', revision: dep.revision });
    }
  }
}

/** Weights, replicas and Available, from what was observed plus what this pass does. */
function summarise(pass: DecisionPass, spec: RolloutSpec): void {
  const { input, status, actions } = pass;
  const traffic = [...actions].reverse().find((a) => a.kind === 'setTraffic');
  const route = input.route;
  status.weights =
    traffic?.kind === 'setTraffic'
      ? { stable: traffic.stableWeight, candidate: traffic.candidateWeight, mirrorPercent: traffic.mirrorPercent }
      : { stable: route.stableWeight ?? 0, candidate: route.candidateWeight ?? 0, mirrorPercent: route.mirrorPercent ?? 0 };
  const count = (revision: string | undefined) => {
    if (!revision) return { desired: 0, ready: 0 };
    const dep = input.deployments[revision];
    const scaled = [...actions].reverse().find((a) => (a.kind === 'scaleDeployment' || a.kind === 'ensureDeployment') && a.revision === revision);
    const desired = scaled && (scaled.kind === 'scaleDeployment' || scaled.kind === 'ensureDeployment') ? scaled.replicas : (dep?.desiredReplicas ?? 0);
    return { desired, ready: dep?.readyReplicas ?? 0 };
  };
  status.replicas = { stable: count(status.stable?.revision), candidate: count(status.candidate?.revision) };
  const stableReady = status.replicas.stable.ready;
  const needed = stableReplicasFor(status.weights.stable, spec.replicas);
  const available = stableReady >= 1 && (stableReady >= needed || status.weights.stable === 0);
  pass.condition({
    type: 'Available',
    status: available ? 'True' : 'False',
    reason: available ? 'StableAvailable' : 'StableUnavailable',
    message: `stable ${stableReady}/${status.replicas.stable.desired} ready for ${status.weights.stable} % of traffic`,
  });
}
