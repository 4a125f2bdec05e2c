import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { IstioRouter, observeHttpRoute, withWeights, type VirtualService } from './istio.js';
import { TrafficRouterError } from './router.js';

const target = { namespace: 'ml', stableService: 't2v-stable', candidateService: 't2v-candidate', port: 80 };

function vs(...http: Record<string, unknown>[]): VirtualService {
  return { metadata: { name: 'edge', namespace: 'ml', resourceVersion: '1' }, spec: { hosts: ['t2v'], http } };
}

describe('Istio http route handling', () => {
  it('sets our two weighted destinations and keeps the route match and retries', () => {
    const route = { name: 'primary', match: [{ uri: { prefix: '/v1' } }], retries: { attempts: 2 }, route: [{ destination: { host: 't2v-stable' } }] };
    const next = withWeights(route, { stableWeight: 80, candidateWeight: 20, mirrorPercent: 0 }, target);
    expect(next.match).toEqual(route.match);
    expect(next.retries).toEqual(route.retries);
    expect(next.route).toEqual([
      { destination: { host: 't2v-stable', port: { number: 80 } }, weight: 80 },
      { destination: { host: 't2v-candidate', port: { number: 80 } }, weight: 20 },
    ]);
    expect(observeHttpRoute(vs(next), 'primary', target)).toEqual({ found: true, stableWeight: 80, candidateWeight: 20, mirrorPercent: 0 });
  });

  it('adds and removes the mirror for shadow, leaving a mirror to someone else alone', () => {
    const mirrored = withWeights({}, { stableWeight: 100, candidateWeight: 0, mirrorPercent: 25 }, target);
    expect(mirrored).toMatchObject({ mirror: { host: 't2v-candidate' }, mirrorPercentage: { value: 25 } });
    expect(observeHttpRoute(vs(mirrored), undefined, target).mirrorPercent).toBe(25);
    const cleared = withWeights(mirrored, { stableWeight: 99, candidateWeight: 1, mirrorPercent: 0 }, target);
    expect(cleared.mirror).toBeUndefined();
    expect(cleared.mirrorPercentage).toBeUndefined();
    const theirs = withWeights(
      { mirror: { host: 'audit' }, mirrorPercentage: { value: 5 } },
      { stableWeight: 100, candidateWeight: 0, mirrorPercent: 0 },
      target,
    );
    expect(theirs.mirror).toEqual({ host: 'audit' });
  });

  it('reads fully qualified hosts as ours, unset weights as 0, and a route to others as not ours', () => {
    const fqdn = { route: [{ destination: { host: 't2v-stable.ml.svc.cluster.local' }, weight: 100 }, { destination: { host: 't2v-candidate.ml' } }] };
    expect(observeHttpRoute(vs(fqdn), undefined, target)).toEqual({ found: true, stableWeight: 100, candidateWeight: 0, mirrorPercent: 0 });
    expect(observeHttpRoute(vs({ route: [{ destination: { host: 'legacy' } }] }), undefined, target)).toMatchObject({
      found: false,
      reason: 'RouteRuleNotOwned',
    });
    expect(observeHttpRoute(vs({ name: 'a' }), 'b', target)).toEqual({ found: false, error: 'VirtualService edge has no http route named "b"' });
  });
});

describe('IstioRouter', () => {
  /** A CustomObjectsApi that holds one VirtualService and answers 409 to a write carrying a stale resourceVersion. */
  function fakeApi(stored: VirtualService) {
    const writes: VirtualService[] = [];
    const custom = {
      getNamespacedCustomObject: () => Promise.resolve(structuredClone(stored)),
      replaceNamespacedCustomObject: ({ body }: { body: VirtualService }) => {
        if (body.metadata.resourceVersion !== stored.metadata.resourceVersion) return Promise.reject(new k8s.ApiException(409, 'Conflict', {}, {}));
        writes.push(body);
        stored = { ...body, metadata: { ...body.metadata, resourceVersion: String(Number(stored.metadata.resourceVersion) + 1) } };
        return Promise.resolve(stored);
      },
    } as unknown as k8s.CustomObjectsApi;
    return { custom, writes, current: () => stored };
  }

  it('writes only the named route, re-reading after a conflict with a stale cached copy', async () => {
    const other = { name: 'other', route: [{ destination: { host: 'legacy' } }] };
    const api = fakeApi(vs(other, { name: 'primary', route: [{ destination: { host: 't2v-stable' } }] }));
    const stale = { ...api.current(), metadata: { ...api.current().metadata, resourceVersion: '0' } };
    const written: VirtualService[] = [];
    const router = new IstioRouter({
      custom: api.custom,
      target,
      virtualService: 'edge',
      routeName: 'primary',
      cached: () => stale,
      onWritten: (o) => written.push(o as VirtualService),
    });
    await router.setWeights({ stableWeight: 95, candidateWeight: 5, mirrorPercent: 0 });
    expect(api.writes).toHaveLength(1);
    expect(api.current().spec.http![0]).toEqual(other);
    expect(observeHttpRoute(api.current(), 'primary', target)).toMatchObject({ stableWeight: 95, candidateWeight: 5 });
    expect(written).toEqual([api.current()]);
    await expect(router.finalize()).resolves.toBeUndefined();
  });

  it('refuses a route name the VirtualService does not have, and reports a missing VirtualService', async () => {
    const api = fakeApi(vs({ name: 'primary' }));
    const router = new IstioRouter({ custom: api.custom, target, virtualService: 'edge', routeName: 'nope' });
    await expect(router.setWeights({ stableWeight: 100, candidateWeight: 0, mirrorPercent: 0 })).rejects.toMatchObject({ code: 'RuleNotFound' });
    const missing = new IstioRouter({ custom: api.custom, target, virtualService: 'gone', cached: () => undefined });
    expect(await missing.observe()).toEqual({ found: false, error: 'VirtualService ml/gone not found' });
    expect(new TrafficRouterError('Conflict', 'x').code).toBe('Conflict');
  });
});
