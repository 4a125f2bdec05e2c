// Second attack on #18 (docs/attack-18b.md): how the operator reads a style rule against how the runtime
// (inference-image/src/adapters/route-choice.ts) serves it, whose rule the claim annotation names, and what a
// sticky write does to another style's split on the same rule. Each test asserts what a platform team expects.
import { describe, expect, it } from 'vitest';
import { styleRuleClaim } from '../api/names.js';
import { routedStyle } from '../../../inference-image/src/adapters/route-choice.js';
import { observeAdapterRule, withAdapterArms } from './adapter-route.js';
import { observeRule, type HttpRoute } from './gateway-api.js';

const target = { namespace: 'ml', service: 't2v', port: 80, style: 'ink-wash', owner: 'ink-wash' };
const rhm = (set: { name: string; value: string }[], extra: Record<string, unknown> = {}) => [
  { type: 'RequestHeaderModifier', requestHeaderModifier: { set, ...extra } },
];
const pin = (value: string) => rhm([{ name: 'X-Adapter-Version', value }]);

function route(rules: Record<string, unknown>[], annotations?: Record<string, string>): HttpRoute {
  return { metadata: { name: 'r', ...(annotations ? { annotations } : {}) }, spec: { rules } } as unknown as HttpRoute;
}

/** What the runtime serves a request for `ink-wash` (no version) given the headers the gateway forwards. */
const served = (headers: Record<string, string>) => routedStyle('ink-wash', headers, () => 0.5);

describe('attack #18b: the operator reads a rule as the runtime serves it', () => {
  it('G1 a rule that pins the version with a rule-level RequestHeaderModifier (Gateway API core) is read as pinning v1, not as unpinned', () => {
    // The simplest way a team pins a style: on the rule (core support), not on a backendRef (extended).
    const r = route([{ filters: pin('ink-wash@v1'), backendRefs: [{ name: 't2v', port: 80 }] }]);
    // The runtime gets X-Adapter-Version: ink-wash@v1 on every request of this rule → serves v1.
    expect(served({ 'x-adapter-version': 'ink-wash@v1' })).toBe('ink-wash@v1');
    // As built: the rule filter is not read, the rule reads as unpinned (version ''), so adoption asks the pods
    // for the newest version (say v2) and adopts *that*; spec.version v2 is then "Initialized" and the write
    // pins v2 on the backendRef → every user moves from v1 to v2 at once, unjudged (F1 of attack 18 again).
    const obs = observeAdapterRule(r, 0, target);
    if (obs.found) expect(obs.arms).toEqual([{ version: 'v1', weight: 1 }]);
    else expect(obs.reason).toBe('RouteRuleNotOwned');
  });

  it('G2 a pin written with RequestHeaderModifier "add" (not "set") is read as the version it pins', () => {
    const r = route([{ backendRefs: [{ name: 't2v', port: 80, filters: rhm([], { add: [{ name: 'X-Adapter-Version', value: 'ink-wash@v1' }] }) }] }]);
    expect(served({ 'x-adapter-version': 'ink-wash@v1' })).toBe('ink-wash@v1');
    // As built: headerOf() reads `set` only → unpinned; the write then adds a `set` pin next to the `add` one, and
    // the runtime receives both values.
    const obs = observeAdapterRule(r, 0, target);
    if (obs.found) expect(obs.arms).toEqual([{ version: 'v1', weight: 1 }]);
    else expect(obs.reason).toBe('RouteRuleNotOwned');
  });

  it('G3 a pin header naming the style twice ("ink-wash@v1, ink-wash@v2") is read as the runtime serves it (the first entry)', () => {
    const r = route([{ backendRefs: [{ name: 't2v', port: 80, filters: pin('ink-wash@v1, ink-wash@v2') }] }]);
    expect(served({ 'x-adapter-version': 'ink-wash@v1, ink-wash@v2' })).toBe('ink-wash@v1');
    // As built: readPins keeps the last entry (v2): a StyleRollout for v2 adopts v2 as stable, is "Initialized",
    // and rewrites the header to ink-wash@v2 — its users move from v1 to v2 in one write.
    expect(observeAdapterRule(r, 0, target)).toMatchObject({ found: true, arms: [{ version: 'v1', weight: 1 }] });
  });
});

