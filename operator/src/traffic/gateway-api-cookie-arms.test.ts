// Cookie assignment of the A/B arms on an HTTPRoute (#16, clients without a user id): the managed rule draws new
// clients into three backendRefs that set the arm's cookie; the arm rules match the cookie of returning clients.
import * as k8s from '@kubernetes/client-node';
import { describe, expect, it, vi } from 'vitest';
import { GatewayApiRouter, observeRule, type HttpRoute } from './gateway-api.js';
import { TraefikRouter } from './traefik.js';
import { ARM_HEADER } from '../api/index.js';
import type { ArmRouting, Weights } from './router.js';

const target = { namespace: 'ml', stableService: 't2v-stable', candidateService: 't2v-candidate', port: 80 };
const COOKIE = 'modelrollout-arm-3f9a2c';
const cookieArms: ArmRouting = { mode: 'cookie', header: ARM_HEADER, cookie: COOKIE, maxAgeSeconds: 3600 };
const step = (candidateWeight: number, arms: ArmRouting | null = cookieArms): Weights => ({
  stableWeight: 100 - candidateWeight,
  candidateWeight,
  mirrorPercent: 0,
  ...(arms ? { arms } : {}),
});
const setCookie = (arm: string) => ({ name: 'Set-Cookie', value: `${COOKIE}=${arm}; Path=/; Max-Age=3600; SameSite=Lax` });
// Right under partial-match (Traefik) and full-match (RE2 in Envoy-based implementations) semantics (attack-16 F7).
const cookieMatch = (arm: string) => ({ type: 'RegularExpression', name: 'Cookie', value: `(^|.*;\\s*)${COOKIE}=${arm}(;.*|$)` });
/** The pattern the arm rules were written with before attack-16 F7 (partial match only). */
const oldCookieMatch = (arm: string) => ({ type: 'RegularExpression', name: 'Cookie', value: `(^|;\\s*)${COOKIE}=${arm}(;|$)` });

