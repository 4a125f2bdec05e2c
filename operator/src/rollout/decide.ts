// The rollout state machine: decide(input) → { status, actions, requeueAfterMs }. No I/O.
// Every pass starts from what is observed (Deployments, Services, route, free GPUs) and what status
// remembers, so a restarted operator or a new leader resumes at the same step.
import { Pass } from './pass.js';
import { candidateReplicasFor, replicasThatFit, stableReplicasFor } from './replicas.js';
import type { DecideInput, Decision, DeploymentObservation, RolloutSpec, StepStatus } from './types.js';

/** How often a waiting rollout looks again when no watch event is expected (pods stuck, GPUs busy). */
export const WAIT_POLL_MS = 5_000;
export const ANALYSIS_POLL_MS = 10_000;
export const ROUTE_MISSING_POLL_MS = 10_000;

export function decide(input: DecideInput): Decision {
  const pass = new Pass(input);
  if (input.deleting) return deleting(pass);
  if (!input.spec) return invalid(pass);
  pass.condition({ type: 'InvalidSpec', status: 'False', reason: 'SpecValid', message: '' });
  const spec = input.spec;
  if (!pass.status.stable) {
    pass.status.stable = { revision: input.specRevision, modelVersion: spec.modelVersion };
    pass.transition('Initializing', 'Initializing', `starting ${spec.modelName} ${spec.modelVersion} as the stable revision ${input.specRevision}`);
  }
  if (input.specRevision === pass.status.stable!.revision) steady(pass, spec);
  else rollout(pass, spec);
  summarise(pass, spec);
  return pass.finish();
}

// ---------------------------------------------------------------- deletion and invalid specs

/** Finalizer: traffic goes back to 100 % stable before the object (and what it owns) goes away. */
function deleting(pass: Pass): Decision {
  const route = pass.input.route;
  if (route.found && !routeIs(pass, 100, 0, 0)) pass.act({ kind: 'setTraffic', stableWeight: 100, candidateWeight: 0, mirrorPercent: 0 });
  pass.act({ kind: 'removeFinalizer' });
  return pass.finish();
}

/** Nothing is changed for an invalid spec: the last good state keeps running. */
function invalid(pass: Pass): Decision {
  const message = `spec is invalid; nothing was changed: ${pass.input.specErrors.join('; ')}`;
  pass.condition({ type: 'InvalidSpec', status: 'True', reason: 'InvalidSpec', message });
  pass.condition({ type: 'Ready', status: 'False', reason: 'InvalidSpec', message });
  pass.transition('Invalid', 'InvalidSpec', message);
  return pass.finish();
}

// ---------------------------------------------------------------- steady state

/** The spec names the stable revision: full replicas, both Services on stable, 100/0, others retired. */
function steady(pass: Pass, spec: RolloutSpec): void {
  const { input, status } = pass;
  const stable = status.stable!.revision;
  if (status.candidate) {
    pass.note('CandidateAbandoned', `template is back to the stable revision ${stable}; dropping candidate ${status.candidate.revision}`);
    clearRollout(pass);
  }
  ensureReplicas(pass, stable, spec.replicas);
  const services = input.services;
  const candidateWeight = input.route.candidateWeight ?? 0;
  // The stable Service follows the stable revision first (after a promotion it still selects the old one).
  if (services.stableSelects !== stable) {
    pass.act({ kind: 'ensureServices', stableRevision: stable, candidateRevision: candidateWeight > 0 ? (services.candidateSelects ?? stable) : stable });
  }
  if (!input.route.found) {
    routeMissing(pass);
  } else if (!routeIs(pass, 100, 0, 0)) {
    pass.act({ kind: 'setTraffic', stableWeight: 100, candidateWeight: 0, mirrorPercent: 0 });
  } else if (services.candidateSelects !== stable && services.stableSelects === stable) {
    pass.act({ kind: 'ensureServices', stableRevision: stable, candidateRevision: stable });
  }
  retireOthers(pass, [stable]);

  const dep = input.deployments[stable];
  const settled = input.route.found && routeIs(pass, 100, 0, 0) && services.stableSelects === stable && services.candidateSelects === stable;
  const ready = settled && !!dep && dep.readyReplicas >= spec.replicas && dep.desiredReplicas === spec.replicas;
  if (ready) {
    if (status.phase !== 'Healthy') pass.transition('Healthy', status.phase === 'Initializing' ? 'Initialized' : 'Settled', `${spec.modelName} ${spec.modelVersion} (${stable}) serves 100 % with ${spec.replicas} ready replica(s)`);
    pass.condition({ type: 'Ready', status: 'True', reason: 'Healthy', message: `stable revision ${stable} serves 100 % of traffic` });
  } else {
    if (status.phase !== 'Initializing') pass.transition('Healthy', status.phase === 'Healthy' ? lastReason(pass) : 'Settling', `settling on stable revision ${stable}`);
    const readyCount = dep?.readyReplicas ?? 0;
    if (input.route.found) pass.condition({ type: 'Ready', status: 'False', reason: 'Settling', message: `stable revision ${stable}: ${readyCount}/${spec.replicas} ready${settled ? '' : ', traffic or Services still moving to it'}` });
    pass.wakeIn(WAIT_POLL_MS);
  }
  pass.condition({ type: 'Progressing', status: 'False', reason: status.history?.some((h) => h.reason === 'Promoted') ? 'RolloutComplete' : 'NoRollout', message: '' });
  pass.condition({ type: 'Paused', status: 'False', reason: 'NotPaused', message: '' });
  pass.condition({ type: 'Degraded', status: 'False', reason: 'AsExpected', message: '' });
}

