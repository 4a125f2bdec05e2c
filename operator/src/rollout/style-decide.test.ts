import { describe, expect, it } from 'vitest';
import { armsAt, decideStyle, needsPreload, needsServedUnpinned } from './style-decide.js';
import { sameArms, STYLE_TRANSITIONS } from './style-pass.js';
import { parseStyleSpec } from './style-spec.js';
import type {
  AdapterArm,
  AdapterRouteObservation,
  PreloadResult,
  ServedUnpinned,
  StyleDecideInput,
  StyleDecision,
  StyleRolloutStatus,
  StyleSpec,
} from './style-types.js';
import type { AnalysisVerdict } from './types.js';

const T0 = Date.parse('2026-12-01T00:00:00Z');
const spec = (version: string, steps = [10, 50, 100], preload = false): StyleSpec => ({
  style: 'ink-wash',
  version,
  steps,
  stepDurationMs: 60_000,
  preload,
  assignment: 'weighted',
});

/** Passes decideStyle over a route that carries what it is told, as the controller's loop does. */
class World {
  arms: AdapterArm[] = [];
  status: StyleRolloutStatus = {};
  now = T0;
  writes: AdapterArm[][] = [];
  analysis: AnalysisVerdict = { result: 'pass' };
  breaker: StyleDecideInput['breaker'] = { tripped: false };
  route: AdapterRouteObservation | undefined;
  /** What loading the candidate on the pods gives, when the controller would try it (needsPreload). */
  preload: PreloadResult | undefined;
  preloads = 0;
  /** What a ready pod says unpinned requests get, when the controller would ask (needsServedUnpinned). */
  served: ServedUnpinned | undefined;

  pass(s: StyleSpec | undefined, errors: string[] = []): StyleDecision {
    const tried = s && needsPreload(s, this.status) && this.preload;
    if (tried) this.preloads++;
    const route = this.route ?? { found: true, arms: this.arms };
    const asked = needsServedUnpinned(this.status, route) && this.served;
    const d = decideStyle({
      ...(tried ? { preload: this.preload } : {}),
      ...(asked ? { servedUnpinned: this.served } : {}),
      spec: s,
      specErrors: errors,
      uid: 'uid-1',
      generation: 1,
      status: this.status,
      route,
      analysis: this.analysis,
      breaker: this.breaker,
      now: new Date(this.now),
    });
    this.status = d.status;
    if (d.route) {
      this.arms = d.route.arms;
      this.writes.push(d.route.arms);
    }
    return d;
  }

  /** Passes until nothing is written, advancing the clock by each requeue (at most `max` passes). */
  settle(s: StyleSpec, max = 50): void {
    for (let i = 0; i < max; i++) {
      const d = this.pass(s);
      if (!d.route && this.status.phase !== 'Progressing') return;
      this.now += d.requeueAfterMs ?? 1000;
    }
  }

  reasons(): string[] {
    return (this.status.history ?? []).map((h) => `${h.phase}/${h.reason}`);
  }
}

