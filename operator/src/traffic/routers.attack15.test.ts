// Attack on issue 15 (docs/attack-15.md, F4 as a kind): every router rebuilds the entries it weighs from
// scratch ({name, port, weight}), so whatever the user put on an entry is gone after the first write. On Traefik
// (F4a in traefik.attack.test.ts) that is scheme/serversTransport; on Gateway API it is the per-backendRef
// `filters` the Traefik v3.7 upgrade was made for (build-gateway-proxy.sh: "per weighted backend"); on Istio a
// destination's `headers`. FAILS on main (445dba4).
import { describe, expect, it } from 'vitest';
import { withWeights as gatewayWithWeights } from './gateway-api.js';
import { withWeights as istioWithWeights } from './istio.js';

const target = { namespace: 'ml', stableService: 't2v-stable', candidateService: 't2v-candidate', port: 80 };

describe('attack 15 — F4 (kind): the user fields on a weighed entry survive the write', () => {
  it('F4d: Gateway API: a backendRef-level RequestHeaderModifier on the stable backend survives a step', () => {
    const armFilter = [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-model-arm', value: 'stable' }] } }];
    const rule = { backendRefs: [{ name: 't2v-stable', port: 80, filters: armFilter }] };
    const next = gatewayWithWeights(rule, { stableWeight: 95, candidateWeight: 5, mirrorPercent: 0 }, target);
    expect(next.backendRefs![0]).toMatchObject({ name: 't2v-stable', weight: 95, filters: armFilter });
  });

  it("F4e: Istio: a destination's response headers survive a step", () => {
    const headers = { response: { set: { 'x-served-by': 'stable' } } };
    const route = { name: 'primary', route: [{ destination: { host: 't2v-stable', port: { number: 80 } }, weight: 100, headers }] };
    const next = istioWithWeights(route, { stableWeight: 95, candidateWeight: 5, mirrorPercent: 0 }, target);
    expect(next.route![0]).toMatchObject({ weight: 95, headers });
  });
});
