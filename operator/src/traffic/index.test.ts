import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { GatewayApiRouter } from './gateway-api.js';
import { definitionFor, ROUTERS, routerFor } from './index.js';
import { IstioRouter } from './istio.js';
import { TraefikRouter } from './traefik.js';

const target = { namespace: 'ml', stableService: 't2v-stable', candidateService: 't2v-candidate', port: 80 };
const deps = () => ({ custom: {} as k8s.CustomObjectsApi });

describe('router registry', () => {
  it('builds the router spec.trafficRouting selects', () => {
    expect(routerFor({ gatewayAPI: { httpRoute: 'edge' } }, target, deps)).toBeInstanceOf(GatewayApiRouter);
    expect(routerFor({ istio: { virtualService: 'edge' } }, target, deps)).toBeInstanceOf(IstioRouter);
    expect(routerFor({ traefik: { traefikService: 'edge' } }, target, deps)).toBeInstanceOf(TraefikRouter);
  });

  it('names each router by its spec field and the object it watches', () => {
    expect(ROUTERS.map((r) => [r.specKey, r.watches.kind, r.watches.resource.plural])).toEqual([
      ['gatewayAPI', 'HTTPRoute', 'httproutes'],
      ['istio', 'VirtualService', 'virtualservices'],
      ['traefik', 'TraefikService', 'traefikservices'],
    ]);
    expect(definitionFor({ istio: { virtualService: 'vs' } })?.objectName({ virtualService: 'vs' })).toBe('vs');
    expect(definitionFor({ gatewayAPI: { httpRoute: 'r', ruleIndex: 1 } })?.objectName({ httpRoute: 'r' })).toBe('r');
    expect(definitionFor({})).toBeUndefined();
  });

  it('refuses a spec that selects no registered router, listing those it knows', () => {
    expect(() => routerFor({ linkerd: {} }, target, deps)).toThrow('unsupported spec.trafficRouting: {"linkerd":{}} (supported: gatewayAPI, istio, traefik)');
  });
});