describe('decideStyle adopting a rule that serves users today', () => {
  it('a rule pinning v1 split with v2 (90/10) adopts v1 as stable and rolls v2 out from its first step', () => {
    const w = new World();
    w.arms = [
      { version: 'v1', weight: 90 },
      { version: 'v2', weight: 10 },
    ];
    // The rule already carries the first step's split: nothing to write.
    expect(w.pass(spec('v2')).route).toBeUndefined();
    expect(w.status.stableVersion).toBe('v1');
    expect(w.status.phase).toBe('Progressing');
    expect(w.reasons()).toEqual(['Initializing/Initializing', 'Progressing/RolloutStarted']);
    expect(w.status.history?.[0]?.message).toContain('ink-wash@v1 to 90 %');
    w.settle(spec('v2'));
    expect(w.status.phase).toBe('Healthy');
    expect(w.writes).toEqual([armsAt('v1', 'v2', 50), armsAt('v1', 'v2', 100)]);
  });

  it('an unpinned rule waits for the pods to say which version its requests get, then adopts it (an older spec.version is a rollout back)', () => {
    const w = new World();
    w.arms = [{ version: '', weight: 1 }];
    let d = w.pass(spec('v1'));
    expect(d.route).toBeUndefined();
    expect(w.status.phase).toBe('Initializing');
    expect(w.status.stableVersion).toBeUndefined();
    expect(w.status.message).toContain('asking a ready pod');
    expect(d.requeueAfterMs).toBeGreaterThan(0);
    w.served = { ok: false, message: 'no ready pod behind Service wan' };
    d = w.pass(spec('v1'));
    expect(d.route).toBeUndefined();
    expect(w.status.message).toContain('no ready pod behind Service wan');
    w.served = { ok: true, version: 'v2' };
    d = w.pass(spec('v1'));
    expect(w.status.stableVersion).toBe('v2');
    expect(d.route?.arms).toEqual(armsAt('v2', 'v1', 10));
    expect(w.status.phase).toBe('Progressing');
  });

  it('an unpinned rule whose pods have no version of the style (its requests fail today) takes the spec version at once', () => {
    const w = new World();
    w.arms = [{ version: '', weight: 1 }];
    w.served = { ok: true, version: undefined };
    const d = w.pass(spec('v3'));
    expect(w.status.stableVersion).toBe('v3');
    expect(d.route?.arms).toEqual([{ version: 'v3', weight: 100 }]);
  });

  it('a rule the StyleRollout has not claimed yet is written once (to claim it) even when its arms are right', () => {
    const w = new World();
    w.route = { found: true, arms: [{ version: 'v1', weight: 100 }], unclaimed: true };
    const d = w.pass(spec('v1'));
    expect(d.route?.arms).toEqual([{ version: 'v1', weight: 100 }]);
    w.route = { found: true, arms: [{ version: 'v1', weight: 100 }] };
    expect(w.pass(spec('v1')).route).toBeUndefined();
    expect(w.status.phase).toBe('Healthy');
  });

  it('an invalid spec after a rollback, fixed with the same version, stays rolled back with the rule on stable', () => {
    const w = new World();
    w.settle(spec('v1'));
    w.pass(spec('v2'));
    w.analysis = { result: 'fail', reason: 'ErrorRate', message: 'error rate 0.4 > 0.05' };
    w.pass(spec('v2'));
    expect(w.status.phase).toBe('RolledBack');
    const writes = w.writes.length;
    w.pass(undefined, ['spec.strategy.stepDuration: "2mm" is not a duration']);
    expect(w.status.phase).toBe('Invalid');
    const d = w.pass(spec('v2'));
    expect(w.status.phase).toBe('RolledBack');
    expect(w.reasons().slice(-1)).toEqual(['RolledBack/SpecFixed']);
    expect(d.route).toBeUndefined();
    expect(w.writes.length).toBe(writes);
    expect(w.arms).toEqual([{ version: 'v1', weight: 100 }]);
  });
});

