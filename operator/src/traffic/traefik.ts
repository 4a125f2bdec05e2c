// Traefik router: the weights live in a TraefikService (traefik.io/v1alpha1) the user routes to — from an
// HTTPRoute backendRef (`group: traefik.io, kind: TraefikService`) or an IngressRoute — as Flagger's Traefik
// provider does. Why a router of its own beside gatewayAPI: Traefik's Gateway provider does not implement the
// RequestMirror filter (a rule carrying one answers 500 to every request), while a TraefikService of kind
// `mirroring` does mirror, so shadow works on Traefik through this router.
//   stepping:   spec.weighted.services = [stable Service (weight), candidate Service (weight)]
//   shadowing:  spec.mirroring = { stable Service, mirrors: [{ candidate Service, percent }] }
// The TraefikService stays the user's: only `weighted` / `mirroring` are rewritten (weighted's other fields,
// e.g. sticky, are kept while weighted; a mirroring service has no place for them, so they come back empty).
// A Service at weight 0 is left out, not listed at 0: Traefik's CRD provider drops the WHOLE TraefikService when
// any Service in it has no endpoints (unless the provider runs with allowEmptyServices), and a candidate at 0 %
// often has none yet — every user would get 404. The same holds for the mirror: the operator mirrors only to a
// ready candidate, but if its endpoints vanish mid-shadow, users get 404 until the mirror is off again, so a
// Traefik that runs shadow should set `providers.kubernetesCRD.allowEmptyServices=true` (docs: README).
import type * as k8s from '@kubernetes/client-node';
import type { RouteObservation } from '../rollout/types.js';
import { RouteObjectRouter, TrafficRouterError, type RouterDefinition, type RouterDeps, type TrafficTarget, type Weights } from './router.js';

export const TRAEFIKSERVICE = { group: 'traefik.io', version: 'v1alpha1', plural: 'traefikservices' } as const;

/** A service entry of a weighted or mirroring TraefikService (only the fields the router reads). */
interface ServiceRef {
  name: string;
  kind?: string;
  namespace?: string;
  port?: number | string;
  weight?: number;
  percent?: number;
  [key: string]: unknown;
}

export interface TraefikService {
  apiVersion?: string;
  kind?: string;
  metadata: k8s.V1ObjectMeta;
  spec: {
    weighted?: { services?: ServiceRef[]; [key: string]: unknown };
    mirroring?: ServiceRef & { mirrors?: ServiceRef[] };
    [key: string]: unknown;
  };
}

export interface TraefikRoutingSpec {
  traefikService: string;
}

export interface TraefikRouterOptions extends RouterDeps {
  target: TrafficTarget;
  traefikService: string;
}

export class TraefikRouter extends RouteObjectRouter<TraefikService> {
  constructor(opts: TraefikRouterOptions) {
    super('TraefikService', TRAEFIKSERVICE, opts.traefikService, opts.target, opts as RouterDeps);
  }

  protected read(ts: TraefikService): RouteObservation {
    return observeTraefikService(ts, this.target);
  }

  protected rewrite(ts: TraefikService, weights: Weights): TraefikService {
    return withWeights(ts, weights, this.target);
  }
}

/** The registry entry: spec.trafficRouting.traefik selects it; it watches TraefikServices. */
export const traefik: RouterDefinition = {
  specKey: 'traefik',
  watches: { kind: 'TraefikService', resource: TRAEFIKSERVICE },
  objectName: (spec) => (spec as TraefikRoutingSpec | undefined)?.traefikService,
  create: (spec, target, deps) => new TraefikRouter({ ...deps, target, traefikService: (spec as TraefikRoutingSpec).traefikService }),
};

/** A Kubernetes Service entry (kind unset or `Service`) naming `service` in the rollout's namespace. */
function isService(ref: ServiceRef | undefined, service: string, namespace: string): boolean {
  return !!ref && ref.name === service && (ref.kind ?? 'Service') === 'Service' && (ref.namespace ?? namespace) === namespace;
}

