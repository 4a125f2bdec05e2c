// Attack on #16 (A/B experiments), router side: each `it` is a defect found by trying cookie assignment with a
// user's own route. They failed when written and were fixed (by kind); they stay as regression tests. docs/attack-16.md has each finding (F-number).
import * as k8s from '@kubernetes/client-node';
import { RE2 } from 're2-wasm';
import { describe, expect, it } from 'vitest';
import { GatewayApiRouter, type HttpRoute } from './gateway-api.js';
import { IstioRouter, type VirtualService } from './istio.js';
import { ARM_HEADER } from '../api/index.js';
import type { ArmRouting, Weights } from './router.js';

const target = { namespace: 'ml', stableService: 't2v-stable', candidateService: 't2v-candidate', port: 80 };
const COOKIE = 'modelrollout-arm-3f9a2c01';
const cookieArms: ArmRouting = { mode: 'cookie', header: ARM_HEADER, cookie: COOKIE, maxAgeSeconds: 3600 };
const step = (w: number, arms: ArmRouting | null = cookieArms): Weights => ({
  stableWeight: 100 - w,
  candidateWeight: w,
  mirrorPercent: 0,
  ...(arms ? { arms } : {}),
});

/** A CustomObjectsApi holding one object (HTTPRoute or VirtualService), replaced on every write. */
function fakeApi<T extends { metadata: { resourceVersion?: string } }>(stored: T) {
  const custom = {
    getNamespacedCustomObject: () => Promise.resolve(structuredClone(stored)),
    replaceNamespacedCustomObject: ({ body }: { body: T }) => {
      stored = { ...structuredClone(body), metadata: { ...body.metadata, resourceVersion: String(Number(stored.metadata.resourceVersion) + 1) } };
      return Promise.resolve(structuredClone(stored));
    },
  } as unknown as k8s.CustomObjectsApi;
  return { custom, current: () => stored };
}

describe('F6: cookie assignment loses a user request header whose value is an arm name', () => {
  // Wrong: userFiltersOf (gateway-api.ts) and userHeadersOf (istio.ts) take every request `set` entry whose VALUE
  // equals the backend's arm (none / control / treatment) for ours, whatever its header name. A user's own
  // `x-compression: none` on the stable backendRef is kept by the first write, dropped by the second (the 'none'
  // backendRef is read back and cleaned), and is gone for good when the arms are removed. observe() also says
  // 'differ' right after our own first write (the read-back no longer equals what we wrote), so the reconciler
  // rewrites the route on every pass. Expected: only our entry (the arm header's name) is ours; the user's header
  // stays through every step and after the experiment, and the first write observes as 'present'.
  const stamp = { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-compression', value: 'none' }] } };
  const route = (): HttpRoute =>
    ({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'edge', namespace: 'ml', resourceVersion: '1' },
      spec: { rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/v1' } }], backendRefs: [{ name: 't2v-stable', port: 80, filters: [stamp] }] }] },
    }) as HttpRoute;

  it('Gateway API: observes its own first write as present', async () => {
    const api = fakeApi(route());
    const router = () => new GatewayApiRouter({ custom: api.custom, target, routeName: 'edge', ruleIndex: 0 });
    await router().setWeights(step(5));
    expect(await router().observe()).toMatchObject({ arms: 'present' });
  });

  it('Gateway API: keeps x-compression: none on stable through a step and after the arms go', async () => {
    const api = fakeApi(route());
    const router = () => new GatewayApiRouter({ custom: api.custom, target, routeName: 'edge', ruleIndex: 0 });
    await router().setWeights(step(5));
    await router().setWeights(step(10));
    const none = api.current().spec.rules![0]!.backendRefs![0]!;
    expect(JSON.stringify(none.filters)).toContain('x-compression');
    await router().setWeights(step(60, null));
    expect(api.current().spec.rules![0]!.backendRefs![0]).toEqual({ name: 't2v-stable', port: 80, weight: 40, filters: [stamp] });
  });

  it('Istio: keeps x-compression: none on stable after the arms go', async () => {
    const vs: VirtualService = {
      metadata: { name: 'edge', namespace: 'ml', resourceVersion: '1' },
      spec: {
        hosts: ['t2v'],
        http: [
          {
            name: 'primary',
            match: [{ uri: { prefix: '/v1' } }],
            route: [{ destination: { host: 't2v-stable' }, headers: { request: { set: { 'x-compression': 'none' } } } }],
          },
        ],
      },
    } as VirtualService;
    const api = fakeApi(vs);
    const router = () => new IstioRouter({ custom: api.custom, target, virtualService: 'edge', routeName: 'primary' });
    await router().setWeights(step(5));
    await router().setWeights(step(10));
    await router().setWeights(step(60, null));
    const primary = api.current().spec.http!.find((h) => h.name === 'primary')!;
    expect(JSON.stringify(primary.route)).toContain('x-compression');
  });
});

describe('F7: the Gateway API cookie match only works on partial-match regex implementations', () => {
  // Wrong: the arm rules match Cookie with `(^|;\s*)<cookie>=<arm>(;|$)`, which needs a search (partial match).
  // Envoy-based Gateway API implementations (Envoy Gateway, Istio's own Gateway API support, GKE) use RE2 safe_regex,
  // a FULL match of the header value: a browser that carries any other cookie ("a=1; <cookie>=treatment") never
  // matches, so every returning client is drawn again by weight (and re-cookied): no stickiness, no error. The
  // Istio router already uses a pattern right under both semantics, `(^|.*;\s*)<cookie>=<arm>(;.*|$)`.
  // Expected: a pattern that matches the arm cookie anywhere in the header under full-match RE2 too.
  it('the treatment rule matches "a=1; <cookie>=treatment; b=2" under RE2 full match', async () => {
    const api = fakeApi({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'edge', namespace: 'ml', resourceVersion: '1' },
      spec: { rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ name: 't2v-stable', port: 80 }] }] },
    } as HttpRoute);
    await new GatewayApiRouter({ custom: api.custom, target, routeName: 'edge', ruleIndex: 0 }).setWeights(step(5));
    const rules = api.current().spec.rules!;
    const treatment = rules.find((r) => (r.backendRefs ?? []).some((b) => b.name === 't2v-candidate') && r.matches?.[0]?.headers?.length);
    const match = treatment!.matches![0]!.headers!.find((h) => h.name === 'Cookie')!;
    const fullMatch = new RE2(`^(?:${match.value})$`, 'u');
    expect(fullMatch.test(`${COOKIE}=treatment`)).toBe(true);
    expect(fullMatch.test(`a=1; ${COOKIE}=treatment; b=2`)).toBe(true);
    expect(fullMatch.test(`a=1; ${COOKIE}=control`)).toBe(false);
  });
});

