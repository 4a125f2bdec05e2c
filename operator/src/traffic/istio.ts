// Istio VirtualService router: weights on the stable and candidate destinations of one http route,
// `mirror` + `mirrorPercentage` for shadow. spec.http is a list replaced as a whole by a write, so:
// RouteObjectRouter's read-modify-write, touching only the route this rollout owns (and, during an A/B
// experiment, the arm routes it added: see withArmRoutes).
import { isDeepStrictEqual } from 'node:util';
import type * as k8s from '@kubernetes/client-node';
import { ARMS, type Arm } from '../api/names.js';
import type { RouteObservation } from '../rollout/types.js';
import {
  ARM_RULE_PREFIX,
  armOfRuleName,
  armRuleName,
  armService,
  RouteObjectRouter,
  TrafficRouterError,
  type ArmRouting,
  type RouterDefinition,
  type RouterDeps,
  type TrafficTarget,
  type Weights,
} from './router.js';

export const VIRTUALSERVICE = { group: 'networking.istio.io', version: 'v1', plural: 'virtualservices' } as const;

interface Destination {
  host: string;
  subset?: string;
  port?: { number?: number };
}

/** A string match (`exact`, `prefix` or `regex`). */
type StringMatch = Record<string, string>;

interface HttpMatch {
  uri?: StringMatch;
  headers?: Record<string, StringMatch>;
  [key: string]: unknown;
}

