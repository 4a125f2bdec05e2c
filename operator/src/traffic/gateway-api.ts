// Gateway API HTTPRoute router: weighted backendRefs on one rule (spec.trafficRouting.gatewayAPI.ruleIndex),
// a RequestMirror filter for shadow.
// spec.rules is an atomic list (https://gateway-api.sigs.k8s.io/reference/spec/#httproutespec), so a
// write replaces every rule: RouteObjectRouter's read-modify-write, changing only the rule this rollout manages
// (and, during an A/B experiment, the arm rules it added: see withArmRules).
import { isDeepStrictEqual } from 'node:util';
import type * as k8s from '@kubernetes/client-node';
import { ARMS, parseStyleRuleClaim, ruleFingerprint, STYLE_RULE_CLAIM_KEY, styleRuleClaimAnnotation, type Arm } from '../api/names.js';
import type { RouteObservation } from '../rollout/types.js';
import {
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

export const HTTPROUTE = { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes' } as const;

interface BackendRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
  weight?: number;
  [key: string]: unknown;
}

interface HttpRouteFilter {
  type: string;
  requestMirror?: { backendRef: BackendRef; percent?: number; fraction?: { numerator: number; denominator?: number } };
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
  const mirror = (rule.filters ?? []).find(
    (f) => f.type === 'RequestMirror' && f.requestMirror && isServiceRef(f.requestMirror.backendRef, target.candidateService, target.namespace),
  );
  const mirrorPercent = mirror ? mirrorPercentOf(mirror) : 0;
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

/** A backendRef to `service` on our port, keeping the settings (filters) the rule's backendRef to it has; no weight. */
function backendRefTo(rule: HttpRouteRule, service: string, target: TrafficTarget): BackendRef {
  const existing = rule.backendRefs?.find((r) => isServiceRef(r, service, target.namespace));
  const { group: _g, kind: _k, namespace: _ns, name: _n, port: _p, weight: _w, ...settings } = existing ?? ({ name: service } as BackendRef);
  return { ...settings, name: service, port: target.port };
}

/** The rule with our two weighted backends and (only when mirroring) our mirror filter; other filters kept. */
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
  const next: HttpRouteRule = {
    ...rule,
    backendRefs: [ref(target.stableService, weights.stableWeight), ref(target.candidateService, weights.candidateWeight)],
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

/** The rule for `arm`, copied from the (weighted) managed rule: its matches with the arm header, one backend. */
function armRule(managed: HttpRouteRule, arm: Arm, header: string, target: TrafficTarget): HttpRouteRule {
  const { name: _name, matches: _matches, backendRefs: _refs, filters, ...settings } = managed;
  const matches = matchesOf(managed).map((m) => ({ ...m, headers: [...(m.headers ?? []), { type: 'Exact', name: header, value: arm }] }));
  // The managed rule's own filters (a rewrite, a header modifier) apply to the arm's requests too; our shadow mirror does not.
  const ruleFilters = (filters ?? []).filter((f) => !isOurMirror(f, target));
  const rule: HttpRouteRule = { ...settings, name: armRuleName(arm, target), matches };
  if (ruleFilters.length > 0) rule.filters = ruleFilters;
  rule.backendRefs = [backendRefTo(managed, armService(arm, target), target)];
  return rule;
}

/** The three arm rules for the managed rule at `ruleIndex`, or the refusal when the route cannot carry them. */
function armRules(route: HttpRoute, ruleIndex: number, header: string, target: TrafficTarget): HttpRouteRule[] {
  const rules = route.spec.rules ?? [];
  const managed = rules[ruleIndex]!;
  matchesOf(managed).forEach((m, i) => {
    if ((m.headers ?? []).some((h) => sameName(h.name, header)))
      throw new TrafficRouterError(
        'Unsupported',
        `HTTPRoute ${route.metadata.name} rule ${ruleIndex} match ${i} already matches header ${header}; the experiment's arm rules need a header the managed rule does not match on`,
      );
  });
  refuseCompetingRules(route, ruleIndex, header, target);
  return ARMS.map((arm) => armRule(managed, arm, header, target));
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
  const wanted = armRules(route, ruleIndex, arms.header, target);
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

/** Whether the arm rules we own are all there, as withArmRules writes them for the managed rule now. */
export function observeArmRules(route: HttpRoute, ruleIndex: number, target: TrafficTarget): NonNullable<RouteObservation['arms']> {
  const rules = route.spec.rules ?? [];
  const owned = rules.filter((r) => armOfRuleName(r.name, target));
  if (owned.length === 0) return 'absent';
  const managed = rules[ruleIndex];
  const treatment = owned.find((r) => r.name === armRuleName('treatment', target));
  if (!managed || !treatment || owned.length !== ARMS.length) return 'differ';
  // The header is the one the treatment rule matches `treatment` on; every rule must be what we would write with it.
  const headers = matchesOf(treatment).flatMap((m) => (m.headers ?? []).filter((h) => h.value === 'treatment').map((h) => h.name));
  const asWritten = (header: string) =>
    ARMS.every((arm) => {
      const rule = owned.find((r) => r.name === armRuleName(arm, target));
      return rule !== undefined && isDeepStrictEqual(normalRule(rule), normalRule(armRule(managed, arm, header, target)));
    });
  return headers.some(asWritten) ? 'present' : 'differ';
}
