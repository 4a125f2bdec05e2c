// Second attack on #18 (docs/attack-18b.md): adopting a rule that is mid-split, a rule the StyleRollout has never
// written showing up under a rollout in flight, and the sticky salt of a retried version. Each test asserts what
// a platform team expects; each fails as built.
import { describe, expect, it } from 'vitest';
import { armsAt, decideStyle } from './style-decide.js';
import type { AdapterArm, AdapterRouteObservation, StyleDecideInput, StyleDecision, StyleRolloutStatus, StyleSpec } from './style-types.js';
import type { AnalysisVerdict } from './types.js';

const T0 = Date.parse('2026-12-01T00:00:00Z');
const spec = (version: string, assignment: StyleSpec['assignment'] = 'weighted'): StyleSpec => ({
  style: 'ink-wash',
  version,
  steps: [10, 50, 100],
  stepDurationMs: 60_000,
  preload: false,
  assignment,
});

/** decideStyle over a route that carries what the last write asked for (claimed, in the form written). */
class World {
  route: AdapterRouteObservation = { found: true, arms: [] };
  status: StyleRolloutStatus = {};
  now = T0;
  analysis: AnalysisVerdict = { result: 'pass' };
  writes: { arms: AdapterArm[]; salt?: string }[] = [];

  pass(s: StyleSpec): StyleDecision {
    const d = decideStyle({
      spec: s,
      specErrors: [],
      uid: 'uid-1',
      generation: 1,
      status: this.status,
      route: this.route,
      analysis: this.analysis,
      breaker: { tripped: false },
      now: new Date(this.now),
    } satisfies StyleDecideInput);
    this.status = d.status;
    if (d.route) {
      this.route = { found: true, arms: d.route.arms, ...(d.route.sticky ? { sticky: { salt: d.route.sticky.salt } } : {}) };
      this.writes.push({ arms: d.route.arms, ...(d.route.sticky ? { salt: d.route.sticky.salt } : {}) });
    }
    return d;
  }

  settle(s: StyleSpec, max = 40): void {
    for (let i = 0; i < max; i++) {
      const d = this.pass(s);
      if (!d.route && this.status.phase !== 'Progressing') return;
      this.now += d.requeueAfterMs ?? 1000;
    }
  }
}

const share = (arms: AdapterArm[], version: string) => {
  const total = arms.reduce((n, a) => n + a.weight, 0);
  return (arms.filter((a) => a.version === version).reduce((n, a) => n + a.weight, 0) * 100) / total;
};

describe('attack #18b: adopting a rule that is mid-split (a team was moving users by hand)', () => {
  it('H1 over a rule at 60 % v2 / 40 % v1, a StyleRollout for v1 never gives v2 more than the 60 % it has', () => {
    const w = new World();
    w.route = {
      found: true,
      unclaimed: true,
      arms: [
        { version: 'v2', weight: 60 },
        { version: 'v1', weight: 40 },
      ],
    };
    // The team wants everyone back on v1. As built: v2 (the heaviest) becomes stable and v1 is "rolled out" from
    // its first step: the first write is v2 90 % / v1 10 % — 30 % of the users moved *onto* the version the spec
    // moves away from, with nothing judging v2.
    const d = w.pass(spec('v1'));
    expect(d.route).toBeDefined();
    expect(share(d.route!.arms, 'v2')).toBeLessThanOrEqual(60);
  });

  it('H2 over a rule at 60 % v2 / 40 % v1, a StyleRollout for v2 does not move the last 40 % to v2 in one unjudged write', () => {
    const w = new World();
    w.route = {
      found: true,
      unclaimed: true,
      arms: [
        { version: 'v2', weight: 60 },
        { version: 'v1', weight: 40 },
      ],
    };
    // As built: v2 is adopted as stable, spec.version == stable → Healthy/Initialized and 100 % v2 at once.
    // Expected: the rollout goes on from where the rule is (v1 stable, v2 at the first step ≥ 60 %, judged).
    const d = w.pass(spec('v2'));
    expect(d.route?.arms).not.toEqual([{ version: 'v2', weight: 100 }]);
    expect(w.status.phase).not.toBe('Healthy');
  });
});

describe('attack #18b: a rule this StyleRollout never wrote, under a rollout in flight', () => {
  it('H3 spec.trafficRouting moved to another rule mid-rollout: the new rule (whose users get v3) is not switched to the 50/50 v1/v2 split at once', () => {
    const w = new World();
    w.route = { found: true, arms: [{ version: 'v1', weight: 100 }] };
    w.settle(spec('v1'));
    for (let i = 0; i < 10 && !(w.status.currentStep?.weight === 50 && w.status.currentStep.trafficShiftedAt); i++) {
      w.pass(spec('v2'));
      w.now += 61_000;
    }
    expect(w.status.currentStep?.weight).toBe(50);
    expect(w.route).toMatchObject({ arms: armsAt('v1', 'v2', 50) });
    // The user edits spec.trafficRouting.gatewayAPI.ruleIndex (or httpRoute) to another rule: unclaimed, its users on v3.
    w.route = { found: true, unclaimed: true, arms: [{ version: 'v3', weight: 100 }] };
    const d = w.pass(spec('v2'));
    // As built: the in-flight status is applied to the new rule: v3's users get v1 50 % / v2 50 % in one write,
    // without adoption and without a claim check (the old rule stays claimed at 50/50: style-controller.attack2).
    expect(d.route?.arms).not.toEqual(armsAt('v1', 'v2', 50));
  });
});

describe('attack #18b: sticky salt per rollout', () => {
  it('H4 a version retried after its rollback gets a new salt: the users who met the failed attempt are not the first ones again', () => {
    const w = new World();
    w.route = { found: true, unclaimed: true, arms: [{ version: 'v1', weight: 100 }] };
    w.settle(spec('v1', 'sticky'));
    w.pass(spec('v2', 'sticky'));
    const first = w.status.assignment?.salt ?? w.writes.at(-1)?.salt;
    w.analysis = { result: 'fail', reason: 'ErrorRate', message: 'error rate 0.4 > 0.05' };
    w.pass(spec('v2', 'sticky'));
    expect(w.status.phase).toBe('RolledBack');
    w.analysis = { result: 'pass' };
    w.settle(spec('v1', 'sticky'));
    expect(w.status.phase).toBe('Healthy');
    // The team fixed v2's serving problem (e.g. a runtime bug) and retries the same version.
    w.pass(spec('v2', 'sticky'));
    const second = w.writes.at(-1)?.salt;
    expect(first).toMatch(/^[0-9a-f]{16}$/);
    // ADR 0005: "a new salt per rollout". As built: SHA-256(uid:ink-wash@v2) again — the same salt, so the same
    // 10 % of users (those who got the failing v2 the first time) are the first to get it again.
    expect(second).not.toBe(first);
  });
});