// ---------------------------------------------------------------- rollout

function rollout(pass: Pass, spec: RolloutSpec): void {
  const { input, status } = pass;
  if (status.candidate?.revision !== input.specRevision) {
    const previous = status.candidate;
    startRollout(pass, spec, previous ? 'Restarted' : 'RolloutStarted',
      previous
        ? `template changed during the rollout of ${previous.revision}; restarting from the first step with ${input.specRevision} (${spec.modelVersion})`
        : `rolling out ${spec.modelName} ${spec.modelVersion} (${input.specRevision}) over ${status.stable!.modelVersion} (${status.stable!.revision})`);
  }
  if (status.phase === 'RolledBack' || status.phase === 'Aborted') {
    if (!pass.fresh.retry) return returnToStable(pass, spec);
    startRollout(pass, spec, 'Retried', `retrying the rollout of ${input.specRevision} from the first step`);
  }
  if (pass.fresh.abort) return fail(pass, spec, 'Aborted', 'AbortRequested', 'abort requested (annotation modelrollout.dev/abort)');
  if (input.breaker.tripped) return fail(pass, spec, 'RolledBack', input.breaker.reason, input.breaker.message);
  pass.condition({ type: 'Degraded', status: 'False', reason: 'AsExpected', message: '' });
  pass.condition({ type: 'Ready', status: 'False', reason: 'RolloutInProgress', message: `candidate ${input.specRevision} is being rolled out` });
  if (input.controls.paused) {
    pass.transition('Paused', 'PausedByUser', 'paused (annotation modelrollout.dev/paused); weights and replicas are held');
    pass.condition({ type: 'Paused', status: 'True', reason: 'PausedByUser', message: status.message ?? '' });
    pass.condition({ type: 'Progressing', status: 'Unknown', reason: 'Paused', message: 'paused by user' });
    return;
  }
  if (!input.route.found) return routeMissing(pass);
  if (!candidateServiceReady(pass, spec)) return;
  retireOthers(pass, [status.stable!.revision, status.candidate!.revision]);
  if (spec.shadow && !status.currentStep) return shadowPhase(pass, spec);
  stepPhase(pass, spec);
}

function startRollout(pass: Pass, spec: RolloutSpec, reason: string, message: string): void {
  const { status, input } = pass;
  clearRollout(pass);
  status.candidate = { revision: input.specRevision, modelVersion: spec.modelVersion };
  status.rolloutStartedAt = pass.now;
  pass.transition(spec.shadow ? 'Shadowing' : 'Progressing', reason, message);
  pass.condition({ type: 'Progressing', status: 'True', reason, message });
}

function clearRollout(pass: Pass): void {
  const { status } = pass;
  delete status.candidate;
  delete status.currentStep;
  delete status.shadowStartedAt;
  delete status.gatePassedForStep;
  delete status.waitingSince;
  delete status.rolloutStartedAt;
  delete status.failure;
  delete status.analysis;
}

/**
 * The candidate Service must select the candidate revision before traffic moves. It is only re-pointed
 * while it carries no traffic, so a restart first sends everything back to stable.
 */
function candidateServiceReady(pass: Pass, spec: RolloutSpec): boolean {
  const { input, status } = pass;
  const stable = status.stable!.revision;
  const candidate = status.candidate!.revision;
  if (input.services.stableSelects === stable && input.services.candidateSelects === candidate) return true;
  const carriesTraffic = (input.route.candidateWeight ?? 0) > 0 || (input.route.mirrorPercent ?? 0) > 0;
  if (carriesTraffic && input.services.candidateSelects !== candidate) {
    ensureReplicas(pass, stable, spec.replicas);
    pass.act({ kind: 'setTraffic', stableWeight: 100, candidateWeight: 0, mirrorPercent: 0 });
  } else {
    pass.act({ kind: 'ensureServices', stableRevision: stable, candidateRevision: candidate });
  }
  pass.wakeIn(0);
  return false;
}

