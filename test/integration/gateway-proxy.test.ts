// Real HTTP through a real Gateway API implementation (Traefik v3.7, test/env/gateway-proxy.ts) that reads
// the HTTPRoutes from the run's API server. Backends are small HTTP servers on addresses of the `lo`
// interface, published as Services with hand-written EndpointSlices, so every answer says who served it.
//
// What Traefik v3.7 does with each Gateway API feature the project relies on, as observed here:
//   weighted backendRefs (core)                  honoured
//   header matches (core)                        honoured
//   RegularExpression header match (impl.-specific) honoured (Go RE2, HeaderRegexp: any value of the header)
//   several backendRefs to one Service in a rule  honoured, each with its own filters and weight
//   weighted backendRefs split                   deterministically (weighted round robin): shares are exact
//   endpoint readiness                           only ready endpoints receive requests
//   RequestHeaderModifier / ResponseHeaderModifier on a rule        honoured
//   RequestHeaderModifier / ResponseHeaderModifier on a backendRef  honoured (v3.6 ignored them)
//   RequestMirror (shadow)                       NOT IMPLEMENTED: the rule answers 500 to every request, neither
//                                                backend receives anything, and the route's status still says
//                                                Accepted/ResolvedRefs (a TODO in Traefik's provider)
//   backendRef to a TraefikService (traefik.io)  honoured, incl. a mirroring one: the traefik router's shadow
//                                                (the proxy runs the CRD provider with allowEmptyServices=true, as the
//                                                README tells users to: see gateway-proxy.attack15.test.ts)
// The RequestMirror test asserts that behaviour so a proxy upgrade that changes it shows up here.
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { GatewayApiRouter } from '../../operator/src/traffic/gateway-api.js';
import { ARM_HEADER } from '../../operator/src/api/index.js';
import { TraefikRouter } from '../../operator/src/traffic/traefik.js';
import { startGatewayProxy, type GatewayProxy } from '../env/gateway-proxy.js';
import { addLocalAddresses, type LocalAddresses } from '../env/local-addresses.js';
import { countBy, publishService, request, requestMany, SERVICE_PORT, setEndpoint, startEchoBackend, type Answer, type EchoBackend } from './echo-backends.js';
import { kubeConfig, testNamespace, waitUntil } from './support.js';
import { isNotFound } from '../../operator/src/kube/errors.js';

const kc = kubeConfig();
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
const STEPS = [1, 5, 20, 50, 100];
const HTTPROUTES = { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes' } as const;

/**
 * Whether `count` successes of `n` are consistent with probability `p`: within `k` standard deviations
 * (sqrt(n·p·(1−p))) of n·p. k = 4.5 makes a false alarm about 1 in 150,000 per check under a random
 * split (normal approximation), while N = 2000 keeps the bands of neighbouring steps (1/5/20/50/100 %)
 * apart, so a proxy that used the wrong weight fails. For p = 0 or 1 the band is exact.
 */
function withinBinomialBand(count: number, n: number, p: number, k = 4.5): boolean {
  const sd = Math.sqrt(n * p * (1 - p));
  return Math.abs(count - n * p) <= k * sd;
}

/** How often each key occurs. */
function tally(keys: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const k of keys) counts[k] = (counts[k] ?? 0) + 1;
  return counts;
}

let proxy: GatewayProxy;
let addresses: LocalAddresses;
const backends: EchoBackend[] = [];

async function backend(name: string): Promise<EchoBackend> {
  const b = await startEchoBackend(name, addresses.addresses[backends.length]!);
  backends.push(b);
  return b;
}

interface Rule {
  matches?: unknown[];
  filters?: unknown[];
  backendRefs: { name: string; port: number; weight?: number; filters?: unknown[] }[];
}

const hostOf = (ns: string) => `${ns}.gateway.test`;
const as = (ns: string, headers: Record<string, string> = {}) => ({ ...headers, host: hostOf(ns) });

