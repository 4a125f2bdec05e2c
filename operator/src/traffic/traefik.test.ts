import * as k8s from '@kubernetes/client-node';
import { describe, expect, it, vi } from 'vitest';
import { TrafficRouterError } from './router.js';
import { observeTraefikService, STASH_ANNOTATION, TraefikRouter, withWeights, type TraefikService } from './traefik.js';

const target = { namespace: 'ml', stableService: 't2v-stable', candidateService: 't2v-candidate', port: 80 };

function ts(spec: TraefikService['spec']): TraefikService {
  return { apiVersion: 'traefik.io/v1alpha1', kind: 'TraefikService', metadata: { name: 't2v', namespace: 'ml', resourceVersion: '7' }, spec };
}

describe('TraefikService handling', () => {
  it("weighs our two Services and keeps the user's sticky setting", () => {
    const user = ts({ weighted: { services: [{ name: 't2v-stable', port: 80 }], sticky: { cookie: { name: 'lb' } } } });
    // Stable alone at an unset weight is not yet what the router writes (weights that sum to 100): rewritten.
    expect(observeTraefikService(user, target)).toEqual({ found: true, mirrorPercent: 0 });
    const next = withWeights(user, { stableWeight: 95, candidateWeight: 5, mirrorPercent: 0 }, target);
    expect(next.spec).toEqual({
      weighted: {
        services: [
          { name: 't2v-stable', port: 80, weight: 95 },
          { name: 't2v-candidate', port: 80, weight: 5 },
        ],
        sticky: { cookie: { name: 'lb' } },
      },
    });
    expect(next.metadata.resourceVersion).toBe('7');
    expect(observeTraefikService(next, target)).toEqual({ found: true, stableWeight: 95, candidateWeight: 5, mirrorPercent: 0 });
  });

  it('leaves a Service at weight 0 out (Traefik drops a TraefikService whose Service has no endpoints) and reads it back as 0', () => {
    const empty = ts({ weighted: { services: [{ name: 't2v-stable', port: 80 }] } });
    const atZero = withWeights(empty, { stableWeight: 100, candidateWeight: 0, mirrorPercent: 0 }, target);
    expect(atZero.spec.weighted!.services).toEqual([{ name: 't2v-stable', port: 80, weight: 100 }]);
    expect(observeTraefikService(atZero, target)).toEqual({ found: true, stableWeight: 100, candidateWeight: 0, mirrorPercent: 0 });
    const promoted = withWeights(empty, { stableWeight: 0, candidateWeight: 100, mirrorPercent: 0 }, target);
    expect(promoted.spec.weighted!.services).toEqual([{ name: 't2v-candidate', port: 80, weight: 100 }]);
    expect(observeTraefikService(promoted, target)).toEqual({ found: true, stableWeight: 0, candidateWeight: 100, mirrorPercent: 0 });
    expect(observeTraefikService(ts({ weighted: { services: [] } }), target)).toEqual({ found: true, mirrorPercent: 0 });
  });

  it('becomes a mirroring service for shadow and weighted again after it', () => {
    const mirrored = withWeights(
      ts({ weighted: { services: [{ name: 't2v-stable', port: 80 }] } }),
      { stableWeight: 100, candidateWeight: 0, mirrorPercent: 40 },
      target,
    );
    expect(mirrored.spec).toEqual({ mirroring: { name: 't2v-stable', port: 80, mirrors: [{ name: 't2v-candidate', port: 80, percent: 40 }] } });
    expect(observeTraefikService(mirrored, target)).toEqual({ found: true, stableWeight: 100, candidateWeight: 0, mirrorPercent: 40 });
    const stepped = withWeights(mirrored, { stableWeight: 99, candidateWeight: 1, mirrorPercent: 0 }, target);
    expect(stepped.spec.mirroring).toBeUndefined();
    expect(observeTraefikService(stepped, target)).toEqual({ found: true, stableWeight: 99, candidateWeight: 1, mirrorPercent: 0 });
  });

  it('refuses a mirror while the candidate also takes traffic (one main service)', () => {
    const call = () => withWeights(ts({ weighted: { services: [] } }), { stableWeight: 90, candidateWeight: 10, mirrorPercent: 20 }, target);
    expect(call).toThrow(TrafficRouterError);
    expect(call).toThrow(/one main service/);
  });

  it('reports shapes it does not write (relative weights, no port, an unset mirror percent) without weights, so they are rewritten', () => {
    for (const spec of [
      {
        weighted: {
          services: [
            { name: 't2v-stable', port: 80 },
            { name: 't2v-candidate', namespace: 'ml', port: 80 },
          ],
        },
      },
      {
        weighted: {
          services: [
            { name: 't2v-stable', port: 80, weight: 3 },
            { name: 't2v-candidate', port: 80, weight: 1 },
          ],
        },
      },
      { weighted: { services: [{ name: 't2v-stable', weight: 100 }] } },
      { mirroring: { name: 't2v-stable', port: 80, mirrors: [{ name: 't2v-candidate', port: 80 }] } },
    ])
      expect(observeTraefikService(ts(spec), target), JSON.stringify(spec)).toEqual({ found: true, mirrorPercent: 0 });
  });

  it('keeps the settings of the shape not in use in an annotation, and gives them back', () => {
    const user = ts({ weighted: { services: [{ name: 't2v-stable', port: 80, weight: 100, scheme: 'h2c' }], sticky: { cookie: { name: 'lb' } } } });
    const shadow = withWeights(user, { stableWeight: 100, candidateWeight: 0, mirrorPercent: 20 }, target);
    expect(shadow.spec.mirroring).toMatchObject({ name: 't2v-stable', scheme: 'h2c' });
    expect(JSON.parse(shadow.metadata.annotations![STASH_ANNOTATION]!)).toEqual({ weighted: { sticky: { cookie: { name: 'lb' } } } });
    const back = withWeights(shadow, { stableWeight: 100, candidateWeight: 0, mirrorPercent: 0 }, target);
    expect(back.spec).toEqual({ weighted: { services: [{ name: 't2v-stable', port: 80, weight: 100, scheme: 'h2c' }], sticky: { cookie: { name: 'lb' } } } });
    expect(back.metadata.annotations).toBeUndefined();
  });

  it("does not take over a TraefikService that sends traffic to someone else's Service", () => {
    for (const spec of [
      { weighted: { services: [{ name: 't2v-stable' }, { name: 'billing' }] } },
      { weighted: { services: [{ name: 't2v-stable', namespace: 'other' }] } },
      { weighted: { services: [{ name: 't2v-stable', kind: 'TraefikService' }] } },
      { mirroring: { name: 't2v-stable', mirrors: [{ name: 'audit', percent: 5 }] } },
    ]) {
      const seen = observeTraefikService(ts(spec), target);
      expect(seen, JSON.stringify(spec)).toMatchObject({ found: false, reason: 'RouteRuleNotOwned' });
      expect(seen.error).toMatch(/TraefikService t2v sends traffic to .*not to this rollout's Services/);
    }
  });

  it('says what is missing when the TraefikService is neither weighted nor mirroring', () => {
    expect(observeTraefikService(ts({ failover: { service: 'a', fallback: 'b' } }), target)).toMatchObject({
      found: false,
      error: expect.stringContaining('neither weighted nor mirroring'),
    });
  });

  it('writes through the API with the read resourceVersion and retries a conflict on a fresh read', async () => {
    let stored = ts({ weighted: { services: [{ name: 't2v-stable', port: 80 }] } });
    const writes: TraefikService[] = [];
    let conflicts = 1;
    const custom = {
      getNamespacedCustomObject: async () => structuredClone(stored),
      replaceNamespacedCustomObject: async ({ body, plural, group }: { body: TraefikService; plural: string; group: string }) => {
        expect([group, plural]).toEqual(['traefik.io', 'traefikservices']);
        writes.push(body);
        if (conflicts-- > 0) {
          stored = { ...stored, metadata: { ...stored.metadata, resourceVersion: '8' } };
          throw new k8s.ApiException(409, 'Conflict', {}, {});
        }
        stored = { ...body, metadata: { ...body.metadata, resourceVersion: String(Number(body.metadata.resourceVersion) + 1) } };
        return stored;
      },
    } as unknown as k8s.CustomObjectsApi;
    const router = new TraefikRouter({ custom, target, traefikService: 't2v' });
    await router.setWeights({ stableWeight: 80, candidateWeight: 20, mirrorPercent: 0 });
    expect(writes.map((w) => w.metadata.resourceVersion)).toEqual(['7', '8']);
    expect(await router.observe()).toEqual({ found: true, stableWeight: 80, candidateWeight: 20, mirrorPercent: 0, arms: 'absent' });
  });

  it("refuses an A/B experiment's arms (a TraefikService cannot match a header) without writing", async () => {
    const replaceNamespacedCustomObject = vi.fn();
    const custom = {
      getNamespacedCustomObject: async () => ts({ weighted: { services: [{ name: 't2v-stable', port: 80 }] } }),
      replaceNamespacedCustomObject,
    } as unknown as k8s.CustomObjectsApi;
    const router = new TraefikRouter({ custom, target, traefikService: 't2v' });
    const refused = router.setWeights({ stableWeight: 95, candidateWeight: 5, mirrorPercent: 0, arms: { header: 'X-ModelRollout-Arm' } });
    await expect(refused).rejects.toMatchObject({ code: 'Unsupported' });
    await expect(refused).rejects.toThrow(/arms need spec.trafficRouting.gatewayAPI or spec.trafficRouting.istio/);
    expect(replaceNamespacedCustomObject).not.toHaveBeenCalled();
  });
});