function shadowPhase(pass: Pass, spec: RolloutSpec): void {
  const { input, status } = pass;
  const shadow = spec.shadow!;
  if (!stillPausedByAnalysis(pass)) {
    pass.transition('Shadowing', 'ShadowStarted', `mirroring ${shadow.mirrorPercent} % of live traffic to ${status.candidate!.revision} for ${Math.round(shadow.durationMs / 1000)} s`);
    pass.condition({ type: 'Paused', status: 'False', reason: 'NotPaused', message: '' });
  }
  const needed = candidateReplicasFor(shadow.mirrorPercent, spec.replicas);
  if (!candidateCapacity(pass, spec, needed, `shadow (${shadow.mirrorPercent} % mirrored)`)) return;
  if (!candidateReady(pass, spec, needed)) return;
  delete status.waitingSince;
  if (!routeIs(pass, 100, 0, shadow.mirrorPercent)) {
    pass.act({ kind: 'setTraffic', stableWeight: 100, candidateWeight: 0, mirrorPercent: shadow.mirrorPercent });
    status.shadowStartedAt ??= pass.now;
    return;
  }
  status.shadowStartedAt ??= pass.now;
  const verdict = input.analysis;
  if (verdict.result === 'fail') return fail(pass, spec, 'RolledBack', verdict.reason, `shadow analysis failed: ${verdict.message}`);
  if (!bakeDone(pass, status.shadowStartedAt, shadow.durationMs, 'shadow')) return;
  if (!analysisPassed(pass)) return;
  pass.note('ShadowPassed', `shadow phase passed; starting step 1 (${spec.steps[0]} %)`);
  enterStep(pass, spec, 0);
  pass.wakeIn(0);
}

function stepPhase(pass: Pass, spec: RolloutSpec): void {
  const { input, status } = pass;
  if (!status.currentStep) enterStep(pass, spec, 0);
  const step = status.currentStep!;
  const weight = step.weight;
  if (spec.manualGates.includes(weight) && status.gatePassedForStep !== step.index) {
    if (pass.fresh.resume || pass.fresh.promote) {
      status.gatePassedForStep = step.index;
      pass.note('GateResumed', `manual gate before ${weight} % resumed`);
    } else {
      pass.transition('Paused', 'ManualGate', `paused before step ${step.label} (${weight} %): resume with \`kubectl modelrollout resume\` or annotation modelrollout.dev/resume`);
      pass.condition({ type: 'Paused', status: 'True', reason: 'ManualGate', message: status.message ?? '' });
      pass.condition({ type: 'Progressing', status: 'Unknown', reason: 'ManualGate', message: status.message ?? '' });
      return;
    }
  }
  if (!stillPausedByAnalysis(pass)) {
    pass.condition({ type: 'Paused', status: 'False', reason: 'NotPaused', message: '' });
    pass.transition('Progressing', `Step${step.index + 1}`, `step ${step.label}: ${weight} % to ${status.candidate!.revision}`);
  }

  const needed = candidateReplicasFor(weight, spec.replicas);
  if (!candidateCapacity(pass, spec, needed, `step ${step.label} (${weight} %)`)) return;
  if (!candidateReady(pass, spec, needed)) return;
  delete status.waitingSince;
  // Traffic moves only once the candidate's ready replicas can carry it; stable shrinks only after.
  if (!routeIs(pass, 100 - weight, weight, 0)) {
    pass.act({ kind: 'setTraffic', stableWeight: 100 - weight, candidateWeight: weight, mirrorPercent: 0 });
    step.trafficShiftedAt ??= pass.now;
    return;
  }
  step.trafficShiftedAt ??= pass.now;
  ensureReplicas(pass, status.stable!.revision, stableReplicasFor(100 - weight, spec.replicas));

  const verdict = input.analysis;
  if (verdict.result === 'fail') return fail(pass, spec, 'RolledBack', verdict.reason, `step ${step.label} (${weight} %) analysis failed: ${verdict.message}`);
  const skip = pass.fresh.promote;
  if (!skip && !bakeDone(pass, step.trafficShiftedAt, spec.stepDurationMs, `step ${step.label}`)) return;
  if (!skip && !analysisPassed(pass)) return;
  if (step.index === spec.steps.length - 1) return promote(pass, spec);
  pass.note('StepPassed', `step ${step.label} (${weight} %) passed${skip ? ' (promoted by user)' : ''}`);
  enterStep(pass, spec, step.index + 1);
  pass.wakeIn(0);
}

