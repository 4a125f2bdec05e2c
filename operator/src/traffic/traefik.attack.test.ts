// Attack on the traefik router (issue 15): TraefikService shapes a Flagger / Argo Rollouts user on Traefik
// already has, read and written the way Traefik v3.7.13 itself reads them
// (pkg/provider/kubernetes/crd/kubernetes_http.go: an unset weight is 1, a weight <= 0 is skipped by the WRR
// but the Service must still resolve to endpoints, or the WHOLE TraefikService is dropped; `weighted` wins
// over `mirroring` when both are set; every per-service field — scheme, serversTransport, passHostHeader,
// responseForwarding, strategy, sticky — shapes how Traefik talks to the backend).
// Every test here FAILS on main at 445dba4; each names the finding of docs/attack-15.md it stands for.
import { describe, expect, it } from 'vitest';
import { observeTraefikService, withWeights, type TraefikService } from './traefik.js';
import { CANDIDATE, expectNoShortfallAfterEach, spec, STABLE, stableWorld, startRollout, type World } from '../rollout/simulated-cluster.test-support.js';
import type { Decision } from '../rollout/types.js';

expectNoShortfallAfterEach();

const target = { namespace: 'ml', stableService: 't2v-stable', candidateService: 't2v-candidate', port: 80 };

function ts(spec: TraefikService['spec']): TraefikService {
  return { apiVersion: 'traefik.io/v1alpha1', kind: 'TraefikService', metadata: { name: 't2v', namespace: 'ml', resourceVersion: '7' }, spec };
}

/** What the operator's own write of 100/0 looks like, observed: the "settled" reading decide() does nothing on. */
const SETTLED = observeTraefikService(
  withWeights(ts({ weighted: { services: [] } }), { stableWeight: 100, candidateWeight: 0, mirrorPercent: 0 }, target),
  target,
);

/**
 * The World of decide's tests with a real TraefikService between decide() and the route: every setTraffic goes
 * through withWeights(), and decide() sees observeTraefikService() of the result. After every pass, the
 * TraefikService is checked the way Traefik's CRD provider builds it: a listed Service (weight 0 included) whose
 * revision has no ready pod makes the whole TraefikService fail to build — 404 for every user.
 */
function throughTraefikService(w: World, initial: TraefikService) {
  let current = initial;
  const outages: string[] = [];
  const sync = () => {
    const seen = observeTraefikService(current, target);
    w.route = { found: seen.found, stableWeight: seen.stableWeight, candidateWeight: seen.candidateWeight, mirrorPercent: seen.mirrorPercent ?? 0 };
  };
  const listed = (t: TraefikService) => (t.spec.mirroring ? [t.spec.mirroring, ...(t.spec.mirroring.mirrors ?? [])] : (t.spec.weighted?.services ?? []));
  const check = (when: string) => {
    for (const ref of listed(current)) {
      const revision = ref.name === target.stableService ? w.services.stableSelects : w.services.candidateSelects;
      const ready = revision ? (w.deployments[revision]?.readyReplicas ?? 0) : 0;
      if (ready === 0)
        outages.push(
          `${when}: ${ref.name} (weight ${String(ref.weight ?? ref.percent)}) selects ${revision} with no ready pod → TraefikService dropped, 404 to all`,
        );
    }
  };
  sync();
  return {
    outages,
    get ts() {
      return current;
    },
    step(): Decision {
      const d = w.step();
      for (const a of d.actions) if (a.kind === 'setTraffic') current = withWeights(current, a, target);
      sync();
      check(`t+${(w.now - Date.parse('2026-11-24T10:00:00Z')) / 1000}s`);
      return d;
    },
    run(until: () => boolean, max = 400) {
      for (let i = 0; i < max && !until(); i++) {
        const d = this.step();
        w.now += Math.min(d.requeueAfterMs ?? 1000, 1000);
      }
    },
  };
}

