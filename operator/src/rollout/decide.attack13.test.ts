// Attacks on issue 13 (steps/gates edited mid-rollout, ownership, controls): direct decide() inputs.
import { describe, expect, it } from 'vitest';
import { decide } from './decide.js';
import type { DecideInput, DeploymentObservation, RolloutSpec, RolloutStatus } from './types.js';

const T0 = Date.parse('2026-11-24T10:00:00Z');
const STABLE = 'aaaaaaaaaa';
const CANDIDATE = 'bbbbbbbbbb';

function spec(over: Partial<RolloutSpec> = {}): RolloutSpec {
  return {
    replicas: 4,
    modelName: 'wan',
    modelVersion: 'v3',
    gpuResource: 'nvidia.com/gpu',
    gpusPerReplica: 1,
    steps: [1, 5, 20, 50, 100],
    stepDurationMs: 60_000,
    progressDeadlineMs: 600_000,
    manualGates: [],
    shadow: undefined,
    stableScale: 'Dynamic',
    ...over,
  };
}

function dep(revision: string, desired: number, ready = desired): DeploymentObservation {
  return { revision, exists: true, desiredReplicas: desired, readyReplicas: ready, gpusPerReplica: 1, podProblems: [] };
}

function input(over: Partial<DecideInput> & { status: RolloutStatus }): DecideInput {
  return {
    now: new Date(T0),
    generation: 2,
    spec: spec(),
    specErrors: [],
    specRevision: CANDIDATE,
    deployments: { [STABLE]: dep(STABLE, 4), [CANDIDATE]: dep(CANDIDATE, 4) },
    services: { stableSelects: STABLE, candidateSelects: CANDIDATE },
    route: { found: true, stableWeight: 80, candidateWeight: 20, mirrorPercent: 0 },
    gpus: { freePerNode: [8] },
    analysis: { result: 'pass' },
    breaker: { tripped: false },
    controls: { paused: false },
    deleting: false,
    ...over,
  };
}

/** Mid-rollout status: candidate at `step` (index/weight), traffic shifted `bakedMs` ago. */
function midRollout(index: number, weight: number, over: Partial<RolloutStatus> = {}, s = spec()): RolloutStatus {
  return {
    phase: 'Progressing',
    stable: { revision: STABLE, modelVersion: 'v2' },
    candidate: { revision: CANDIDATE, modelVersion: 'v3' },
    currentStep: { index, weight, label: `${index + 1}/${s.steps.length}` },
    lastValidSpec: s,
    rolloutStartedAt: new Date(T0 - 3_600_000).toISOString(),
    ...over,
  };
}

describe('attack-13: a manual gate survives strategy.steps edits', () => {
  it('paused at the gate before 20 % (gate at 5 % passed earlier), steps edited to drop 5: the stale gatePassedForStep aliases the new index and the 20 % gate opens without a resume', () => {
    // steps [1,5,20,50,100], gates [5,20]: the 5 % gate was resumed (gatePassedForStep = 1), the rollout baked 5 %
    // and now waits at the gate before 20 % (index 2), route still at 5 %.
    const before = spec({ manualGates: [5, 20] });
    const status = midRollout(2, 20, { phase: 'Paused', gatePassedForStep: 1 }, before);
    const paused = decide(input({ spec: before, status, route: { found: true, stableWeight: 95, candidateWeight: 5, mirrorPercent: 0 } }));
    expect(paused.status.phase).toBe('Paused'); // sanity: the gate holds before the edit
    // A person drops the 5 % step (and its gate): nobody resumed the 20 % gate.
    const after = spec({ steps: [1, 20, 50, 100], manualGates: [20] });
    const d = decide(input({ spec: after, status: paused.status, route: { found: true, stableWeight: 95, candidateWeight: 5, mirrorPercent: 0 } }));
    expect(d.status.currentStep?.weight).toBe(20);
    expect(d.status.phase).toBe('Paused');
    expect(d.actions.find((a) => a.kind === 'setTraffic' && a.candidateWeight > 5)).toBeUndefined();
  });

  it('paused at the gate before 50 % (gate at 5 % passed earlier), steps edited to [1, 50, 100]: same alias, 50 % opens without a resume', () => {
    const before = spec({ manualGates: [5, 50] });
    const status = midRollout(3, 50, { phase: 'Paused', gatePassedForStep: 1 }, before);
    const after = spec({ steps: [1, 50, 100], manualGates: [50] });
    const d = decide(input({ spec: after, status, route: { found: true, stableWeight: 80, candidateWeight: 20, mirrorPercent: 0 } }));
    expect(d.status.currentStep?.weight).toBe(50);
    expect(d.status.phase).toBe('Paused');
    expect(d.actions.find((a) => a.kind === 'setTraffic' && a.candidateWeight > 20)).toBeUndefined();
  });
});

