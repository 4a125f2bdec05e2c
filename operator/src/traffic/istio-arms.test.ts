// The A/B experiment's arm routes on a VirtualService (#16): placed before the managed route, kept, removed, verified.
import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { IstioRouter, observeHttpRoute, type VirtualService } from './istio.js';
import { ARM_HEADER } from '../api/index.js';
import type { Weights } from './router.js';

const target = { namespace: 'ml', stableService: 't2v-stable', candidateService: 't2v-candidate', port: 80 };
const step = (candidateWeight: number, withArms = true): Weights => ({
  stableWeight: 100 - candidateWeight,
  candidateWeight,
  mirrorPercent: 0,
  ...(withArms ? { arms: { header: ARM_HEADER } } : {}),
});

const admin = { name: 'admin', match: [{ uri: { prefix: '/admin' } }], route: [{ destination: { host: 'admin' } }] };
const stamp = { response: { set: { 'x-served-by': 'stable' } } };
const primary = {
  name: 'primary',
  match: [{ uri: { prefix: '/v1' }, headers: { 'x-tenant': { exact: 'a' } } }],
  retries: { attempts: 2 },
  route: [{ destination: { host: 't2v-stable' }, headers: stamp }],
};
const fallback = { name: 'fallback', route: [{ destination: { host: 'legacy' } }] };

function vs(...http: Record<string, unknown>[]): VirtualService {
  return { metadata: { name: 'edge', namespace: 'ml', resourceVersion: '1' }, spec: { hosts: ['t2v'], http } };
}

function fakeApi(stored: VirtualService) {
  const writes: VirtualService[] = [];
  const custom = {
    getNamespacedCustomObject: () => Promise.resolve(structuredClone(stored)),
    replaceNamespacedCustomObject: ({ body }: { body: VirtualService }) => {
      if (body.metadata.resourceVersion !== stored.metadata.resourceVersion) return Promise.reject(new k8s.ApiException(409, 'Conflict', {}, {}));
      writes.push(structuredClone(body));
      stored = { ...structuredClone(body), metadata: { ...body.metadata, resourceVersion: String(Number(stored.metadata.resourceVersion) + 1) } };
      return Promise.resolve(structuredClone(stored));
    },
  } as unknown as k8s.CustomObjectsApi;
  const router = (routeName: string | null = 'primary') => new IstioRouter({ custom, target, virtualService: 'edge', routeName: routeName ?? undefined });
  return { router, writes, current: () => stored, edit: (f: (v: VirtualService) => void) => f(stored) };
}

const names = (v: VirtualService) => v.spec.http!.map((r) => r.name);

