// The route of a StyleRollout (ADR 0005): one HTTPRoute rule the user points at a style's traffic (e.g. a header
// match on the style), whose backendRefs all go to the same Service; each backendRef pins an adapter version
// with a RequestHeaderModifier that sets X-Adapter-Version (the runtime serves a request naming the style
// without a version with that version: inference-image/README.md, "Routed versions"). Weighted backendRefs
// are Gateway API core; filters on a backendRef are Extended support (Traefik ≥ v3.7, Envoy Gateway, Istio:
// https://gateway-api.sigs.k8s.io/reference/spec/#httpbackendref).
import type * as k8s from '@kubernetes/client-node';
import { isNotFound } from '../kube/errors.js';
import type { AdapterArm, AdapterRouteObservation } from '../rollout/style-types.js';
import { HTTPROUTE, type HttpRoute } from './gateway-api.js';
import { replaceWithRetry, TrafficRouterError, type RouteObject } from './router.js';

/** The request header that pins a style's version (`ink-wash@v2`). */
export const ADAPTER_VERSION_HEADER = 'X-Adapter-Version';

export interface AdapterRouteTarget {
  namespace: string;
  /** The Service whose pods serve every version of the style. */
  service: string;
  port: number;
  style: string;
}

interface BackendRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
  weight?: number;
  filters?: { type: string; requestHeaderModifier?: { set?: { name: string; value: string }[] }; [key: string]: unknown }[];
  [key: string]: unknown;
}

export interface AdapterRouteDeps {
  custom: k8s.CustomObjectsApi;
  /** Where observe() reads from (the HTTPRoute informer's cache); GET when absent. */
  cached?: (namespace: string, name: string) => RouteObject | undefined;
  onWritten?: (obj: RouteObject) => void;
  maxConflictRetries?: number;
}

export class AdapterRouteRouter {
  constructor(
    private readonly routeName: string,
    private readonly ruleIndex: number,
    private readonly target: AdapterRouteTarget,
    private readonly deps: AdapterRouteDeps,
  ) {}

  async observe(): Promise<AdapterRouteObservation> {
    const { namespace } = this.target;
    const route = this.deps.cached ? (this.deps.cached(namespace, this.routeName) as HttpRoute | undefined) : await this.get();
    if (!route) return { found: false, reason: 'RouteNotFound', error: `HTTPRoute ${namespace}/${this.routeName} not found` };
    return observeAdapterRule(route, this.ruleIndex, this.target);
  }

  /** Rewrites the managed rule's backendRefs to `arms`, touching nothing else of the route. */
  async setArms(arms: AdapterArm[]): Promise<void> {
    const { namespace } = this.target;
    const written = await replaceWithRetry<HttpRoute>({
      what: `HTTPRoute ${namespace}/${this.routeName}`,
      attempts: this.deps.maxConflictRetries ?? 5,
      cached: () => this.deps.cached?.(namespace, this.routeName) as HttpRoute | undefined,
      read: () => this.get(),
      modify: (route) => withAdapterArms(route, this.ruleIndex, arms, this.target),
      write: async (body) => (await this.deps.custom.replaceNamespacedCustomObject({ ...HTTPROUTE, namespace, name: this.routeName, body })) as HttpRoute,
    });
    this.deps.onWritten?.(written);
  }

  private async get(): Promise<HttpRoute | undefined> {
    try {
      return (await this.deps.custom.getNamespacedCustomObject({ ...HTTPROUTE, namespace: this.target.namespace, name: this.routeName })) as HttpRoute;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }
}

function isTargetRef(ref: BackendRef, target: AdapterRouteTarget): boolean {
  return (
    ref.name === target.service && (ref.kind ?? 'Service') === 'Service' && (ref.group ?? '') === '' && (ref.namespace ?? target.namespace) === target.namespace
  );
}

/** The version a backendRef pins for the style ('' when it pins none: the runtime then serves the newest). */
function pinnedVersion(ref: BackendRef, style: string): string {
  for (const f of ref.filters ?? []) {
    if (f.type !== 'RequestHeaderModifier') continue;
    const set = f.requestHeaderModifier?.set?.find((h) => h.name.toLowerCase() === ADAPTER_VERSION_HEADER.toLowerCase());
    const [name, version] = set?.value.split('@') ?? [];
    if (name === style && version) return version;
  }
  return '';
}

/** The arms of the managed rule. A rule that sends anywhere but the style's Service is someone else's: never taken over. */
export function observeAdapterRule(route: HttpRoute, ruleIndex: number, target: AdapterRouteTarget): AdapterRouteObservation {
  const rule = route.spec.rules?.[ruleIndex];
  if (!rule) return { found: false, reason: 'RuleNotFound', error: `HTTPRoute ${route.metadata.name} has no rule at index ${ruleIndex}` };
  const refs = (rule.backendRefs ?? []) as BackendRef[];
  const foreign = refs.filter((r) => !isTargetRef(r, target));
  if (foreign.length > 0)
    return {
      found: false,
      reason: 'RouteRuleNotOwned',
      error: `HTTPRoute ${route.metadata.name} rule ${ruleIndex} sends traffic to ${foreign.map((r) => `${r.kind ?? 'Service'} ${r.name}`).join(', ')}, not to Service ${target.service}; point the rule at ${target.service} to hand it over`,
    };
  // An unset weight means 1 (Gateway API default).
  return { found: true, arms: refs.map((r) => ({ version: pinnedVersion(r, target.style), weight: r.weight ?? 1 })) };
}

/** The route with the managed rule's backendRefs replaced by one per arm, each pinning its version. */
export function withAdapterArms(route: HttpRoute, ruleIndex: number, arms: AdapterArm[], target: AdapterRouteTarget): HttpRoute {
  const rules = [...(route.spec.rules ?? [])];
  const rule = rules[ruleIndex];
  if (!rule)
    throw new TrafficRouterError(
      'RuleNotFound',
      `HTTPRoute ${route.metadata.name} has ${rules.length} rule(s); spec.trafficRouting.gatewayAPI.ruleIndex ${ruleIndex} is out of range`,
    );
  rules[ruleIndex] = {
    ...rule,
    backendRefs: arms.map((a) => ({
      name: target.service,
      port: target.port,
      weight: a.weight,
      filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: ADAPTER_VERSION_HEADER, value: `${target.style}@${a.version}` }] } }],
    })),
  };
  return { ...route, spec: { ...route.spec, rules } };
}
