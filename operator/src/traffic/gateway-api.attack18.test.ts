// Attack test for issue #18: a ModelRollout and a StyleRollout naming the same HTTPRoute rule (docs/attack-18.md).
import { describe, expect, it } from 'vitest';
import { observeRule } from './gateway-api.js';
import type { HttpRoute } from './gateway-api.js';

const pin = (value: string) => [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-Adapter-Version', value }] } }];

describe('attack #18: a ModelRollout on a StyleRollout rule', () => {
  it('C1 the ModelRollout router does not take over a rule whose backendRefs pin adapter versions (a StyleRollout owns it)', () => {
    const route = {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'wan', namespace: 'ml' },
      spec: {
        rules: [
          {
            backendRefs: [
              { name: 'wan', port: 80, weight: 90, filters: pin('ink-wash@v1') },
              { name: 'wan', port: 80, weight: 10, filters: pin('ink-wash@v2') },
            ],
          },
        ],
      },
    } as unknown as HttpRoute;
    // As built: found (both refs go to its stable Service), so the ModelRollout rewrites the rule to stable/canary —
    // copying the first ref's ink-wash@v1 pin onto its stable backend — and the StyleRollout then reports
    // RouteRuleNotOwned; after the model promotes, the StyleRollout takes the rule back: the two fight.
    const obs = observeRule(route, 0, { namespace: 'ml', stableService: 'wan', candidateService: 'wan-canary', port: 80 });
    expect(obs.found).toBe(false);
  });
});
