// Gateway API HTTPRoute router: weighted backendRefs on one rule (spec.trafficRouting.gatewayAPI.ruleIndex),
// a RequestMirror filter for shadow.
// spec.rules is an atomic list (https://gateway-api.sigs.k8s.io/reference/spec/#httproutespec), so a
// write replaces every rule: RouteObjectRouter's read-modify-write, changing only the rule this rollout manages.
import type * as k8s from '@kubernetes/client-node';
import { parseStyleRuleClaim, ruleFingerprint, STYLE_RULE_CLAIM_KEY, styleRuleClaimAnnotation } from '../api/names.js';
import type { RouteObservation } from '../rollout/types.js';
import { RouteObjectRouter, TrafficRouterError, type RouterDefinition, type RouterDeps, type TrafficTarget, type Weights } from './router.js';

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

interface HttpRouteRule {
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
    return observeRule(route, this.ruleIndex, this.target);
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
    return { ...route, spec: { ...route.spec, rules } };
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

/** The rule with our two weighted backends and (only when mirroring) our mirror filter; other filters kept. */
export function withWeights(rule: HttpRouteRule, weights: Weights, target: TrafficTarget): HttpRouteRule {
  const filters = (rule.filters ?? []).filter(
    (f) => !(f.type === 'RequestMirror' && f.requestMirror && isServiceRef(f.requestMirror.backendRef, target.candidateService, target.namespace)),
  );
  if (weights.mirrorPercent > 0) {
    filters.push({
      type: 'RequestMirror',
      requestMirror: { backendRef: { name: target.candidateService, port: target.port }, percent: weights.mirrorPercent },
    });
  }
  // A backendRef's own settings (its filters) stay; only who and how much are ours.
  const existing = (service: string) => rule.backendRefs?.find((r) => isServiceRef(r, service, target.namespace));
  const ref = (service: string, weight: number): BackendRef => {
    const { group: _g, kind: _k, namespace: _ns, name: _n, port: _p, weight: _w, ...settings } = existing(service) ?? ({ name: service } as BackendRef);
    return { ...settings, name: service, port: target.port, weight };
  };
  const next: HttpRouteRule = {
    ...rule,
    backendRefs: [ref(target.stableService, weights.stableWeight), ref(target.candidateService, weights.candidateWeight)],
  };
  if (filters.length > 0) next.filters = filters;
  else delete next.filters;
  return next;
}
