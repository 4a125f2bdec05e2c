// Gateway API HTTPRoute router: weighted backendRefs on one rule (spec.trafficRouting.gatewayAPI.ruleIndex),
// a RequestMirror filter for shadow.
// spec.rules is an atomic list (https://gateway-api.sigs.k8s.io/reference/spec/#httproutespec), so a
// write replaces every rule: RouteObjectRouter's read-modify-write, changing only the rule this rollout manages
// (and, during an A/B experiment, the arm rules it added: see withArmRules).
import { isDeepStrictEqual } from 'node:util';
import type * as k8s from '@kubernetes/client-node';
import { ARM_HEADER, ARMS, parseStyleRuleClaim, ruleFingerprint, STYLE_RULE_CLAIM_KEY, styleRuleClaimAnnotation, type Arm } from '../api/names.js';
import type { RouteObservation } from '../rollout/types.js';
import {
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

export const HTTPROUTE = { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes' } as const;

interface BackendRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
  weight?: number;
  filters?: HttpRouteFilter[];
  [key: string]: unknown;
}

interface HeaderValue {
  name: string;
  value: string;
}

interface HeaderModifier {
  set?: HeaderValue[];
  add?: HeaderValue[];
  remove?: string[];
}

interface HttpRouteFilter {
  type: string;
  requestMirror?: { backendRef: BackendRef; percent?: number; fraction?: { numerator: number; denominator?: number } };
  requestHeaderModifier?: HeaderModifier;
  responseHeaderModifier?: HeaderModifier;
  [key: string]: unknown;
}

interface HeaderMatch {
  type?: string;
  name: string;
  value: string;
}

interface PathMatch {
  type?: string;
  value?: string;
}

interface RouteMatch {
  path?: PathMatch;
  headers?: HeaderMatch[];
  queryParams?: { type?: string; name: string; value: string }[];
  [key: string]: unknown;
}

interface HttpRouteRule {
  name?: string;
  matches?: RouteMatch[];
  backendRefs?: BackendRef[];
  filters?: HttpRouteFilter[];
  [key: string]: unknown;
}

export interface HttpRoute {
  apiVersion?: string;
  kind?: string;
  metadata: k8s.V1ObjectMeta;
  spec: { rules?: HttpRouteRule[]; [key: string]: unknown };
}

export interface GatewayApiRoutingSpec {
  httpRoute: string;
  ruleIndex?: number;
}

export interface GatewayApiRouterOptions extends RouterDeps {
  target: TrafficTarget;
  routeName: string;
  ruleIndex: number;
}

export class GatewayApiRouter extends RouteObjectRouter<HttpRoute> {
  private readonly ruleIndex: number;

  constructor(opts: GatewayApiRouterOptions) {
    super('HTTPRoute', HTTPROUTE, opts.routeName, opts.target, opts as RouterDeps);
    this.ruleIndex = opts.ruleIndex;
  }

  protected read(route: HttpRoute): RouteObservation {
    const observed = observeRule(route, this.ruleIndex, this.target);
    return observed.found ? { ...observed, arms: observeArmRules(route, this.ruleIndex, this.target) } : observed;
  }

  protected rewrite(route: HttpRoute, weights: Weights): HttpRoute {
    const rules = route.spec.rules ?? [];
    const rule = rules[this.ruleIndex];
    if (!rule)
      throw new TrafficRouterError(
        'RuleNotFound',
        `HTTPRoute ${this.name} has ${rules.length} rule(s); spec.trafficRouting.gatewayAPI.ruleIndex ${this.ruleIndex} is out of range`,
      );
    rules[this.ruleIndex] = withWeights(rule, weights, this.target);
    return { ...route, spec: { ...route.spec, rules: withArmRules(route, this.ruleIndex, weights.arms, this.target) } };
  }

  /**
   * The arm rules are known by their rules[].name, a field of the HTTPRoute CRD since Gateway API v1.4: an older CRD
   * prunes it, silently. Written unnamed, the rules would be the user's to us (refused as someone else's on the next
   * write, never removed): undo them (and cookie assignment's backendRefs) and refuse, naming the cause.
   */
  protected override lostMarks(
    sent: HttpRoute,
    written: HttpRoute,
    weights: Weights,
  ): { error: TrafficRouterError; undo: (route: HttpRoute) => HttpRoute } | undefined {
    const ours = (sent.spec.rules ?? []).filter((r) => armOfRuleName(r.name, this.target));
    const kept = new Set((written.spec.rules ?? []).map((r) => r.name));
    if (ours.every((r) => kept.has(r.name))) return undefined;
    const unnamed = ours.map(({ name: _name, ...rule }) => normalRule(rule));
    const isOurs = (rule: HttpRouteRule) => rule.name === undefined && unnamed.some((u) => isDeepStrictEqual(normalRule(rule), u));
    const error = new TrafficRouterError(
      'Unsupported',
      `HTTPRoute ${this.name}: the HTTPRoute CRD drops rules[].name: Gateway API v1.4 or later is needed for an experiment's arm rules (the rules written without their names were removed again)`,
    );
    const undo = (route: HttpRoute) => {
      const rules = route.spec.rules ?? [];
      // Our rules are appended after the managed one, so removing them does not move it.
      return this.rewrite({ ...route, spec: { ...route.spec, rules: rules.filter((r) => !isOurs(r)) } }, { ...weights, arms: undefined });
    };
    return { error, undo };
  }
}

/** The registry entry: spec.trafficRouting.gatewayAPI selects it; it watches HTTPRoutes. */
export const gatewayApi: RouterDefinition = {
  specKey: 'gatewayAPI',
  watches: { kind: 'HTTPRoute', resource: HTTPROUTE },
  objectName: (spec) => (spec as GatewayApiRoutingSpec | undefined)?.httpRoute,
  create: (spec, target, deps) => {
    const { httpRoute, ruleIndex } = spec as GatewayApiRoutingSpec;
    return new GatewayApiRouter({ ...deps, target, routeName: httpRoute, ruleIndex: ruleIndex ?? 0 });
  },
};

function isServiceRef(ref: BackendRef, name: string, namespace: string): boolean {
  return ref.name === name && (ref.kind ?? 'Service') === 'Service' && (ref.group ?? '') === '' && (ref.namespace ?? namespace) === namespace;
}

/**
 * Reads the managed rule. Weights are undefined unless the rule carries exactly our two backends. A rule a
 * StyleRollout manages (its claim annotation, or several backendRefs to one Service: a split of adapter
 * versions) is not ours, even when its Service is our stable one.
 */
export function observeRule(route: HttpRoute, ruleIndex: number, target: TrafficTarget): RouteObservation {
  const rule = route.spec.rules?.[ruleIndex];
  if (!rule) return { found: false, error: `HTTPRoute ${route.metadata.name} has no rule at index ${ruleIndex}` };
  const refs = rule.backendRefs ?? [];
  const styleClaim = styleRolloutClaim(route, ruleIndex);
  if (styleClaim) return { found: false, reason: 'RouteRuleNotOwned', error: styleClaim };
  // Cookie assignment's backendRefs (two of them to stable) are ours, not a split of adapter versions; weights
  // only when they are exactly cookieRefs' three (an edited one is rewritten).
  if (assignsByCookie(refs, target)) return { found: true, ...cookieWeights(refs, target), mirrorPercent: mirrorPercentIn(rule, target) };
  const twice = refs.find(
    (r, i) => refs.findIndex((o) => isServiceRef(o, r.name, r.namespace ?? target.namespace) && (o.kind ?? 'Service') === (r.kind ?? 'Service')) !== i,
  );
  if (twice)
    return {
      found: false,
      reason: 'RouteRuleNotOwned',
      error: `HTTPRoute ${route.metadata.name} rule ${ruleIndex} has several backendRefs to Service ${twice.name} (a split of adapter versions, a StyleRollout's); a ModelRollout needs a rule with one backendRef per Service`,
    };
  // A rule that sends traffic anywhere but our two Services is someone else's: we do not take it over.
  const foreign = refs.filter((r) => !isServiceRef(r, target.stableService, target.namespace) && !isServiceRef(r, target.candidateService, target.namespace));
  if (foreign.length > 0) {
    return {
      found: false,
      reason: 'RouteRuleNotOwned',
      error: `HTTPRoute ${route.metadata.name} rule ${ruleIndex} sends traffic to ${foreign.map((r) => `${r.kind ?? 'Service'} ${r.namespace ? `${r.namespace}/` : ''}${r.name}`).join(', ')}, not to this rollout's Services; point the rule at ${target.stableService} to hand it over`,
    };
  }
  const stable = refs.find((r) => isServiceRef(r, target.stableService, target.namespace));
  const candidate = refs.find((r) => isServiceRef(r, target.candidateService, target.namespace));
  const mirrorPercent = mirrorPercentIn(rule, target);
  if (!stable || !candidate || refs.length !== 2) return { found: true, mirrorPercent };
  // An unset weight means 1 (Gateway API default).
  return { found: true, stableWeight: stable.weight ?? 1, candidateWeight: candidate.weight ?? 1, mirrorPercent };
}

/**
 * Why rule `ruleIndex` is a StyleRollout's, if it is: claimed at this index (unless the claim's fingerprint says
 * its rule moved to another index), or the rule a claim at another index was written on (rules inserted or
 * reordered since).
 */
function styleRolloutClaim(route: HttpRoute, ruleIndex: number): string | undefined {
  const rule = route.spec.rules![ruleIndex]!;
  const claimKey = styleRuleClaimAnnotation(ruleIndex);
  const fingerprint = ruleFingerprint(rule);
  const here = route.metadata.annotations?.[claimKey];
  const hereClaim = here === undefined ? undefined : parseStyleRuleClaim(here);
  const movedAway =
    hereClaim?.fingerprint !== undefined &&
    hereClaim.fingerprint !== fingerprint &&
    (route.spec.rules ?? []).some((r, i) => i !== ruleIndex && ruleFingerprint(r) === hereClaim.fingerprint);
  if (hereClaim && !movedAway)
    return `HTTPRoute ${route.metadata.name} rule ${ruleIndex} is managed by StyleRollout ${hereClaim.owner} (annotation ${claimKey}); give this rollout a rule of its own`;
  const moved = Object.entries(route.metadata.annotations ?? {}).find(
    ([key, value]) => key !== claimKey && STYLE_RULE_CLAIM_KEY.test(key) && parseStyleRuleClaim(value).fingerprint === fingerprint,
  );
  if (moved)
    return `HTTPRoute ${route.metadata.name} rule ${ruleIndex} is the rule StyleRollout ${parseStyleRuleClaim(moved[1]).owner} claimed (annotation ${moved[0]}; rules were inserted or reordered since); give this rollout a rule of its own`;
  return undefined;
}

/** The percent our shadow mirror (isOurMirror) copies to the candidate; 0 without one. */
function mirrorPercentIn(rule: HttpRouteRule, target: TrafficTarget): number {
  const mirror = (rule.filters ?? []).find((f) => isOurMirror(f, target));
  return mirror ? mirrorPercentOf(mirror) : 0;
}

function mirrorPercentOf(filter: HttpRouteFilter): number {
  const m = filter.requestMirror!;
  if (m.percent !== undefined) return m.percent;
  if (m.fraction) return Math.round((m.fraction.numerator * 100) / (m.fraction.denominator ?? 100));
  return 100;
}

/** Our shadow mirror: a RequestMirror filter to the candidate. */
function isOurMirror(filter: HttpRouteFilter, target: TrafficTarget): boolean {
  return filter.type === 'RequestMirror' && !!filter.requestMirror && isServiceRef(filter.requestMirror.backendRef, target.candidateService, target.namespace);
}

/**
 * A backendRef to `service` on our port, keeping the settings (filters) the rule's backendRef to it has, less what
 * cookie assignment added to them (the user's own: userFiltersOf); no weight.
 */
function backendRefTo(rule: HttpRouteRule, service: string, target: TrafficTarget): BackendRef {
  const existing = rule.backendRefs?.find((r) => isServiceRef(r, service, target.namespace));
  const { group: _g, kind: _k, namespace: _ns, name: _n, port: _p, weight: _w, filters: _f, ...settings } = existing ?? ({ name: service } as BackendRef);
  const filters = existing ? userFiltersOf(existing) : undefined;
  return { ...settings, ...(filters ? { filters } : {}), name: service, port: target.port };
}

/** The rule with our two weighted backends (cookie assignment: cookieRefs' three) and (only when mirroring) our mirror filter; other filters kept. */
export function withWeights(rule: HttpRouteRule, weights: Weights, target: TrafficTarget): HttpRouteRule {
  const filters = (rule.filters ?? []).filter((f) => !isOurMirror(f, target));
  if (weights.mirrorPercent > 0) {
    filters.push({
      type: 'RequestMirror',
      requestMirror: { backendRef: { name: target.candidateService, port: target.port }, percent: weights.mirrorPercent },
    });
  }
  // A backendRef's own settings (its filters) stay; only who and how much are ours.
  const ref = (service: string, weight: number): BackendRef => ({ ...backendRefTo(rule, service, target), weight });
  const { arms } = weights;
  const next: HttpRouteRule = {
    ...rule,
    backendRefs:
      arms?.mode === 'cookie'
        ? cookieRefs(rule, weights, arms, target)
        : [ref(target.stableService, weights.stableWeight), ref(target.candidateService, weights.candidateWeight)],
  };
  if (filters.length > 0) next.filters = filters;
  else delete next.filters;
  return next;
}

// The A/B experiment's arm rules on an HTTPRoute (#16, docs/experiment-assignment.md): one rule per arm value,
// each copying the managed rule's matches plus an Exact match on the arm header. One more header match than the
// managed rule makes an arm rule win for the requests that carry the header: the HTTPRoute precedence is exact
// path, longest prefix, method, then the largest number of header matches
// (https://gateway-api.sigs.k8s.io/reference/spec/#httprouterule, HTTPRouteRule.matches). Requests without the
// header match only the managed rule and follow its weights.
// The rules are marked by their `name` (rules[].name, standard since Gateway API v1.4) and appended at the end
// of spec.rules rather than beside the managed rule: precedence does not depend on the position, and inserting
// would shift the index of every later rule (another rollout's ruleIndex, a StyleRollout's style-rule-N claim).

/** The matches a rule applies: none written means every path (the API server's default). */
function matchesOf(rule: HttpRouteRule): RouteMatch[] {
  const matches = rule.matches;
  return matches && matches.length > 0 ? matches : [{ path: { type: 'PathPrefix', value: '/' } }];
}

const sameName = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/**
 * The rule for `arm`, copied from the (weighted) managed rule: its matches with the arm header (header mode) or the
 * arm's cookie (cookie mode: and the arm header set on the request, so the runtime labels it), one backend.
 */
function armRule(managed: HttpRouteRule, arm: Arm, arms: ArmRouting, target: TrafficTarget): HttpRouteRule {
  const { name: _name, matches: _matches, backendRefs: _refs, filters, ...settings } = managed;
  const match: HeaderMatch =
    arms.mode === 'cookie'
      ? { type: 'RegularExpression', name: COOKIE_HEADER, value: cookieRegex(arms.cookie, arm) }
      : { type: 'Exact', name: arms.header, value: arm };
  const matches = matchesOf(managed).map((m) => ({ ...m, headers: [...(m.headers ?? []), match] }));
  // The managed rule's own filters (a rewrite, a header modifier) apply to the arm's requests too; our shadow mirror does not.
  const own = (filters ?? []).filter((f) => !isOurMirror(f, target));
  const ruleFilters = arms.mode === 'cookie' ? withHeaderEntry(own, 'RequestHeaderModifier', 'set', { name: arms.header, value: arm }) : own;
  const rule: HttpRouteRule = { ...settings, name: armRuleName(arm, target), matches };
  if (ruleFilters.length > 0) rule.filters = ruleFilters;
  rule.backendRefs = [backendRefTo(managed, armService(arm, target), target)];
  return rule;
}

/** The three arm rules for the managed rule at `ruleIndex`, or the refusal when the route cannot carry them. */
function armRules(route: HttpRoute, ruleIndex: number, arms: ArmRouting, target: TrafficTarget): HttpRouteRule[] {
  const rules = route.spec.rules ?? [];
  const managed = rules[ruleIndex]!;
  // A match lists a header once (headers is a map keyed by name in the CRD).
  const header = arms.mode === 'cookie' ? COOKIE_HEADER : arms.header;
  matchesOf(managed).forEach((m, i) => {
    if ((m.headers ?? []).some((h) => sameName(h.name, header)))
      throw new TrafficRouterError(
        'Unsupported',
        `HTTPRoute ${route.metadata.name} rule ${ruleIndex} match ${i} already matches header ${header}; the experiment's arm rules need a header the managed rule does not match on`,
      );
  });
  if (arms.mode !== 'cookie') refuseCompetingRules(route, ruleIndex, header, target);
  return ARMS.map((arm) => armRule(managed, arm, arms, target));
}

/** A rule of someone else's that matches an arm value of `header` on a path of the managed rule: we do not fight over it. */
function refuseCompetingRules(route: HttpRoute, ruleIndex: number, header: string, target: TrafficTarget): void {
  const rules = route.spec.rules ?? [];
  const paths = matchesOf(rules[ruleIndex]!).map((m) => normalPath(m.path));
  rules.forEach((rule, i) => {
    if (i === ruleIndex || armOfRuleName(rule.name, target)) return;
    for (const m of matchesOf(rule)) {
      const arm = (m.headers ?? []).find((h) => sameName(h.name, header) && (h.type ?? 'Exact') === 'Exact' && (ARMS as readonly string[]).includes(h.value));
      if (!arm || !paths.some((p) => isDeepStrictEqual(p, normalPath(m.path)))) continue;
      const path = normalPath(m.path);
      throw new TrafficRouterError(
        'RouteRuleNotOwned',
        `HTTPRoute ${route.metadata.name} rule ${i} already matches header ${arm.name}: ${arm.value} on path ${path.type} ${path.value}, which the experiment's arm rules for rule ${ruleIndex} would match; remove that match or choose another arm header`,
      );
    }
  });
}

function normalPath(path: PathMatch | undefined): Required<PathMatch> {
  return { type: path?.type ?? 'PathPrefix', value: path?.value ?? '/' };
}

/**
 * spec.rules with the arm rules as `arms` asks: written over the ones we own (in place), the missing ones
 * appended; with no `arms`, ours removed. Other rules are never touched. `route`'s managed rule already carries
 * the weights.
 */
export function withArmRules(route: HttpRoute, ruleIndex: number, arms: ArmRouting | undefined, target: TrafficTarget): HttpRouteRule[] {
  const rules = route.spec.rules ?? [];
  if (!arms) return rules.filter((r) => !armOfRuleName(r.name, target));
  const wanted = armRules(route, ruleIndex, arms, target);
  const written = new Set<string>();
  const next: HttpRouteRule[] = [];
  for (const rule of rules) {
    const arm = armOfRuleName(rule.name, target);
    if (!arm) next.push(rule);
    else if (!written.has(arm)) {
      // Ours is rewritten in place (once, should a copy of it have appeared).
      next.push(wanted[ARMS.indexOf(arm)]!);
      written.add(arm);
    }
  }
  for (const arm of ARMS) if (!written.has(arm)) next.push(wanted[ARMS.indexOf(arm)]!);
  return next;
}

/** The rule as the API server stores it: the defaults Gateway API v1.4's CRD fills, so a read compares equal to a write. */
function normalRule(rule: HttpRouteRule): HttpRouteRule {
  const matches = matchesOf(rule).map((m) => ({
    ...m,
    path: normalPath(m.path),
    ...(m.headers ? { headers: m.headers.map((h) => ({ ...h, type: h.type ?? 'Exact' })) } : {}),
    ...(m.queryParams ? { queryParams: m.queryParams.map((q) => ({ ...q, type: q.type ?? 'Exact' })) } : {}),
  }));
  const backendRefs = rule.backendRefs?.map((r) => ({ ...r, group: r.group ?? '', kind: r.kind ?? 'Service', weight: r.weight ?? 1 }));
  return { ...rule, matches, ...(backendRefs ? { backendRefs } : {}) };
}

/**
 * Whether the arm rules we own are all there, as withArmRules writes them for the managed rule now (and, for
 * cookie assignment, the managed rule's backendRefs as cookieRefs writes them at its weights).
 */
export function observeArmRules(route: HttpRoute, ruleIndex: number, target: TrafficTarget): NonNullable<RouteObservation['arms']> {
  const rules = route.spec.rules ?? [];
  const owned = rules.filter((r) => armOfRuleName(r.name, target));
  const managed = rules[ruleIndex];
  const assigning = managed !== undefined && assignsByCookie(managed.backendRefs ?? [], target);
  if (owned.length === 0) return assigning ? 'differ' : 'absent';
  const treatment = owned.find((r) => r.name === armRuleName('treatment', target));
  if (!managed || !treatment || owned.length !== ARMS.length) return 'differ';
  const asWritten = (arms: ArmRouting) =>
    ARMS.every((arm) => {
      const rule = owned.find((r) => r.name === armRuleName(arm, target));
      return rule !== undefined && isDeepStrictEqual(normalRule(rule), normalRule(armRule(managed, arm, arms, target)));
    }) && (arms.mode === 'cookie' ? cookieRefsAsWritten(managed, arms, target) : !assigning);
  return armRoutingsOf(treatment, managed).some(asWritten) ? 'present' : 'differ';
}

/**
 * The arm routings the rules may have been written with: the header the treatment rule matches `treatment` on; for
 * cookie assignment, the cookie the candidate's backendRef sets and the header the treatment rule sets to `treatment`.
 */
function armRoutingsOf(treatment: HttpRouteRule, managed: HttpRouteRule): ArmRouting[] {
  const headers = matchesOf(treatment).flatMap((m) => (m.headers ?? []).filter((h) => h.value === 'treatment').map((h) => ({ header: h.name })));
  const mark = (managed.backendRefs ?? []).map(cookieMarkOf).find((m) => m?.arm === 'treatment');
  if (!mark) return headers;
  const sets = (treatment.filters ?? []).flatMap((f) => (f.type === 'RequestHeaderModifier' ? (f.requestHeaderModifier?.set ?? []) : []));
  const cookie = sets
    .filter((h) => h.value === 'treatment')
    .map((h): ArmRouting => ({ mode: 'cookie', header: h.name, cookie: mark.cookie, maxAgeSeconds: mark.maxAgeSeconds }));
  return [...headers, ...cookie];
}

/** Whether the managed rule's backendRefs are what cookieRefs writes at the weights they carry. */
function cookieRefsAsWritten(managed: HttpRouteRule, arms: CookieArmRouting, target: TrafficTarget): boolean {
  const weights = cookieWeights(managed.backendRefs ?? [], target);
  if (!weights || weights.candidateWeight > weights.stableWeight) return false;
  const wanted = cookieRefs(managed, { ...weights, mirrorPercent: 0 }, arms, target);
  return isDeepStrictEqual(normalRule({ backendRefs: managed.backendRefs }).backendRefs, normalRule({ backendRefs: wanted }).backendRefs);
}

// Cookie assignment (#16, for clients without a user id): the managed rule draws a new client by weight into one of
// three backendRefs, whose ResponseHeaderModifier marks the client with the arm's cookie, and whose
// RequestHeaderModifier sets the arm header so the runtime labels even that first request. A returning client's
// cookie is matched by the arm rules (a RegularExpression header match on Cookie: Implementation-specific in
// Gateway API, https://gateway-api.sigs.k8s.io/reference/spec/#httpheadermatch; Traefik v3 honours it, see
// test/integration/gateway-proxy.test.ts), which win over the managed rule by their one more header match.
// Implementations differ in how the regex applies: Traefik searches the value (a partial match), Envoy-based ones
// (Envoy Gateway, Istio's Gateway API, GKE) use RE2 safe_regex, a full match; cookieRegex is right under both.
// Two backendRefs to stable in one rule are allowed: backendRefs is an atomic list without a uniqueness rule.
// A filter type appears once per filters list (CRD: "RequestHeaderModifier filter cannot be repeated") and a
// modifier's set/add lists are maps keyed by header name, so our entries are merged into the user's filters.

const COOKIE_HEADER = 'Cookie';
const SET_COOKIE = 'Set-Cookie';
const MODIFIER_FIELD = { RequestHeaderModifier: 'requestHeaderModifier', ResponseHeaderModifier: 'responseHeaderModifier' } as const;
type ModifierType = keyof typeof MODIFIER_FIELD;

/**
 * A Cookie header value that carries `cookie=arm` (anywhere in the list: RFC 6265 §4.2.1 `name=value; name=value`),
 * whether the implementation searches the value or matches it whole (the `.*` on both sides; the Istio router's
 * pattern). A rule written with an earlier pattern (`(^|;\s*)…(;|$)`, partial match only) reads as not as written
 * and is rewritten.
 */
function cookieRegex(cookie: string, arm: Arm): string {
  return `(^|.*;\\s*)${cookieNamePattern(cookie)}=${arm}(;.*|$)`;
}

/** The arm a backendRef's filters mark new clients with (cookieRefs), and the cookie's name and Max-Age. */
function cookieMarkOf(ref: BackendRef): { arm: Arm; cookie: string; maxAgeSeconds: number } | undefined {
  for (const f of ref.filters ?? []) {
    for (const h of f.type === 'ResponseHeaderModifier' ? (f.responseHeaderModifier?.add ?? []) : []) {
      const mark = sameName(h.name, SET_COOKIE) ? parseArmCookie(h.value) : undefined;
      if (mark) return mark;
    }
  }
  return undefined;
}

/** Whether every backendRef of a rule is marked with an arm cookie and goes to one of our Services (cookieRefs wrote it). */
function assignsByCookie(refs: BackendRef[], target: TrafficTarget): boolean {
  const ours = (r: BackendRef) => isServiceRef(r, target.stableService, target.namespace) || isServiceRef(r, target.candidateService, target.namespace);
  return refs.length > 0 && refs.every((r) => ours(r) && cookieMarkOf(r) !== undefined);
}

/** The weights of a managed rule in cookieRefs' shape: one marked backendRef per arm, to the arm's Service. */
function cookieWeights(refs: BackendRef[], target: TrafficTarget): { stableWeight: number; candidateWeight: number } | undefined {
  if (refs.length !== ARMS.length) return undefined;
  const byArm = new Map(refs.map((r) => [cookieMarkOf(r)?.arm, r]));
  const weight = (arm: Arm) => {
    const ref = byArm.get(arm);
    return ref && isServiceRef(ref, armService(arm, target), target.namespace) ? (ref.weight ?? 1) : undefined;
  };
  const [treatment, control, none] = ARMS.map(weight);
  if (treatment === undefined || control === undefined || none === undefined) return undefined;
  return { stableWeight: none + control, candidateWeight: treatment };
}

/**
 * A backendRef's filters less what cookieRefs added (our Set-Cookie, and the arm header set to the same arm): the
 * user's. Ours are known by the header's name and value both: a user's own header whose value happens to be an arm
 * name (`x-compression: none`) stays. (The arm header is always ARM_HEADER: analysis/experiment-gate.ts.)
 */
function userFiltersOf(ref: BackendRef): HttpRouteFilter[] | undefined {
  const mark = cookieMarkOf(ref);
  if (!mark) return ref.filters;
  const ours = withoutHeaderEntries(
    withoutHeaderEntries(ref.filters ?? [], 'ResponseHeaderModifier', 'add', (h) => sameName(h.name, SET_COOKIE) && parseArmCookie(h.value) !== undefined),
    'RequestHeaderModifier',
    'set',
    (h) => sameName(h.name, ARM_HEADER) && h.value === mark.arm,
  );
  return ours.length > 0 ? ours : undefined;
}

/** Cookie assignment's backendRefs: none (stable, stable − w), control (stable, w) and treatment (candidate, w). */
function cookieRefs(rule: HttpRouteRule, weights: Weights, arms: CookieArmRouting, target: TrafficTarget): BackendRef[] {
  const w = weights.candidateWeight;
  if (w > weights.stableWeight)
    throw new TrafficRouterError(
      'Unsupported',
      `cookie assignment needs the candidate's weight (${w}) at most stable's (${weights.stableWeight}): the control arm is a slice of stable as large as treatment`,
    );
  const ref = (arm: Arm, weight: number): BackendRef => {
    const base = backendRefTo(rule, armService(arm, target), target);
    const theirs = (base.filters ?? []).some(
      (f) => f.type === 'ResponseHeaderModifier' && (f.responseHeaderModifier?.add ?? []).some((h) => sameName(h.name, SET_COOKIE)),
    );
    if (theirs)
      throw new TrafficRouterError(
        'Unsupported',
        `the backendRef to Service ${base.name} already adds a Set-Cookie header (ResponseHeaderModifier add); cookie assignment adds its own there, and add lists a header once`,
      );
    const withCookie = withHeaderEntry(base.filters ?? [], 'ResponseHeaderModifier', 'add', { name: SET_COOKIE, value: armCookie(arms, arm) });
    return { ...base, weight, filters: withHeaderEntry(withCookie, 'RequestHeaderModifier', 'set', { name: arms.header, value: arm }) };
  };
  return [ref('none', weights.stableWeight - w), ref('control', w), ref('treatment', w)];
}

/** `filters` with `entry` in the `op` list of their `type` modifier (merged into the one there; an entry of its name replaced). */
function withHeaderEntry(filters: HttpRouteFilter[], type: ModifierType, op: 'set' | 'add', entry: HeaderValue): HttpRouteFilter[] {
  const field = MODIFIER_FIELD[type];
  const at = filters.findIndex((f) => f.type === type);
  const modifier: HeaderModifier = (at < 0 ? undefined : filters[at]![field]) ?? {};
  const filter: HttpRouteFilter = {
    ...(at < 0 ? { type } : filters[at]!),
    [field]: { ...modifier, [op]: [...(modifier[op] ?? []).filter((h) => !sameName(h.name, entry.name)), entry] },
  };
  return at < 0 ? [...filters, filter] : filters.map((f, i) => (i === at ? filter : f));
}

/** `filters` without the `op` entries of their `type` modifier that `drop` picks; a modifier left empty goes. */
function withoutHeaderEntries(filters: HttpRouteFilter[], type: ModifierType, op: 'set' | 'add', drop: (h: HeaderValue) => boolean): HttpRouteFilter[] {
  const field = MODIFIER_FIELD[type];
  return filters.flatMap((f) => {
    const modifier = f.type === type ? f[field] : undefined;
    const entries = modifier?.[op];
    if (!modifier || !entries?.some(drop)) return [f];
    const next: HeaderModifier = { ...modifier, [op]: entries.filter((h) => !drop(h)) };
    if (next[op]!.length === 0) delete next[op];
    return Object.values(next).some((list: unknown[] | undefined) => list && list.length > 0) ? [{ ...f, [field]: next }] : [];
  });
}
