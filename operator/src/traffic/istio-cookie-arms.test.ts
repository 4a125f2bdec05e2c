// Cookie assignment of the A/B arms on a VirtualService (#16, clients without a user id): the managed route draws new
// clients into three destinations that set the arm's cookie; the arm routes before it match the cookie of returning
// clients.
import * as k8s from '@kubernetes/client-node';
import { RE2 } from 're2-wasm';
import { describe, expect, it } from 'vitest';
import { IstioRouter, observeHttpRoute, type VirtualService } from './istio.js';
import { ARM_HEADER } from '../api/index.js';
import type { ArmRouting, Weights } from './router.js';

const target = { namespace: 'ml', stableService: 't2v-stable', candidateService: 't2v-candidate', port: 80 };
const COOKIE = 'modelrollout-arm-3f9a2c01';
const cookieArms: ArmRouting = { mode: 'cookie', header: ARM_HEADER, cookie: COOKIE, maxAgeSeconds: 3600 };
const step = (candidateWeight: number, arms: ArmRouting | null = cookieArms): Weights => ({
  stableWeight: 100 - candidateWeight,
  candidateWeight,
  mirrorPercent: 0,
  ...(arms ? { arms } : {}),
});
const armHeader = ARM_HEADER.toLowerCase();
const setCookie = (arm: string, maxAge = 3600) => `${COOKIE}=${arm}; Path=/; Max-Age=${maxAge}; SameSite=Lax`;
const cookieRegex = (arm: string) => `(^|.*;\\s*)${COOKIE}=${arm}(;.*|$)`;

const admin = { name: 'admin', match: [{ uri: { prefix: '/admin' } }], route: [{ destination: { host: 'admin' } }] };
// The user's own header operations: on the route, and on the stable destination.
const routeHeaders = { request: { add: { 'x-edge': '1' } } };
const stamp = { response: { set: { 'x-served-by': 'stable' } }, request: { remove: ['x-debug'] } };
const primary = {
  name: 'primary',
  match: [{ uri: { prefix: '/v1' }, headers: { 'x-tenant': { exact: 'a' } } }],
  retries: { attempts: 2 },
  headers: routeHeaders,
  route: [{ destination: { host: 't2v-stable' }, headers: stamp }],
};
const fallback = { name: 'fallback', route: [{ destination: { host: 'legacy' } }] };

function vs(...http: Record<string, unknown>[]): VirtualService {
  return { metadata: { name: 'edge', namespace: 'ml', resourceVersion: '1' }, spec: { hosts: ['t2v'], http } };
}

/** A CustomObjectsApi holding one VirtualService; a write carrying a stale resourceVersion gets 409. */
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

/** Istio's header `regex`: RE2, matching the whole header value (Envoy's safe_regex full match). */
const fullMatchRe2 = (pattern: string) => new RE2(`^(?:${pattern})$`, 'u');

/**
 * Which http route a request takes: the first whose match (any of them) holds, as Istio picks
 * (uri prefix and header exact/regex only: what these routes use).
 */
function routeFor(v: VirtualService, uri: string, headers: Record<string, string>) {
  return v.spec.http!.find((r) =>
    (r.match ?? [{}]).some(
      (m) =>
        (!m.uri || uri.startsWith(m.uri.prefix!)) &&
        Object.entries(m.headers ?? {}).every(([name, s]) => {
          const value = headers[name];
          if (value === undefined) return false;
          return s.exact !== undefined ? value === s.exact : fullMatchRe2(s.regex!).test(value);
        }),
    ),
  );
}

