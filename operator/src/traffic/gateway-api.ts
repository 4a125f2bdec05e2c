// Gateway API HTTPRoute router: weighted backendRefs on one rule, RequestMirror filter for shadow.
// spec.rules is an atomic list (https://gateway-api.sigs.k8s.io/reference/spec/#httproutespec), so a
// write replaces every rule: read-modify-write with resourceVersion, retry on conflict, and change
// only the rule this rollout manages.
import * as k8s from '@kubernetes/client-node';
import type { RouteObservation } from '../rollout/types.js';
import { replaceWithRetry, TrafficRouterError, type TrafficRouter, type TrafficTarget, type Weights } from './router.js';
import { isNotFound } from '../kube/errors.js';

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

export interface GatewayApiRouterOptions {
  custom: k8s.CustomObjectsApi;
  target: TrafficTarget;
  routeName: string;
  ruleIndex: number;
  /** Where observe() reads from (an informer cache); GET when absent. */
  cached?: (namespace: string, name: string) => HttpRoute | undefined;
  onRequest?: (verb: string) => void;
  /** Told about the route as written, so a cache can serve it before the watch event arrives. */
  onWritten?: (route: HttpRoute) => void;
  maxConflictRetries?: number;
}

export class GatewayApiRouter implements TrafficRouter {
  constructor(private readonly opts: GatewayApiRouterOptions) {}

  async observe(): Promise<RouteObservation> {
    const route = this.opts.cached ? this.opts.cached(this.opts.target.namespace, this.opts.routeName) : await this.get();
    if (!route) return { found: false, error: `HTTPRoute ${this.opts.target.namespace}/${this.opts.routeName} not found` };
    return observeRule(route, this.opts.ruleIndex, this.opts.target);
  }

  async setWeights(weights: Weights): Promise<void> {
    const { namespace } = this.opts.target;
    const name = this.opts.routeName;
    const written = await replaceWithRetry<HttpRoute>({
      what: `HTTPRoute ${namespace}/${name}`,
      attempts: this.opts.maxConflictRetries ?? 5,
      cached: () => this.opts.cached?.(namespace, name),
      read: () => this.get(),
      modify: (route) => {
        const rules = route.spec.rules ?? [];
        const rule = rules[this.opts.ruleIndex];
        if (!rule) throw new TrafficRouterError('RuleNotFound', `HTTPRoute ${name} has ${rules.length} rule(s); spec.trafficRouting.gatewayAPI.ruleIndex ${this.opts.ruleIndex} is out of range`);
        rules[this.opts.ruleIndex] = withWeights(rule, weights, this.opts.target);
        return { ...route, spec: { ...route.spec, rules } };
      },
      write: async (body) => {
        this.opts.onRequest?.('update');
        return (await this.opts.custom.replaceNamespacedCustomObject({ ...HTTPROUTE, namespace, name, body })) as HttpRoute;
      },
    });
    this.opts.onWritten?.(written);
  }

  private async get(): Promise<HttpRoute | undefined> {
    try {
      this.opts.onRequest?.('get');
      return (await this.opts.custom.getNamespacedCustomObject({ ...HTTPROUTE, namespace: this.opts.target.namespace, name: this.opts.routeName })) as HttpRoute;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }
}

function isServiceRef(ref: BackendRef, name: string, namespace: string): boolean {
  return ref.name === name && (ref.kind ?? 'Service') === 'Service' && (ref.group ?? '') === '' && (ref.namespace ?? namespace) === namespace;
}

/** Reads the managed rule. Weights are undefined unless the rule carries exactly our two backends. */
export function observeRule(route: HttpRoute, ruleIndex: number, target: TrafficTarget): RouteObservation {
  const rule = route.spec.rules?.[ruleIndex];
  if (!rule) return { found: false, error: `HTTPRoute ${route.metadata.name} has no rule at index ${ruleIndex}` };
  const refs = rule.backendRefs ?? [];
  // A rule that sends traffic anywhere but our two Services is someone else's: we do not take it over.
  const foreign = refs.filter((r) => !isServiceRef(r, target.stableService, target.namespace) && !isServiceRef(r, target.candidateService, target.namespace));
  if (foreign.length > 0) {
    return {
      found: false, reason: 'RouteRuleNotOwned',
      error: `HTTPRoute ${route.metadata.name} rule ${ruleIndex} sends traffic to ${foreign.map((r) => `${r.kind ?? 'Service'} ${r.namespace ? `${r.namespace}/` : ''}${r.name}`).join(', ')}, not to this rollout's Services; point the rule at ${target.stableService} to hand it over`,
    };
  }
  const stable = refs.find((r) => isServiceRef(r, target.stableService, target.namespace));
  const candidate = refs.find((r) => isServiceRef(r, target.candidateService, target.namespace));
  const mirror = (rule.filters ?? []).find((f) => f.type === 'RequestMirror' && f.requestMirror && isServiceRef(f.requestMirror.backendRef, target.candidateService, target.namespace));
  const mirrorPercent = mirror ? mirrorPercentOf(mirror) : 0;
  if (!stable || !candidate || refs.length !== 2) return { found: true, mirrorPercent };
  // An unset weight means 1 (Gateway API default).
  return { found: true, stableWeight: stable.weight ?? 1, candidateWeight: candidate.weight ?? 1, mirrorPercent };
}

function mirrorPercentOf(filter: HttpRouteFilter): number {
  const m = filter.requestMirror!;
  if (m.percent !== undefined) return m.percent;
  if (m.fraction) return Math.round((m.fraction.numerator * 100) / (m.fraction.denominator ?? 100));
  return 100;
}

/** The rule with our two weighted backends and (only when mirroring) our mirror filter; other filters kept. */
export function withWeights(rule: HttpRouteRule, weights: Weights, target: TrafficTarget): HttpRouteRule {
  const filters = (rule.filters ?? []).filter((f) => !(f.type === 'RequestMirror' && f.requestMirror && isServiceRef(f.requestMirror.backendRef, target.candidateService, target.namespace)));
  if (weights.mirrorPercent > 0) {
    filters.push({ type: 'RequestMirror', requestMirror: { backendRef: { name: target.candidateService, port: target.port }, percent: weights.mirrorPercent } });
  }
  const next: HttpRouteRule = {
    ...rule,
    backendRefs: [
      { name: target.stableService, port: target.port, weight: weights.stableWeight },
      { name: target.candidateService, port: target.port, weight: weights.candidateWeight },
    ],
  };
  if (filters.length > 0) next.filters = filters;
  else delete next.filters;
  return next;
}