describe('decideStyle', () => {
  it('makes the first version stable and pins it on the route', () => {
    const w = new World();
    w.pass(spec('v1'));
    expect(w.arms).toEqual([{ version: 'v1', weight: 100 }]);
    expect(w.status.phase).toBe('Initializing');
    w.pass(spec('v1'));
    expect(w.status).toMatchObject({ phase: 'Healthy', stableVersion: 'v1', weights: { stable: 100, candidate: 0 } });
    expect(w.reasons()).toEqual(['Initializing/Initializing', 'Healthy/Initialized']);
    expect(w.status.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
  });

  it('steps a new version through the weights, baking each step, then promotes it with one arm left', () => {
    const w = new World();
    w.settle(spec('v1'));
    w.settle(spec('v2'));
    expect(w.writes).toEqual([
      [{ version: 'v1', weight: 100 }],
      [
        { version: 'v1', weight: 90 },
        { version: 'v2', weight: 10 },
      ],
      [
        { version: 'v1', weight: 50 },
        { version: 'v2', weight: 50 },
      ],
      [{ version: 'v2', weight: 100 }],
    ]);
    expect(w.status).toMatchObject({ phase: 'Healthy', stableVersion: 'v2', weights: { stable: 100, candidate: 0 } });
    expect(w.status.candidateVersion).toBeUndefined();
    expect(w.reasons()).toEqual(['Initializing/Initializing', 'Healthy/Initialized', 'Progressing/RolloutStarted', 'Healthy/Promoted']);
    // Each step baked its full duration: 3 steps of 60 s.
    expect(w.now - T0).toBeGreaterThanOrEqual(3 * 60_000);
  });

  it('does not advance before the bake time, nor while analysis is pending', () => {
    const w = new World();
    w.settle(spec('v1'));
    w.pass(spec('v2'));
    w.pass(spec('v2'));
    expect(w.status.currentStep).toMatchObject({ index: 0, weight: 10 });
    expect(w.status.currentStep?.trafficShiftedAt).toBe(new Date(w.now).toISOString());
    w.now += 59_000;
    w.pass(spec('v2'));
    expect(w.status.currentStep?.index).toBe(0);
    w.now += 2000;
    w.analysis = { result: 'pending', message: 'baking' };
    const held = w.pass(spec('v2'));
    expect(w.status.currentStep?.index).toBe(0);
    expect(held.requeueAfterMs).toBeGreaterThan(0);
    w.analysis = { result: 'pass' };
    w.pass(spec('v2'));
    expect(w.status.currentStep).toMatchObject({ index: 1, weight: 50 });
    expect(w.arms).toEqual(armsAt('v1', 'v2', 50));
  });

  it('rolls back at once on a failed analysis or a tripped breaker, and holds the failed version off', () => {
    for (const failure of ['analysis', 'breaker'] as const) {
      const w = new World();
      w.settle(spec('v1'));
      w.pass(spec('v2'));
      w.pass(spec('v2'));
      if (failure === 'analysis') w.analysis = { result: 'fail', reason: 'error-rate', message: '12/20 failed' };
      else w.breaker = { tripped: true, reason: 'error-rate', message: 'breaker: 50 %' };
      w.pass(spec('v2'));
      expect(w.arms).toEqual([{ version: 'v1', weight: 100 }]);
      expect(w.status).toMatchObject({ phase: 'RolledBack', stableVersion: 'v1', candidateVersion: 'v2', failure: { reason: 'error-rate' } });
      expect(w.status.conditions?.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'error-rate' });
      // Analysis no longer runs for it: later passes keep it rolled back and write nothing.
      w.analysis = { result: 'pass' };
      w.breaker = { tripped: false };
      const writes = w.writes.length;
      w.settle(spec('v2'));
      expect(w.status.phase).toBe('RolledBack');
      expect(w.writes.length).toBe(writes);
      // A new version starts a new rollout; going back to stable settles as Healthy.
      w.pass(spec('v3'));
      expect(w.status).toMatchObject({ phase: 'Progressing', candidateVersion: 'v3' });
      expect(w.status.failure).toBeUndefined();
      w.settle(spec('v1'));
      expect(w.status).toMatchObject({ phase: 'Healthy', stableVersion: 'v1' });
      expect(w.arms).toEqual([{ version: 'v1', weight: 100 }]);
    }
  });

  it('pauses on analysis pause, holding the weights, and resumes when analysis lets go', () => {
    const w = new World();
    w.settle(spec('v1'));
    w.pass(spec('v2'));
    w.pass(spec('v2'));
    w.analysis = { result: 'pause', message: 'no data' };
    w.now += 120_000;
    w.pass(spec('v2'));
    expect(w.status.phase).toBe('Paused');
    expect(w.arms).toEqual(armsAt('v1', 'v2', 10));
    w.analysis = { result: 'pass' };
    w.pass(spec('v2'));
    expect(w.status.phase).toBe('Progressing');
    expect(w.reasons().slice(-2)).toEqual(['Paused/AnalysisPaused', 'Progressing/Resumed']);
  });

  it('goes back to stable when spec.version is set back mid-rollout', () => {
    const w = new World();
    w.settle(spec('v1'));
    w.pass(spec('v2'));
    w.pass(spec('v2'));
    w.settle(spec('v1'));
    expect(w.arms).toEqual([{ version: 'v1', weight: 100 }]);
    expect(w.status.phase).toBe('Healthy');
    expect(w.reasons().at(-1)).toBe('Healthy/Reverted');
  });

  it('never writes a route it cannot use, and changes nothing on an invalid spec', () => {
    const w = new World();
    w.settle(spec('v1'));
    w.route = { found: false, reason: 'RouteRuleNotOwned', error: 'HTTPRoute t2v rule 0 sends traffic to Service other' };
    const d = w.pass(spec('v2'));
    expect(d.route).toBeUndefined();
    expect(d.requeueAfterMs).toBe(10_000);
    expect(w.status.conditions?.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'RouteRuleNotOwned' });
    w.route = undefined;
    const invalid = w.pass(undefined, ['spec.version: "2" must be v<N>']);
    expect(invalid.route).toBeUndefined();
    expect(w.status).toMatchObject({ phase: 'Invalid', message: 'spec.version: "2" must be v<N>' });
    expect(w.status.conditions?.find((c) => c.type === 'InvalidSpec')?.status).toBe('True');
  });

  it('restarts a rollout on a new version mid-rollout', () => {
    const w = new World();
    w.settle(spec('v1'));
    w.pass(spec('v2'));
    w.pass(spec('v2'));
    w.pass(spec('v3'));
    expect(w.arms).toEqual(armsAt('v1', 'v3', 10));
    expect(w.status).toMatchObject({ phase: 'Progressing', candidateVersion: 'v3', currentStep: { index: 0 } });
  });
});

