import { describe, expect, it } from 'vitest';
import { decide } from './decide.js';
import {
  acceptsShortfall,
  CANDIDATE,
  cloneWorld,
  expectNoShortfallAfterEach,
  OTHER,
  spec,
  STABLE,
  stableWorld,
  startRollout,
  T0,
  World,
} from './simulated-cluster.test-support.js';
import type { RolloutSpec } from './types.js';

expectNoShortfallAfterEach();

describe('decide: first template', () => {
  it('becomes stable at once: Deployment at full replicas, Services, 100/0, then Healthy and Ready', () => {
    const w = new World(spec(), STABLE);
    const first = w.step();
    expect(first.status.phase).toBe('Initializing');
    expect(first.status.stable).toEqual({ revision: STABLE, modelVersion: 'v2' });
    expect(first.actions).toContainEqual({ kind: 'ensureDeployment', revision: STABLE, replicas: 4 });
    expect(first.actions).toContainEqual({ kind: 'ensureServices', stableRevision: STABLE, candidateRevision: STABLE });
    // The route moves once the Services are observed on the revision.
    expect(first.actions.some((a) => a.kind === 'setTraffic')).toBe(false);
    expect(w.step().actions).toContainEqual({ kind: 'setTraffic', stableWeight: 100, candidateWeight: 0, mirrorPercent: 0 });
    w.settled();
    expect(w.status.history?.map((h) => h.reason)).toEqual(['Initializing', 'Initialized']);
    expect(w.condition('Available')).toBe('True');
    expect(w.condition('Progressing')).toBe('False');
  });

  it('is a no-op once settled: same status, no actions, nothing to wait for', () => {
    const w = stableWorld();
    const d = decide(w.input());
    expect(d.actions).toEqual([]);
    expect(d.status).toEqual(w.status);
    expect(d.requeueAfterMs).toBeUndefined();
  });

  it('waits for the route without failing when it does not exist yet', () => {
    const w = new World(spec(), STABLE);
    w.route = { found: false, stableWeight: undefined, candidateWeight: undefined, mirrorPercent: 0 };
    const d = w.step();
    expect(d.actions.some((a) => a.kind === 'setTraffic')).toBe(false);
    expect(d.actions).toContainEqual({ kind: 'ensureDeployment', revision: STABLE, replicas: 4 });
    expect(w.reason('Ready')).toBe('RouteNotFound');
    expect(d.requeueAfterMs).toBeGreaterThan(0);
  });
});

