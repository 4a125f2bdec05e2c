// The A/B experiment's arm rules on an HTTPRoute (#16): added beside the weights, kept, removed, verified.
import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { GatewayApiRouter, observeRule, type HttpRoute } from './gateway-api.js';
import { ARM_HEADER } from '../api/index.js';
import type { Weights } from './router.js';

const target = { namespace: 'ml', stableService: 't2v-stable', candidateService: 't2v-candidate', port: 80 };
const arms = { header: ARM_HEADER };
const step = (candidateWeight: number, withArms = true): Weights => ({
  stableWeight: 100 - candidateWeight,
  candidateWeight,
  mirrorPercent: 0,
  ...(withArms ? { arms } : {}),
});
const armHeader = (value: string) => ({ type: 'Exact', name: ARM_HEADER, value });

const userRule = { matches: [{ path: { type: 'PathPrefix', value: '/admin' } }], backendRefs: [{ name: 'admin', port: 8080 }] };
const stampFilter = [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-served-by', value: 'stable' }] } }];
const managedRule = {
  matches: [{ path: { type: 'PathPrefix', value: '/v1' }, method: 'POST', headers: [{ type: 'Exact', name: 'x-tenant', value: 'a' }] }],
  filters: [{ type: 'URLRewrite', urlRewrite: { hostname: 'model.internal' } }],
  backendRefs: [{ name: 't2v-stable', port: 80, filters: stampFilter }],
};

function httpRoute(...rules: Record<string, unknown>[]): HttpRoute {
  return { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'edge', namespace: 'ml', resourceVersion: '1' }, spec: { rules } };
}

/** A CustomObjectsApi holding one HTTPRoute; a write carrying a stale resourceVersion gets 409. */
function fakeApi(stored: HttpRoute) {
  const writes: HttpRoute[] = [];
  const custom = {
    getNamespacedCustomObject: () => Promise.resolve(structuredClone(stored)),
    replaceNamespacedCustomObject: ({ body }: { body: HttpRoute }) => {
      if (body.metadata.resourceVersion !== stored.metadata.resourceVersion) return Promise.reject(new k8s.ApiException(409, 'Conflict', {}, {}));
      writes.push(structuredClone(body));
      stored = { ...structuredClone(body), metadata: { ...body.metadata, resourceVersion: String(Number(stored.metadata.resourceVersion) + 1) } };
      return Promise.resolve(structuredClone(stored));
    },
  } as unknown as k8s.CustomObjectsApi;
  const router = (ruleIndex = 1) => new GatewayApiRouter({ custom, target, routeName: 'edge', ruleIndex });
  return { custom, router, writes, current: () => stored, edit: (f: (r: HttpRoute) => void) => f(stored) };
}