async function applyRoute(ns: string, name: string, rules: Rule[]): Promise<void> {
  const body = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name, namespace: ns },
    // Every test's route has its own hostname: routes of earlier tests (their namespaces still terminating) stay attached.
    spec: { parentRefs: [{ name: proxy.gateway.name, namespace: proxy.gateway.namespace }], hostnames: [hostOf(ns)], rules },
  };
  try {
    const current = (await custom.getNamespacedCustomObject({ ...HTTPROUTES, namespace: ns, name })) as { metadata: { resourceVersion: string } };
    await custom.replaceNamespacedCustomObject({
      ...HTTPROUTES,
      namespace: ns,
      name,
      body: { ...body, metadata: { ...body.metadata, resourceVersion: current.metadata.resourceVersion } },
    });
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await custom.createNamespacedCustomObject({ ...HTTPROUTES, namespace: ns, body });
  }
}

/** Stable and candidate Services, one ready backend each. */
async function stableAndCandidate(ns: string): Promise<{ stable: EchoBackend; candidate: EchoBackend }> {
  const stable = await backend(`${ns}-stable`);
  const candidate = await backend(`${ns}-candidate`);
  await publishService(kc, ns, 't2v-stable', [{ backend: stable, ready: true }]);
  await publishService(kc, ns, 't2v-candidate', [{ backend: candidate, ready: true }]);
  return { stable, candidate };
}

beforeAll(async () => {
  addresses = addLocalAddresses(24);
  proxy = await startGatewayProxy({ kubeconfigPath: inject('kubeconfigPath'), dir: inject('controlPlaneDir') }, { namespace: 'gateway-proxy-test' });
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all(backends.map((b) => b.close()));
  addresses?.release();
});

