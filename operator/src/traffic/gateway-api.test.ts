import { describe, expect, it } from 'vitest';
import { observeRule, withWeights, type HttpRoute } from './gateway-api.js';

const target = { namespace: 'ml', stableService: 't2v-stable', candidateService: 't2v-candidate', port: 80 };

function route(rule: Record<string, unknown>): HttpRoute {
  return { metadata: { name: 'r' }, spec: { rules: [{ backendRefs: [{ name: 'other', port: 80 }] }, rule] } };
}

describe('Gateway API rule handling', () => {
  it('sets our two weighted backends and keeps the rule matches and other filters', () => {
    const rule = {
      matches: [{ path: { type: 'PathPrefix', value: '/v1' } }],
      filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { add: [{ name: 'x', value: 'y' }] } }],
      backendRefs: [{ name: 't2v-stable', port: 80 }],
    };
    const next = withWeights(rule, { stableWeight: 80, candidateWeight: 20, mirrorPercent: 0 }, target);
    expect(next.matches).toEqual(rule.matches);
    expect(next.filters).toEqual(rule.filters);
    expect(next.backendRefs).toEqual([
      { name: 't2v-stable', port: 80, weight: 80 },
      { name: 't2v-candidate', port: 80, weight: 20 },
    ]);
    expect(observeRule(route(next), 1, target)).toEqual({ found: true, stableWeight: 80, candidateWeight: 20, mirrorPercent: 0 });
  });

  it('adds and removes the RequestMirror filter for shadow', () => {
    const mirrored = withWeights({}, { stableWeight: 100, candidateWeight: 0, mirrorPercent: 25 }, target);
    expect(mirrored.filters).toEqual([{ type: 'RequestMirror', requestMirror: { backendRef: { name: 't2v-candidate', port: 80 }, percent: 25 } }]);
    expect(observeRule(route(mirrored), 1, target).mirrorPercent).toBe(25);
    const cleared = withWeights(mirrored, { stableWeight: 99, candidateWeight: 1, mirrorPercent: 0 }, target);
    expect(cleared.filters).toBeUndefined();
  });

  it('reports unknown weights when the rule is not ours yet, and a missing rule as not found', () => {
    expect(observeRule(route({ backendRefs: [{ name: 't2v-stable', port: 80 }] }), 1, target)).toEqual({ found: true, mirrorPercent: 0 });
    expect(observeRule(route({ backendRefs: [{ name: 't2v-stable' }, { name: 't2v-candidate' }] }), 1, target)).toMatchObject({
      stableWeight: 1,
      candidateWeight: 1,
    });
    expect(observeRule(route({}), 5, target)).toEqual({ found: false, error: 'HTTPRoute r has no rule at index 5' });
  });
});