describe('decide: a full rollout', () => {
  it('steps 1→5→20→50→100, never shifting weight beyond what ready candidate replicas carry, then promotes', () => {
    const w = startRollout(stableWorld());
    const seenWeights: number[] = [];
    w.run((x) => {
      const rw = x.route.candidateWeight ?? 0;
      if (seenWeights[seenWeights.length - 1] !== rw) seenWeights.push(rw);
      const cand = x.deployments[CANDIDATE];
      if (rw > 0 && x.route.stableWeight !== 0) expect(cand!.readyReplicas).toBeGreaterThanOrEqual(Math.ceil((rw * 4) / 100));
      return x.status.stable?.revision === CANDIDATE && x.condition('Ready') === 'True';
    });
    expect(seenWeights).toEqual([0, 1, 5, 20, 50, 100, 0]);
    expect(w.status.phase).toBe('Healthy');
    expect(w.status.previousStable?.revision).toBe(STABLE);
    expect(w.status.candidate).toBeUndefined();
    expect(w.services).toEqual({ stableSelects: CANDIDATE, candidateSelects: CANDIDATE });
    expect(w.deployments[STABLE]?.desiredReplicas).toBe(0);
    expect(w.deployments[CANDIDATE]?.desiredReplicas).toBe(4);
    expect(w.reason('Progressing')).toBe('RolloutComplete');
    expect(w.status.history?.map((h) => h.reason)).toEqual(expect.arrayContaining(['RolloutStarted', 'Step1', 'StepPassed', 'Step5', 'Promoted']));
  });

  it('scales the candidate before shifting traffic and shrinks stable only after', () => {
    const w = startRollout(stableWorld());
    w.run((x) => x.status.currentStep?.index === 2 && x.route.candidateWeight === 20);
    const idxShift = w.log.findIndex((a) => a.kind === 'setTraffic' && a.candidateWeight === 20);
    const idxScaleUp = w.log.findIndex((a) => (a.kind === 'scaleDeployment' || a.kind === 'ensureDeployment') && a.revision === CANDIDATE && a.replicas === 1);
    expect(idxScaleUp).toBeGreaterThanOrEqual(0);
    expect(idxScaleUp).toBeLessThan(idxShift);
    w.run((x) => x.deployments[STABLE]?.desiredReplicas === 2);
    const idxShift50 = w.log.findIndex((a) => a.kind === 'setTraffic' && a.candidateWeight === 50);
    const idxShrink = w.log.findIndex((a) => a.kind === 'scaleDeployment' && a.revision === STABLE && a.replicas === 2);
    expect(idxShrink).toBeGreaterThan(idxShift50);
  });

  it('bakes each step for stepDuration and asks to be woken when it ends', () => {
    const w = startRollout(stableWorld());
    w.run((x) => x.route.candidateWeight === 1);
    const d = w.step();
    expect(d.requeueAfterMs).toBe(Date.parse(d.status.currentStep!.trafficShiftedAt!) + 60_000 - w.now);
    expect(d.requeueAfterMs).toBeGreaterThan(50_000);
    expect(w.reason('Progressing')).toBe('Baking');
  });

  it('holds on a pending or inconclusive verdict after the bake time', () => {
    const w = startRollout(stableWorld());
    w.analysis = { result: 'pending', message: 'waiting for 3 samples' };
    w.run((x) => x.reason('Progressing') === 'AwaitingAnalysis');
    w.now += 3_600_000;
    w.step();
    expect(w.status.currentStep?.index).toBe(0);
    w.analysis = { result: 'pass' };
    w.run((x) => x.status.currentStep?.index === 1);
  });
});

