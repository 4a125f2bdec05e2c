// Istio VirtualService router: weights on the stable and candidate destinations of one http route,
// `mirror` + `mirrorPercentage` for shadow. spec.http is a list replaced as a whole by a write, so:
// RouteObjectRouter's read-modify-write, touching only the route this rollout owns (and, during an A/B
// experiment, the arm routes it added: see withArmRoutes; with cookie assignment, the managed route's three
// cookie-setting destinations: see cookieDestinations).
import { isDeepStrictEqual } from 'node:util';
import type * as k8s from '@kubernetes/client-node';
import { ARM_HEADER, ARMS, type Arm } from '../api/names.js';
import type { RouteObservation } from '../rollout/types.js';
import {
  ARM_RULE_PREFIX,
  armCookie,
  armOfRuleName,
  armRuleName,
  armService,
  cookieNamePattern,
  parseArmCookie,
  RouteObjectRouter,
  TrafficRouterError,
  type ArmRouting,
  type CookieArmRouting,
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

/** Header operations (https://istio.io/latest/docs/reference/config/networking/virtual-service/#Headers-HeaderOperations): maps keyed by header name. */
interface HeaderOperations {
  set?: Record<string, string>;
  add?: Record<string, string>;
  remove?: string[];
}

/** A route's or a destination's header manipulation (https://istio.io/latest/docs/reference/config/networking/virtual-service/#Headers). */
interface Headers {
  request?: HeaderOperations;
  response?: HeaderOperations;
}

interface RouteDestination {
  destination: Destination;
  weight?: number;
  headers?: Headers;
  [key: string]: unknown;
}

interface HttpRoute {
  name?: string;
  match?: HttpMatch[];
  route?: RouteDestination[];
  headers?: Headers;
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
  // Cookie assignment's destinations (two of them to stable) carry weights only in cookieDestinations' shape.
  if (assignsByCookie(dests, target)) return { found: true, ...cookieWeights(dests, target), mirrorPercent };
  if (!stable || !candidate || dests.length !== 2) return { found: true, mirrorPercent };
  // Istio: with several destinations, an unset weight is 0.
  return { found: true, stableWeight: stable.weight ?? 0, candidateWeight: candidate.weight ?? 0, mirrorPercent };
}

/**
 * A destination of `service` on our port, keeping the settings (headers, subset) the route's one has, less what
 * cookie assignment added to its headers (the user's own: userHeadersOf); no weight.
 */
function destinationOf(route: HttpRoute, service: string, target: TrafficTarget): RouteDestination {
  const existing = route.route?.find((d) => isHost(d.destination.host, service, target.namespace));
  const { destination, weight: _w, headers: _h, ...settings } = existing ?? { destination: { host: service } };
  const headers = existing ? userHeadersOf(existing) : undefined;
  return { ...settings, ...(headers ? { headers } : {}), destination: { ...destination, host: service, port: { number: target.port } } };
}

function isOurMirror(route: HttpRoute, target: TrafficTarget): boolean {
  return !!route.mirror && isHost(route.mirror.host, target.candidateService, target.namespace);
}

export function withWeights(route: HttpRoute, weights: Weights, target: TrafficTarget): HttpRoute {
  const port = { number: target.port };
  // A destination's own settings (headers, subset) stay; only the host, port and weight are ours.
  const entry = (service: string, weight: number) => ({ ...destinationOf(route, service, target), weight });
  const { arms } = weights;
  const next: HttpRoute = {
    ...route,
    route:
      arms?.mode === 'cookie'
        ? cookieDestinations(route, weights, arms, target)
        : [entry(target.stableService, weights.stableWeight), entry(target.candidateService, weights.candidateWeight)],
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
// copying the managed route's matches plus a match on the arm header (cookie assignment: on the arm's cookie),
// placed right before the managed route — Istio takes the first http route that matches
// (https://istio.io/latest/docs/reference/config/networking/virtual-service/#VirtualService, `http`), so a
// request carrying the header takes its arm's route and one without it falls through to the weights. Marked as
// ours by their `name`.

/** The matches a route applies: none written means every request. */
function matchesOf(route: HttpRoute): HttpMatch[] {
  return route.match && route.match.length > 0 ? route.match : [{}];
}

/** The header an arm route matches on, and how: the arm header's value, or (cookie assignment) the arm's cookie. */
function armMatch(arms: ArmRouting, arm: Arm): Record<string, StringMatch> {
  // Istio wants header names lowercase in a match.
  return arms.mode === 'cookie' ? { [COOKIE]: { regex: cookieRegex(arms.cookie, arm) } } : { [arms.header.toLowerCase()]: { exact: arm } };
}

/**
 * The route for `arm`, copied from the (weighted) managed route: its matches with the arm header (header mode) or
 * the arm's cookie (cookie mode: and the arm header set on the request, so the runtime labels it), one destination.
 */
function armRoute(managed: HttpRoute, arm: Arm, arms: ArmRouting, target: TrafficTarget): HttpRoute {
  const { name: _name, match: _match, route: _route, mirror, mirrorPercentage, headers, ...settings } = managed;
  const match = matchesOf(managed).map((m) => ({ ...m, headers: { ...m.headers, ...armMatch(arms, arm) } }));
  // The managed route's own header operations apply to the arm's requests too.
  const routeHeaders = arms.mode === 'cookie' ? withHeaderEntry(headers, 'request', 'set', arms.header.toLowerCase(), arm) : headers;
  const next: HttpRoute = { name: armRuleName(arm, target), match, ...settings, ...(routeHeaders ? { headers: routeHeaders } : {}) };
  next.route = [destinationOf(managed, armService(arm, target), target)];
  // Someone else's mirror (an audit copy) applies to the arm's requests too; our shadow mirror does not.
  if (mirror && !isOurMirror(managed, target)) Object.assign(next, { mirror, ...(mirrorPercentage ? { mirrorPercentage } : {}) });
  return next;
}

/** The three arm routes for the managed route at `index`, or the refusal when the VirtualService cannot carry them. */
function armRoutes(vs: VirtualService, http: HttpRoute[], index: number, arms: ArmRouting, target: TrafficTarget): HttpRoute[] {
  const managed = http[index]!;
  const key = arms.mode === 'cookie' ? COOKIE : arms.header.toLowerCase();
  matchesOf(managed).forEach((m, i) => {
    if (Object.keys(m.headers ?? {}).some((h) => h.toLowerCase() === key))
      throw new TrafficRouterError(
        'Unsupported',
        `VirtualService ${vs.metadata.name} http route ${managed.name ?? index} match ${i} already matches header ${key}; the experiment's arm routes need a header the managed route does not match on`,
      );
  });
  if (arms.mode !== 'cookie') refuseCompetingRoutes(vs, http, index, key, target);
  return ARMS.map((arm) => armRoute(managed, arm, arms, target));
}

/** Someone else's route matching an arm value of the header `key` on a uri of the managed route: we do not fight over it. */
function refuseCompetingRoutes(vs: VirtualService, http: HttpRoute[], index: number, key: string, target: TrafficTarget): void {
  const uris = matchesOf(http[index]!).map((m) => m.uri);
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
}

/**
 * spec.http (`http`: its managed route at `index` already weighted) with the arm routes as `arms` asks: ours taken
 * out and, with `arms`, written right before the managed route. Other routes are never touched.
 */
export function withArmRoutes(vs: VirtualService, http: HttpRoute[], index: number, arms: ArmRouting | undefined, target: TrafficTarget): HttpRoute[] {
  const wanted = arms ? armRoutes(vs, http, index, arms, target) : [];
  const managed = http[index]!;
  const others = http.filter((r) => !armOfRuleName(r.name, target));
  const at = others.indexOf(managed);
  return [...others.slice(0, at), ...wanted, ...others.slice(at)];
}

/**
 * Whether the arm routes we own are all there, right before the managed route, as withArmRoutes writes them now
 * (and, for cookie assignment, the managed route's destinations as cookieDestinations writes them at their weights).
 */
export function observeArmRoutes(vs: VirtualService, routeName: string | undefined, target: TrafficTarget): NonNullable<RouteObservation['arms']> {
  const http = vs.spec.http ?? [];
  const owned = http.filter((r) => armOfRuleName(r.name, target));
  const index = routeIndex(http, routeName);
  const managed = http[index];
  const assigning = managed !== undefined && assignsByCookie(managed.route ?? [], target);
  if (owned.length === 0) return assigning ? 'differ' : 'absent';
  const treatment = owned.find((r) => r.name === armRuleName('treatment', target));
  if (!managed || !treatment || owned.length !== ARMS.length) return 'differ';
  // Each route must be what we would write with the arm routing they were written with.
  const asWritten = (arms: ArmRouting) =>
    ARMS.every((arm, i) => isDeepStrictEqual(http[index - ARMS.length + i], armRoute(managed, arm, arms, target))) &&
    (arms.mode === 'cookie' ? cookieDestinationsAsWritten(managed, arms, target) : !assigning);
  return armRoutingsOf(treatment, managed).some(asWritten) ? 'present' : 'differ';
}

/**
 * The arm routings the routes may have been written with: the header the treatment route matches `treatment` on;
 * for cookie assignment, the cookie the candidate's destination sets and the header the treatment route sets to
 * `treatment`.
 */
function armRoutingsOf(treatment: HttpRoute, managed: HttpRoute): ArmRouting[] {
  const headers = matchesOf(treatment).flatMap((m) =>
    Object.entries(m.headers ?? {})
      .filter(([, v]) => v.exact === 'treatment')
      .map(([header]) => ({ header })),
  );
  const mark = (managed.route ?? []).map(cookieMarkOf).find((m) => m?.arm === 'treatment');
  if (!mark) return headers;
  const cookie = Object.entries(treatment.headers?.request?.set ?? {})
    .filter(([, v]) => v === 'treatment')
    .map(([header]): ArmRouting => ({ mode: 'cookie', header, cookie: mark.cookie, maxAgeSeconds: mark.maxAgeSeconds }));
  return [...headers, ...cookie];
}

// Cookie assignment (#16, for clients without a user id): the managed route draws a new client by weight into one
// of three destinations, whose header operations add the arm's cookie to the response and set the arm header on
// the request, so the runtime labels even that first request
// (https://istio.io/latest/docs/reference/config/networking/virtual-service/#Headers: a destination's headers
// apply only to the requests routed to it). A returning client's cookie is matched by the arm routes before the
// managed route. Istio's `regex` is RE2 and must match the whole Cookie value, unlike Gateway API's
// RegularExpression as Traefik applies it, hence the `.*` on both sides of cookieRegex.

const COOKIE = 'cookie';
const SET_COOKIE = 'set-cookie';

/** A Cookie header value that carries `cookie=arm` (anywhere in the list: RFC 6265 §4.2.1 `name=value; name=value`), matched whole. */
function cookieRegex(cookie: string, arm: Arm): string {
  return `(^|.*;\\s*)${cookieNamePattern(cookie)}=${arm}(;.*|$)`;
}

/** The arm a destination marks new clients with (cookieDestinations), and the cookie's name and Max-Age. */
function cookieMarkOf(dest: RouteDestination): ReturnType<typeof parseArmCookie> {
  for (const [name, value] of Object.entries(dest.headers?.response?.add ?? {})) {
    const mark = name.toLowerCase() === SET_COOKIE ? parseArmCookie(value) : undefined;
    if (mark) return mark;
  }
  return undefined;
}

/** Whether every destination of a route is marked with an arm cookie and goes to one of our Services (cookieDestinations wrote it). */
function assignsByCookie(dests: RouteDestination[], target: TrafficTarget): boolean {
  const ours = (d: RouteDestination) =>
    isHost(d.destination.host, target.stableService, target.namespace) || isHost(d.destination.host, target.candidateService, target.namespace);
  return dests.length > 0 && dests.every((d) => ours(d) && cookieMarkOf(d) !== undefined);
}

/** The weights of a managed route in cookieDestinations' shape: one marked destination per arm, to the arm's Service. */
function cookieWeights(dests: RouteDestination[], target: TrafficTarget): { stableWeight: number; candidateWeight: number } | undefined {
  if (dests.length !== ARMS.length) return undefined;
  const byArm = new Map(dests.map((d) => [cookieMarkOf(d)?.arm, d]));
  const weight = (arm: Arm) => {
    const dest = byArm.get(arm);
    // Istio: with several destinations, an unset weight is 0.
    return dest && isHost(dest.destination.host, armService(arm, target), target.namespace) ? (dest.weight ?? 0) : undefined;
  };
  const [treatment, control, none] = ARMS.map(weight);
  if (treatment === undefined || control === undefined || none === undefined) return undefined;
  return { stableWeight: none + control, candidateWeight: treatment };
}

/** Whether the managed route's destinations are what cookieDestinations writes at the weights they carry. */
function cookieDestinationsAsWritten(managed: HttpRoute, arms: CookieArmRouting, target: TrafficTarget): boolean {
  const weights = cookieWeights(managed.route ?? [], target);
  if (!weights || weights.candidateWeight > weights.stableWeight) return false;
  try {
    return isDeepStrictEqual(managed.route, cookieDestinations(managed, { ...weights, mirrorPercent: 0 }, arms, target));
  } catch (err) {
    // A Set-Cookie of the user's own beside ours: not as we write it (the next write refuses it).
    if (err instanceof TrafficRouterError) return false;
    throw err;
  }
}

/**
 * A destination's headers less what cookieDestinations added (our Set-Cookie, and the arm header set to the same
 * arm): the user's. Ours are known by the header's name and value both: a user's own header whose value happens to
 * be an arm name (`x-compression: none`) stays. (The arm header is always ARM_HEADER: analysis/experiment-gate.ts.)
 */
function userHeadersOf(dest: RouteDestination): Headers | undefined {
  const mark = cookieMarkOf(dest);
  if (!mark) return dest.headers;
  const lessCookie = withoutHeaderEntries(
    dest.headers,
    'response',
    'add',
    (name, value) => name.toLowerCase() === SET_COOKIE && parseArmCookie(value) !== undefined,
  );
  return withoutHeaderEntries(lessCookie, 'request', 'set', (name, value) => name.toLowerCase() === ARM_HEADER.toLowerCase() && value === mark.arm);
}

/** Cookie assignment's destinations: none (stable, stable − w), control (stable, w) and treatment (candidate, w). */
function cookieDestinations(route: HttpRoute, weights: Weights, arms: CookieArmRouting, target: TrafficTarget): RouteDestination[] {
  const w = weights.candidateWeight;
  if (w > weights.stableWeight)
    throw new TrafficRouterError(
      'Unsupported',
      `cookie assignment needs the candidate's weight (${w}) at most stable's (${weights.stableWeight}): the control arm is a slice of stable as large as treatment`,
    );
  const dest = (arm: Arm, weight: number): RouteDestination => {
    const base = destinationOf(route, armService(arm, target), target);
    const response = base.headers?.response;
    if (Object.keys({ ...response?.add, ...response?.set }).some((name) => name.toLowerCase() === SET_COOKIE))
      throw new TrafficRouterError(
        'Unsupported',
        `the destination ${base.destination.host} already sets a Set-Cookie header (headers.response); cookie assignment adds its own there`,
      );
    const withCookie = withHeaderEntry(base.headers, 'response', 'add', SET_COOKIE, armCookie(arms, arm));
    return { ...base, weight, headers: withHeaderEntry(withCookie, 'request', 'set', arms.header.toLowerCase(), arm) };
  };
  return [dest('none', weights.stableWeight - w), dest('control', w), dest('treatment', w)];
}

/** `headers` with `name: value` in the `op` map of their `side` (an entry of that name, in any case, replaced). */
function withHeaderEntry(headers: Headers | undefined, side: keyof Headers, op: 'set' | 'add', name: string, value: string): Headers {
  const ops = headers?.[side] ?? {};
  const entries = Object.entries(ops[op] ?? {}).filter(([n]) => n.toLowerCase() !== name.toLowerCase());
  return { ...headers, [side]: { ...ops, [op]: { ...Object.fromEntries(entries), [name]: value } } };
}

/** `headers` without the `op` entries of their `side` that `drop` picks; a map, a side or headers left empty go. */
function withoutHeaderEntries(
  headers: Headers | undefined,
  side: keyof Headers,
  op: 'set' | 'add',
  drop: (name: string, value: string) => boolean,
): Headers | undefined {
  const ops = headers?.[side];
  const entries = Object.entries(ops?.[op] ?? {});
  if (!headers || !ops || !entries.some(([n, v]) => drop(n, v))) return headers;
  const kept = entries.filter(([n, v]) => !drop(n, v));
  const nextOps: HeaderOperations = { ...ops, [op]: Object.fromEntries(kept) };
  if (kept.length === 0) delete nextOps[op];
  const next: Headers = { ...headers, [side]: nextOps };
  if (Object.keys(nextOps).length === 0) delete next[side];
  return Object.keys(next).length > 0 ? next : undefined;
}
