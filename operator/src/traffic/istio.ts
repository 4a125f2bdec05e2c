// Istio VirtualService router: weights on the stable and candidate destinations of one http route,
// `mirror` + `mirrorPercentage` for shadow. spec.http is a list replaced as a whole by a write, so:
// RouteObjectRouter's read-modify-write, touching only the route this rollout owns.
import type * as k8s from '@kubernetes/client-node';
import type { RouteObservation } from '../rollout/types.js';
import { RouteObjectRouter, TrafficRouterError, type RouterDefinition, type RouterDeps, type TrafficTarget, type Weights } from './router.js';

export const VIRTUALSERVICE = { group: 'networking.istio.io', version: 'v1', plural: 'virtualservices' } as const;

interface Destination {
  host: string;
  subset?: string;
  port?: { number?: number };
}

interface HttpRoute {
  name?: string;
  route?: { destination: Destination; weight?: number; [key: string]: unknown }[];
  mirror?: Destination;
  mirrorPercentage?: { value: number };
  [key: string]: unknown;
}

export interface VirtualService {
  apiVersion?: string;
  kind?: string;
  metadata: k8s.V1ObjectMeta;
  spec: { hosts?: string[]; http?: HttpRoute[]; [key: string]: unknown };
}

export interface IstioRoutingSpec {
  virtualService: string;
  routeName?: string;
}

export interface IstioRouterOptions extends RouterDeps {
  target: TrafficTarget;
  virtualService: string;
  /** Name of the http route to manage; the first one when empty. */
  routeName?: string;
}

export class IstioRouter extends RouteObjectRouter<VirtualService> {
  private readonly routeName: string | undefined;

  constructor(opts: IstioRouterOptions) {
    super('VirtualService', VIRTUALSERVICE, opts.virtualService, opts.target, opts as RouterDeps);
    this.routeName = opts.routeName;
  }

  protected read(vs: VirtualService): RouteObservation {
    return observeHttpRoute(vs, this.routeName, this.target);
  }

  protected rewrite(vs: VirtualService, weights: Weights): VirtualService {
    const http = vs.spec.http ?? [];
    const index = routeIndex(http, this.routeName);
    if (index < 0)
      throw new TrafficRouterError(
        'RuleNotFound',
        `VirtualService ${this.name} has no http route named "${this.routeName}" (spec.trafficRouting.istio.routeName)`,
      );
    http[index] = withWeights(http[index]!, weights, this.target);
    return { ...vs, spec: { ...vs.spec, http } };
  }
}

/** The registry entry: spec.trafficRouting.istio selects it; it watches VirtualServices. */
export const istio: RouterDefinition = {
  specKey: 'istio',
  watches: { kind: 'VirtualService', resource: VIRTUALSERVICE },
  objectName: (spec) => (spec as IstioRoutingSpec | undefined)?.virtualService,
  create: (spec, target, deps) => {
    const { virtualService, routeName } = spec as IstioRoutingSpec;
    return new IstioRouter({ ...deps, target, virtualService, routeName: routeName || undefined });
  },
};

function routeIndex(http: HttpRoute[], name: string | undefined): number {
  if (!name) return http.length > 0 ? 0 : -1;
  return http.findIndex((r) => r.name === name);
}

/** Short or fully qualified host names of our Services both count (t2v-stable, t2v-stable.ns.svc.cluster.local). */
function isHost(host: string | undefined, service: string, namespace: string): boolean {
  return (
    host === service || host === `${service}.${namespace}` || host === `${service}.${namespace}.svc` || host === `${service}.${namespace}.svc.cluster.local`
  );
}

export function observeHttpRoute(vs: VirtualService, routeName: string | undefined, target: TrafficTarget): RouteObservation {
  const http = vs.spec.http ?? [];
  const index = routeIndex(http, routeName);
  if (index < 0) return { found: false, error: `VirtualService ${vs.metadata.name} has no http route ${routeName ? `named "${routeName}"` : ''}`.trim() };
  const route = http[index]!;
  const dests = route.route ?? [];
  // A route that sends traffic anywhere but our two Services is someone else's: we do not take it over.
  const foreign = dests.filter(
    (d) => !isHost(d.destination.host, target.stableService, target.namespace) && !isHost(d.destination.host, target.candidateService, target.namespace),
  );
  if (foreign.length > 0) {
    return {
      found: false,
      reason: 'RouteRuleNotOwned',
      error: `VirtualService ${vs.metadata.name} http route ${routeName ?? index} sends traffic to ${foreign.map((d) => d.destination.host).join(', ')}, not to this rollout's Services; point it at ${target.stableService} to hand it over`,
    };
  }
  const stable = dests.find((d) => isHost(d.destination.host, target.stableService, target.namespace));
  const candidate = dests.find((d) => isHost(d.destination.host, target.candidateService, target.namespace));
  const mirrorPercent = route.mirror && isHost(route.mirror.host, target.candidateService, target.namespace) ? (route.mirrorPercentage?.value ?? 100) : 0;
  if (!stable || !candidate || dests.length !== 2) return { found: true, mirrorPercent };
  // Istio: with several destinations, an unset weight is 0.
  return { found: true, stableWeight: stable.weight ?? 0, candidateWeight: candidate.weight ?? 0, mirrorPercent };
}

export function withWeights(route: HttpRoute, weights: Weights, target: TrafficTarget): HttpRoute {
  const port = { number: target.port };
  // A destination's own settings (headers, subset) stay; only the host, port and weight are ours.
  const entry = (service: string, weight: number) => {
    const existing = route.route?.find((d) => isHost(d.destination.host, service, target.namespace));
    const { destination, weight: _w, ...settings } = existing ?? { destination: { host: service } };
    return { ...settings, destination: { ...destination, host: service, port }, weight };
  };
  const next: HttpRoute = {
    ...route,
    route: [entry(target.stableService, weights.stableWeight), entry(target.candidateService, weights.candidateWeight)],
  };
  if (weights.mirrorPercent > 0) {
    next.mirror = { host: target.candidateService, port };
    next.mirrorPercentage = { value: weights.mirrorPercent };
  } else if (route.mirror && isHost(route.mirror.host, target.candidateService, target.namespace)) {
    delete next.mirror;
    delete next.mirrorPercentage;
  }
  return next;
}