describe('Istio cookie assignment of the arms', () => {
  it('draws new clients into none, control and treatment destinations that set the cookie and the arm header, keeping the user headers', async () => {
    const api = fakeApi(vs(admin, primary, fallback));
    await api.router().setWeights(step(5));
    const http = api.current().spec.http!;
    expect(http.map((r) => r.name)).toEqual([
      'admin',
      'modelrollout-arm-treatment.t2v-candidate',
      'modelrollout-arm-control.t2v-candidate',
      'modelrollout-arm-none.t2v-candidate',
      'primary',
      'fallback',
    ]);
    expect(http[0]).toEqual(admin);
    expect(http[5]).toEqual(fallback);
    const stableHeaders = (arm: string) => ({
      response: { set: { 'x-served-by': 'stable' }, add: { 'set-cookie': setCookie(arm) } },
      request: { remove: ['x-debug'], set: { [armHeader]: arm } },
    });
    expect(http[4]).toEqual({
      ...primary,
      route: [
        { destination: { host: 't2v-stable', port: { number: 80 } }, weight: 90, headers: stableHeaders('none') },
        { destination: { host: 't2v-stable', port: { number: 80 } }, weight: 5, headers: stableHeaders('control') },
        {
          destination: { host: 't2v-candidate', port: { number: 80 } },
          weight: 5,
          headers: { response: { add: { 'set-cookie': setCookie('treatment') } }, request: { set: { [armHeader]: 'treatment' } } },
        },
      ],
    });
    // Returning clients: one route per arm matching its cookie, setting the arm header beside the route's own operations.
    const armRoute = (arm: string, destination: object) => ({
      name: `modelrollout-arm-${arm}.t2v-candidate`,
      match: [{ uri: { prefix: '/v1' }, headers: { 'x-tenant': { exact: 'a' }, cookie: { regex: cookieRegex(arm) } } }],
      retries: { attempts: 2 },
      headers: { request: { add: { 'x-edge': '1' }, set: { [armHeader]: arm } } },
      route: [destination],
    });
    expect(http.slice(1, 4)).toEqual([
      armRoute('treatment', { destination: { host: 't2v-candidate', port: { number: 80 } } }),
      armRoute('control', { destination: { host: 't2v-stable', port: { number: 80 } }, headers: stamp }),
      armRoute('none', { destination: { host: 't2v-stable', port: { number: 80 } }, headers: stamp }),
    ]);
    // Two destinations to stable are cookie assignment's: the weights read back.
    expect(observeHttpRoute(api.current(), 'primary', target)).toEqual({ found: true, stableWeight: 95, candidateWeight: 5, mirrorPercent: 0 });
    expect(await api.router().observe()).toEqual({ found: true, stableWeight: 95, candidateWeight: 5, mirrorPercent: 0, arms: 'present' });
  });

  it('matches the whole Cookie header (RE2) when it carries the arm cookie anywhere, and only that cookie', () => {
    const re = fullMatchRe2(cookieRegex('treatment'));
    for (const yes of [`${COOKIE}=treatment`, `a=1; ${COOKIE}=treatment; b=2`, `a=1;${COOKIE}=treatment`, `${COOKIE}=treatment;b=2`])
      expect(re.test(yes), yes).toBe(true);
    for (const no of [`${COOKIE}=treatmentX`, `x${COOKIE}=treatment`, `a=1; x${COOKIE}=treatment`, `${COOKIE}=control`, `a=${COOKIE}=treatment`, `other=1`, ''])
      expect(re.test(no), no).toBe(false);
    // The same with JavaScript's engine, anchored: the pattern means the same in both.
    const js = new RegExp(`^(?:${cookieRegex('treatment')})$`);
    expect(js.test(`a=1; ${COOKIE}=treatment; b=2`)).toBe(true);
    expect(js.test(`${COOKIE}=treatmentX`)).toBe(false);
  });

  it('sends a returning client to its arm and a new one to the weighted route, first match wins', async () => {
    const api = fakeApi(vs(admin, primary, fallback));
    await api.router().setWeights(step(5));
    const v = api.current();
    const take = (cookie?: string) => routeFor(v, '/v1/generate', { 'x-tenant': 'a', ...(cookie === undefined ? {} : { cookie }) });
    expect(take(`a=1; ${COOKIE}=treatment; b=2`)!.name).toBe('modelrollout-arm-treatment.t2v-candidate');
    expect(take(`a=1; ${COOKIE}=treatment; b=2`)!.route).toEqual([{ destination: { host: 't2v-candidate', port: { number: 80 } } }]);
    expect(take(`${COOKIE}=control`)!.name).toBe('modelrollout-arm-control.t2v-candidate');
    expect(take(`${COOKIE}=none`)!.route![0]!.destination.host).toBe('t2v-stable');
    // No cookie, another experiment's cookie, a cookie that only looks like ours: drawn by weight on the managed route.
    for (const cookie of [undefined, 'modelrollout-arm-00000000=treatment', `${COOKIE}=treatmentX`, `x${COOKIE}=treatment`])
      expect(take(cookie)!.name, cookie).toBe('primary');
  });

  it('writes the same VirtualService again for the same weights, and moves only the weights on the next step', async () => {
    const api = fakeApi(vs(admin, primary));
    await api.router().setWeights(step(5));
    const once = structuredClone(api.current().spec);
    await api.router().setWeights(step(5));
    expect(api.current().spec).toEqual(once);
    await api.router().setWeights(step(20));
    const http = api.current().spec.http!;
    expect(http.slice(0, 4)).toEqual(once.http!.slice(0, 4));
    expect(http[4]!.route!.map((d) => d.weight)).toEqual([60, 20, 20]);
    expect(await api.router().observe()).toEqual({ found: true, stableWeight: 80, candidateWeight: 20, mirrorPercent: 0, arms: 'present' });
    // At 50 %, nobody is left outside the experiment: none keeps its destination at weight 0.
    await api.router().setWeights(step(50));
    expect(api.current().spec.http![4]!.route!.map((d) => d.weight)).toEqual([0, 50, 50]);
    expect(await api.router().observe()).toMatchObject({ stableWeight: 50, candidateWeight: 50, arms: 'present' });
  });

  it('without arms, restores the two destinations with the user headers and removes the cookie routes', async () => {
    const api = fakeApi(vs(admin, primary, fallback));
    await api.router().setWeights(step(50));
    await api.router().setWeights(step(50, null));
    expect(api.current().spec.http).toEqual([
      admin,
      {
        ...primary,
        route: [
          { destination: { host: 't2v-stable', port: { number: 80 } }, weight: 50, headers: stamp },
          { destination: { host: 't2v-candidate', port: { number: 80 } }, weight: 50 },
        ],
      },
      fallback,
    ]);
    expect(await api.router().observe()).toEqual({ found: true, stableWeight: 50, candidateWeight: 50, mirrorPercent: 0, arms: 'absent' });
  });

  it("keeps a user's request header whose value is an arm name (ours is known by the arm header's name), observing its own write as present", async () => {
    // attack-16 F6: `x-compression: none` on the stable destination, `X-Tenant-Arm: treatment` on the route.
    const own = { request: { set: { 'x-compression': 'none' } } };
    const managed = {
      ...primary,
      headers: { request: { set: { 'x-tenant-arm': 'treatment' } } },
      route: [{ destination: { host: 't2v-stable' }, headers: own }],
    };
    const api = fakeApi(vs(admin, managed, fallback));
    await api.router().setWeights(step(5));
    expect(await api.router().observe()).toMatchObject({ arms: 'present' });
    const once = structuredClone(api.current().spec);
    await api.router().setWeights(step(5));
    expect(api.current().spec).toEqual(once);
    await api.router().setWeights(step(10));
    expect(await api.router().observe()).toMatchObject({ arms: 'present' });
    await api.router().setWeights(step(60, null));
    expect(api.current().spec.http![1]).toEqual({
      ...managed,
      route: [
        { destination: { host: 't2v-stable', port: { number: 80 } }, weight: 40, headers: own },
        { destination: { host: 't2v-candidate', port: { number: 80 } }, weight: 60 },
      ],
    });
  });

  it('switches between header and cookie assignment in place', async () => {
    const api = fakeApi(vs(admin, primary));
    await api.router().setWeights(step(5, { header: ARM_HEADER }));
    await api.router().setWeights(step(5));
    expect(await api.router().observe()).toMatchObject({ arms: 'present' });
    expect(
      api
        .current()
        .spec.http!.slice(1, 4)
        .map((r) => r.match![0]!.headers),
    ).toEqual(['treatment', 'control', 'none'].map((arm) => ({ 'x-tenant': { exact: 'a' }, cookie: { regex: cookieRegex(arm) } })));
    await api.router().setWeights(step(5, { header: ARM_HEADER }));
    const http = api.current().spec.http!;
    expect(http[4]!.route).toHaveLength(2);
    expect(http[1]!.headers).toEqual(routeHeaders);
    expect(await api.router().observe()).toMatchObject({ stableWeight: 95, candidateWeight: 5, arms: 'present' });
  });

  it('observes an edited cookie, a lost cookie destination or cookie routes without the managed shape as differ, and rewrites them', async () => {
    const api = fakeApi(vs(admin, primary));
    const router = api.router();
    await router.setWeights(step(5));
    const written = structuredClone(api.current().spec);
    // A person points the control route at the candidate.
    api.edit((v) => (v.spec.http![2]!.route = [{ destination: { host: 't2v-candidate', port: { number: 80 } } }]));
    expect(await router.observe()).toMatchObject({ arms: 'differ' });
    // The control destination's cookie says treatment: still ours, though its weights no longer read as ours.
    api.edit((v) => (v.spec = structuredClone(written)));
    api.edit((v) => (v.spec.http![4]!.route![1]!.headers!.response!.add = { 'set-cookie': setCookie('treatment') }));
    expect(await router.observe()).toEqual({ found: true, mirrorPercent: 0, arms: 'differ' });
    // The managed route is back to two destinations while the cookie routes stay: new clients would get no cookie.
    api.edit(
      (v) =>
        (v.spec.http![4]!.route = [
          { destination: { host: 't2v-stable' }, weight: 100, headers: stamp },
          { destination: { host: 't2v-candidate' }, weight: 0 },
        ]),
    );
    expect(await router.observe()).toMatchObject({ stableWeight: 100, candidateWeight: 0, arms: 'differ' });
    await router.setWeights(step(5));
    expect(api.current().spec).toEqual(written);
    expect(await router.observe()).toMatchObject({ arms: 'present' });
    // The cookie routes deleted, the managed route still assigning: not absent, so a removal cleans it.
    api.edit((v) => v.spec.http!.splice(1, 3));
    expect(await router.observe()).toMatchObject({ stableWeight: 95, candidateWeight: 5, arms: 'differ' });
    await router.setWeights(step(5));
    expect(await router.observe()).toMatchObject({ arms: 'present' });
    // Another Max-Age, or another cookie name, is a rewrite.
    await router.setWeights(step(5, { ...cookieArms, maxAgeSeconds: 60 } as ArmRouting));
    expect(api.current().spec.http![4]!.route![2]!.headers!.response).toEqual({ add: { 'set-cookie': setCookie('treatment', 60) } });
    expect(await router.observe()).toMatchObject({ arms: 'present' });
    // A cookie route moved after the managed route never matches.
    api.edit((v) => v.spec.http!.push(v.spec.http!.splice(1, 1)[0]!));
    expect(await router.observe()).toMatchObject({ arms: 'differ' });
  });

  it('refuses, without writing: a candidate above stable, a Set-Cookie the user adds on a destination, a managed route matching Cookie', async () => {
    const above = fakeApi(vs(admin, primary));
    await expect(above.router().setWeights(step(60))).rejects.toMatchObject({
      code: 'Unsupported',
      message: expect.stringMatching(/candidate's weight \(60\)/),
    });
    const theirs = fakeApi(vs({ route: [{ destination: { host: 't2v-stable' }, headers: { response: { add: { 'Set-Cookie': 'v=1' } } } }] }));
    await expect(theirs.router(null).setWeights(step(5))).rejects.toThrow(/destination t2v-stable already sets a Set-Cookie header/);
    const matching = fakeApi(vs({ match: [{ headers: { cookie: { exact: 'x' } } }], route: [{ destination: { host: 't2v-stable' } }] }));
    await expect(matching.router(null).setWeights(step(5))).rejects.toThrow(/already matches header cookie/);
    expect([above, theirs, matching].flatMap((a) => a.writes)).toHaveLength(0);
  });
});