describe('Gateway API proxy (Traefik)', () => {
  it('splits requests by backendRef weight at every step, within a binomial band at N = 2000', async () => {
    const ns = await testNamespace(kc, 'gwp-weights');
    const { stable, candidate } = await stableAndCandidate(ns);
    const n = 2000;
    const seen: string[] = [];
    for (const percent of [0, ...STEPS]) {
      await applyRoute(ns, 't2v', [
        {
          backendRefs: [
            { name: 't2v-stable', port: SERVICE_PORT, weight: 100 - percent },
            { name: 't2v-candidate', port: SERVICE_PORT, weight: percent },
          ],
        },
      ]);
      await proxy.waitForRoute(ns, 't2v');
      const counts = countBy(await requestMany(proxy.url, n, as(ns)));
      const toCandidate = counts[candidate.name] ?? 0;
      seen.push(`${percent} %: candidate ${toCandidate}/${n} (${((100 * toCandidate) / n).toFixed(2)} %)`);
      // Every request is answered by one of the two versions; none by the proxy itself.
      expect((counts[stable.name] ?? 0) + toCandidate, JSON.stringify(counts)).toBe(n);
      expect(withinBinomialBand(toCandidate, n, percent / 100), seen.join('; ')).toBe(true);
      // The check can fail: the same count is outside the band of every other step (0 % is exact: none at all).
      for (const other of STEPS.filter((p) => p !== percent && percent > 0)) {
        expect(withinBinomialBand(toCandidate, n, other / 100), `${percent} % also fits ${other} %`).toBe(false);
      }
    }
    console.log(`[gateway-proxy] observed shares: ${seen.join('; ')}`);
  });

  it('routes a header match to its backend and everything else to the default rule', async () => {
    const ns = await testNamespace(kc, 'gwp-headers');
    const { stable, candidate } = await stableAndCandidate(ns);
    await applyRoute(ns, 't2v', [
      { matches: [{ headers: [{ name: 'x-model-version', value: 'candidate' }] }], backendRefs: [{ name: 't2v-candidate', port: SERVICE_PORT }] },
      { backendRefs: [{ name: 't2v-stable', port: SERVICE_PORT }] },
    ]);
    await proxy.waitForRoute(ns, 't2v');
    expect(countBy(await requestMany(proxy.url, 100, as(ns, { 'x-model-version': 'candidate' })))).toEqual({ [candidate.name]: 100 });
    expect(countBy(await requestMany(proxy.url, 100, as(ns, { 'x-model-version': 'stable' })))).toEqual({ [stable.name]: 100 });
    expect(countBy(await requestMany(proxy.url, 100, as(ns)))).toEqual({ [stable.name]: 100 });
  });

  it('never sends a request to an endpoint that is not ready, and does once it is', async () => {
    const ns = await testNamespace(kc, 'gwp-ready');
    const ready = await backend(`${ns}-ready`);
    const starting = await backend(`${ns}-starting`);
    await publishService(kc, ns, 't2v-stable', [
      { backend: ready, ready: true },
      { backend: starting, ready: false },
    ]);
    await applyRoute(ns, 't2v', [{ backendRefs: [{ name: 't2v-stable', port: SERVICE_PORT }] }]);
    await proxy.waitForRoute(ns, 't2v');
    expect(await proxy.servers(ns, 't2v-stable', SERVICE_PORT)).toEqual([`http://${ready.address}:${ready.port}`]);
    expect(countBy(await requestMany(proxy.url, 200, as(ns)))).toEqual({ [ready.name]: 200 });
    expect(starting.received).toHaveLength(0);

    await setEndpoint(kc, ns, 't2v-stable', starting, true);
    await waitUntil(
      'the proxy routes to the endpoint that turned ready',
      async () => ((await proxy.servers(ns, 't2v-stable', SERVICE_PORT))?.length === 2 ? true : undefined),
      30_000,
      50,
    );
    const counts = countBy(await requestMany(proxy.url, 200, as(ns)));
    expect(counts[starting.name] ?? 0, JSON.stringify(counts)).toBeGreaterThan(0);
    expect((counts[ready.name] ?? 0) + (counts[starting.name] ?? 0)).toBe(200);

    await setEndpoint(kc, ns, 't2v-stable', starting, false);
    await waitUntil(
      'the proxy drops the endpoint that turned unready',
      async () => ((await proxy.servers(ns, 't2v-stable', SERVICE_PORT))?.length === 1 ? true : undefined),
      30_000,
      50,
    );
    const before = starting.received.length;
    expect(countBy(await requestMany(proxy.url, 200, as(ns)))).toEqual({ [ready.name]: 200 });
    expect(starting.received.length).toBe(before);
  });

  it('applies RequestHeaderModifier and ResponseHeaderModifier filters of a rule', async () => {
    const ns = await testNamespace(kc, 'gwp-filters');
    const { stable } = await stableAndCandidate(ns);
    await applyRoute(ns, 't2v', [
      {
        filters: [
          { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-model-route', value: 'stable' }], remove: ['x-drop-me'] } },
          { type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'set-cookie', value: 't2v-version=stable; Path=/' }] } },
        ],
        backendRefs: [{ name: 't2v-stable', port: SERVICE_PORT }],
      },
    ]);
    await proxy.waitForRoute(ns, 't2v');
    const answer = await request(proxy.url, as(ns, { 'x-drop-me': '1' }));
    expect(answer.backend).toBe(stable.name);
    expect(answer.headers['set-cookie']).toEqual(['t2v-version=stable; Path=/']);
    const seen = stable.received.at(-1)!.headers;
    expect(seen['x-model-route']).toBe('stable');
    expect(seen['x-drop-me']).toBeUndefined();
  });

  it('applies RequestHeaderModifier and ResponseHeaderModifier on each weighted backendRef (per-arm headers and cookies)', async () => {
    const ns = await testNamespace(kc, 'gwp-backend-filters');
    const { stable, candidate } = await stableAndCandidate(ns);
    const arm = (v: string) => [
      { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-model-version', value: v }] } },
      { type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'set-cookie', value: `t2v-arm=${v}; Path=/` }] } },
    ];
    await applyRoute(ns, 't2v', [
      {
        backendRefs: [
          { name: 't2v-stable', port: SERVICE_PORT, weight: 50, filters: arm('stable') },
          { name: 't2v-candidate', port: SERVICE_PORT, weight: 50, filters: arm('candidate') },
        ],
      },
    ]);
    await proxy.waitForRoute(ns, 't2v');
    const answers = await requestMany(proxy.url, 200, as(ns));
    const counts = countBy(answers);
    expect((counts[stable.name] ?? 0) + (counts[candidate.name] ?? 0), JSON.stringify(counts)).toBe(200);
    expect(withinBinomialBand(counts[candidate.name] ?? 0, 200, 0.5), JSON.stringify(counts)).toBe(true);
    // Each backend saw only its own arm's header, and each answer carries the cookie of the arm that served it.
    expect(new Set(stable.received.map((r) => r.headers['x-model-version']))).toEqual(new Set(['stable']));
    expect(new Set(candidate.received.map((r) => r.headers['x-model-version']))).toEqual(new Set(['candidate']));
    for (const a of answers) {
      const wanted = a.backend === stable.name ? 'stable' : 'candidate';
      expect(a.headers['set-cookie'], a.backend).toEqual([`t2v-arm=${wanted}; Path=/`]);
    }
  });

  it('does not implement RequestMirror (shadow): the rule answers 500 and neither version gets the request', async () => {
    const ns = await testNamespace(kc, 'gwp-mirror');
    const { stable, candidate } = await stableAndCandidate(ns);
    // Shadow as the operator writes it: all traffic to stable, a mirror of it to the candidate.
    await applyRoute(ns, 't2v', [
      {
        filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 't2v-candidate', port: SERVICE_PORT }, percent: 100 } }],
        backendRefs: [
          { name: 't2v-stable', port: SERVICE_PORT, weight: 100 },
          { name: 't2v-candidate', port: SERVICE_PORT, weight: 0 },
        ],
      },
    ]);
    await proxy.waitForRoute(ns, 't2v', { checkWeights: false });
    const answers = await waitUntil(
      'the mirror rule is live',
      async () => {
        const a = await requestMany(proxy.url, 20, as(ns));
        return a.every((x) => x.status === 500) ? a : undefined;
      },
      30_000,
      100,
    );
    expect(countBy(answers)).toEqual({ 'proxy-500': 20 });
    const stableBefore = stable.received.length;
    expect(countBy(await requestMany(proxy.url, 50, as(ns)))).toEqual({ 'proxy-500': 50 });
    expect(stable.received.length).toBe(stableBefore);
    expect(candidate.received).toHaveLength(0);
  });

  it("serves the HTTPRoute exactly as the operator's Gateway API router writes it", async () => {
    const ns = await testNamespace(kc, 'gwp-operator');
    const { stable, candidate } = await stableAndCandidate(ns);
    // The user's route: one rule to stable; the operator takes the rule over from here.
    await applyRoute(ns, 't2v', [{ backendRefs: [{ name: 't2v-stable', port: SERVICE_PORT }] }]);
    const router = new GatewayApiRouter({
      custom,
      routeName: 't2v',
      ruleIndex: 0,
      target: { namespace: ns, stableService: 't2v-stable', candidateService: 't2v-candidate', port: SERVICE_PORT },
    });
    const n = 2000;
    for (const percent of [5, 50]) {
      await router.setWeights({ stableWeight: 100 - percent, candidateWeight: percent, mirrorPercent: 0 });
      await proxy.waitForRoute(ns, 't2v');
      const counts = countBy(await requestMany(proxy.url, n, as(ns)));
      expect((counts[stable.name] ?? 0) + (counts[candidate.name] ?? 0), JSON.stringify(counts)).toBe(n);
      expect(withinBinomialBand(counts[candidate.name] ?? 0, n, percent / 100), `${percent} %: ${JSON.stringify(counts)}`).toBe(true);
    }
    expect(await router.observe()).toMatchObject({ found: true, stableWeight: 50, candidateWeight: 50, mirrorPercent: 0 });
  });

  it("A/B arms (#16): the router's arm rules send each arm by header to its Service while requests without it follow the weights", async () => {
    const ns = await testNamespace(kc, 'gwp-arms');
    const { stable, candidate } = await stableAndCandidate(ns);
    await applyRoute(ns, 't2v', [
      {
        matches: [{ path: { type: 'PathPrefix', value: '/' }, headers: [{ name: 'x-tenant', value: 'a' }] }],
        backendRefs: [{ name: 't2v-stable', port: SERVICE_PORT }],
      },
    ]);
    const router = new GatewayApiRouter({
      custom,
      routeName: 't2v',
      ruleIndex: 0,
      target: { namespace: ns, stableService: 't2v-stable', candidateService: 't2v-candidate', port: SERVICE_PORT },
    });
    await router.setWeights({ stableWeight: 50, candidateWeight: 50, mirrorPercent: 0, arms: { header: ARM_HEADER } });
    await proxy.waitForRoute(ns, 't2v');
    // Read back with the CRD's defaults filled in, the rules are still the ones the router wrote.
    expect(await router.observe()).toMatchObject({ found: true, stableWeight: 50, candidateWeight: 50, arms: 'present' });
    const tenant = { 'x-tenant': 'a' };
    const n = 200;
    expect(countBy(await requestMany(proxy.url, n, as(ns, { ...tenant, [ARM_HEADER]: 'treatment' })))).toEqual({ [candidate.name]: n });
    expect(countBy(await requestMany(proxy.url, n, as(ns, { ...tenant, [ARM_HEADER]: 'control' })))).toEqual({ [stable.name]: n });
    expect(countBy(await requestMany(proxy.url, n, as(ns, { ...tenant, [ARM_HEADER]: 'none' })))).toEqual({ [stable.name]: n });
    const unassigned = countBy(await requestMany(proxy.url, 2 * n, as(ns, tenant)));
    expect((unassigned[stable.name] ?? 0) + (unassigned[candidate.name] ?? 0), JSON.stringify(unassigned)).toBe(2 * n);
    expect(withinBinomialBand(unassigned[candidate.name] ?? 0, 2 * n, 0.5), JSON.stringify(unassigned)).toBe(true);

    // The experiment ends: the arm rules go, and a treatment header is one request among others again.
    await router.setWeights({ stableWeight: 100, candidateWeight: 0, mirrorPercent: 0 });
    await proxy.waitForRoute(ns, 't2v');
    expect(await router.observe()).toMatchObject({ found: true, stableWeight: 100, candidateWeight: 0, arms: 'absent' });
    expect(countBy(await requestMany(proxy.url, n, as(ns, { ...tenant, [ARM_HEADER]: 'treatment' })))).toEqual({ [stable.name]: n });
  });

  it('A/B arms by cookie (#16): a new client gets the arm its draw gives and its cookie, and keeps that backend when it sends the cookie back', async () => {
    const ns = await testNamespace(kc, 'gwp-arm-cookie');
    const { stable, candidate } = await stableAndCandidate(ns);
    // The user's filter on the stable backendRef stays on every backendRef to stable the router writes.
    const stamp = { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-served-by', value: 'stable' }] } };
    await applyRoute(ns, 't2v', [{ backendRefs: [{ name: 't2v-stable', port: SERVICE_PORT, filters: [stamp] }] }]);
    const router = new GatewayApiRouter({
      custom,
      routeName: 't2v',
      ruleIndex: 0,
      target: { namespace: ns, stableService: 't2v-stable', candidateService: 't2v-candidate', port: SERVICE_PORT },
    });
    const cookie = 'modelrollout-arm-gwp';
    const w = 20;
    const arms = { mode: 'cookie', header: ARM_HEADER, cookie, maxAgeSeconds: 3600 } as const;
    await router.setWeights({ stableWeight: 100 - w, candidateWeight: w, mirrorPercent: 0, arms });
    await proxy.waitForRoute(ns, 't2v');
    expect(await router.observe()).toMatchObject({ found: true, stableWeight: 100 - w, candidateWeight: w, arms: 'present' });

    // New clients (no cookie): each answer sets exactly one arm cookie, of the arm whose Service answered.
    const n = 2000;
    const mark = { 'x-client': 'new' };
    const fresh = await requestMany(proxy.url, n, as(ns, mark));
    const cookieRe = new RegExp(`^${cookie}=(treatment|control|none); Path=/; Max-Age=3600; SameSite=Lax$`);
    const armOf = (a: Answer) => {
      const set = a.headers['set-cookie'] ?? [];
      expect(set, JSON.stringify(a.headers)).toHaveLength(1);
      return cookieRe.exec(set[0]!)?.[1];
    };
    const drawn = tally(fresh.map((a) => `${armOf(a)}@${a.backend}`));
    const of = (arm: string, b: EchoBackend) => drawn[`${arm}@${b.name}`] ?? 0;
    expect(of('treatment', candidate) + of('control', stable) + of('none', stable), JSON.stringify(drawn)).toBe(n);
    for (const [arm, p] of [
      ['treatment', w / 100],
      ['control', w / 100],
      ['none', 1 - (2 * w) / 100],
    ] as const) {
      expect(withinBinomialBand(arm === 'treatment' ? of(arm, candidate) : of(arm, stable), n, p), `${arm}: ${JSON.stringify(drawn)}`).toBe(true);
    }
    // Each first request reached its backend labelled with its arm (and stable's with the user's header).
    const armHeaders = (b: EchoBackend, client: string) =>
      tally(b.received.filter((r) => r.headers['x-client'] === client).map((r) => String(r.headers[ARM_HEADER.toLowerCase()])));
    expect(armHeaders(candidate, 'new')).toEqual({ treatment: of('treatment', candidate) });
    expect(armHeaders(stable, 'new')).toEqual({ control: of('control', stable), none: of('none', stable) });
    expect(stable.received.every((r) => r.headers['x-served-by'] === 'stable')).toBe(true);

    // Returning clients: the cookie (among others) keeps them on their arm's backend, every time, with no new cookie.
    const returning = 100;
    for (const [arm, b] of [
      ['treatment', candidate],
      ['control', stable],
      ['none', stable],
    ] as const) {
      const back = await requestMany(proxy.url, returning, as(ns, { 'x-client': `back-${arm}`, cookie: `theme=dark; ${cookie}=${arm}; lang=en` }));
      expect(countBy(back), arm).toEqual({ [b.name]: returning });
      expect(
        back.filter((a) => a.headers['set-cookie'] !== undefined),
        arm,
      ).toHaveLength(0);
      expect(armHeaders(b, `back-${arm}`), arm).toEqual({ [arm]: returning });
    }
    console.log(
      `[gateway-proxy] cookie assignment at ${w} %: new clients ${JSON.stringify(drawn)}; returning clients kept their backend ${returning}/${returning} per arm`,
    );

    // The experiment ends: the managed rule is back to two backendRefs (the user's filter kept) and sets no cookie.
    await router.setWeights({ stableWeight: 100, candidateWeight: 0, mirrorPercent: 0 });
    await proxy.waitForRoute(ns, 't2v');
    expect(await router.observe()).toMatchObject({ found: true, stableWeight: 100, candidateWeight: 0, arms: 'absent' });
    const after = await requestMany(proxy.url, 50, as(ns, { cookie: `${cookie}=treatment` }));
    expect(countBy(after)).toEqual({ [stable.name]: 50 });
    expect(after.filter((a) => a.headers['set-cookie'] !== undefined)).toHaveLength(0);
  });
});

