// Third attack on #18 (docs/attack-18c.md): routing headers set on a backendRef rather than on the rule, and the
// rule fingerprint of the claim. Each test asserts what a platform team expects; each fails as built.
import { describe, expect, it } from 'vitest';
import { styleRuleClaim } from '../api/names.js';
import { routedStyle } from '../../../inference-image/src/adapters/route-choice.js';
import { observeAdapterRule, withAdapterArms } from './adapter-route.js';
import type { HttpRoute } from './gateway-api.js';

const target = { namespace: 'ml', service: 't2v', port: 80, style: 'ink-wash', owner: 'ink-wash' };
const rhm = (set: { name: string; value: string }[]) => [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set } }];

function route(rules: Record<string, unknown>[], annotations?: Record<string, string>): HttpRoute {
  return { metadata: { name: 'r', ...(annotations ? { annotations } : {}) }, spec: { rules } } as unknown as HttpRoute;
}

type Filter = { type: string; requestHeaderModifier?: { set?: { name: string; value: string }[] } };
type Rule = { filters?: Filter[]; backendRefs: { filters?: Filter[] }[] };

/**
 * The headers the runtime gets through backendRef `i` of rule 0, as operator/src/traffic/adapter-route.ts models
 * the gateway (effectivePinHeader): the rule's `set`s, then the backendRef's, a backendRef's value replacing the rule's.
 */
function headersThrough(r: HttpRoute, i: number): Record<string, string> {
  const rule = r.spec.rules![0] as unknown as Rule;
  const out: Record<string, string> = {};
  for (const f of [...(rule.filters ?? []), ...(rule.backendRefs[i]!.filters ?? [])])
    for (const h of f.requestHeaderModifier?.set ?? []) out[h.name.toLowerCase()] = h.value;
  return out;
}

describe('attack #18c: routing headers on a backendRef', () => {
  it('L1 a backendRef that sets X-Adapter-Split itself (a team pinning ink-wash@v1 by a split of one entry) is read as serving v1, not as unpinned', () => {
    const r = route([{ backendRefs: [{ name: 't2v', port: 80, filters: rhm([{ name: 'X-Adapter-Split', value: 'ink-wash@v1=100' }]) }] }]);
    // Every request of this rule reaches the runtime with X-Adapter-Split: ink-wash@v1=100 → v1.
    expect(routedStyle('ink-wash', headersThrough(r, 0), () => 0.5)).toBe('ink-wash@v1');
    // As built: readSplit reads the rule's filters only, so the rule reads as unpinned (version ''); adoption then
    // asks the pods for their newest (v2) and adopts it while users get v1 — a StyleRollout for v2 is
    // Healthy/Initialized and its first write (a v2 pin) moves everyone at once, unjudged (F1/G1 by a third door).
    const obs = observeAdapterRule(r, 0, target);
    if (obs.found) expect(obs.arms).toEqual([{ version: 'v1', weight: 1 }]);
    else expect(obs.reason).toBe('RouteRuleNotOwned');
  });

  it('L2 a sticky write over a backendRef that sets its own X-Adapter-Split puts the rollout on what users get (the backendRef split does not override it)', () => {
    const r = route([{ backendRefs: [{ name: 't2v', port: 80, filters: rhm([{ name: 'X-Adapter-Split', value: 'ink-wash@v1=100' }]) }] }]);
    // Step 1 of a sticky rollout of v2: 10 % of the style's users on v2.
    const written = withAdapterArms(
      r,
      0,
      [
        { version: 'v1', weight: 90 },
        { version: 'v2', weight: 10 },
      ],
      target,
      { sticky: { salt: 's1' } },
    );
    // Through the written rule, count who gets v2 among 2 000 users.
    const headers = headersThrough(written, 0);
    let v2 = 0;
    for (let u = 0; u < 2000; u++) if (routedStyle('ink-wash', { ...headers, 'x-adapter-assignment-key': `user-${u}` }, () => 0.5) === 'ink-wash@v2') v2++;
    // As built: the backendRef (cloned by stickyRef) keeps X-Adapter-Split: ink-wash@v1=100, which replaces the
    // rule-level split the operator writes: nobody gets v2 while status says 10 % (and later "promoted", 100 %).
    expect(v2).toBeGreaterThan(100);
  });

  it('L3 a sticky write over a backendRef that sets its own X-Adapter-Assignment-Salt draws with the salt status.assignment publishes', () => {
    const r = route([
      {
        filters: rhm([{ name: 'X-Adapter-Split', value: 'ink-wash@v1=100' }]),
        backendRefs: [{ name: 't2v', port: 80, filters: rhm([{ name: 'X-Adapter-Assignment-Salt', value: 'old' }]) }],
      },
    ]);
    const written = withAdapterArms(
      r,
      0,
      [
        { version: 'v1', weight: 50 },
        { version: 'v2', weight: 50 },
      ],
      target,
      { sticky: { salt: 'rollout-salt' } },
    );
    // As built: the backendRef's `old` salt replaces the rule's `ink-wash=rollout-salt`: the runtime draws with
    // `old`, apps computing a user's version from status.assignment.salt get it wrong for about half the users.
    expect(headersThrough(written, 0)['x-adapter-assignment-salt']).toBe('ink-wash=rollout-salt');
  });
});

describe('attack #18c: the claim’s fingerprint when the team edits its own rule', () => {
  const rule0 = (extra: Record<string, unknown> = {}) => ({
    matches: [{ headers: [{ name: 'x-t2v-style', value: 'ink-wash' }] }],
    backendRefs: [
      { name: 't2v', port: 80, weight: 50, filters: rhm([{ name: 'X-Adapter-Version', value: 'ink-wash@v1' }]) },
      { name: 't2v', port: 80, weight: 50, filters: rhm([{ name: 'X-Adapter-Version', value: 'ink-wash@v2' }]) },
    ],
    ...extra,
  });

  it('M1 a claimed rule whose matches the team widened in place (no rule inserted or moved) is still the StyleRollout’s', () => {
    const claim = { 'modelrollout.dev/style-rule-0': styleRuleClaim('ink-wash', rule0()) };
    // The team adds a path match to the same rule (index 0, still the only rule).
    const edited = rule0({
      matches: [{ path: { type: 'PathPrefix', value: '/v1' }, headers: [{ name: 'x-t2v-style', value: 'ink-wash' }] }],
    });
    // As built: RouteRuleNotOwned ("were rules inserted or reordered?"): the rollout stops mid-split (50 % v2,
    // analysis no longer acts on it) and a delete leaves the split and the claim (style-controller.attack3 M3).
    expect(observeAdapterRule(route([edited], claim), 0, target).found).toBe(true);
  });

  it('M2 … nor when the team gives the rule a Gateway API v1.2 `name` (or renames it)', () => {
    const claim = { 'modelrollout.dev/style-rule-0': styleRuleClaim('ink-wash', rule0()) };
    expect(observeAdapterRule(route([rule0({ name: 'ink-wash' })], claim), 0, target).found).toBe(true);
    const named = { 'modelrollout.dev/style-rule-0': styleRuleClaim('ink-wash', rule0({ name: 'ink-wash' })) };
    expect(observeAdapterRule(route([rule0({ name: 'ink-wash-eu' })], named), 0, target).found).toBe(true);
  });
});
