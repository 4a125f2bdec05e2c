// The Istio router's cookie assignment against the real API server and Istio's own VirtualService CRD: the schema
// takes the arm routes and the cookie-setting destinations, and what it stores reads back as what the router wrote.
import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { kubeConfig, testNamespace } from './support.js';
import { VS } from './rollout-fixtures.js';
import { ARM_HEADER } from '../../operator/src/api/index.js';
import { IstioRouter, type VirtualService } from '../../operator/src/traffic/istio.js';

const kc = kubeConfig();
const custom = kc.makeApiClient(k8s.CustomObjectsApi);

describe('Istio cookie assignment on the API server', () => {
  it('stores the cookie routes and destinations as written, and removes them', async () => {
    const namespace = await testNamespace(kc, 'istio-cookie');
    const target = { namespace, stableService: 't2v-stable', candidateService: 't2v-candidate', port: 80 };
    const stamp = { response: { set: { 'x-served-by': 'stable' } } };
    const primary = { name: 'primary', match: [{ uri: { prefix: '/v1' } }], route: [{ destination: { host: 't2v-stable' }, headers: stamp }] };
    await custom.createNamespacedCustomObject({
      ...VS,
      namespace,
      body: { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'edge-vs' }, spec: { hosts: ['t2v'], http: [primary] } },
    });
    const router = new IstioRouter({ custom, target, virtualService: 'edge-vs', routeName: 'primary' });
    const arms = { mode: 'cookie', header: ARM_HEADER, cookie: 'modelrollout-arm-0123abcd', maxAgeSeconds: 3600 } as const;

    await router.setWeights({ stableWeight: 95, candidateWeight: 5, mirrorPercent: 0, arms });
    expect(await router.observe()).toEqual({ found: true, stableWeight: 95, candidateWeight: 5, mirrorPercent: 0, arms: 'present' });
    const stored = (await custom.getNamespacedCustomObject({ ...VS, namespace, name: 'edge-vs' })) as VirtualService;
    expect(stored.spec.http!.map((r) => r.name)).toEqual([
      'modelrollout-arm-treatment.t2v-candidate',
      'modelrollout-arm-control.t2v-candidate',
      'modelrollout-arm-none.t2v-candidate',
      'primary',
    ]);
    expect(stored.spec.http![0]!.match![0]!.headers).toEqual({ cookie: { regex: '(^|.*;\\s*)modelrollout-arm-0123abcd=treatment(;.*|$)' } });
    expect(stored.spec.http![3]!.route!.map((d) => d.weight)).toEqual([90, 5, 5]);

    await router.setWeights({ stableWeight: 100, candidateWeight: 0, mirrorPercent: 0 });
    expect(await router.observe()).toEqual({ found: true, stableWeight: 100, candidateWeight: 0, mirrorPercent: 0, arms: 'absent' });
    const restored = (await custom.getNamespacedCustomObject({ ...VS, namespace, name: 'edge-vs' })) as VirtualService;
    expect(restored.spec.http!.map((r) => r.name)).toEqual(['primary']);
    expect(restored.spec.http![0]!.route![0]!.headers).toEqual(stamp);
  });
});