describe('decide: failures', () => {
  it('rolls back at once on a failed verdict: 100 % stable, stable at full, candidate to zero, Degraded', () => {
    const w = startRollout(stableWorld());
    acceptsShortfall.add(w); // the drain policy: a failing candidate's traffic goes to stable before stable is ready
    w.run((x) => x.status.currentStep?.index === 3 && x.deployments[STABLE]?.desiredReplicas === 2);
    w.analysis = { result: 'fail', reason: 'ErrorRate', message: 'error rate 7 % > 1 %' };
    const d = w.step();
    expect(d.status.phase).toBe('RolledBack');
    expect(d.actions).toContainEqual({ kind: 'setTraffic', stableWeight: 100, candidateWeight: 0, mirrorPercent: 0 });
    expect(d.actions).toContainEqual({ kind: 'scaleDeployment', revision: STABLE, replicas: 4 });
    w.run((x) => x.deployments[CANDIDATE]?.desiredReplicas === 0);
    expect(w.condition('Degraded')).toBe('True');
    expect(w.reason('Degraded')).toBe('ErrorRate');
    expect(w.condition('Ready')).toBe('False');
    expect(w.status.failure?.message).toContain('error rate');
    // Stays rolled back: the same template does not start again.
    w.analysis = { result: 'pass' };
    for (let i = 0; i < 5; i++) w.step();
    expect(w.status.phase).toBe('RolledBack');
    expect(w.route.candidateWeight).toBe(0);
  });

  it('rolls back when the breaker trips mid-bake', () => {
    const w = startRollout(stableWorld());
    w.run((x) => x.route.candidateWeight === 5);
    const d = decide({ ...w.input(), breaker: { tripped: true, reason: 'LatencyP99', message: 'p99 9 s > 4 s for 30 s' } });
    expect(d.status.phase).toBe('RolledBack');
    expect(d.status.failure?.reason).toBe('LatencyP99');
  });

  it('a retry annotation restarts a rolled-back candidate from the first step', () => {
    const w = startRollout(stableWorld());
    w.analysis = { result: 'fail', reason: 'ErrorRate', message: 'bad' };
    w.run((x) => x.status.phase === 'RolledBack' && x.route.candidateWeight === 0);
    w.analysis = { result: 'pass' };
    w.controls = { paused: false, retry: '1' };
    w.step();
    expect(w.status.phase).toBe('Progressing');
    expect(w.status.currentStep?.index).toBe(0);
    expect(w.status.failure).toBeUndefined();
    w.run((x) => x.status.stable?.revision === CANDIDATE);
  });

  it('holds with InsufficientGPU when the next replicas do not fit, then aborts after progressDeadline', () => {
    const w = startRollout(stableWorld(spec({ progressDeadlineMs: 60_000 })));
    w.totalGpus = 4; // all four in use by stable
    w.run((x) => x.reason('Progressing') === 'InsufficientGPU', 5);
    expect(w.log.some((a) => a.kind === 'setTraffic' && a.candidateWeight > 0)).toBe(false);
    const msg = w.status.conditions!.find((c) => c.type === 'Progressing')!.message;
    expect(msg).toContain('needs 1 more candidate replica(s) × 1 nvidia.com/gpu = 1 GPUs; 0 free');
    w.run((x) => x.status.phase === 'Aborted');
    expect(w.status.failure?.reason).toBe('ProgressDeadlineExceeded');
    expect(w.route.candidateWeight ?? 0).toBe(0);
  });

  it('never frees stable GPUs below its current traffic share: with no headroom it holds', () => {
    const w = startRollout(stableWorld(spec({ replicas: 4, steps: [25, 50, 100] })));
    // One spare GPU: 25 % and 50 % fit as stable shrinks behind the traffic; 100 % would need stable
    // below the 2 replicas its 50 % share needs.
    w.totalGpus = 5;
    w.run((x) => x.reason('Progressing') === 'InsufficientGPU');
    expect(w.route.candidateWeight).toBe(50);
    expect(w.deployments[STABLE]?.desiredReplicas).toBe(2);
    expect(w.log.filter((a) => a.kind === 'scaleDeployment' && a.revision === STABLE && a.replicas < 2)).toEqual([]);
    expect(w.status.conditions!.find((c) => c.type === 'Progressing')!.message).toContain(
      'needs 2 more candidate replica(s) × 1 nvidia.com/gpu = 2 GPUs; 1 free',
    );
  });

  it('frees GPUs from stable when it holds more than its current share needs', () => {
    const w = startRollout(stableWorld(spec({ replicas: 4, steps: [50, 100] })));
    w.run((x) => x.route.candidateWeight === 50);
    // Traffic is 50/50 but stable still has 4 replicas (it would shrink on the next pass); no GPU is free.
    w.totalGpus = 6;
    w.status = { ...w.status, currentStep: { index: 1, weight: 100, label: '2/2' } };
    const d = decide(w.input());
    expect(d.actions).toContainEqual({ kind: 'scaleDeployment', revision: STABLE, replicas: 2 });
    expect(d.actions).toContainEqual({ kind: 'scaleDeployment', revision: CANDIDATE, replicas: 4 });
    expect(d.actions.some((a) => a.kind === 'setTraffic')).toBe(false);
    expect(d.status.history?.at(-1)?.reason).toBe('GPUsFreed');
  });

  it('aborts when the candidate never becomes ready (unschedulable), traffic never moving to it', () => {
    const w = startRollout(stableWorld(spec({ progressDeadlineMs: 30_000 })));
    w.readyLimit[CANDIDATE] = 0;
    w.run((x) => x.status.phase === 'Aborted');
    expect(w.log.some((a) => a.kind === 'setTraffic' && a.candidateWeight > 0)).toBe(false);
    expect(w.status.failure?.message).toContain('Insufficient nvidia.com/gpu');
    w.run((x) => x.deployments[CANDIDATE]?.desiredReplicas === 0);
  });

  it('an abort annotation returns traffic to stable', () => {
    const w = startRollout(stableWorld());
    w.run((x) => x.route.candidateWeight === 20);
    w.controls = { paused: false, abort: 'x' };
    w.step();
    expect(w.status.phase).toBe('Aborted');
    expect(w.route).toMatchObject({ stableWeight: 100, candidateWeight: 0 });
  });
});

