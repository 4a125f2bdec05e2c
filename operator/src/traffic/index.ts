// The router factory: one case per traffic system.
import type * as k8s from '@kubernetes/client-node';
import { GatewayApiRouter, type HttpRoute } from './gateway-api.js';
import { IstioRouter, type VirtualService } from './istio.js';
import type { TrafficRouter, TrafficTarget } from './router.js';

export interface TrafficRoutingSpec {
  gatewayAPI?: { httpRoute: string; ruleIndex?: number };
  istio?: { virtualService: string; routeName?: string };
}

export interface RouterDeps {
  custom: k8s.CustomObjectsApi;
  httpRoutes?: { get: (namespace: string, name: string) => HttpRoute | undefined; remember: (route: HttpRoute) => void };
  virtualServices?: { get: (namespace: string, name: string) => VirtualService | undefined; remember: (vs: VirtualService) => void };
  onRequest?: (verb: string, resource: string) => void;
}

export function routerFor(spec: TrafficRoutingSpec, target: TrafficTarget, deps: RouterDeps): TrafficRouter {
  if (spec.gatewayAPI) {
    return new GatewayApiRouter({
      custom: deps.custom, target, routeName: spec.gatewayAPI.httpRoute, ruleIndex: spec.gatewayAPI.ruleIndex ?? 0,
      cached: deps.httpRoutes?.get, onWritten: deps.httpRoutes?.remember, onRequest: (verb) => deps.onRequest?.(verb, 'httproutes'),
    });
  }
  if (spec.istio) {
    return new IstioRouter({
      custom: deps.custom, target, virtualService: spec.istio.virtualService, routeName: spec.istio.routeName || undefined,
      cached: deps.virtualServices?.get, onWritten: deps.virtualServices?.remember, onRequest: (verb) => deps.onRequest?.(verb, 'virtualservices'),
    });
  }
  throw new Error(`unsupported spec.trafficRouting: ${JSON.stringify(spec)} (supported: gatewayAPI, istio)`);
}

export type { TrafficRouter, TrafficTarget } from './router.js';
