import { describe, expect, it } from 'vitest';
import { decide } from './decide.js';
import type { Action, AnalysisVerdict, DecideInput, Decision, DeploymentObservation, RolloutSpec, RolloutStatus } from './types.js';

const T0 = Date.parse('2026-11-24T10:00:00Z');
const STABLE = 'aaaaaaaaaa';
const CANDIDATE = 'bbbbbbbbbb';
const OTHER = 'cccccccccc';

function spec(over: Partial<RolloutSpec> = {}): RolloutSpec {
  return {
    replicas: 4, modelName: 'wan', modelVersion: 'v2', gpuResource: 'nvidia.com/gpu', gpusPerReplica: 1,
    steps: [1, 5, 20, 50, 100], stepDurationMs: 60_000, progressDeadlineMs: 600_000, manualGates: [], shadow: undefined,
    ...over,
  };
}

/**
 * A small simulated cluster: actions take effect at once, Deployments become ready when the GPUs allow.
 * Lets a whole rollout run through decide() pass after pass.
 */
class World {
  now = T0;
  status: RolloutStatus = {};
  deployments: Record<string, DeploymentObservation> = {};
  services: { stableSelects?: string; candidateSelects?: string } = {};
  route = { found: true, stableWeight: undefined as number | undefined, candidateWeight: undefined as number | undefined, mirrorPercent: 0 };
  totalGpus = 16;
  analysis: AnalysisVerdict = { result: 'pass' };
  controls: DecideInput['controls'] = { paused: false };
  readyLimit: Record<string, number> = {};
  log: Action[] = [];
  constructor(public spec: RolloutSpec, public revision: string) {}

  input(): DecideInput {
    const used = Object.values(this.deployments).reduce((s, d) => s + Math.min(d.desiredReplicas, this.readyLimit[d.revision] ?? Infinity) * d.gpusPerReplica, 0);
    return {
      now: new Date(this.now), generation: 1, spec: this.spec, specErrors: [], specRevision: this.revision,
      status: this.status, deployments: structuredClone(this.deployments), services: { ...this.services }, route: { ...this.route },
      gpus: { freePerNode: [this.totalGpus - used] }, analysis: this.analysis, breaker: { tripped: false }, controls: this.controls, deleting: false,
    };
  }

  step(): Decision {
    const d = decide(this.input());
    this.status = d.status;
    for (const a of d.actions) this.apply(a);
    return d;
  }

  apply(a: Action): void {
    this.log.push(a);
    switch (a.kind) {
      case 'ensureDeployment':
      case 'scaleDeployment': {
        const gpus = a.revision === this.revision ? this.spec.gpusPerReplica : (this.deployments[a.revision]?.gpusPerReplica ?? 1);
        const limit = this.readyLimit[a.revision] ?? Infinity;
        this.deployments[a.revision] = { revision: a.revision, exists: true, desiredReplicas: a.replicas, readyReplicas: Math.min(a.replicas, limit), gpusPerReplica: gpus, podProblems: limit < a.replicas ? ['0/1 nodes are available: Insufficient nvidia.com/gpu'] : [] };
        break;
      }
      case 'deleteDeployment':
        delete this.deployments[a.revision];
        break;
      case 'ensureServices':
        this.services = { stableSelects: a.stableRevision, candidateSelects: a.candidateRevision };
        break;
      case 'setTraffic':
        this.route = { found: true, stableWeight: a.stableWeight, candidateWeight: a.candidateWeight, mirrorPercent: a.mirrorPercent };
        break;
      default:
        break;
    }
  }

  /** Runs passes, advancing the clock by each requested requeue, until `until` holds or `max` passes. */
  run(until: (w: World) => boolean, max = 200): void {
    for (let i = 0; i < max; i++) {
      if (until(this)) return;
      const d = this.step();
      this.now += d.requeueAfterMs ?? 1000;
    }
    throw new Error(`not reached after ${max} passes; phase ${this.status.phase}: ${this.status.message}`);
  }

  settled(): World {
    this.run((w) => w.status.phase === 'Healthy' && w.condition('Ready') === 'True');
    return this;
  }

  condition(type: string): string | undefined {
    return this.status.conditions?.find((c) => c.type === type)?.status;
  }

  reason(type: string): string | undefined {
    return this.status.conditions?.find((c) => c.type === type)?.reason;
  }
}

function stableWorld(s = spec()): World {
  const w = new World(s, STABLE);
  w.settled();
  w.log = [];
  return w;
}

function startRollout(w: World, revision = CANDIDATE, version = 'v3'): World {
  w.revision = revision;
  w.spec = { ...w.spec, modelVersion: version };
  return w;
}

describe('decide: first template', () => {
  it('becomes stable at once: Deployment at full replicas, Services, 100/0, then Healthy and Ready', () => {
    const w = new World(spec(), STABLE);
    const first = w.step();
    expect(first.status.phase).toBe('Initializing');
    expect(first.status.stable).toEqual({ revision: STABLE, modelVersion: 'v2' });
    expect(first.actions).toContainEqual({ kind: 'ensureDeployment', revision: STABLE, replicas: 4 });
    expect(first.actions).toContainEqual({ kind: 'ensureServices', stableRevision: STABLE, candidateRevision: STABLE });
    expect(first.actions).toContainEqual({ kind: 'setTraffic', stableWeight: 100, candidateWeight: 0, mirrorPercent: 0 });
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
    expect(w.status.conditions!.find((c) => c.type === 'Progressing')!.message).toContain('needs 2 more candidate replica(s) × 1 nvidia.com/gpu = 2 GPUs; 1 free');
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
    w.run((x) => x.route.candidateWeight === 20);
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
  it('reports InvalidSpec and changes nothing', () => {
    const w = startRollout(stableWorld());
    w.run((x) => x.route.candidateWeight === 5);
    const d = decide({ ...w.input(), spec: undefined, specErrors: ['spec.strategy.stepDuration: "0s" is not a positive duration'] });
    expect(d.actions).toEqual([{ kind: 'event', type: 'Warning', reason: 'InvalidSpec', message: expect.stringContaining('stepDuration') }]);
    expect(d.status.phase).toBe('Invalid');
    expect(d.status.conditions?.find((c) => c.type === 'InvalidSpec')).toMatchObject({ status: 'True', observedGeneration: 1 });
    expect(d.status.stable).toEqual(w.status.stable);
    expect(d.status.candidate).toEqual(w.status.candidate);
  });

  it('on deletion returns traffic to 100 % stable before releasing the finalizer', () => {
    const w = startRollout(stableWorld());
    w.run((x) => x.route.candidateWeight === 20);
    const d = decide({ ...w.input(), deleting: true });
    expect(d.actions).toEqual([
      { kind: 'setTraffic', stableWeight: 100, candidateWeight: 0, mirrorPercent: 0 },
      { kind: 'removeFinalizer' },
    ]);
  });

  it('moves lastTransitionTime only when a condition flips', () => {
    const w = stableWorld();
    const ready = w.status.conditions!.find((c) => c.type === 'Ready')!;
    w.now += 60_000;
    w.step();
    expect(w.status.conditions!.find((c) => c.type === 'Ready')!.lastTransitionTime).toBe(ready.lastTransitionTime);
  });
});