describe('decide: restarts, gates, shadow, pause', () => {
  it('a new template mid-rollout returns traffic to stable and restarts from the first step', () => {
    const w = startRollout(stableWorld());
    w.run((x) => x.route.candidateWeight === 20);
    startRollout(w, OTHER, 'v4');
    const d = w.step();
    expect(d.status.candidate?.revision).toBe(OTHER);
    expect(d.status.currentStep).toBeUndefined();
    expect(d.actions).toContainEqual({ kind: 'setTraffic', stableWeight: 100, candidateWeight: 0, mirrorPercent: 0 });
    expect(d.status.history?.some((h) => h.reason === 'Restarted')).toBe(true);
    w.run((x) => x.route.candidateWeight === 1);
    expect(w.services.candidateSelects).toBe(OTHER);
    expect(w.deployments[CANDIDATE]).toBeUndefined();
    w.run((x) => x.status.stable?.revision === OTHER && x.condition('Ready') === 'True');
  });

  it('restart in the middle of a step: a fresh pass on the same status resumes the same step', () => {
    const w = startRollout(stableWorld());
    w.run((x) => x.route.candidateWeight === 20 && x.status.currentStep?.trafficShiftedAt !== undefined);
    w.now += 10_000;
    const before = structuredClone(w.status);
    const d = decide(w.input()); // what a restarted operator computes from status + observations
    expect(d.status.currentStep).toEqual(before.currentStep);
    expect(d.actions.filter((a) => a.kind === 'setTraffic')).toEqual([]);
    expect(d.requeueAfterMs).toBe(Date.parse(before.currentStep!.trafficShiftedAt!) + 60_000 - w.now);
  });

  it('a template reverted to stable mid-rollout abandons the candidate and settles on stable', () => {
    const w = startRollout(stableWorld());
    w.run((x) => x.route.candidateWeight === 50);
    w.revision = STABLE;
    w.settled();
    expect(w.route).toMatchObject({ stableWeight: 100, candidateWeight: 0 });
    expect(w.deployments[CANDIDATE]).toBeUndefined();
    expect(w.deployments[STABLE]?.desiredReplicas).toBe(4);
  });

  it('pauses before a manual gate until resumed; a resume given earlier does not open a later gate', () => {
    const w = startRollout(stableWorld(spec({ manualGates: [20] })));
    w.controls = { paused: false, resume: 'early' };
    w.run((x) => x.status.phase === 'Paused');
    expect(w.status.currentStep?.weight).toBe(20);
    expect(w.route.candidateWeight).toBe(5);
    expect(w.condition('Paused')).toBe('True');
    w.now += 3_600_000;
    w.step();
    expect(w.status.phase).toBe('Paused');
    w.controls = { paused: false, resume: 'go' };
    w.step();
    expect(w.status.phase).toBe('Progressing');
    w.run((x) => x.route.candidateWeight === 20);
    expect(w.condition('Paused')).toBe('False');
  });

  it('shadow phase mirrors traffic for its duration, then step 1 removes the mirror', () => {
    const w = startRollout(stableWorld(spec({ shadow: { mirrorPercent: 50, durationMs: 120_000 } })));
    w.run((x) => x.route.mirrorPercent === 50);
    expect(w.status.phase).toBe('Shadowing');
    expect(w.route.candidateWeight).toBe(0);
    expect(w.deployments[CANDIDATE]?.desiredReplicas).toBe(2);
    const started = Date.parse(w.status.shadowStartedAt!);
    w.run((x) => x.route.candidateWeight === 1);
    expect(w.route.mirrorPercent).toBe(0);
    expect(w.now - started).toBeGreaterThanOrEqual(120_000);
  });

  it('a failed shadow analysis rolls back without ever sending user traffic', () => {
    const w = startRollout(stableWorld(spec({ shadow: { mirrorPercent: 100, durationMs: 120_000 } })));
    w.run((x) => x.route.mirrorPercent === 100);
    w.analysis = { result: 'fail', reason: 'ErrorRate', message: 'shadow errors' };
    w.step();
    expect(w.status.phase).toBe('RolledBack');
    expect(w.route).toMatchObject({ stableWeight: 100, candidateWeight: 0, mirrorPercent: 0 });
  });

  it('the paused annotation holds weights and replicas', () => {
    const w = startRollout(stableWorld());
    w.run((x) => x.route.candidateWeight === 5);
    w.controls = { paused: true };
    w.now += 3_600_000;
    const d = w.step();
    expect(d.status.phase).toBe('Paused');
    expect(d.actions.filter((a) => a.kind !== 'event')).toEqual([]);
    w.controls = { paused: false };
    w.run((x) => x.route.candidateWeight === 20);
  });

  it('promote skips the rest of the current bake', () => {
    const w = startRollout(stableWorld());
    w.run((x) => x.route.candidateWeight === 1);
    w.controls = { paused: false, promote: 'p1' };
    w.step();
    expect(w.status.currentStep?.index).toBe(1);
  });
});