/** What Traefik's API shows for a TraefikService (CRD provider): `<namespace>-<name>@kubernetescrd`. */
interface LiveTraefikService {
  mirroring?: { service?: string; mirrors?: { name: string; percent?: number }[] };
  weighted?: { services?: { name: string; weight?: number }[] };
}

async function liveTraefikService(ns: string, name: string): Promise<LiveTraefikService | undefined> {
  const res = await fetch(`${proxy.adminUrl}/api/http/services/${encodeURIComponent(`${ns}-${name}@kubernetescrd`)}`);
  return res.ok ? ((await res.json()) as LiveTraefikService) : undefined;
}

describe('Traefik router through the real proxy: a TraefikService behind an HTTPRoute', () => {
  const TRAEFIKSERVICES = { group: 'traefik.io', version: 'v1alpha1', plural: 'traefikservices' } as const;

  async function userObjects(ns: string): Promise<TraefikRouter> {
    // The user's objects: a TraefikService over stable, and an HTTPRoute whose rule sends to it.
    await custom.createNamespacedCustomObject({
      ...TRAEFIKSERVICES,
      namespace: ns,
      body: {
        apiVersion: 'traefik.io/v1alpha1',
        kind: 'TraefikService',
        metadata: { name: 't2v' },
        spec: { weighted: { services: [{ name: 't2v-stable', port: SERVICE_PORT }] } },
      },
    });
    await applyRoute(ns, 't2v', [{ backendRefs: [{ group: 'traefik.io', kind: 'TraefikService', name: 't2v' } as never] }]);
    await proxy.waitForRoute(ns, 't2v', { checkWeights: false });
    return new TraefikRouter({
      custom,
      traefikService: 't2v',
      target: { namespace: ns, stableService: 't2v-stable', candidateService: 't2v-candidate', port: SERVICE_PORT },
    });
  }

  it("shadow: users get only stable's answers while every request is mirrored to the candidate", async () => {
    const ns = await testNamespace(kc, 'gwp-traefik-shadow');
    const { stable, candidate } = await stableAndCandidate(ns);
    const router = await userObjects(ns);
    await router.setWeights({ stableWeight: 100, candidateWeight: 0, mirrorPercent: 100 });
    await waitUntil('the mirroring TraefikService is live', async () => ((await liveTraefikService(ns, 't2v'))?.mirroring ? true : undefined), 30_000, 100);
    const n = 300;
    const answers = await requestMany(proxy.url, n, as(ns, { 'x-request-mark': 'shadow' }));
    expect(countBy(answers)).toEqual({ [stable.name]: n });
    // Mirrored copies are sent beside the user's request, not before its answer: wait for the last ones.
    const mirrored = () => candidate.received.filter((r) => r.headers['x-request-mark'] === 'shadow').length;
    await waitUntil(`all ${n} mirrored (${mirrored()} so far)`, async () => (mirrored() >= n ? true : undefined), 30_000, 100);
    expect(mirrored()).toBe(n);
    expect(await router.observe()).toEqual({ found: true, stableWeight: 100, candidateWeight: 0, mirrorPercent: 100, arms: 'absent' });
    // Half the traffic mirrored: about half the requests reach the candidate, still no answer from it.
    await router.setWeights({ stableWeight: 100, candidateWeight: 0, mirrorPercent: 50 });
    await waitUntil(
      'the 50 % mirror is live',
      async () => ((await liveTraefikService(ns, 't2v'))?.mirroring?.mirrors?.[0]?.percent === 50 ? true : undefined),
      30_000,
      100,
    );
    const before = candidate.received.length;
    expect(countBy(await requestMany(proxy.url, 1000, as(ns)))).toEqual({ [stable.name]: 1000 });
    await new Promise((r) => setTimeout(r, 1000));
    const copies = candidate.received.length - before;
    expect(withinBinomialBand(copies, 1000, 0.5), `${copies} of 1000 mirrored at 50 %`).toBe(true);
    console.log(`[gateway-proxy] traefik mirror: 100 % → ${n}/${n} copies; 50 % → ${copies}/1000 copies; users answered by stable only`);
  });

  it('a candidate with no ready endpoint at 0 %: the router leaves it out of the TraefikService, and users are served', async () => {
    const ns = await testNamespace(kc, 'gwp-traefik-empty');
    const stable = await backend(`${ns}-stable`);
    const starting = await backend(`${ns}-candidate`);
    await publishService(kc, ns, 't2v-stable', [{ backend: stable, ready: true }]);
    await publishService(kc, ns, 't2v-candidate', [{ backend: starting, ready: false }]);
    const router = await userObjects(ns);
    await router.setWeights({ stableWeight: 100, candidateWeight: 0, mirrorPercent: 0 });
    await waitUntil('the weighted TraefikService is live', async () => ((await liveTraefikService(ns, 't2v'))?.weighted ? true : undefined), 30_000, 100);
    // The route's and the TraefikService's configurations reach the entry point a moment apart.
    await waitUntil('users served through the TraefikService', async () => ((await request(proxy.url, as(ns))).status === 200 ? true : undefined), 30_000, 100);
    expect(countBy(await requestMany(proxy.url, 50, as(ns)))).toEqual({ [stable.name]: 50 });
    // Traefik with its default allowEmptyServices=false would drop the whole TraefikService for a listed Service
    // with no endpoint (404 to all): the router does not list a side at 0 (traefik.attack.test.ts F1b simulates it).
    expect((await custom.getNamespacedCustomObject({ ...TRAEFIKSERVICES, namespace: ns, name: 't2v' })) as { spec: unknown }).toMatchObject({
      spec: { weighted: { services: [{ name: 't2v-stable', port: SERVICE_PORT, weight: 100 }] } },
    });
  });

  it('steps: weights of the TraefikService split requests within a binomial band', async () => {
    const ns = await testNamespace(kc, 'gwp-traefik-steps');
    const { stable, candidate } = await stableAndCandidate(ns);
    const router = await userObjects(ns);
    const n = 2000;
    for (const percent of [5, 50]) {
      await router.setWeights({ stableWeight: 100 - percent, candidateWeight: percent, mirrorPercent: 0 });
      await waitUntil(
        `the ${percent} % weights are live`,
        async () => {
          const live = await liveTraefikService(ns, 't2v');
          return live?.weighted?.services?.some((c) => c.name.includes('t2v-candidate') && c.weight === percent) ? true : undefined;
        },
        30_000,
        100,
      );
      const counts = countBy(await requestMany(proxy.url, n, as(ns)));
      expect((counts[stable.name] ?? 0) + (counts[candidate.name] ?? 0), JSON.stringify(counts)).toBe(n);
      expect(withinBinomialBand(counts[candidate.name] ?? 0, n, percent / 100), `${percent} %: ${JSON.stringify(counts)}`).toBe(true);
    }
  });
});