const userRule = { matches: [{ path: { type: 'PathPrefix', value: '/admin' } }], backendRefs: [{ name: 'admin', port: 8080 }] };
// The user's own filters: a request header set on the stable backendRef, a response header on the rule.
const stamp = { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-served-by', value: 'stable' }] } };
const ruleFilters = [
  { type: 'URLRewrite', urlRewrite: { hostname: 'model.internal' } },
  { type: 'RequestHeaderModifier', requestHeaderModifier: { add: [{ name: 'x-edge', value: '1' }] } },
];
const managedRule = {
  matches: [{ path: { type: 'PathPrefix', value: '/v1' }, headers: [{ type: 'Exact', name: 'x-tenant', value: 'a' }] }],
  filters: ruleFilters,
  backendRefs: [{ name: 't2v-stable', port: 80, filters: [stamp] }],
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

describe('Gateway API cookie assignment of the arms', () => {
  it('draws new clients into none, control and treatment backendRefs that set the cookie and the arm header, keeping the user filters', async () => {
    const api = fakeApi(httpRoute(userRule, managedRule));
    await api.router().setWeights(step(5));
    const rules = api.current().spec.rules!;
    expect(rules[0]).toEqual(userRule);
    const armFilters = (arm: string, user: object[] = []) => [
      ...user.map((f) => ({
        ...f,
        requestHeaderModifier: {
          set: [
            { name: 'x-served-by', value: 'stable' },
            { name: ARM_HEADER, value: arm },
          ],
        },
      })),
      { type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [setCookie(arm)] } },
      ...(user.length === 0 ? [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: ARM_HEADER, value: arm }] } }] : []),
    ];
    expect(rules[1]).toEqual({
      ...managedRule,
      backendRefs: [
        { name: 't2v-stable', port: 80, weight: 90, filters: armFilters('none', [stamp]) },
        { name: 't2v-stable', port: 80, weight: 5, filters: armFilters('control', [stamp]) },
        { name: 't2v-candidate', port: 80, weight: 5, filters: armFilters('treatment') },
      ],
    });
    // Returning clients: one rule per arm matching its cookie, setting the arm header on the rule's own modifier.
    const [m] = managedRule.matches;
    const armRule = (arm: string, backendRef: object) => ({
      name: `modelrollout-arm-${arm}.t2v-candidate`,
      matches: [{ ...m, headers: [...m!.headers, cookieMatch(arm)] }],
      filters: [
        ruleFilters[0],
        { type: 'RequestHeaderModifier', requestHeaderModifier: { add: [{ name: 'x-edge', value: '1' }], set: [{ name: ARM_HEADER, value: arm }] } },
      ],
      backendRefs: [backendRef],
    });
    expect(rules.slice(2)).toEqual([
      armRule('treatment', { name: 't2v-candidate', port: 80 }),
      armRule('control', { name: 't2v-stable', port: 80, filters: [stamp] }),
      armRule('none', { name: 't2v-stable', port: 80, filters: [stamp] }),
    ]);
    // Two backendRefs to stable are cookie assignment's, not a StyleRollout's split: the weights read back.
    expect(await api.router().observe()).toEqual({ found: true, stableWeight: 95, candidateWeight: 5, mirrorPercent: 0, arms: 'present' });
  });

  it('matches the cookie anywhere in the Cookie header, and only that cookie, searched or matched whole', () => {
    const { value } = cookieMatch('treatment');
    for (const re of [new RegExp(value), new RegExp(`^(?:${value})$`)]) {
      expect(re.test(`${COOKIE}=treatment`)).toBe(true);
      expect(re.test(`a=1; ${COOKIE}=treatment; b=2`)).toBe(true);
      expect(re.test(`a=1;${COOKIE}=treatment`)).toBe(true);
      expect(re.test(`x${COOKIE}=treatment`)).toBe(false);
      expect(re.test(`a=1; x${COOKIE}=treatment`)).toBe(false);
      expect(re.test(`${COOKIE}=treatments`)).toBe(false);
      expect(re.test(`${COOKIE}=control`)).toBe(false);
    }
  });

  it('reads arm rules written with the earlier, partial-match-only cookie pattern as differ, and rewrites them in place', async () => {
    const api = fakeApi(httpRoute(userRule, managedRule));
    await api.router().setWeights(step(5));
    const wanted = structuredClone(api.current().spec);
    api.edit((r) => {
      for (const [i, arm] of ['treatment', 'control', 'none'].entries()) {
        const headers = r.spec.rules![2 + i]!.matches![0]!.headers!;
        headers[headers.length - 1] = oldCookieMatch(arm);
      }
    });
    expect(await api.router().observe()).toMatchObject({ arms: 'differ' });
    await api.router().setWeights(step(5));
    expect(api.current().spec).toEqual(wanted);
    expect(await api.router().observe()).toMatchObject({ arms: 'present' });
  });

  it('writes the same route again for the same weights, and moves only the weights on the next step', async () => {
    const api = fakeApi(httpRoute(userRule, managedRule));
    await api.router().setWeights(step(5));
    const once = structuredClone(api.current().spec);
    await api.router().setWeights(step(5));
    expect(api.current().spec).toEqual(once);
    await api.router().setWeights(step(20));
    const rules = api.current().spec.rules!;
    expect(rules.slice(2)).toEqual(once.rules!.slice(2));
    expect(rules[1]!.backendRefs!.map((r) => r.weight)).toEqual([60, 20, 20]);
    expect(await api.router().observe()).toEqual({ found: true, stableWeight: 80, candidateWeight: 20, mirrorPercent: 0, arms: 'present' });
  });

  it('without arms, restores the two backendRefs with the user filters and removes the cookie rules', async () => {
    const theirs = { name: 'beta', matches: [{ headers: [{ name: 'cookie', value: 'beta' }] }], backendRefs: [{ name: 'beta', port: 80 }] };
    const api = fakeApi(httpRoute(userRule, managedRule, theirs));
    await api.router().setWeights(step(50));
    expect(await api.router().observe()).toMatchObject({ stableWeight: 50, candidateWeight: 50, arms: 'present' });
    await api.router().setWeights(step(50, null));
    expect(api.current().spec.rules).toEqual([
      userRule,
      {
        ...managedRule,
        backendRefs: [
          { name: 't2v-stable', port: 80, weight: 50, filters: [stamp] },
          { name: 't2v-candidate', port: 80, weight: 50 },
        ],
      },
      theirs,
    ]);
    expect(await api.router().observe()).toEqual({ found: true, stableWeight: 50, candidateWeight: 50, mirrorPercent: 0, arms: 'absent' });
  });

  it("keeps a user's request header whose value is an arm name (ours is known by the arm header's name), observing its own write as present", async () => {
    // attack-16 F6: `x-compression: none` on the stable backendRef, `X-Tenant-Arm: treatment` on the rule.
    const own = [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-compression', value: 'none' }] } }];
    const ruleOwn = [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-Tenant-Arm', value: 'treatment' }] } }];
    const managed = { ...managedRule, filters: ruleOwn, backendRefs: [{ name: 't2v-stable', port: 80, filters: own }] };
    const api = fakeApi(httpRoute(userRule, managed));
    await api.router().setWeights(step(5));
    expect(await api.router().observe()).toMatchObject({ arms: 'present' });
    const once = structuredClone(api.current().spec);
    await api.router().setWeights(step(5));
    expect(api.current().spec).toEqual(once);
    await api.router().setWeights(step(10));
    expect(await api.router().observe()).toMatchObject({ arms: 'present' });
    await api.router().setWeights(step(60, null));
    expect(api.current().spec.rules).toEqual([
      userRule,
      {
        ...managed,
        backendRefs: [
          { name: 't2v-stable', port: 80, weight: 40, filters: own },
          { name: 't2v-candidate', port: 80, weight: 60 },
        ],
      },
    ]);
  });

  it('switches between header and cookie assignment in place', async () => {
    const api = fakeApi(httpRoute(userRule, managedRule));
    await api.router().setWeights(step(5, { header: ARM_HEADER }));
    await api.router().setWeights(step(5));
    expect(await api.router().observe()).toMatchObject({ arms: 'present' });
    expect(
      api
        .current()
        .spec.rules!.slice(2)
        .map((r) => r.matches![0]!.headers!.at(-1)),
    ).toEqual(['treatment', 'control', 'none'].map(cookieMatch));
    await api.router().setWeights(step(5, { header: ARM_HEADER }));
    expect(api.current().spec.rules![1]!.backendRefs).toHaveLength(2);
    expect(await api.router().observe()).toMatchObject({ stableWeight: 95, candidateWeight: 5, arms: 'present' });
  });

  it('observes an edited cookie, a lost cookie backendRef or cookie rules without the managed shape as differ, and rewrites them', async () => {
    const api = fakeApi(httpRoute(userRule, managedRule));
    const router = api.router();
    await router.setWeights(step(5));
    const written = structuredClone(api.current().spec);
    // A person points the control rule at the candidate.
    api.edit((r) => (r.spec.rules![3]!.backendRefs = [{ name: 't2v-candidate', port: 80 }]));
    expect(await router.observe()).toMatchObject({ arms: 'differ' });
    // The control backendRef's cookie says treatment.
    api.edit((r) => (r.spec = structuredClone(written)));
    api.edit((r) => (r.spec.rules![1]!.backendRefs![1]!.filters![1]!.responseHeaderModifier = { add: [setCookie('treatment')] }));
    // Still ours (every backendRef carries an arm cookie), though its weights no longer read as ours.
    expect(await router.observe()).toEqual({ found: true, mirrorPercent: 0, arms: 'differ' });
    // The managed rule is back to two backendRefs while the cookie rules stay: new clients would get no cookie.
    api.edit((r) => (r.spec.rules![1] = { ...managedRule, backendRefs: [managedRule.backendRefs[0]!, { name: 't2v-candidate', port: 80 }] }));
    expect(await router.observe()).toMatchObject({ arms: 'differ' });
    await router.setWeights(step(5));
    expect(api.current().spec).toEqual(written);
    // The cookie rules deleted, the managed rule still assigning: not absent, so a removal cleans it.
    api.edit((r) => r.spec.rules!.splice(2, 3));
    expect(await router.observe()).toMatchObject({ stableWeight: 95, candidateWeight: 5, arms: 'differ' });
    // Another Max-Age, or another cookie name, is a rewrite.
    await router.setWeights(step(5));
    expect(await fakeApi(api.current()).router().observe()).toMatchObject({ arms: 'present' });
    await router.setWeights(step(5, { ...cookieArms, maxAgeSeconds: 60 } as ArmRouting));
    expect(api.current().spec.rules![1]!.backendRefs![2]!.filters![0]!.responseHeaderModifier).toEqual({
      add: [{ name: 'Set-Cookie', value: `${COOKIE}=treatment; Path=/; Max-Age=60; SameSite=Lax` }],
    });
    expect(await router.observe()).toMatchObject({ arms: 'present' });
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
    expect(await api.router(0).observe()).toEqual({ found: true, stableWeight: 95, candidateWeight: 5, mirrorPercent: 0, arms: 'present' });
  });

  it('refuses, without writing: a candidate above stable, a Set-Cookie the user adds on a backendRef, a managed rule matching Cookie', async () => {
    const above = fakeApi(httpRoute(userRule, managedRule));
    await expect(above.router().setWeights(step(60))).rejects.toMatchObject({
      code: 'Unsupported',
      message: expect.stringMatching(/candidate's weight \(60\)/),
    });
    const cookie = { type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'set-cookie', value: 'v=1' }] } };
    const theirs = fakeApi(httpRoute({ backendRefs: [{ name: 't2v-stable', port: 80, filters: [cookie] }] }));
    await expect(theirs.router(0).setWeights(step(5))).rejects.toThrow(/backendRef to Service t2v-stable already adds a Set-Cookie header/);
    const matching = fakeApi(httpRoute({ matches: [{ headers: [{ name: 'cookie', value: 'x' }] }], backendRefs: [] }));
    await expect(matching.router(0).setWeights(step(5))).rejects.toThrow(/already matches header Cookie/);
    expect([above, theirs, matching].flatMap((a) => a.writes)).toHaveLength(0);
    // A rule with two backendRefs to stable that are not cookie assignment's stays someone else's.
    const split = httpRoute({
      backendRefs: [
        { name: 't2v-stable', port: 80 },
        { name: 't2v-stable', port: 80, filters: [stamp] },
      ],
    });
    expect(observeRule(split, 0, target)).toMatchObject({ found: false, reason: 'RouteRuleNotOwned' });
  });

  it('the traefik router refuses cookie assignment, naming the router (the istio router: istio-cookie-arms.test.ts)', async () => {
    const replaceNamespacedCustomObject = vi.fn();
    const custom = {
      getNamespacedCustomObject: async () => ({
        metadata: { name: 'edge', namespace: 'ml', resourceVersion: '1' },
        spec: { weighted: { services: [] } },
      }),
      replaceNamespacedCustomObject,
    } as unknown as k8s.CustomObjectsApi;
    const traefik = new TraefikRouter({ custom, target, traefikService: 'edge' });
    await expect(traefik.setWeights(step(5))).rejects.toMatchObject({
      code: 'Unsupported',
      message: expect.stringMatching(/traefik router does not support cookie/),
    });
    expect(replaceNamespacedCustomObject).not.toHaveBeenCalled();
  });
});