describe('Istio arm routes', () => {
  it('puts one route per arm right before the managed route, copying it, and still sets its weights', async () => {
    const api = fakeApi(vs(admin, primary, fallback));
    await api.router().setWeights(step(5));
    expect(names(api.current())).toEqual([
      'admin',
      'modelrollout-arm-treatment.t2v-candidate',
      'modelrollout-arm-control.t2v-candidate',
      'modelrollout-arm-none.t2v-candidate',
      'primary',
      'fallback',
    ]);
    const http = api.current().spec.http!;
    expect(http[0]).toEqual(admin);
    expect(http[5]).toEqual(fallback);
    const match = (arm: string) => [{ uri: { prefix: '/v1' }, headers: { 'x-tenant': { exact: 'a' }, 'x-modelrollout-arm': { exact: arm } } }];
    expect(http[1]).toEqual({
      name: 'modelrollout-arm-treatment.t2v-candidate',
      match: match('treatment'),
      retries: { attempts: 2 },
      route: [{ destination: { host: 't2v-candidate', port: { number: 80 } } }],
    });
    expect(http[2]).toEqual({
      name: 'modelrollout-arm-control.t2v-candidate',
      match: match('control'),
      retries: { attempts: 2 },
      route: [{ destination: { host: 't2v-stable', port: { number: 80 } }, headers: stamp }],
    });
    expect(http[3]!.match).toEqual(match('none'));
    expect(observeHttpRoute(api.current(), 'primary', target)).toEqual({ found: true, stableWeight: 95, candidateWeight: 5, mirrorPercent: 0 });
    expect(await api.router().observe()).toEqual({ found: true, stableWeight: 95, candidateWeight: 5, mirrorPercent: 0, arms: 'present' });
  });

  it('keeps them on re-apply and removes only them without arms; an unnamed managed route stays the first route that is not an arm', async () => {
    const api = fakeApi(vs({ route: [{ destination: { host: 't2v-stable' } }] }, fallback));
    await api.router(null).setWeights(step(20));
    const once = structuredClone(api.current().spec);
    expect(once.http![0]!.match).toEqual([{ headers: { 'x-modelrollout-arm': { exact: 'treatment' } } }]);
    await api.router(null).setWeights(step(20));
    expect(api.current().spec).toEqual(once);
    expect(await api.router(null).observe()).toMatchObject({ stableWeight: 80, candidateWeight: 20, arms: 'present' });
    await api.router(null).setWeights(step(0, false));
    expect(names(api.current())).toEqual([undefined, 'fallback']);
    expect(await api.router(null).observe()).toMatchObject({ stableWeight: 100, arms: 'absent' });
  });

  it('copies every match of the managed route', async () => {
    const api = fakeApi(vs({ ...primary, match: [{ uri: { exact: '/generate' } }, { uri: { prefix: '/v2' }, method: { exact: 'POST' } }] }));
    await api.router().setWeights(step(1));
    expect(api.current().spec.http![1]!.match).toEqual([
      { uri: { exact: '/generate' }, headers: { 'x-modelrollout-arm': { exact: 'control' } } },
      { uri: { prefix: '/v2' }, method: { exact: 'POST' }, headers: { 'x-modelrollout-arm': { exact: 'control' } } },
    ]);
  });

  it('refuses a route of someone else that matches an arm value of the header on the same uri, changing nothing', async () => {
    const pinned = {
      name: 'pinned',
      match: [{ uri: { prefix: '/v1' }, headers: { 'x-modelrollout-arm': { exact: 'treatment' } } }],
      route: [{ destination: { host: 'exp' } }],
    };
    const api = fakeApi(vs(pinned, primary));
    const refused = api.router().setWeights(step(5));
    await expect(refused).rejects.toMatchObject({ code: 'RouteRuleNotOwned' });
    await expect(refused).rejects.toThrow(/http route pinned \(index 0\) already matches header x-modelrollout-arm: treatment/);
    expect(api.writes).toHaveLength(0);
    await expect(api.router().setWeights(step(5, false))).resolves.toBeUndefined();
  });

  it('observes an edited destination, a missing route and a route moved after the managed one as differ, and rewrites them', async () => {
    const api = fakeApi(vs(admin, primary));
    const router = api.router();
    await router.setWeights(step(5));
    api.edit((v) => (v.spec.http![2]!.route = [{ destination: { host: 't2v-candidate', port: { number: 80 } } }]));
    expect(await router.observe()).toMatchObject({ arms: 'differ' });
    await router.setWeights(step(5));
    expect(await router.observe()).toMatchObject({ arms: 'present' });
    api.edit((v) => v.spec.http!.splice(3, 1));
    expect(await router.observe()).toMatchObject({ arms: 'differ' });
    await router.setWeights(step(5));
    expect(await router.observe()).toMatchObject({ arms: 'present' });
    // Moved after the managed route, the treatment route never matches.
    api.edit((v) => v.spec.http!.push(v.spec.http!.splice(1, 1)[0]!));
    expect(await router.observe()).toMatchObject({ arms: 'differ' });
    await router.setWeights(step(5));
    expect(names(api.current())[4]).toBe('primary');
    expect(await router.observe()).toMatchObject({ arms: 'present' });
  });
});