describe('attack 15 — F1: a Service listed at weight 0 (the Argo Rollouts / Flagger shape) is read as "settled", never removed', () => {
  it('F1a: observe() does not read [stable 100, candidate 0] as the settled 100/0 the operator writes (so decide() removes the 0 entry)', () => {
    // Argo Rollouts' Traefik plugin and Flagger both write the canary at weight 0; a user who moves here has this object.
    const argo = ts({
      weighted: {
        services: [
          { name: 't2v-stable', port: 80, weight: 100 },
          { name: 't2v-candidate', port: 80, weight: 0 },
        ],
      },
    });
    expect(SETTLED).toEqual({ found: true, stableWeight: 100, candidateWeight: 0, mirrorPercent: 0 });
    expect(observeTraefikService(argo, target)).not.toEqual(SETTLED);
  });

  it('F1b: a rollout started on a TraefikService that lists the candidate at 0 never leaves it listed while the candidate has no ready pod (Traefik: 404 to every user)', () => {
    const w = startRollout(stableWorld());
    w.readyDelayMs = 20_000; // a GPU model loads for a while
    const t = throughTraefikService(
      w,
      ts({
        weighted: {
          services: [
            { name: 't2v-stable', port: 80, weight: 100 },
            { name: 't2v-candidate', port: 80, weight: 0 },
          ],
        },
      }),
    );
    t.run(() => (w.route.candidateWeight ?? 0) >= 1);
    expect(w.route.candidateWeight).toBe(1); // the rollout itself went fine…
    expect(t.outages.slice(0, 3)).toEqual([]); // …but the users did not
  });

  it('F1c: a stable entry Traefik cannot build (no port; or the container port 8080 instead of the Service port 80) reads as the settled 100/0, so the operator never rewrites the TraefikService it could fix', () => {
    // Traefik: "ingressRoute service port not defined" / "service port not found: 8080" → the TraefikService is dropped, 404.
    for (const entry of [{ name: 't2v-stable' }, { name: 't2v-stable', port: 8080 }]) {
      expect(observeTraefikService(ts({ weighted: { services: [entry] } }), target), JSON.stringify(entry)).not.toEqual(SETTLED);
    }
  });

  it('(control, holds) the same rollout on the operator-shaped TraefikService never lists an empty Service, shadow included', () => {
    const w = startRollout(stableWorld(spec({ shadow: { mirrorPercent: 50, durationMs: 60_000 } })));
    w.readyDelayMs = 20_000;
    const t = throughTraefikService(w, ts({ weighted: { services: [{ name: 't2v-stable', port: 80 }] } }));
    t.run(() => w.status.stable?.revision === CANDIDATE && w.condition('Ready') === 'True', 2000);
    expect(w.status.stable?.revision).toBe(CANDIDATE);
    expect(t.outages).toEqual([]);
  });
});

describe('attack 15 — held: deletion while shadowing', () => {
  it('(control, holds) deleting the rollout mid-shadow turns the mirroring TraefikService back into weighted [stable 100] before the finalizer goes', () => {
    const w = startRollout(stableWorld(spec({ shadow: { mirrorPercent: 50, durationMs: 600_000 } })));
    const t = throughTraefikService(w, ts({ weighted: { services: [{ name: 't2v-stable', port: 80 }] } }));
    t.run(() => (t.ts.spec.mirroring?.mirrors?.[0]?.percent ?? 0) === 50);
    expect(w.status.phase).toBe('Shadowing');
    w.deleting = true;
    t.run(() => w.finalizerRemoved);
    expect(w.finalizerRemoved).toBe(true);
    expect(t.ts.spec).toEqual({ weighted: { services: [{ name: 't2v-stable', port: 80, weight: 100 }] } });
    expect(t.outages).toEqual([]);
  });
});

describe('attack 15 — F2: decide() can ask the traefik router for a mirror while the candidate still carries traffic (Unsupported: the return to stable stalls)', () => {
  it("F2: a retry during an abort's return to stable never asks for candidate > 0 together with a mirror", () => {
    const w = stableWorld(spec({ replicas: 4, steps: [50, 100], shadow: { mirrorPercent: 50, durationMs: 60_000 } }));
    startRollout(w);
    w.readyDelayMs = 20_000;
    w.run((x) => x.route.candidateWeight === 100 && x.deployments[STABLE]?.desiredReplicas === 1);
    w.controls = { paused: false, abort: 'now' };
    w.step();
    expect(w.status.phase).toBe('Aborted');
    expect(w.route.candidateWeight).toBeGreaterThan(0); // returning as fast as stable becomes ready
    w.controls = { paused: false, abort: 'now', retry: 'again' };
    const asked: { stableWeight: number; candidateWeight: number; mirrorPercent: number }[] = [];
    for (let i = 0; i < 200 && w.status.phase !== 'Progressing'; i++) {
      const d = w.step();
      for (const a of d.actions) if (a.kind === 'setTraffic') asked.push(a);
      w.now += Math.min(d.requeueAfterMs ?? 1000, 1000);
    }
    const refused = asked.filter((a) => a.candidateWeight > 0 && a.mirrorPercent > 0);
    // Each of these throws TrafficRouterError('Unsupported') in TraefikRouter → a blocked write, weights stay put.
    expect(refused, JSON.stringify(asked)).toEqual([]);
    for (const a of asked) expect(() => withWeights(ts({ weighted: { services: [] } }), a, target)).not.toThrow();
  });
});

