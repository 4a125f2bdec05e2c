// The router registry: one line per traffic system. A router is one file exporting a RouterDefinition
// (traffic/router.ts); the controller watches what each one declares and builds the one the spec selects.
import { gatewayApi } from './gateway-api.js';
import { istio } from './istio.js';
import { traefik } from './traefik.js';
import type { RouterDefinition, RouterDeps, TrafficRouter, TrafficTarget } from './router.js';

export const ROUTERS: readonly RouterDefinition[] = [gatewayApi, istio, traefik];

/** spec.trafficRouting: one field per router (`gatewayAPI`, `istio`, ...), at most one set. */
export type TrafficRoutingSpec = Record<string, unknown>;

/** The registered router `spec` selects, or undefined when it names none. */
export function definitionFor(spec: TrafficRoutingSpec | undefined): RouterDefinition | undefined {
  return spec ? ROUTERS.find((r) => spec[r.specKey] !== undefined && spec[r.specKey] !== null) : undefined;
}

/** Builds the router `spec` selects; `depsFor` gives it the cache of what that router watches. */
export function routerFor(spec: TrafficRoutingSpec, target: TrafficTarget, depsFor: (definition: RouterDefinition) => RouterDeps): TrafficRouter {
  const definition = definitionFor(spec);
  if (!definition) throw new Error(`unsupported spec.trafficRouting: ${JSON.stringify(spec)} (supported: ${ROUTERS.map((r) => r.specKey).join(', ')})`);
  return definition.create(spec[definition.specKey], target, depsFor(definition));
}

export type { RouteObject, RouterDefinition, TrafficRouter, TrafficTarget } from './router.js';