describe('decide: analysis pause', () => {
  it('pauses for a person when analysis says so, steadily (no flapping), and goes on when it passes', () => {
    const w = startRollout(stableWorld());
    w.run((x) => x.route.candidateWeight === 5);
    w.analysis = { result: 'pause', message: 'metrics unavailable' };
    w.run((x) => x.status.phase === 'Paused');
    expect(w.reason('Paused')).toBe('AnalysisPaused');
    const settled = structuredClone(w.status);
    w.now += 10_000;
    const d = w.step();
    expect(d.status).toEqual(settled);
    expect(d.actions).toEqual([]);
    w.analysis = { result: 'pass' };
    w.run((x) => x.route.candidateWeight === 20);
    expect(w.condition('Paused')).toBe('False');
  });
});

describe('decide: invalid spec and deletion', () => {
  it('an invalid first spec reports InvalidSpec and changes nothing', () => {
    const d = decide({ ...new World(spec(), STABLE).input(), spec: undefined, specErrors: ['spec.strategy.stepDuration: "0s" is not a positive duration'] });
    expect(d.actions).toEqual([{ kind: 'event', type: 'Warning', reason: 'InvalidSpec', message: expect.stringContaining('stepDuration') }]);
    expect(d.status.phase).toBe('Invalid');
    expect(d.status.conditions?.find((c) => c.type === 'InvalidSpec')).toMatchObject({ status: 'True', observedGeneration: 1 });
  });

  it('an invalid spec mid-rollout holds the weight but abort, pause and the breaker still act (on the last valid spec)', () => {
    const w = startRollout(stableWorld());
    w.run((x) => x.route.candidateWeight === 5 && x.status.currentStep?.trafficShiftedAt !== undefined);
    const invalid = (x: World) => decide({ ...x.input(), spec: undefined, specErrors: ['spec.strategy.stepDuration: "0s" is not a positive duration'] });
    w.now += 3_600_000;
    const d = invalid(w);
    expect(d.actions.filter((a) => a.kind !== 'event')).toEqual([]);
    expect(d.actions).toContainEqual(expect.objectContaining({ kind: 'event', reason: 'InvalidSpec' }));
    expect(d.status.currentStep?.weight).toBe(5);
    expect(d.status.candidate).toEqual(w.status.candidate);
    expect(d.status.conditions?.find((c) => c.type === 'InvalidSpec')?.status).toBe('True');
    // The breaker still rolls back.
    const tripped = decide({ ...w.input(), spec: undefined, specErrors: ['x'], breaker: { tripped: true, reason: 'ErrorRate', message: '50 % errors' } });
    expect(tripped.status.phase).toBe('RolledBack');
    expect(tripped.actions).toContainEqual({ kind: 'setTraffic', stableWeight: 100, candidateWeight: 0, mirrorPercent: 0 });
    // So does an abort.
    const aborted = decide({ ...w.input(), spec: undefined, specErrors: ['x'], controls: { paused: false, abort: 'now' } });
    expect(aborted.status.phase).toBe('Aborted');
    expect(aborted.actions).toContainEqual(expect.objectContaining({ kind: 'setTraffic', candidateWeight: 0 }));
  });

  it('on deletion returns traffic to 100 % stable before releasing the finalizer', () => {
    const w = startRollout(stableWorld());
    w.run((x) => x.route.candidateWeight === 20);
    const first = decide({ ...w.input(), deleting: true });
    expect(first.actions).toEqual([{ kind: 'setTraffic', stableWeight: 100, candidateWeight: 0, mirrorPercent: 0 }]);
    w.apply(first.actions[0]!);
    const second = decide({ ...w.input(), deleting: true });
    expect(second.actions).toEqual([{ kind: 'removeFinalizer' }]);
  });

  it('moves lastTransitionTime only when a condition flips', () => {
    const w = stableWorld();
    const ready = w.status.conditions!.find((c) => c.type === 'Ready')!;
    w.now += 60_000;
    w.step();
    expect(w.status.conditions!.find((c) => c.type === 'Ready')!.lastTransitionTime).toBe(ready.lastTransitionTime);
  });
});