describe('F9: on an HTTPRoute CRD that prunes rules[].name the arm rules are orphaned', () => {
  // Wrong: the arm rules are recognised only by rules[].name (standard since Gateway API v1.4, gateway-api.ts). On a
  // cluster whose HTTPRoute CRD is older the API server prunes the field silently: the first write appends three
  // unnamed rules; observe() then says 'absent'; the next write is refused with RouteRuleNotOwned naming "rule 1"
  // (the operator's own treatment rule) as if a user had written it; and when the arms go (past 50 %, promotion,
  // abort) the three rules stay for good, still sending X-ModelRollout-Arm: treatment to the candidate Service.
  // The docs (experiment.md) do not say that v1.4 is needed. Expected: the router notices that its rule names did
  // not survive the write and refuses with a message naming the CRD version it needs; and nothing of ours stays.
  it('leaves no arm rule behind after the arms are removed', async () => {
    let stored = {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'edge', namespace: 'ml', resourceVersion: '1' },
      spec: { rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/v1' } }], backendRefs: [{ name: 't2v-stable', port: 80 }] }] },
    } as HttpRoute;
    const custom = {
      getNamespacedCustomObject: () => Promise.resolve(structuredClone(stored)),
      replaceNamespacedCustomObject: ({ body }: { body: HttpRoute }) => {
        const pruned = structuredClone(body);
        for (const r of pruned.spec.rules ?? []) delete (r as { name?: string }).name; // a pre-v1.4 CRD prunes it
        stored = { ...pruned, metadata: { ...pruned.metadata, resourceVersion: String(Number(stored.metadata.resourceVersion) + 1) } };
        return Promise.resolve(structuredClone(stored));
      },
    } as unknown as k8s.CustomObjectsApi;
    const router = () => new GatewayApiRouter({ custom, target, routeName: 'edge', ruleIndex: 0 });
    await router()
      .setWeights({ stableWeight: 95, candidateWeight: 5, mirrorPercent: 0, arms: { header: ARM_HEADER } })
      .catch(() => undefined);
    await router().setWeights({ stableWeight: 40, candidateWeight: 60, mirrorPercent: 0 });
    expect(stored.spec.rules).toHaveLength(1);
  });
});