describe('Gateway API arm rules', () => {
  it('adds one rule per arm after the others, copying the managed rule, and still sets its weights', async () => {
    const api = fakeApi(httpRoute(userRule, managedRule, { name: 'later', backendRefs: [{ name: 'docs', port: 80 }] }));
    await api.router().setWeights(step(5));
    const rules = api.current().spec.rules!;
    // Nothing before or at the managed rule moved: every index a rollout or a claim names still holds.
    expect(rules.slice(0, 3).map((r) => r.name ?? r.backendRefs![0]!.name)).toEqual(['admin', 't2v-stable', 'later']);
    expect(rules[0]).toEqual(userRule);
    expect(observeRule(api.current(), 1, target)).toEqual({ found: true, stableWeight: 95, candidateWeight: 5, mirrorPercent: 0 });
    const [m] = managedRule.matches;
    expect(rules.slice(3)).toEqual([
      {
        name: 'modelrollout-arm-treatment.t2v-candidate',
        matches: [{ ...m, headers: [...m!.headers, armHeader('treatment')] }],
        filters: managedRule.filters,
        backendRefs: [{ name: 't2v-candidate', port: 80 }],
      },
      {
        name: 'modelrollout-arm-control.t2v-candidate',
        matches: [{ ...m, headers: [...m!.headers, armHeader('control')] }],
        filters: managedRule.filters,
        backendRefs: [{ name: 't2v-stable', port: 80, filters: stampFilter }],
      },
      {
        name: 'modelrollout-arm-none.t2v-candidate',
        matches: [{ ...m, headers: [...m!.headers, armHeader('none')] }],
        filters: managedRule.filters,
        backendRefs: [{ name: 't2v-stable', port: 80, filters: stampFilter }],
      },
    ]);
    expect(await api.router().observe()).toEqual({ found: true, stableWeight: 95, candidateWeight: 5, mirrorPercent: 0, arms: 'present' });
  });

  it('writes the same route again for the same weights, and moves only the weights on the next step', async () => {
    const api = fakeApi(httpRoute(userRule, managedRule));
    await api.router().setWeights(step(5));
    const once = structuredClone(api.current().spec);
    await api.router().setWeights(step(5));
    expect(api.current().spec).toEqual(once);
    await api.router().setWeights(step(20));
    const rules = api.current().spec.rules!;
    expect(rules).toHaveLength(5);
    expect(rules.slice(2)).toEqual(once.rules!.slice(2));
    expect(await api.router().observe()).toMatchObject({ stableWeight: 80, candidateWeight: 20, arms: 'present' });
  });

  it('removes its arm rules, and only those, when the weights come without arms', async () => {
    const theirs = { name: 'canary-by-cookie', matches: [{ headers: [{ name: 'cookie', value: 'beta' }] }], backendRefs: [{ name: 'beta', port: 80 }] };
    const api = fakeApi(httpRoute(userRule, managedRule, theirs));
    await api.router().setWeights(step(50));
    expect(api.current().spec.rules).toHaveLength(6);
    await api.router().setWeights(step(100, false));
    expect(api.current().spec.rules!.map((r) => r.name)).toEqual([undefined, undefined, 'canary-by-cookie']);
    expect(api.current().spec.rules![2]).toEqual(theirs);
    expect(await api.router().observe()).toMatchObject({ candidateWeight: 100, arms: 'absent' });
  });

  it('copies every match of the managed rule into each arm rule, a rule with no matches as every path', async () => {
    const several = { matches: [{ path: { type: 'Exact', value: '/generate' } }, { queryParams: [{ name: 'model', value: 't2v' }] }], backendRefs: [] };
    const api = fakeApi(httpRoute(several));
    await api.router(0).setWeights(step(1));
    expect(api.current().spec.rules![1]!.matches).toEqual([
      { path: { type: 'Exact', value: '/generate' }, headers: [armHeader('treatment')] },
      { queryParams: [{ name: 'model', value: 't2v' }], headers: [armHeader('treatment')] },
    ]);
    const bare = fakeApi(httpRoute({ backendRefs: [{ name: 't2v-stable', port: 80 }] }));
    await bare.router(0).setWeights(step(1));
    expect(bare.current().spec.rules![3]!.matches).toEqual([{ path: { type: 'PathPrefix', value: '/' }, headers: [armHeader('none')] }]);
  });

  it('refuses a rule of someone else that matches an arm value of the header on the same path, changing nothing', async () => {
    const pinned = {
      matches: [{ path: { type: 'PathPrefix', value: '/v1' }, headers: [{ name: 'x-modelrollout-arm', value: 'control' }] }],
      backendRefs: [{ name: 'legacy', port: 80 }],
    };
    const api = fakeApi(httpRoute(managedRule, pinned));
    const refused = api.router(0).setWeights(step(5));
    await expect(refused).rejects.toMatchObject({ name: 'TrafficRouterError', code: 'RouteRuleNotOwned' });
    await expect(refused).rejects.toThrow(/rule 1 already matches header x-modelrollout-arm: control on path PathPrefix \/v1/);
    expect(api.writes).toHaveLength(0);
    // Another path, or another value, is no competition.
    const elsewhere = fakeApi(httpRoute(managedRule, { ...pinned, matches: [{ ...pinned.matches[0], path: { type: 'PathPrefix', value: '/v2' } }] }));
    await expect(elsewhere.router(0).setWeights(step(5))).resolves.toBeUndefined();
    // Without arms the rule is none of our business.
    await expect(api.router(0).setWeights(step(5, false))).resolves.toBeUndefined();
  });

  it('refuses a header the managed rule already matches on', async () => {
    const api = fakeApi(httpRoute({ matches: [{ headers: [{ name: 'X-ModelRollout-Arm', value: 'x' }] }], backendRefs: [] }));
    await expect(api.router(0).setWeights(step(5))).rejects.toMatchObject({ code: 'Unsupported' });
  });

  it('observes edited, missing and stale arm rules as differ, and rewrites them', async () => {
    const api = fakeApi(httpRoute(userRule, managedRule));
    const router = api.router();
    await router.setWeights(step(5));
    // A person points the control rule at the candidate.
    api.edit((r) => (r.spec.rules![3]!.backendRefs = [{ name: 't2v-candidate', port: 80 }]));
    expect(await router.observe()).toMatchObject({ arms: 'differ' });
    await router.setWeights(step(5));
    expect(await router.observe()).toMatchObject({ arms: 'present' });
    // One deleted.
    api.edit((r) => r.spec.rules!.splice(4, 1));
    expect(await router.observe()).toMatchObject({ arms: 'differ' });
    await router.setWeights(step(5));
    expect(api.current().spec.rules!.map((r) => r.name)).toEqual([
      undefined,
      undefined,
      'modelrollout-arm-treatment.t2v-candidate',
      'modelrollout-arm-control.t2v-candidate',
      'modelrollout-arm-none.t2v-candidate',
    ]);
    // The managed rule's path changes: the arm rules no longer copy it.
    api.edit((r) => (r.spec.rules![1]!.matches = [{ path: { type: 'PathPrefix', value: '/v2' } }]));
    expect(await router.observe()).toMatchObject({ arms: 'differ' });
  });

  it('reads the defaults the API server fills in as the rules it wrote', async () => {
    const api = fakeApi(httpRoute({ backendRefs: [{ name: 't2v-stable', port: 80 }] }));
    await api.router(0).setWeights(step(5));
    api.edit((r) => {
      for (const rule of r.spec.rules!) {
        for (const ref of rule.backendRefs!) Object.assign(ref, { group: '', kind: 'Service', weight: ref.weight ?? 1 });
      }
      r.spec.rules![0]!.matches = [{ path: { type: 'PathPrefix', value: '/' } }];
    });
    expect(await api.router(0).observe()).toMatchObject({ arms: 'present' });
  });

  it("keeps two rollouts' arm rules on one HTTPRoute apart", async () => {
    const other = { namespace: 'ml', stableService: 'img-stable', candidateService: 'img-candidate', port: 80 };
    const api = fakeApi(
      httpRoute(
        { matches: [{ path: { type: 'PathPrefix', value: '/t2v' } }], backendRefs: [{ name: 't2v-stable', port: 80 }] },
        { matches: [{ path: { type: 'PathPrefix', value: '/img' } }], backendRefs: [{ name: 'img-stable', port: 80 }] },
      ),
    );
    const img = new GatewayApiRouter({ custom: api.custom, target: other, routeName: 'edge', ruleIndex: 1 });
    await api.router(0).setWeights(step(5));
    await img.setWeights(step(20));
    expect(api.current().spec.rules).toHaveLength(8);
    await api.router(0).setWeights(step(0, false));
    expect(
      api
        .current()
        .spec.rules!.slice(2)
        .map((r) => r.name),
    ).toEqual(['modelrollout-arm-treatment.img-candidate', 'modelrollout-arm-control.img-candidate', 'modelrollout-arm-none.img-candidate']);
    expect(await img.observe()).toMatchObject({ candidateWeight: 20, arms: 'present' });
  });
});

