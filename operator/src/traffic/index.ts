// The router factory: one case per traffic system.
import type * as k8s from '@kubernetes/client-node';
import { GatewayApiRouter, type HttpRoute } from './gateway-api.js';
import type { TrafficRouter, TrafficTarget } from './router.js';

export interface TrafficRoutingSpec {
  gatewayAPI?: { httpRoute: string; ruleIndex?: number };
  istio?: { virtualService: string; routeName?: string };
}

export interface RouterDeps {
  custom: k8s.CustomObjectsApi;
  httpRoutes?: { get: (namespace: string, name: string) => HttpRoute | undefined; remember: (route: HttpRoute) => void };
  onRequest?: (verb: string, resource: string) => void;
}

export function routerFor(spec: TrafficRoutingSpec, target: TrafficTarget, deps: RouterDeps): TrafficRouter {
  if (spec.gatewayAPI) {
    return new GatewayApiRouter({
      custom: deps.custom, target, routeName: spec.gatewayAPI.httpRoute, ruleIndex: spec.gatewayAPI.ruleIndex ?? 0,
      cached: deps.httpRoutes?.get, onWritten: deps.httpRoutes?.remember, onRequest: (verb) => deps.onRequest?.(verb, 'httproutes'),
    });
  }
  throw new Error(`unsupported spec.trafficRouting: ${JSON.stringify(spec)} (supported: gatewayAPI)`);
}

export type { TrafficRouter, TrafficTarget, Weights } from './router.js';
