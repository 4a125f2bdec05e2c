import { describe, expect, it } from 'vitest';
import { observeAdapterRule, withAdapterArms } from './adapter-route.js';
import type { HttpRoute } from './gateway-api.js';

const target = { namespace: 'ml', service: 't2v', port: 80, style: 'ink-wash', owner: 'ink-wash' };
const pin = (value: string) => [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-Adapter-Version', value }] } }];

function route(rule: Record<string, unknown>): HttpRoute {
  return { metadata: { name: 'r' }, spec: { rules: [{ backendRefs: [{ name: 'other', port: 80 }] }, rule] } };
}

describe('adapter route rule', () => {
  it('writes one backendRef per arm to the same Service, each pinning its version, and keeps matches and rule filters', () => {
    const rule = {
      matches: [{ headers: [{ name: 'x-t2v-style', value: 'ink-wash' }] }],
      filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { add: [{ name: 'x', value: 'y' }] } }],
      backendRefs: [{ name: 't2v', port: 80 }],
    };
    const next = withAdapterArms(
      route(rule),
      1,
      [
        { version: 'v1', weight: 90 },
        { version: 'v2', weight: 10 },
      ],
      target,
    );
    const written = next.spec.rules![1]!;
    expect(written.matches).toEqual(rule.matches);
    expect(written.filters).toEqual(rule.filters);
    expect(written.backendRefs).toEqual([
      { name: 't2v', port: 80, weight: 90, filters: pin('ink-wash@v1') },
      { name: 't2v', port: 80, weight: 10, filters: pin('ink-wash@v2') },
    ]);
    // The other rule is untouched.
    expect(next.spec.rules![0]).toEqual({ backendRefs: [{ name: 'other', port: 80 }] });
    expect(observeAdapterRule(next, 1, target)).toEqual({
      found: true,
      arms: [
        { version: 'v1', weight: 90 },
        { version: 'v2', weight: 10 },
      ],
    });
  });

  it('reads an unpinned backendRef as no version, an unset weight as 1, and an unclaimed rule as unclaimed', () => {
    expect(
      observeAdapterRule(
        route({
          backendRefs: [
            { name: 't2v', port: 80 },
            { name: 't2v', port: 80, weight: 3, filters: pin('neon@v1, ink-wash@v02') },
          ],
        }),
        1,
        target,
      ),
    ).toEqual({
      found: false,
      reason: 'RouteRuleNotOwned',
      error: expect.stringContaining('pins other styles differently on its backendRefs') as unknown,
    });
    expect(
      observeAdapterRule(
        route({
          backendRefs: [
            { name: 't2v', port: 80 },
            { name: 't2v', port: 80, weight: 3, filters: pin('ink-wash@v02') },
          ],
        }),
        1,
        target,
      ),
    ).toEqual({
      found: true,
      arms: [
        { version: '', weight: 1 },
        { version: 'v2', weight: 3 },
      ],
      unclaimed: true,
    });
    expect(
      observeAdapterRule(
        route({
          backendRefs: [
            {
              name: 't2v',
              filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-adapter-version', value: 'ink-wash@v7' }] } }],
            },
          ],
        }),
        1,
        target,
      ),
    ).toEqual({
      found: true,
      arms: [{ version: 'v7', weight: 1 }],
      unclaimed: true,
    });
  });

  it("claims the rule with its first write, leaves another StyleRollout's claim alone, and drops its claim on release", () => {
    const claimed = withAdapterArms(route({ backendRefs: [{ name: 't2v', port: 80 }] }), 1, [{ version: 'v1', weight: 100 }], target);
    expect(claimed.metadata.annotations).toEqual({ 'modelrollout.dev/style-rule-1': expect.stringMatching(/^ink-wash\/[0-9a-f]{8}$/) as unknown });
    expect(observeAdapterRule(claimed, 1, target)).toEqual({ found: true, arms: [{ version: 'v1', weight: 100 }] });
    expect(observeAdapterRule(claimed, 1, { ...target, owner: 'ink-wash-2' })).toMatchObject({
      found: false,
      reason: 'RouteRuleNotOwned',
      error: expect.stringContaining('is managed by StyleRollout ink-wash') as unknown,
    });
    const released = withAdapterArms(claimed, 1, [{ version: 'v1', weight: 100 }], target, { claim: false });
    expect(released.metadata.annotations).toEqual({});
    expect(observeAdapterRule(released, 1, { ...target, owner: 'ink-wash-2' })).toMatchObject({ found: true, unclaimed: true });
  });

  it('refuses a pin header the runtime would refuse, naming it', () => {
    expect(observeAdapterRule(route({ backendRefs: [{ name: 't2v', port: 80, filters: pin('ink-wash@2') }] }), 1, target)).toMatchObject({
      found: false,
      reason: 'RouteRuleNotOwned',
      error: expect.stringContaining('X-Adapter-Version "ink-wash@2" is not <name>@v<N>') as unknown,
    });
  });

  it('refuses a rule that sends elsewhere, and reports a missing rule', () => {
    expect(observeAdapterRule(route({ backendRefs: [{ name: 't2v' }, { name: 't2v-canary' }] }), 1, target)).toMatchObject({
      found: false,
      reason: 'RouteRuleNotOwned',
    });
    expect(observeAdapterRule(route({}), 0, target)).toMatchObject({ found: false, reason: 'RouteRuleNotOwned' });
    expect(observeAdapterRule(route({}), 5, target)).toEqual({ found: false, reason: 'RuleNotFound', error: 'HTTPRoute r has no rule at index 5' });
    expect(() => withAdapterArms(route({}), 5, [{ version: 'v1', weight: 100 }], target)).toThrow(/ruleIndex 5 is out of range/);
  });

  it("sticky: one backendRef without the pin, the arms on the rule's X-Adapter-Split (candidate first) with the salt; read back as the runtime reads it", () => {
    const before = route({
      filters: [
        {
          type: 'RequestHeaderModifier',
          requestHeaderModifier: { set: [{ name: 'X-Adapter-Split', value: 'neon@v1=100' }], add: [{ name: 'x', value: 'y' }] },
        },
      ],
      backendRefs: [{ name: 't2v', port: 80, filters: pin('ink-wash@v1') }],
    });
    const arms = [
      { version: 'v1', weight: 80 },
      { version: 'v2', weight: 20 },
    ];
    const next = withAdapterArms(before, 1, arms, target, { sticky: { salt: '0123456789abcdef' } });
    const rule = next.spec.rules![1]!;
    expect(rule.backendRefs).toEqual([{ name: 't2v', port: 80, weight: 1 }]);
    expect(rule.filters).toEqual([
      {
        type: 'RequestHeaderModifier',
        requestHeaderModifier: {
          add: [{ name: 'x', value: 'y' }],
          set: [
            { name: 'X-Adapter-Split', value: 'neon@v1=100, ink-wash@v2=20, ink-wash@v1=80' },
            { name: 'X-Adapter-Assignment-Salt', value: 'ink-wash=0123456789abcdef' },
          ],
        },
      },
    ]);
    expect(observeAdapterRule(next, 1, target)).toEqual({
      found: true,
      arms: [
        { version: 'v2', weight: 0.2 },
        { version: 'v1', weight: 0.8 },
      ],
      sticky: { salt: '0123456789abcdef' },
    });
    // Back to weighted: this style's split entries and its salt go (neon's split stays), pins come back.
    const weighted = withAdapterArms(next, 1, arms, target);
    expect(weighted.spec.rules![1]!.filters).toEqual([
      {
        type: 'RequestHeaderModifier',
        requestHeaderModifier: {
          add: [{ name: 'x', value: 'y' }],
          set: [{ name: 'X-Adapter-Split', value: 'neon@v1=100' }],
        },
      },
    ]);
    expect(observeAdapterRule(weighted, 1, target)).toEqual({ found: true, arms });
  });

  it("a backendRef pin wins over the rule's split, as in the runtime; a malformed split is refused naming it", () => {
    const split = (value: string) => [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-Adapter-Split', value }] } }];
    expect(
      observeAdapterRule(
        route({ filters: split('ink-wash@v1=50, ink-wash@v2=50'), backendRefs: [{ name: 't2v', port: 80, filters: pin('ink-wash@v3') }] }),
        1,
        target,
      ),
    ).toEqual({ found: true, arms: [{ version: 'v3', weight: 1 }], unclaimed: true });
    expect(observeAdapterRule(route({ filters: split('ink-wash@v1'), backendRefs: [{ name: 't2v', port: 80 }] }), 1, target)).toMatchObject({
      found: false,
      reason: 'RouteRuleNotOwned',
      error: expect.stringContaining('X-Adapter-Split "ink-wash@v1" is not <name>@v<N>=<weight>') as unknown,
    });
  });
});