describe('Gateway API arm rules on an HTTPRoute CRD older than v1.4 (no rules[].name)', () => {
  /** Like fakeApi, but the API server prunes rules[].name (as a pre-v1.4 CRD does) and fills the defaults. */
  function pruningApi(stored: HttpRoute) {
    const api = fakeApi(stored);
    const replace = api.custom.replaceNamespacedCustomObject.bind(api.custom);
    api.custom.replaceNamespacedCustomObject = (async (req: { body: HttpRoute }) => {
      const body = structuredClone(req.body);
      for (const rule of body.spec.rules ?? []) {
        delete rule.name;
        for (const ref of rule.backendRefs ?? []) Object.assign(ref, { group: '', kind: 'Service', weight: ref.weight ?? 1 });
      }
      return replace({ ...req, body } as never);
    }) as typeof api.custom.replaceNamespacedCustomObject;
    return api;
  }
  const refused = /the HTTPRoute CRD drops rules\[\]\.name: Gateway API v1\.4 or later is needed for an experiment's arm rules/;

  it('refuses, naming the CRD version, and takes back the unnamed rules it wrote (header mode)', async () => {
    const api = pruningApi(httpRoute(userRule, managedRule));
    await expect(api.router().setWeights(step(5))).rejects.toThrow(refused);
    const rules = api.current().spec.rules!;
    expect(rules).toHaveLength(2);
    expect(rules[0]!.backendRefs![0]!.name).toBe('admin');
    expect(observeRule(api.current(), 1, target)).toEqual({ found: true, stableWeight: 95, candidateWeight: 5, mirrorPercent: 0 });
    expect(await api.router().observe()).toMatchObject({ arms: 'absent' });
    // The next pass tries again and is refused the same way, not as someone else's rule.
    await expect(api.router().setWeights(step(5))).rejects.toThrow(refused);
    expect(api.current().spec.rules).toHaveLength(2);
  });

  it('takes back cookie assignment too: the managed rule keeps two backendRefs with the user filters', async () => {
    const api = pruningApi(httpRoute(userRule, managedRule));
    const cookie = { mode: 'cookie' as const, header: ARM_HEADER, cookie: 'modelrollout-arm-3f9a2c01', maxAgeSeconds: 60 };
    await expect(api.router().setWeights({ stableWeight: 95, candidateWeight: 5, mirrorPercent: 0, arms: cookie })).rejects.toThrow(refused);
    const rules = api.current().spec.rules!;
    expect(rules).toHaveLength(2);
    expect(rules[1]!.backendRefs).toEqual([
      { name: 't2v-stable', port: 80, group: '', kind: 'Service', weight: 95, filters: stampFilter },
      { name: 't2v-candidate', port: 80, group: '', kind: 'Service', weight: 5 },
    ]);
  });

  it('writes weights without arms as before', async () => {
    const api = pruningApi(httpRoute(userRule, managedRule));
    await api.router().setWeights(step(5, false));
    expect(api.current().spec.rules).toHaveLength(2);
    expect(observeRule(api.current(), 1, target)).toMatchObject({ stableWeight: 95, candidateWeight: 5 });
  });
});
