// Traefik router: the weights live in a TraefikService (traefik.io/v1alpha1) the user routes to — from an
// HTTPRoute backendRef (`group: traefik.io, kind: TraefikService`) or an IngressRoute — as Flagger's Traefik
// provider does. Why a router of its own beside gatewayAPI: Traefik's Gateway provider does not implement the
// RequestMirror filter (a rule carrying one answers 500 to every request), while a TraefikService of kind
// `mirroring` does mirror, so shadow works on Traefik through this router.
//   stepping:   spec.weighted.services = [stable Service (weight), candidate Service (weight)]
//   shadowing:  spec.mirroring = { stable Service, mirrors: [{ candidate Service, percent }] }
// The TraefikService stays the user's: only who and how much change; every setting the user gave it is kept
// (the shape not in use keeps its settings in an annotation, see withWeights).
// A Service at weight 0 is left out, not listed at 0: Traefik's CRD provider drops the WHOLE TraefikService when
// any Service in it has no endpoints (unless the provider runs with allowEmptyServices, which the README asks
// for), and a candidate at 0 % often has none yet — every user would get 404.
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

  /** A TraefikService has no arm rules (it cannot match a header). */
  protected read(ts: TraefikService): RouteObservation {
    const observed = observeTraefikService(ts, this.target);
    return observed.found ? { ...observed, arms: 'absent' } : observed;
  }

  protected rewrite(ts: TraefikService, weights: Weights): TraefikService {
    if (weights.arms?.mode === 'cookie')
      throw new TrafficRouterError(
        'Unsupported',
        `TraefikService ${ts.metadata.name}: the traefik router does not support cookie assignment of an A/B experiment's arms; use spec.trafficRouting.gatewayAPI or spec.trafficRouting.istio`,
      );
    if (weights.arms)
      throw new TrafficRouterError(
        'Unsupported',
        `TraefikService ${ts.metadata.name}: a TraefikService cannot match the arm header ${weights.arms.header}, so an A/B experiment's arms need spec.trafficRouting.gatewayAPI or spec.trafficRouting.istio`,
      );
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

/** Fields of a mirroring TraefikService that are not about its main service (kept across shadow phases). */
const MIRRORING_ONLY = ['mirrorBody', 'maxBodySize'] as const;
/** Where the shape not in use keeps the user's settings (weighted's sticky while mirroring; mirrorBody while weighted). */
export const STASH_ANNOTATION = 'modelrollout.dev/traefik-settings';

/** The per-service settings of an entry (scheme, serversTransport, passHostHeader, …): all but who and how much. */
function serviceSettings(ref: ServiceRef | undefined): Record<string, unknown> {
  if (!ref) return {};
  const { name: _n, kind: _k, namespace: _ns, port: _p, weight: _w, percent: _pc, mirrors: _m, ...rest } = ref as ServiceRef & { mirrors?: unknown };
  for (const f of MIRRORING_ONLY) delete rest[f];
  return rest;
}

/** An entry Traefik can build for our Service: the Service port by number (a missing or other port fails the whole TraefikService). */
function buildable(ref: ServiceRef, target: TrafficTarget): boolean {
  return ref.port === target.port;
}

/**
 * What the TraefikService carries, read as Traefik v3.7 reads it (pkg/provider/kubernetes/crd): `weighted` wins
 * when both shapes are set; weights are relative (unset = 1); a listed Service with no endpoints, or one
 * Traefik cannot build, drops the whole TraefikService. So the weights count only in the shapes the router writes
 * — one or two of our Services, by the Service port, weights > 0 summing to 100 (a side not listed carries 0),
 * or a mirror of stable to the candidate once at 1–100 % — and anything else is reported with no weights, which
 * makes the operator rewrite it. Any other Service in it is someone else's: not taken over.
 */
export function observeTraefikService(ts: TraefikService, target: TrafficTarget): RouteObservation {
  const name = ts.metadata.name;
  const { weighted, mirroring } = ts.spec;
  const refs = weighted ? (weighted.services ?? []) : mirroring ? [mirroring as ServiceRef, ...(mirroring.mirrors ?? [])] : [];
  const foreign = refs.filter((r) => !ours(r, target));
  if (foreign.length > 0) {
    return {
      found: false,
      reason: 'RouteRuleNotOwned',
      error: `TraefikService ${name} sends traffic to ${foreign.map(describeRef).join(', ')}, not to this rollout's Services; point it at ${target.stableService} to hand it over`,
    };
  }
  const unsettled = { found: true, mirrorPercent: 0 } as const;
  if (!weighted && !mirroring)
    return { found: false, error: `TraefikService ${name} is neither weighted nor mirroring; give it spec.weighted.services with ${target.stableService}` };
  if (refs.some((r) => !buildable(r, target))) return unsettled;
  return weighted ? observeWeighted(refs, target) : observeMirroring(mirroring!, target);
}

/** A mirror of stable to the candidate, once, at 1–100 %; anything else is reported without weights. */
function observeMirroring(mirroring: NonNullable<TraefikService['spec']['mirroring']>, target: TrafficTarget): RouteObservation {
  const mirrors = mirroring.mirrors ?? [];
  const mirror = mirrors[0];
  const percent = mirror?.percent ?? 0;
  const shaped =
    isService(mirroring, target.stableService, target.namespace) && mirrors.length === 1 && isService(mirror, target.candidateService, target.namespace);
  if (!shaped || !(Number.isInteger(percent) && percent >= 1 && percent <= 100)) return { found: true, mirrorPercent: 0 };
  return { found: true, stableWeight: 100, candidateWeight: 0, mirrorPercent: percent };
}

/** One or two of our Services, each once, weights > 0 summing to 100; anything else is reported without weights. */
function observeWeighted(refs: ServiceRef[], target: TrafficTarget): RouteObservation {
  const unsettled = { found: true, mirrorPercent: 0 } as const;
  const stable = refs.filter((r) => isService(r, target.stableService, target.namespace));
  const candidate = refs.filter((r) => isService(r, target.candidateService, target.namespace));
  const weightOf = (r: ServiceRef | undefined) => (r ? (r.weight ?? 1) : 0);
  const [s, c] = [weightOf(stable[0]), weightOf(candidate[0])];
  // Duplicates, a listed 0 (a Service Traefik still resolves: no endpoints → 404 for all), or relative weights
  // that are not already percents: rewritten.
  if (stable.length > 1 || candidate.length > 1 || refs.some((r) => weightOf(r) <= 0) || s + c !== 100) return unsettled;
  return { found: true, stableWeight: s, candidateWeight: c, mirrorPercent: 0 };
}

interface Stash {
  weighted?: Record<string, unknown>;
  mirroring?: Record<string, unknown>;
}

function readStash(ts: TraefikService): Stash {
  try {
    const raw = ts.metadata.annotations?.[STASH_ANNOTATION];
    return raw ? (JSON.parse(raw) as Stash) : {};
  } catch {
    return {};
  }
}

/**
 * The TraefikService carrying `weights`: weighted over our two Services (a side at 0 left out), or
 * (mirrorPercent > 0) mirroring stable's traffic to the candidate. Every setting the user gave an entry
 * (scheme, serversTransport, …), the weighted block (sticky) and the mirroring block (mirrorBody, maxBodySize)
 * is kept; the settings of the shape not in use wait in the annotation modelrollout.dev/traefik-settings.
 * Throws TrafficRouterError('Unsupported') for a mirror while the candidate also takes traffic: a mirroring
 * TraefikService has one main service (decide() never asks for it).
 */
export function withWeights(ts: TraefikService, weights: Weights, target: TrafficTarget): TraefikService {
  const port = target.port;
  const { weighted, mirroring, ...rest } = ts.spec;
  const stash = readStash(ts);
  const entries = weighted ? (weighted.services ?? []) : mirroring ? [mirroring as ServiceRef, ...(mirroring.mirrors ?? [])] : [];
  const stableSettings = serviceSettings(entries.find((r) => isService(r, target.stableService, target.namespace)));
  const candidateSettings = serviceSettings(entries.find((r) => isService(r, target.candidateService, target.namespace)));
  const { services: _services, ...weightedSettings } = weighted ?? stash.weighted ?? {};
  const mirroringSettings: Record<string, unknown> = {};
  for (const f of MIRRORING_ONLY) {
    const v = mirroring ? mirroring[f] : stash.mirroring?.[f];
    if (v !== undefined) mirroringSettings[f] = v;
  }
  let spec: TraefikService['spec'];
  const kept: Stash = {};
  if (weights.mirrorPercent > 0) {
    if (weights.candidateWeight > 0)
      throw new TrafficRouterError(
        'Unsupported',
        `TraefikService ${ts.metadata.name}: a mirroring TraefikService has one main service, so the candidate cannot take ${weights.candidateWeight} % and a ${weights.mirrorPercent} % mirror at once`,
      );
    spec = {
      ...rest,
      mirroring: {
        ...stableSettings,
        ...mirroringSettings,
        name: target.stableService,
        port,
        mirrors: [{ ...candidateSettings, name: target.candidateService, port, percent: weights.mirrorPercent }],
      },
    };
    if (Object.keys(weightedSettings).length > 0) kept.weighted = weightedSettings;
  } else {
    const services: ServiceRef[] = [
      { ...stableSettings, name: target.stableService, port, weight: weights.stableWeight },
      { ...candidateSettings, name: target.candidateService, port, weight: weights.candidateWeight },
    ].filter((e) => e.weight > 0);
    spec = { ...rest, weighted: { ...weightedSettings, services } };
    if (Object.keys(mirroringSettings).length > 0) kept.mirroring = mirroringSettings;
  }
  const annotations = { ...ts.metadata.annotations };
  if (Object.keys(kept).length > 0) annotations[STASH_ANNOTATION] = JSON.stringify(kept);
  else delete annotations[STASH_ANNOTATION];
  const metadata: k8s.V1ObjectMeta = { ...ts.metadata, annotations };
  if (Object.keys(annotations).length === 0) delete metadata.annotations;
  return { ...ts, metadata, spec };
}