describe('preload (spec.strategy.preload)', () => {
  it('loads the new version on the pods once, before any traffic moves to it', () => {
    const w = new World();
    w.settle(spec('v1'));
    const writes = w.writes.length;
    w.pass(spec('v2', undefined, true));
    w.pass(spec('v2', undefined, true));
    // No preload result yet: nothing shifts.
    expect(w.writes.length).toBe(writes);
    expect(w.status.message).toMatch(/loading v2 on the pods/);
    w.preload = { ok: false, retry: true, message: 'no ready pod behind Service t2v' };
    w.pass(spec('v2', undefined, true));
    expect(w.writes.length).toBe(writes);
    expect(w.status.phase).toBe('Progressing');
    w.preload = { ok: true, pods: 2 };
    w.settle(spec('v2', undefined, true));
    expect(w.status.phase).toBe('Healthy');
    expect(w.status.stableVersion).toBe('v2');
    expect(w.writes.slice(writes)[0]).toEqual(armsAt('v1', 'v2', 10));
    // Tried while waiting and once more that succeeded; never again after the first step.
    expect(w.preloads).toBe(2);
  });

  it('rolls back before the first step when a pod refuses the version', () => {
    const w = new World();
    w.settle(spec('v1'));
    const writes = w.writes.length;
    w.preload = { ok: false, retry: false, message: 'pod 10.0.0.7: 500 InvalidAdapter: lora_A has 9 rows, r = 8' };
    w.pass(spec('v3', undefined, true));
    w.pass(spec('v3', undefined, true));
    expect(w.status).toMatchObject({ phase: 'RolledBack', candidateVersion: 'v3', failure: { reason: 'AdapterLoadFailed' } });
    expect(w.reasons().at(-1)).toBe('RolledBack/AdapterLoadFailed');
    // The route never carried v3.
    expect(
      w.writes
        .slice(writes)
        .flat()
        .some((a) => a.version === 'v3'),
    ).toBe(false);
  });
});

describe('sameArms', () => {
  it('compares shares, not raw weights, and ignores empty arms', () => {
    expect(sameArms([{ version: 'v1', weight: 1 }], [{ version: 'v1', weight: 100 }])).toBe(true);
    expect(
      sameArms(
        [
          { version: 'v1', weight: 100 },
          { version: 'v2', weight: 0 },
        ],
        [{ version: 'v1', weight: 100 }],
      ),
    ).toBe(true);
    expect(sameArms(armsAt('v1', 'v2', 10), armsAt('v1', 'v2', 50))).toBe(false);
    expect(sameArms(armsAt('v1', 'v2', 10), [{ version: 'v1', weight: 100 }])).toBe(false);
  });
});

