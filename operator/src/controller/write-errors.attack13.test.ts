// Attack on issue 13 item 4: a refused route write reaches status "with the object and the server's message".
// The routers call the API without writing(), so a 403 on the HTTPRoute/VirtualService arrives as a raw
// ApiException and describe() falls back to err.message: "HTTP-Code: 403\nMessage: ...\nBody: <escaped JSON>\nHeaders: {...}".
import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { GatewayApiRouter } from '../traffic/gateway-api.js';
import { blockedWriteOf } from './write-errors.js';

const NOW = new Date('2026-01-01T00:00:00.000Z');
const SERVER =
  'httproutes.gateway.networking.k8s.io "edge-route" is forbidden: User "system:serviceaccount:ops:modelrollout" cannot update resource "httproutes" in API group "gateway.networking.k8s.io" in the namespace "ml"';

describe('attack-13: a refused route write in status', () => {
  it("403 on the HTTPRoute update: the condition message is the server's message, not the client's HTTP dump", async () => {
    const route = {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'edge-route', namespace: 'ml', resourceVersion: '1' },
      spec: {
        rules: [
          {
            backendRefs: [
              { name: 't2v-stable', port: 80, weight: 100 },
              { name: 't2v-candidate', port: 80, weight: 0 },
            ],
          },
        ],
      },
    };
    const custom = {
      replaceNamespacedCustomObject: () =>
        Promise.reject(
          new k8s.ApiException(403, 'Unknown API Status Code!', JSON.stringify({ kind: 'Status', code: 403, reason: 'Forbidden', message: SERVER }), {
            'content-type': 'application/json',
            'audit-id': 'abc',
          }),
        ),
    } as unknown as k8s.CustomObjectsApi;
    const router = new GatewayApiRouter({
      custom,
      target: { namespace: 'ml', stableService: 't2v-stable', candidateService: 't2v-candidate', port: 80 },
      routeName: 'edge-route',
      ruleIndex: 0,
      cached: () => route,
    });
    const err = await router.setWeights({ stableWeight: 80, candidateWeight: 20, mirrorPercent: 0 }).catch((e: unknown) => e);
    const blocked = blockedWriteOf(err, 'HTTPRoute edge-route', undefined, NOW)!;
    expect(blocked).toMatchObject({ reason: 'WriteRefused', object: 'HTTPRoute edge-route', code: 403 });
    expect(blocked.message).toContain(SERVER);
    expect(blocked.message).not.toContain('Headers');
  });
});