function ours(ref: ServiceRef, target: TrafficTarget): boolean {
  return isService(ref, target.stableService, target.namespace) || isService(ref, target.candidateService, target.namespace);
}

function describeRef(ref: ServiceRef): string {
  return `${ref.kind ?? 'Service'} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`;
}

/**
 * What the TraefikService carries. Weighted: the weights of our two Services (Traefik's unset weight is 1; a
 * Service not listed carries 0, so stable alone is 100/0). Mirroring: all traffic on the main service (stable), the candidate's mirror percent
 * (unset = 0, as Traefik reads it). Any other Service in it is someone else's: not taken over.
 */
export function observeTraefikService(ts: TraefikService, target: TrafficTarget): RouteObservation {
  const name = ts.metadata.name;
  const { weighted, mirroring } = ts.spec;
  const refs = mirroring ? [mirroring as ServiceRef, ...(mirroring.mirrors ?? [])] : (weighted?.services ?? []);
  const foreign = refs.filter((r) => !ours(r, target));
  if (foreign.length > 0) {
    return {
      found: false,
      reason: 'RouteRuleNotOwned',
      error: `TraefikService ${name} sends traffic to ${foreign.map(describeRef).join(', ')}, not to this rollout's Services; point it at ${target.stableService} to hand it over`,
    };
  }
  if (mirroring) {
    const mirror = (mirroring.mirrors ?? []).find((m) => isService(m, target.candidateService, target.namespace));
    const mirrorPercent = mirror ? (mirror.percent ?? 0) : 0;
    if (!isService(mirroring, target.stableService, target.namespace)) return { found: true, mirrorPercent };
    return { found: true, stableWeight: 100, candidateWeight: 0, mirrorPercent };
  }
  if (!weighted)
    return { found: false, error: `TraefikService ${name} is neither weighted nor mirroring; give it spec.weighted.services with ${target.stableService}` };
  const stable = refs.filter((r) => isService(r, target.stableService, target.namespace));
  const candidate = refs.filter((r) => isService(r, target.candidateService, target.namespace));
  // A side that is not listed carries nothing (how a weight of 0 is written); one side alone carries all.
  if (stable.length > 1 || candidate.length > 1 || refs.length === 0) return { found: true, mirrorPercent: 0 };
  if (candidate.length === 0) return { found: true, stableWeight: 100, candidateWeight: 0, mirrorPercent: 0 };
  if (stable.length === 0) return { found: true, stableWeight: 0, candidateWeight: 100, mirrorPercent: 0 };
  return { found: true, stableWeight: stable[0]!.weight ?? 1, candidateWeight: candidate[0]!.weight ?? 1, mirrorPercent: 0 };
}

/**
 * The TraefikService carrying `weights`: weighted over our two Services, or (mirrorPercent > 0) mirroring
 * stable's traffic to the candidate. Throws TrafficRouterError('Unsupported') for a mirror while the candidate
 * also takes traffic: a mirroring TraefikService has one main service.
 */
export function withWeights(ts: TraefikService, weights: Weights, target: TrafficTarget): TraefikService {
  const port = target.port;
  const { weighted, mirroring: _mirroring, ...rest } = ts.spec;
  if (weights.mirrorPercent > 0) {
    if (weights.candidateWeight > 0)
      throw new TrafficRouterError(
        'Unsupported',
        `TraefikService ${ts.metadata.name}: a mirroring TraefikService has one main service, so the candidate cannot take ${weights.candidateWeight} % and a ${weights.mirrorPercent} % mirror at once`,
      );
    return {
      ...ts,
      spec: { ...rest, mirroring: { name: target.stableService, port, mirrors: [{ name: target.candidateService, port, percent: weights.mirrorPercent }] } },
    };
  }
  const services: ServiceRef[] = [
    { name: target.stableService, port, weight: weights.stableWeight },
    { name: target.candidateService, port, weight: weights.candidateWeight },
  ].filter((s) => s.weight > 0);
  return { ...ts, spec: { ...rest, weighted: { ...weighted, services } } };
}