describe('parseStyleSpec', () => {
  it('names each bad field, its value and what is allowed', () => {
    const { spec: s, errors } = parseStyleSpec({
      style: 'Ink Wash',
      version: '2',
      service: { name: 't2v', port: 0 },
      trafficRouting: {},
      strategy: { steps: [50, 20], stepDuration: 'soon' },
    });
    expect(s).toBeUndefined();
    expect(errors).toEqual([
      expect.stringContaining('spec.style: "Ink Wash"'),
      expect.stringContaining('spec.version: "2" must be v<N>'),
      expect.stringContaining('spec.model: required'),
      'spec.service.port: 0 must be an integer port in 1…65535',
      expect.stringContaining('spec.trafficRouting.gatewayAPI.httpRoute: required'),
      'spec.strategy.steps[1]: 20 must be greater than the step before it (50)',
      'spec.strategy.steps: the last step is 20; it must be 100',
      expect.stringContaining('spec.strategy.stepDuration: "soon"'),
    ]);
  });

  it('fills the defaults', () => {
    expect(
      parseStyleSpec({ style: 'ink-wash', version: 'v2', model: 'm', service: { name: 't2v' }, trafficRouting: { gatewayAPI: { httpRoute: 'r' } } }),
    ).toEqual({
      spec: { style: 'ink-wash', version: 'v2', steps: [10, 50, 100], stepDurationMs: 120_000, preload: true, assignment: 'weighted' },
      errors: [],
    });
    expect(
      parseStyleSpec({
        style: 'ink-wash',
        version: 'v2',
        model: 'm',
        service: { name: 't2v' },
        trafficRouting: { gatewayAPI: { httpRoute: 'r' } },
        strategy: { assignment: 'by-user' },
      }).errors,
    ).toEqual(['spec.strategy.assignment: "by-user" must be weighted (a draw per request) or sticky (a user keeps a version: X-Adapter-Assignment-Key)']);
  });

  it('sticky: the arms go on the rule as a salted split (one salt per rollout), and status.assignment says which buckets get the candidate', () => {
    const w = new World();
    const sticky = { ...spec('v1'), assignment: 'sticky' as const };
    // The World's route reads `arms`; a sticky write is seen as sticky with the salt it asked for.
    const pass = (s: StyleSpec) => {
      const d = w.pass(s);
      if (d.route) w.route = { found: true, arms: d.route.arms, ...(d.route.sticky ? { sticky: { salt: d.route.sticky.salt } } : {}) };
      return d;
    };
    w.route = { found: true, arms: [{ version: 'v1', weight: 100 }], unclaimed: true };
    const first = pass(sticky);
    expect(first.route?.sticky?.salt).toMatch(/^[0-9a-f]{16}$/);
    expect(w.status.assignment).toBeUndefined();
    const toV2 = { ...sticky, version: 'v2' };
    const started = pass(toV2);
    expect(started.route).toEqual({ arms: armsAt('v1', 'v2', 10), sticky: { salt: expect.stringMatching(/^[0-9a-f]{16}$/) as unknown } });
    expect(started.route!.sticky!.salt).not.toBe(first.route!.sticky!.salt);
    pass(toV2);
    expect(w.status.assignment).toEqual({ salt: started.route!.sticky!.salt, keyHeader: 'X-Adapter-Assignment-Key', candidateBuckets: { from: 0, to: 1000 } });
    // The same arms in the weighted form (pins) are not what a sticky spec wants: rewritten.
    w.route = { found: true, arms: armsAt('v1', 'v2', 10) };
    expect(w.pass(toV2).route?.sticky).toBeDefined();
  });
});

describe('the StyleRollout transition table', () => {
  it('lists exactly the transitions decideStyle can make (docs/adr/0005-style-rollouts.md)', async () => {
    const { readFileSync } = await import('node:fs');
    const text = readFileSync(new URL('../../../docs/adr/0005-style-rollouts.md', import.meta.url), 'utf8');
    const rows = text
      .slice(text.indexOf('## Transitions'))
      .split('\n')
      .filter((l) => l.startsWith('| ') && !l.startsWith('| To') && !l.startsWith('| ---'))
      .map((l) => l.split('|').map((c) => c.trim()))
      .map((c) => `${c[1]}/${c[2]}`);
    expect(rows.sort()).toEqual(STYLE_TRANSITIONS.map(([to, reason]) => `${to}/${reason}`).sort());
  });
});