describe('attack #18b: the claim annotation names a rule by its index', () => {
  // The rule a StyleRollout wrote and claimed as rule 0 …
  const styleRule = {
    matches: [{ headers: [{ name: 'x-t2v-style', value: 'ink-wash' }] }],
    backendRefs: [{ name: 't2v', port: 80, weight: 1, filters: pin('ink-wash@v1') }],
  };
  // … and a rule a team inserts in front of it later (a new style, a canary path …), to the same Service.
  const inserted = { matches: [{ path: { type: 'PathPrefix', value: '/v2' } }], backendRefs: [{ name: 't2v', port: 80 }] };
  const defaultRule = { backendRefs: [{ name: 't2v', port: 80 }] };
  // The claim as the StyleRollout writes it: its name and the rule's fingerprint.
  const claim = { 'modelrollout.dev/style-rule-0': styleRuleClaim('ink-wash', styleRule) };

  it('G4 after a rule is inserted before the claimed one, the StyleRollout does not take the rule now at its index (another rule, other users)', () => {
    const before = route([styleRule, defaultRule], claim);
    expect(observeAdapterRule(before, 0, target)).toEqual({ found: true, arms: [{ version: 'v1', weight: 1 }] });
    const after = route([inserted, styleRule, defaultRule], claim);
    // As built: the claim on index 0 now "claims" the inserted rule; it reads as this style's (unpinned) and the
    // next pass writes ink-wash pins on it, while the style's real rule (now 1) is left unclaimed.
    const obs = observeAdapterRule(after, 0, target);
    expect(obs.found).toBe(false);
  });

  it("G4b … and a ModelRollout on the rule that moved to index 1 does not take over the StyleRollout's rule", () => {
    const after = route([inserted, styleRule, defaultRule], claim);
    // The style rule (claimed when it was rule 0) is now rule 1; its claim is still keyed on index 0.
    const obs = observeRule(after, 1, { namespace: 'ml', stableService: 't2v', candidateService: 't2v-canary', port: 80 });
    expect(obs.found).toBe(false);
  });
});

describe("attack #18b: a sticky write and another style's sticky split on the same rule", () => {
  it("G5 writing ink-wash's sticky split keeps neon's users on the neon version they had (neon's salt is not replaced)", () => {
    // A rule serving two styles; neon is split 50/50, sticky, with its own salt (hand-written, or by a tool).
    const rule = {
      filters: rhm([
        { name: 'X-Adapter-Split', value: 'neon@v1=50, neon@v2=50, ink-wash@v1=100' },
        { name: 'X-Adapter-Assignment-Salt', value: 'neon-salt-000001' },
      ]),
      backendRefs: [{ name: 't2v', port: 80 }],
    };
    const before = route([rule]);
    expect(observeAdapterRule(before, 0, target)).toMatchObject({ found: true });
    const after = withAdapterArms(
      before,
      0,
      [
        { version: 'v1', weight: 90 },
        { version: 'v2', weight: 10 },
      ],
      target,
      { sticky: { salt: 'ink-wash-salt-01' } },
    );
    const headersOf = (r: HttpRoute) => {
      const set = (r.spec.rules![0]!.filters as { requestHeaderModifier?: { set?: { name: string; value: string }[] } }[])[0]!.requestHeaderModifier!.set!;
      return Object.fromEntries(set.map((h) => [h.name.toLowerCase(), h.value]));
    };
    const neonOf = (r: HttpRoute, key: string) => routedStyle('neon', { ...headersOf(r), 'x-adapter-assignment-key': key }, () => 0.5);
    const users = Array.from({ length: 200 }, (_, i) => `user-${i}`);
    const moved = users.filter((u) => neonOf(before, u) !== neonOf(after, u));
    // As built: the rule's one salt header is overwritten with ink-wash's, so about half of neon's users switch
    // neon version — an experiment the StyleRollout does not own, reshuffled.
    expect(moved.length, `${moved.length} of ${users.length} neon users switched version`).toBe(0);
  });
});