function enterStep(pass: Pass, spec: RolloutSpec, index: number): void {
  const step: StepStatus = { index, weight: spec.steps[index]!, label: `${index + 1}/${spec.steps.length}` };
  pass.status.currentStep = step;
}

function bakeDone(pass: Pass, since: string, durationMs: number, what: string): boolean {
  const remaining = Date.parse(since) + durationMs - pass.input.now.getTime();
  if (remaining <= 0) return true;
  pass.condition({ type: 'Progressing', status: 'True', reason: 'Baking', message: `${what}: baking until ${new Date(Date.parse(since) + durationMs).toISOString()}` });
  pass.wakeIn(remaining);
  return false;
}

/** Paused by analysis last pass and analysis still says pause: leave phase and conditions as they are. */
function stillPausedByAnalysis(pass: Pass): boolean {
  return pass.input.analysis.result === 'pause' && pass.status.phase === 'Paused' && pass.status.conditions?.find((c) => c.type === 'Paused')?.reason === 'AnalysisPaused';
}

function analysisPassed(pass: Pass): boolean {
  const verdict = pass.input.analysis;
  if (verdict.result === 'pass') return true;
  if (verdict.result === 'pause') {
    pass.transition('Paused', 'AnalysisPaused', `${verdict.message}; resume with \`kubectl modelrollout resume\` or annotation modelrollout.dev/resume`);
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

function promote(pass: Pass, spec: RolloutSpec): void {
  const { status } = pass;
  const candidate = status.candidate!;
  const previous = status.stable!;
  pass.note('Promoted', `promoted ${spec.modelName} ${candidate.modelVersion} (${candidate.revision}); ${previous.modelVersion} (${previous.revision}) is scaled to zero`);
  clearRollout(pass);
  status.previousStable = previous;
  status.stable = candidate;
  status.phase = 'Healthy';
  steady(pass, spec);
}

// ---------------------------------------------------------------- GPUs and readiness

/**
 * Makes room for `needed` candidate replicas. Extra replicas must fit the free GPUs of schedulable
 * nodes; failing that, stable may shrink to what its *current* traffic share needs. Otherwise hold.
 */
function candidateCapacity(pass: Pass, spec: RolloutSpec, needed: number, what: string): boolean {
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
  const stableFloor = stableReplicasFor(input.route.stableWeight ?? 100, spec.replicas);
  const freeable = stable ? Math.max(0, stable.desiredReplicas - stableFloor) : 0;
  // A freed stable replica makes room for candidates only if a candidate fits in its GPUs.
  const perFreed = stable && spec.gpusPerReplica <= stable.gpusPerReplica ? Math.floor(stable.gpusPerReplica / spec.gpusPerReplica) : 0;
  if (perFreed > 0 && fit + freeable * perFreed >= extra) {
    const release = Math.ceil((extra - fit) / perFreed);
    pass.act({ kind: 'scaleDeployment', revision: stable!.revision, replicas: stable!.desiredReplicas - release });
    pass.note('GPUsFreed', `scaled stable from ${stable!.desiredReplicas} to ${stable!.desiredReplicas - release} replica(s) (its traffic share needs ${stableFloor}) to free GPUs for ${what}`);
    ensureReplicas(pass, candidate, needed);
    return true;
  }
  const free = input.gpus.freePerNode.reduce((a, b) => a + Math.max(0, b), 0);
  const freeableGpus = freeable * (stable?.gpusPerReplica ?? 0);
  return waiting(pass, spec, 'InsufficientGPU',
    `${what} needs ${extra} more candidate replica(s) × ${spec.gpusPerReplica} ${spec.gpuResource} = ${extra * spec.gpusPerReplica} GPUs; ` +
    `${free} free on schedulable nodes (room for ${fit} replica(s)), ${freeableGpus} more can be freed from stable without taking capacity from its traffic`);
}

function candidateReady(pass: Pass, spec: RolloutSpec, needed: number): boolean {
  const dep = pass.input.deployments[pass.status.candidate!.revision];
  const ready = dep?.readyReplicas ?? 0;
  if (ready >= needed) return true;
  const problems = dep?.podProblems.length ? `; ${dep.podProblems.join('; ')}` : '';
  return waiting(pass, spec, 'WaitingForCandidate', `candidate ${ready}/${needed} replica(s) ready${problems}`);
}

/** Waiting for GPUs or readiness counts against progressDeadline; past it the rollout aborts. */
function waiting(pass: Pass, spec: RolloutSpec, reason: string, message: string): false {
  const { status } = pass;
  status.waitingSince ??= pass.now;
  const waitedMs = pass.input.now.getTime() - Date.parse(status.waitingSince);
  if (waitedMs >= spec.progressDeadlineMs) {
    fail(pass, spec, 'Aborted', 'ProgressDeadlineExceeded', `no progress within ${Math.round(spec.progressDeadlineMs / 1000)} s: ${message}`);
    return false;
  }
  pass.condition({ type: 'Progressing', status: 'True', reason, message });
  pass.wakeIn(Math.min(WAIT_POLL_MS, spec.progressDeadlineMs - waitedMs));
  return false;
}

// ---------------------------------------------------------------- failure and return to stable

function fail(pass: Pass, spec: RolloutSpec, phase: 'RolledBack' | 'Aborted', reason: string, message: string): void {
  pass.status.failure = { reason, message, at: pass.now };
  delete pass.status.waitingSince;
  pass.transition(phase, reason, `${phase === 'RolledBack' ? 'rolled back' : 'aborted'}: ${message}`);
  returnToStable(pass, spec);
}

/** Traffic back to 100 % stable at once (stable scaled to full in the same pass), then the candidate to zero. */
function returnToStable(pass: Pass, spec: RolloutSpec): void {
  const { input, status } = pass;
  const stable = status.stable!.revision;
  ensureReplicas(pass, stable, spec.replicas);
  if (input.route.found && !routeIs(pass, 100, 0, 0)) {
    pass.act({ kind: 'setTraffic', stableWeight: 100, candidateWeight: 0, mirrorPercent: 0 });
    pass.wakeIn(0);
  } else if (input.route.found) {
    for (const dep of Object.values(input.deployments)) {
      if (dep.revision !== stable && dep.exists && dep.desiredReplicas > 0) pass.act({ kind: 'scaleDeployment', revision: dep.revision, replicas: 0 });
    }
  }
  const failure = status.failure;
  pass.condition({ type: 'Degraded', status: 'True', reason: failure?.reason ?? status.phase ?? 'RolledBack', message: failure?.message ?? '' });
  pass.condition({ type: 'Progressing', status: 'False', reason: status.phase ?? 'RolledBack', message: 'traffic is back on stable; change the template or retry (annotation modelrollout.dev/retry)' });
  pass.condition({ type: 'Ready', status: 'False', reason: status.phase ?? 'RolledBack', message: `candidate ${status.candidate?.revision ?? ''} was ${status.phase === 'Aborted' ? 'aborted' : 'rolled back'}: ${failure?.message ?? ''}` });
  pass.condition({ type: 'Paused', status: 'False', reason: 'NotPaused', message: '' });
}

// ---------------------------------------------------------------- helpers

function routeIs(pass: Pass, stableWeight: number, candidateWeight: number, mirrorPercent: number): boolean {
  const r = pass.input.route;
  return r.found && r.stableWeight === stableWeight && r.candidateWeight === candidateWeight && (r.mirrorPercent ?? 0) === mirrorPercent;
}

function routeMissing(pass: Pass): void {
  const message = pass.input.route.error ?? 'the traffic route was not found';
  pass.condition({ type: 'Progressing', status: 'False', reason: 'RouteNotFound', message });
  pass.condition({ type: 'Ready', status: 'False', reason: 'RouteNotFound', message });
  pass.wakeIn(ROUTE_MISSING_POLL_MS);
}

/** Create the revision's Deployment or set its replicas, unless it already is so. */
function ensureReplicas(pass: Pass, revision: string, replicas: number): void {
  const dep = pass.input.deployments[revision];
  if (!dep?.exists) pass.act({ kind: 'ensureDeployment', revision, replicas });
  else if (dep.desiredReplicas !== replicas) pass.act({ kind: 'scaleDeployment', revision, replicas });
}

/**
 * Revisions no Service selects any more: the previous stable is kept at zero replicas, the rest deleted.
 * A revision a Service still selects waits until the Service has moved (traffic leaves first).
 */
function retireOthers(pass: Pass, keep: string[]): void {
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

function lastReason(pass: Pass): string {
  return pass.status.history?.[pass.status.history.length - 1]?.reason ?? 'Settling';
}

/** Weights, replicas and Available, from what was observed plus what this pass does. */
function summarise(pass: Pass, spec: RolloutSpec): void {
  const { input, status, actions } = pass;
  const traffic = [...actions].reverse().find((a) => a.kind === 'setTraffic');
  const route = input.route;
  status.weights = traffic?.kind === 'setTraffic'
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