describe('attack-13: a rollout that owns neither Service must not move traffic on a shared route', () => {
  // Rollout B names the same service.name (and route) as rollout A, which is at 50 %. B's Services are A's,
  // so observe() reports them as undefined for B; B never got past ObjectNotOwned.
  const shared = { found: true, stableWeight: 50, candidateWeight: 50, mirrorPercent: 0 };
  const bStatus: RolloutStatus = { phase: 'Initializing', stable: { revision: STABLE, modelVersion: 'v2' }, lastValidSpec: spec() };

  it("deleting B (finalizer pass) sets the shared route to 100/0 although A's stable Service carries only half its replicas", () => {
    const d = decide(input({ specRevision: STABLE, status: bStatus, services: {}, route: shared, deployments: { [STABLE]: dep(STABLE, 4) }, deleting: true }));
    expect(d.actions.filter((a) => a.kind === 'setTraffic')).toEqual([]);
  });

  it("B's spec turns invalid: invalid() moves the shared route toward 0 % candidate", () => {
    const d = decide(
      input({
        spec: undefined,
        specErrors: ['spec.steps: bad'],
        specRevision: '',
        status: bStatus,
        services: {},
        route: shared,
        deployments: { [STABLE]: dep(STABLE, 4) },
      }),
    );
    expect(d.actions.filter((a) => a.kind === 'setTraffic')).toEqual([]);
  });
});

describe('attack-13: controls given while paused or frozen are consumed and lost', () => {
  it('promote while paused by a person: the token is recorded as handled, nothing is promoted, and after unpausing it is gone', () => {
    const status = midRollout(4, 100, { currentStep: { index: 4, weight: 100, label: '5/5', trafficShiftedAt: new Date(T0 - 1_000).toISOString() } });
    const route = { found: true, stableWeight: 0, candidateWeight: 100, mirrorPercent: 0 };
    const deployments = { [STABLE]: dep(STABLE, 1), [CANDIDATE]: dep(CANDIDATE, 4) };
    const paused = decide(input({ status, route, deployments, controls: { paused: true, promote: 'p1' } }));
    expect(paused.status.phase).toBe('Paused');
    const resumed = decide(input({ status: paused.status, route, deployments, controls: { paused: false, promote: 'p1' } }));
    // The promote asked for while paused should take effect (or at least not be silently swallowed).
    expect(resumed.status.stable?.revision).toBe(CANDIDATE);
  });

  it('retry while the spec is invalid after an abort: consumed, and once the spec is fixed the rollout stays Aborted', () => {
    const status = midRollout(2, 20, { phase: 'Aborted', failure: { reason: 'AbortRequested', message: 'abort', at: new Date(T0).toISOString() } });
    const route = { found: true, stableWeight: 100, candidateWeight: 0, mirrorPercent: 0 };
    const frozen = decide(input({ spec: undefined, specErrors: ['x'], specRevision: '', status, route, controls: { paused: false, retry: 'r1' } }));
    const fixed = decide(input({ status: frozen.status, route, controls: { paused: false, retry: 'r1' } }));
    expect(fixed.status.phase).not.toBe('Aborted');
  });
});

describe('attack-13: progressDeadline while paused by analysis', () => {
  it('paused by analysis at 50 %, a candidate pod is lost and not replaced: the deadline clock runs during the analysis pause and the rollout aborts', () => {
    const s = spec({ progressDeadlineMs: 600_000 });
    // Paused by analysis (metrics unavailable) at 50 %: traffic at weight, bake done.
    let status: RolloutStatus = midRollout(
      3,
      50,
      {
        phase: 'Paused',
        currentStep: { index: 3, weight: 50, label: '4/5', trafficShiftedAt: new Date(T0 - 3_600_000).toISOString() },
        conditions: [
          {
            type: 'Paused',
            status: 'True',
            reason: 'AnalysisPaused',
            message: 'metrics unavailable',
            observedGeneration: 2,
            lastTransitionTime: new Date(T0 - 60_000).toISOString(),
          },
        ],
      },
      s,
    );
    let route = { found: true, stableWeight: 50, candidateWeight: 50, mirrorPercent: 0 };
    // The candidate has 1 of its 2 pods ready (the other is Pending on a node that went away; no GPU free).
    const deployments = { [STABLE]: dep(STABLE, 2), [CANDIDATE]: dep(CANDIDATE, 2, 1) };
    for (let t = 0; t <= 11 * 60_000; t += 30_000) {
      const d = decide(
        input({
          now: new Date(T0 + t),
          spec: s,
          status,
          route,
          deployments,
          gpus: { freePerNode: [0] },
          analysis: { result: 'pause', message: 'metrics unavailable' },
        }),
      );
      status = d.status;
      const traffic = d.actions.find((a) => a.kind === 'setTraffic');
      if (traffic?.kind === 'setTraffic')
        route = { found: true, stableWeight: traffic.stableWeight, candidateWeight: traffic.candidateWeight, mirrorPercent: traffic.mirrorPercent };
    }
    expect(status.phase, JSON.stringify(status.failure)).not.toBe('Aborted');
  });
});