describe('attack 15 — F3: observe() reports a traffic split Traefik does not apply', () => {
  it('F3a: both `weighted` and `mirroring` set: Traefik uses weighted (no mirror), observe() reports the mirror', () => {
    const both = ts({
      weighted: { services: [{ name: 't2v-stable', port: 80 }] },
      mirroring: { name: 't2v-stable', port: 80, mirrors: [{ name: 't2v-candidate', port: 80, percent: 50 }] },
    });
    // buildTraefikService: `case Weighted != nil` comes before `case Mirroring != nil`.
    expect(observeTraefikService(both, target).mirrorPercent).toBe(0);
  });

  it('F3b: the candidate mirrored twice: Traefik sends two copies (2 × 20 %), observe() reads 20 % — a shadow that "is at goal"', () => {
    const twice = ts({
      mirroring: {
        name: 't2v-stable',
        port: 80,
        mirrors: [
          { name: 't2v-candidate', port: 80, percent: 20 },
          { name: 't2v-candidate', port: 80, percent: 20 },
        ],
      },
    });
    expect(observeTraefikService(twice, target)).not.toEqual({ found: true, stableWeight: 100, candidateWeight: 0, mirrorPercent: 20 });
  });

  it("F3c: stable mirrored onto itself (+50 % load on stable's GPUs) reads as the settled 100/0/0 and is never corrected", () => {
    const self = ts({ mirroring: { name: 't2v-stable', port: 80, mirrors: [{ name: 't2v-stable', port: 80, percent: 50 }] } });
    expect(observeTraefikService(self, target)).not.toEqual(SETTLED);
  });

  it('F3d: weights are relative in Traefik (1:1 is 50 %), but the operator reads candidateWeight as a percent (1 %)', () => {
    const oneToOne = ts({
      weighted: {
        services: [
          { name: 't2v-stable', port: 80 },
          { name: 't2v-candidate', port: 80 },
        ],
      },
    });
    const seen = observeTraefikService(oneToOne, target);
    // Either the share in percent, or "not ours yet" (undefined) so decide() rewrites it — never "1 %".
    expect([50, undefined]).toContain(seen.candidateWeight);
  });

  it('F3e: every listed weight 0 (Traefik: no handler, 503 to everyone) reads as 100/0 on stable and is never corrected', () => {
    const zero = ts({ weighted: { services: [{ name: 't2v-stable', port: 80, weight: 0 }] } });
    expect(observeTraefikService(zero, target)).not.toEqual(SETTLED);
  });
});

describe("attack 15 — F4: the user's fields on the TraefikService are lost", () => {
  it("F4a: a per-service field (scheme h2c, serversTransport, passHostHeader, responseForwarding) survives the first step's write", () => {
    const tuned = ts({
      weighted: {
        services: [
          { name: 't2v-stable', port: 80, scheme: 'h2c', serversTransport: 'gpu-mtls', passHostHeader: false, responseForwarding: { flushInterval: '1ms' } },
        ],
      },
    });
    const next = withWeights(tuned, { stableWeight: 95, candidateWeight: 5, mirrorPercent: 0 }, target);
    expect(next.spec.weighted!.services![0]).toMatchObject({ name: 't2v-stable', scheme: 'h2c', serversTransport: 'gpu-mtls', passHostHeader: false });
  });

  it('F4b: the weighted sticky cookie comes back after a shadow phase (it is gone for good, rollout after rollout)', () => {
    const sticky = ts({ weighted: { services: [{ name: 't2v-stable', port: 80 }], sticky: { cookie: { name: 'lb', secure: true } } } });
    const shadowing = withWeights(sticky, { stableWeight: 100, candidateWeight: 0, mirrorPercent: 50 }, target);
    const stepped = withWeights(shadowing, { stableWeight: 99, candidateWeight: 1, mirrorPercent: 0 }, target);
    expect(stepped.spec.weighted!.sticky).toEqual({ cookie: { name: 'lb', secure: true } });
  });

  it("F4c: a user's mirroring settings (mirrorBody false, maxBodySize) survive the operator's mirror write", () => {
    const user = ts({ mirroring: { name: 't2v-stable', port: 80, mirrorBody: false, maxBodySize: 1024, mirrors: [] } });
    const next = withWeights(user, { stableWeight: 100, candidateWeight: 0, mirrorPercent: 30 }, target);
    expect(next.spec.mirroring).toMatchObject({ mirrorBody: false, maxBodySize: 1024 });
  });
});