describe('decide: traffic never outruns ready capacity (slow pods, lost pods)', () => {
  const slow = (over: Partial<RolloutSpec> = {}) => {
    const w = new World(spec({ replicas: 4, steps: [50, 100], stepDurationMs: 60_000, ...over }), STABLE);
    w.readyDelayMs = 20_000;
    w.settled();
    w.log = [];
    return startRollout(w);
  };

  it('abort at the 100 % step: traffic returns step by step as stable becomes ready, never onto unready stable replicas', () => {
    const w = slow();
    w.run((x) => x.route.candidateWeight === 100 && x.deployments[STABLE]?.desiredReplicas === 1);
    w.controls = { paused: false, abort: 'now' };
    w.step();
    expect(w.status.phase).toBe('Aborted');
    // Stable has 1 ready replica: it can take 25 % at once, no more.
    expect(w.route).toMatchObject({ stableWeight: 25, candidateWeight: 75 });
    expect(w.deployments[STABLE]?.desiredReplicas).toBe(4);
    expect(w.deployments[CANDIDATE]?.desiredReplicas).toBe(4);
    expect(w.status.returnToStable).toMatchObject({ candidateWeight: 75, stableReady: 1, stableNeeded: 4, expectedSeconds: 20 });
    const shifted: number[] = [];
    w.run((x) => {
      if (shifted.at(-1) !== x.route.candidateWeight) shifted.push(x.route.candidateWeight!);
      return x.route.candidateWeight === 0 && x.deployments[CANDIDATE]?.desiredReplicas === 0;
    });
    expect(shifted).toEqual([75, 0]);
    expect(w.status.returnToStable).toBeUndefined();
    expect(w.reason('Progressing')).toBe('Aborted');
  });

  it('stableScale Full keeps stable at full size: an abort at 100 % is instant', () => {
    const w = slow({ stableScale: 'Full' });
    w.run((x) => x.route.candidateWeight === 100 && x.status.currentStep?.trafficShiftedAt !== undefined);
    expect(w.log.filter((a) => a.kind === 'scaleDeployment' && a.revision === STABLE)).toEqual([]);
    w.controls = { paused: false, abort: 'now' };
    w.step();
    expect(w.route).toMatchObject({ stableWeight: 100, candidateWeight: 0 });
  });

  it('template reverted to stable at 50 %: 100 % goes back to stable only as its replicas become ready', () => {
    const w = slow();
    w.run((x) => x.route.candidateWeight === 50 && x.deployments[STABLE]?.desiredReplicas === 2);
    w.revision = STABLE;
    w.step();
    expect(w.route).toMatchObject({ stableWeight: 50, candidateWeight: 50 });
    expect(w.deployments[STABLE]?.desiredReplicas).toBe(4);
    expect(w.status.history?.some((h) => h.reason === 'CandidateAbandoned')).toBe(true);
    w.settled();
    expect(w.route).toMatchObject({ stableWeight: 100, candidateWeight: 0 });
    expect(w.deployments[CANDIDATE]).toBeUndefined();
  });

  it('candidate loses its pods at 50 %: its weight drops in the same pass, then comes back when they are ready again', () => {
    const w = slow({ progressDeadlineMs: 600_000 });
    w.run((x) => x.route.candidateWeight === 50 && x.deployments[STABLE]?.desiredReplicas === 2);
    w.losePods(CANDIDATE, 0);
    acceptsShortfall.add(w);
    const d = w.step();
    // The one shortfall a write makes is the documented policy: with too few ready replicas on both
    // sides, traffic is split by ready replicas — here all of it to stable's 2 of 4.
    expect(w.violations).toEqual([expect.objectContaining({ side: 'stable', weight: 100, ready: 2, after: expect.objectContaining({ kind: 'setTraffic' }) })]);
    // Stable has 2 of 4 ready; the candidate none: everything to the side that has replicas (proportional policy).
    expect(d.actions).toContainEqual({ kind: 'setTraffic', stableWeight: 100, candidateWeight: 0, mirrorPercent: 0 });
    expect(d.actions).toContainEqual({ kind: 'scaleDeployment', revision: STABLE, replicas: 4 });
    expect(w.status.candidateCapacityLost).toBe(1);
    expect(w.status.history?.some((h) => h.reason === 'CandidateCapacityLost')).toBe(true);
    expect(w.reason('Progressing')).toBe('WaitingForCandidate');
    delete w.readyLimit[CANDIDATE];
    for (const p of Object.values(w.pods)) p.readyAt = p.readyAt.map(() => w.now + 20_000);
    w.run((x) => x.route.candidateWeight === 50);
    w.run((x) => x.status.stable?.revision === CANDIDATE && x.condition('Ready') === 'True');
  });

  it('a half-lost candidate keeps the weight its ready replicas can carry', () => {
    const w = slow({ replicas: 4, steps: [50, 100] });
    w.run((x) => x.route.candidateWeight === 50 && x.deployments[STABLE]?.desiredReplicas === 2);
    w.losePods(CANDIDATE, 1);
    acceptsShortfall.add(w);
    w.step();
    expect(w.violations.map((v) => v.side)).toEqual(['stable']);
    // 1 ready candidate carries 25 %; stable's 2 ready carry 50 %: 75 % is not enough in total → split by ready replicas (1:2).
    expect(w.route.candidateWeight).toBe(33);
  });

  it('steps edited mid-rollout: the position is re-derived from the current weight; no promotion before 100 % has baked', () => {
    const w = startRollout(stableWorld());
    w.run((x) => x.route.candidateWeight === 5 && x.status.currentStep?.trafficShiftedAt !== undefined);
    w.spec = { ...w.spec, steps: [50, 100] };
    w.step();
    expect(w.status.currentStep).toMatchObject({ index: 0, weight: 50, label: '1/2' });
    expect(w.status.history?.some((h) => h.reason === 'StepsChanged')).toBe(true);
    expect(w.status.history?.find((h) => h.reason === 'StrategyChanged')?.message).toContain('steps [1,5,20,50,100] → [50,100]');
    expect(w.status.stable?.revision).toBe(STABLE);
    const weights: number[] = [];
    w.run((x) => {
      if (weights.at(-1) !== x.route.candidateWeight) weights.push(x.route.candidateWeight!);
      return x.status.stable?.revision === CANDIDATE;
    });
    expect(weights).toEqual([5, 50, 100]);
    const promoted = w.status.history!.find((h) => h.reason === 'Promoted')!;
    const at100 = w.log.findIndex((a) => a.kind === 'setTraffic' && a.candidateWeight === 100);
    expect(at100).toBeGreaterThanOrEqual(0);
    expect(Date.parse(promoted.time) - T0).toBeGreaterThan(60_000);
  });

  it('a step list that keeps the current weight keeps its bake timer', () => {
    const w = startRollout(stableWorld());
    w.run((x) => x.route.candidateWeight === 20 && x.status.currentStep?.trafficShiftedAt !== undefined);
    const shiftedAt = w.status.currentStep!.trafficShiftedAt;
    w.spec = { ...w.spec, steps: [20, 100] };
    w.step();
    expect(w.status.currentStep).toEqual({ index: 0, weight: 20, label: '1/2', trafficShiftedAt: shiftedAt });
  });

  it('progressDeadline counts only active waiting: time paused by a person is excluded', () => {
    const w = startRollout(stableWorld(spec({ progressDeadlineMs: 60_000 })));
    w.totalGpus = 4; // no room for the candidate
    w.run((x) => x.reason('Progressing') === 'InsufficientGPU', 5);
    w.now += 40_000;
    w.step();
    w.controls = { paused: true };
    w.step();
    w.now += 3_600_000; // an hour paused
    w.step();
    expect(w.status.phase).toBe('Paused');
    w.controls = { paused: false };
    w.step();
    expect(w.status.phase).toBe('Progressing');
    expect(w.reason('Progressing')).toBe('InsufficientGPU');
    w.now += 25_000;
    w.step();
    expect(w.status.phase).toBe('Aborted');
    expect(w.status.failure?.reason).toBe('ProgressDeadlineExceeded');
  });

  it('writes are ordered so any prefix is safe: a crash after any write of any pass ends where it would have, with no shortfall', () => {
    // Abort at 100 %, a revert at 50 %, and a promotion, each replayed with the operator dying after every write.
    const scenarios: { name: string; setup: (w: World) => void; done: (w: World) => boolean }[] = [
      { name: 'promotion', setup: () => {}, done: (x) => x.status.stable?.revision === CANDIDATE && x.condition('Ready') === 'True' },
      {
        name: 'abort at 100 %',
        setup: (x) => {
          x.run((y) => y.route.candidateWeight === 100 && y.deployments[STABLE]?.desiredReplicas === 1);
          x.controls = { paused: false, abort: 'a' };
        },
        done: (x) => x.status.phase === 'Aborted' && x.route.candidateWeight === 0 && x.deployments[CANDIDATE]?.desiredReplicas === 0,
      },
      {
        name: 'revert at 50 %',
        setup: (x) => {
          x.run((y) => y.route.candidateWeight === 50 && y.deployments[STABLE]?.desiredReplicas === 2);
          x.revision = STABLE;
        },
        done: (x) => x.status.phase === 'Healthy' && x.condition('Ready') === 'True' && x.pods[CANDIDATE] === undefined,
      },
    ];
    let crashes = 0;
    for (const scenario of scenarios) {
      const base = slow();
      scenario.setup(base);
      for (let pass = 0; pass < 1000 && !scenario.done(base); pass++) {
        const d = decide(base.input());
        for (let k = 0; k < d.actions.length; k++) {
          // The operator dies after write k: the writes before it happened, its status patch did not.
          const crashed = cloneWorld(base);
          for (const a of d.actions.slice(0, k)) {
            const before = crashed.unsafe();
            crashed.apply(a);
            crashed.check(a, before);
          }
          crashed.now += 1000;
          crashed.run(scenario.done);
          expect(crashed.violations, `${scenario.name}: pass ${pass}, crash after write ${k}`).toEqual([]);
          crashes++;
        }
        base.step();
        base.now += Math.min(d.requeueAfterMs ?? 1000, 1000);
      }
      expect(scenario.done(base)).toBe(true);
    }
    expect(crashes).toBeGreaterThan(20);
  });
});

describe('decide: analysis flows through', () => {
  it('keeps the analysis status of the candidate it measured, drops one about another revision, and wakes when analysis asks while active', () => {
    const w = startRollout(stableWorld());
    w.step();
    const input = w.input();
    expect(decide(input).status.candidate?.revision).toBe(CANDIDATE);
    const measured = decide({ ...input, analysisStatus: { revision: CANDIDATE, step: 0 }, analysisWakeInMs: 1234 });
    expect(measured.status.analysis).toEqual({ revision: CANDIDATE, step: 0 });
    expect(measured.requeueAfterMs).toBeLessThanOrEqual(1234);
    // About another candidate (a stale record): not written over this one's.
    expect(decide({ ...input, analysisStatus: { revision: OTHER } }).status.analysis).toEqual(input.status.analysis);
    // Settled (Healthy): analysis' wake-up does not keep the rollout polling.
    const settled = stableWorld();
    expect(decide({ ...settled.input(), analysisWakeInMs: 1234 }).requeueAfterMs).toBeUndefined();
  });
});