interface HttpRoute {
  name?: string;
  match?: HttpMatch[];
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
    const observed = observeHttpRoute(vs, this.routeName, this.target);
    return observed.found ? { ...observed, arms: observeArmRoutes(vs, this.routeName, this.target) } : observed;
  }

  protected rewrite(vs: VirtualService, weights: Weights): VirtualService {
    if (weights.arms?.mode === 'cookie')
      throw new TrafficRouterError(
        'Unsupported',
        `VirtualService ${this.name}: the istio router does not support cookie assignment of an A/B experiment's arms yet; use spec.trafficRouting.gatewayAPI`,
      );
    const http = vs.spec.http ?? [];
    const index = routeIndex(http, this.routeName);
    if (index < 0)
      throw new TrafficRouterError(
        'RuleNotFound',
        `VirtualService ${this.name} has no http route named "${this.routeName}" (spec.trafficRouting.istio.routeName)`,
      );
    http[index] = withWeights(http[index]!, weights, this.target);
    return { ...vs, spec: { ...vs.spec, http: withArmRoutes(vs, http, index, weights.arms, this.target) } };
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

/** The managed route: the one named, else the first that is no rollout's arm route. */
function routeIndex(http: HttpRoute[], name: string | undefined): number {
  if (!name) return http.findIndex((r) => !r.name?.startsWith(ARM_RULE_PREFIX));
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

/** A destination of `service` on our port, keeping the settings (headers, subset) the route's one has; no weight. */
function destinationOf(route: HttpRoute, service: string, target: TrafficTarget) {
  const existing = route.route?.find((d) => isHost(d.destination.host, service, target.namespace));
  const { destination, weight: _w, ...settings } = existing ?? { destination: { host: service } };
  return { ...settings, destination: { ...destination, host: service, port: { number: target.port } } };
}

function isOurMirror(route: HttpRoute, target: TrafficTarget): boolean {
  return !!route.mirror && isHost(route.mirror.host, target.candidateService, target.namespace);
}

export function withWeights(route: HttpRoute, weights: Weights, target: TrafficTarget): HttpRoute {
  const port = { number: target.port };
  // A destination's own settings (headers, subset) stay; only the host, port and weight are ours.
  const entry = (service: string, weight: number) => ({ ...destinationOf(route, service, target), weight });
  const next: HttpRoute = {
    ...route,
    route: [entry(target.stableService, weights.stableWeight), entry(target.candidateService, weights.candidateWeight)],
  };
  if (weights.mirrorPercent > 0) {
    next.mirror = { host: target.candidateService, port };
    next.mirrorPercentage = { value: weights.mirrorPercent };
  } else if (isOurMirror(route, target)) {
    delete next.mirror;
    delete next.mirrorPercentage;
  }
  return next;
}

// The A/B experiment's arm routes (#16, docs/experiment-assignment.md): one http route per arm value, each
// copying the managed route's matches plus an exact match on the arm header, placed right before the managed
// route — Istio takes the first http route that matches
// (https://istio.io/latest/docs/reference/config/networking/virtual-service/#VirtualService, `http`), so a
// request carrying the header takes its arm's route and one without it falls through to the weights. Marked as
// ours by their `name`.

/** The matches a route applies: none written means every request. */
function matchesOf(route: HttpRoute): HttpMatch[] {
  return route.match && route.match.length > 0 ? route.match : [{}];
}

/** The route for `arm`, copied from the (weighted) managed route: its matches with the arm header, one destination. */
function armRoute(managed: HttpRoute, arm: Arm, header: string, target: TrafficTarget): HttpRoute {
  const { name: _name, match: _match, route: _route, mirror, mirrorPercentage, ...settings } = managed;
  // Istio wants header names lowercase in a match.
  const key = header.toLowerCase();
  const match = matchesOf(managed).map((m) => ({ ...m, headers: { ...m.headers, [key]: { exact: arm } } }));
  const next: HttpRoute = { name: armRuleName(arm, target), match, ...settings, route: [destinationOf(managed, armService(arm, target), target)] };
  // Someone else's mirror (an audit copy) applies to the arm's requests too; our shadow mirror does not.
  if (mirror && !isOurMirror(managed, target)) Object.assign(next, { mirror, ...(mirrorPercentage ? { mirrorPercentage } : {}) });
  return next;
}

/** The three arm routes for the managed route at `index`, or the refusal when the VirtualService cannot carry them. */
function armRoutes(vs: VirtualService, http: HttpRoute[], index: number, header: string, target: TrafficTarget): HttpRoute[] {
  const managed = http[index]!;
  const key = header.toLowerCase();
  matchesOf(managed).forEach((m, i) => {
    if (Object.keys(m.headers ?? {}).some((h) => h.toLowerCase() === key))
      throw new TrafficRouterError(
        'Unsupported',
        `VirtualService ${vs.metadata.name} http route ${managed.name ?? index} match ${i} already matches header ${key}; the experiment's arm routes need a header the managed route does not match on`,
      );
  });
  // Someone else's route matching an arm value of the header on a uri of the managed route: we do not fight over it.
  const uris = matchesOf(managed).map((m) => m.uri);
  http.forEach((route, i) => {
    if (i === index || armOfRuleName(route.name, target)) return;
    for (const m of matchesOf(route)) {
      const value = m.headers?.[key]?.exact;
      if (value === undefined || !(ARMS as readonly string[]).includes(value) || !uris.some((u) => isDeepStrictEqual(u, m.uri))) continue;
      throw new TrafficRouterError(
        'RouteRuleNotOwned',
        `VirtualService ${vs.metadata.name} http route ${route.name ?? i} (index ${i}) already matches header ${key}: ${value}${m.uri ? ` on uri ${JSON.stringify(m.uri)}` : ''}, which the experiment's arm routes would match; remove that match or choose another arm header`,
      );
    }
  });
  return ARMS.map((arm) => armRoute(managed, arm, header, target));
}

/**
 * spec.http (`http`: its managed route at `index` already weighted) with the arm routes as `arms` asks: ours taken
 * out and, with `arms`, written right before the managed route. Other routes are never touched.
 */
export function withArmRoutes(vs: VirtualService, http: HttpRoute[], index: number, arms: ArmRouting | undefined, target: TrafficTarget): HttpRoute[] {
  const wanted = arms ? armRoutes(vs, http, index, arms.header, target) : [];
  const managed = http[index]!;
  const others = http.filter((r) => !armOfRuleName(r.name, target));
  const at = others.indexOf(managed);
  return [...others.slice(0, at), ...wanted, ...others.slice(at)];
}

/** Whether the arm routes we own are all there, right before the managed route, as withArmRoutes writes them now. */
export function observeArmRoutes(vs: VirtualService, routeName: string | undefined, target: TrafficTarget): NonNullable<RouteObservation['arms']> {
  const http = vs.spec.http ?? [];
  const owned = http.filter((r) => armOfRuleName(r.name, target));
  if (owned.length === 0) return 'absent';
  const index = routeIndex(http, routeName);
  const treatment = owned.find((r) => r.name === armRuleName('treatment', target));
  if (index < 0 || !treatment || owned.length !== ARMS.length) return 'differ';
  const managed = http[index]!;
  // The header is the one the treatment route matches `treatment` on; each route must be what we would write with it.
  const headers = matchesOf(treatment).flatMap((m) =>
    Object.entries(m.headers ?? {})
      .filter(([, v]) => v.exact === 'treatment')
      .map(([k]) => k),
  );
  const asWritten = (header: string) => ARMS.every((arm, i) => isDeepStrictEqual(http[index - ARMS.length + i], armRoute(managed, arm, header, target)));
  return headers.some(asWritten) ? 'present' : 'differ';
}
