// Attack tests for issue #18 (the StyleRollout's route). Each `it` names a defect (docs/attack-18.md).
import { describe, expect, it } from 'vitest';
import { observeAdapterRule, withAdapterArms } from './adapter-route.js';
import type { HttpRoute } from './gateway-api.js';

const target = { namespace: 'ml', service: 'wan', port: 80, style: 'ink-wash', owner: 'ink-wash' };
const route = (rule: Record<string, unknown>): HttpRoute =>
  ({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'styles', namespace: 'ml' },
    spec: { rules: [rule] },
  }) as unknown as HttpRoute;
const pin = (value: string) => [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-Adapter-Version', value }] } }];

describe('attack #18: whose rule is it', () => {
  it('B1 a rule pinning another style (a second StyleRollout, neon, on the same rule) is not taken over', () => {
    const r = route({
      backendRefs: [
        { name: 'wan', port: 80, weight: 90, filters: pin('neon@v3') },
        { name: 'wan', port: 80, weight: 10, filters: pin('neon@v4') },
      ],
    });
    const obs = observeAdapterRule(r, 0, target);
    // As built: found with arms [{version: '', 90}, {version: '', 10}] — ink-wash's rollout rewrites neon's rule,
    // and neon's rewrites it back: the two StyleRollouts fight over the rule every pass.
    expect(obs.found).toBe(false);
  });

  it('B2 a rule with no backendRefs (e.g. a RequestRedirect rule) is not taken over', () => {
    const r = route({ filters: [{ type: 'RequestRedirect', requestRedirect: { hostname: 'old.example.com', statusCode: 302 } }] });
    const obs = observeAdapterRule(r, 0, target);
    // As built: found with no arms; the next pass adds backendRefs next to the redirect (invalid per Gateway API).
    expect(obs.found).toBe(false);
  });

  it('B3 a filter the user set on the backendRef (besides the version pin) survives a step', () => {
    const userFilter = { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-Tenant', value: 'studio' }] } };
    const extra = { type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'X-Served-By', value: 'styles' }] } };
    const r = route({
      matches: [{ headers: [{ name: 'X-Style', value: 'ink-wash' }] }],
      backendRefs: [{ name: 'wan', port: 80, weight: 1, filters: [userFilter, extra] }],
    });
    const out = withAdapterArms(
      r,
      0,
      [
        { version: 'v1', weight: 90 },
        { version: 'v2', weight: 10 },
      ],
      target,
    );
    const rule = out.spec.rules![0] as { matches?: unknown; backendRefs: { filters?: unknown[] }[] };
    expect(rule.matches).toEqual([{ headers: [{ name: 'X-Style', value: 'ink-wash' }] }]); // kept (holds)
    for (const ref of rule.backendRefs) expect(JSON.stringify(ref.filters)).toContain('X-Served-By'); // dropped as built
  });

  it("B4 the user backendRef port (8080) is not silently replaced by spec.service.port's default 80", () => {
    const r = route({ backendRefs: [{ name: 'wan', port: 8080, weight: 1 }] });
    const obs = observeAdapterRule(r, 0, target);
    // As built: found (the port is never compared), and withAdapterArms then writes port 80.
    expect(obs.found).toBe(false);
  });
});

describe('attack #18: a pin header that names several styles (the runtime accepts "a@v1, b@v2": route-choice.ts)', () => {
  it('B5 the rule\'s ink-wash version is read from "neon@v3, ink-wash@v1", and neon\'s pin survives the write', () => {
    const r = route({ backendRefs: [{ name: 'wan', port: 80, weight: 1, filters: pin('neon@v3, ink-wash@v1') }] });
    const obs = observeAdapterRule(r, 0, target);
    // As built: split('@') gives name "neon" → the ref reads as pinning nothing for ink-wash ('').
    expect(obs).toEqual({ found: true, arms: [{ version: 'v1', weight: 1 }], unclaimed: true });
    const out = withAdapterArms(r, 0, [{ version: 'v1', weight: 100 }], target);
    expect(JSON.stringify(out.spec.rules![0])).toContain('neon@v3'); // dropped as built
  });
});
