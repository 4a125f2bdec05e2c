// One small interface per traffic system (Flagger's router pattern): the controller asks a router what the
// managed route carries now and tells it what to carry next. A router is one file that exports a
// RouterDefinition (what it watches, how it is built); traffic/index.ts lists them (the registry).
// The read-modify-write every router needs lives here once (RouteObjectRouter).
import type * as k8s from '@kubernetes/client-node';
import { ARMS, type Arm } from '../api/names.js';
import { isConflict, isNotFound } from '../kube/errors.js';
import type { RouteObservation } from '../rollout/types.js';

export interface TrafficTarget {
  namespace: string;
  /** The Services the operator owns; their selectors follow the stable and candidate revisions. */
  stableService: string;
  candidateService: string;
  port: number;
}

export interface Weights {
  stableWeight: number;
  candidateWeight: number;
  /** Percent of requests mirrored to the candidate (shadow phase); 0 for none. */
  mirrorPercent: number;
  /**
   * During an A/B experiment: the route also carries one rule per arm that sends requests whose `header` says
   * `treatment` to the candidate only and `control` or `none` to stable only (apps assign the arm themselves,
   * docs/experiment-assignment.md); requests without the header keep following the weights. In cookie mode the
   * rules match the arm's cookie instead, and the weighted rule assigns new clients (ArmRouting). Absent: the arm
   * rules the router added are removed (and only those).
   */
  arms?: ArmRouting;
}

/**
 * How clients get their arm. `header` (default): the app assigns it and sends it in `header` (api/names.ts
 * ARM_HEADER). `cookie` (clients without a user id): the managed rule assigns new clients by weight and marks each
 * with `cookie` (none, control or treatment); the arm rules match the cookie of returning clients, and every
 * request is forwarded with `header` set to its arm so the runtime labels it.
 */
export type ArmRouting = { mode?: 'header'; header: string } | CookieArmRouting;

export interface CookieArmRouting {
  mode: 'cookie';
  header: string;
  /** The cookie's name (a cookie-name token, RFC 6265 §4.1.1), e.g. `modelrollout-arm-<short rollout id>`. */
  cookie: string;
  /** The cookie's Max-Age; default 30 days. */
  maxAgeSeconds?: number;
}

// The arm cookie (#16, cookie assignment), the same on every router that assigns by cookie: the managed route's
// destination for an arm adds it to the response (Set-Cookie), and reading it back tells that destination's arm.

/** The Max-Age of the arm cookie when ArmRouting does not say: 30 days, beyond an experiment's default maxDuration (28d). */
const ARM_COOKIE_MAX_AGE_SECONDS = 30 * 24 * 60 * 60;
/** A Set-Cookie value as armCookie writes it; its name, arm and Max-Age. */
const ARM_COOKIE = new RegExp(`^([^=;\\s]+)=(${ARMS.join('|')}); Path=/; Max-Age=(\\d+); SameSite=Lax$`);

/** The Set-Cookie value that marks a new client with `arm`. */
export function armCookie(arms: CookieArmRouting, arm: Arm): string {
  return `${arms.cookie}=${arm}; Path=/; Max-Age=${arms.maxAgeSeconds ?? ARM_COOKIE_MAX_AGE_SECONDS}; SameSite=Lax`;
}

/** What an armCookie value says: the cookie's name, the arm and the Max-Age; undefined for any other Set-Cookie value. */
export function parseArmCookie(value: string): { cookie: string; arm: Arm; maxAgeSeconds: number } | undefined {
  const m = ARM_COOKIE.exec(value);
  return m ? { cookie: m[1]!, arm: m[2] as Arm, maxAgeSeconds: Number(m[3]) } : undefined;
}

/** The cookie's name as a regular expression that matches just it (for a match on the Cookie header). */
export function cookieNamePattern(cookie: string): string {
  return cookie.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Where an arm's requests go: treatment to the candidate; control and none (outside the experiment) to stable. */
export function armService(arm: Arm, target: TrafficTarget): string {
  return arm === 'treatment' ? target.candidateService : target.stableService;
}

/** The prefix of every rollout's arm rule names. */
export const ARM_RULE_PREFIX = 'modelrollout-arm-';

/**
 * The name that marks an arm rule (an HTTPRoute rule's `name`, a VirtualService http route's `name`) as this
 * rollout's: one per candidate Service, so two rollouts on one route do not collide. A valid HTTPRoute rule
 * name (a DNS subdomain: Service names are DNS labels).
 */
export function armRuleName(arm: Arm, target: TrafficTarget): string {
  return `${ARM_RULE_PREFIX}${arm}.${target.candidateService}`;
}

/** The arm whose rule `name` is (this rollout's), if any. */
export function armOfRuleName(name: unknown, target: TrafficTarget): Arm | undefined {
  return ARMS.find((arm) => name === armRuleName(arm, target));
}

export interface TrafficRouter {
  /** What the route carries now. `found: false` (with `error`) when the route or the managed rule is missing. */
  observe(): Promise<RouteObservation>;
  /** Sets the weights and the mirror of the managed rule, and adds or removes its arm rules; touches nothing else of the route. */
  setWeights(weights: Weights): Promise<void>;
  /**
   * Called once while the rollout is deleted, after traffic is back on stable and before the finalizer goes:
   * the place to remove anything else the router added. The routers so far add nothing beyond what
   * setWeights({100, 0, mirror 0}) (no `arms`: the arm rules go too) already removed.
   */
  finalize(): Promise<void>;
}

/** A custom object a router manages (HTTPRoute, VirtualService, ...). */
export interface RouteObject {
  apiVersion?: string;
  kind?: string;
  metadata: k8s.V1ObjectMeta;
  spec: Record<string, unknown>;
}

/** group/version/plural of a custom resource, as CustomObjectsApi takes them. */
export interface CustomResource {
  group: string;
  version: string;
  plural: string;
}

/** What a router is built with: the API client, and the informer cache of what it watches. */
export interface RouterDeps {
  custom: k8s.CustomObjectsApi;
  /** Where observe() reads from (an informer cache); GET when absent. */
  cached?: (namespace: string, name: string) => RouteObject | undefined;
  /** Told about the object as written, so a cache can serve it before the watch event arrives. */
  onWritten?: (obj: RouteObject) => void;
  onRequest?: (verb: string) => void;
  maxConflictRetries?: number;
}

/** A router in the registry: which spec.trafficRouting field selects it, what it watches, how it is built. */
export interface RouterDefinition {
  /** The field of spec.trafficRouting that selects this router (e.g. `gatewayAPI`). */
  readonly specKey: string;
  /** The kind it manages; the controller watches it and wakes the rollouts that name the changed object. */
  readonly watches: { kind: string; resource: CustomResource };
  /** The name of the watched object a rollout's spec.trafficRouting[specKey] points at. */
  objectName(spec: unknown): string | undefined;
  create(spec: unknown, target: TrafficTarget, deps: RouterDeps): TrafficRouter;
}

/** Thrown when the route cannot be changed (missing, or the write keeps conflicting). */
export class TrafficRouterError extends Error {
  constructor(
    readonly code: 'RouteNotFound' | 'RuleNotFound' | 'RouteRuleNotOwned' | 'Conflict' | 'Unsupported',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TrafficRouterError';
  }
}

/**
 * A router over one custom object whose managed entry (a rule, an http route) sits in a list the API
 * replaces as a whole: observe from the cache (or GET), and write by read-modify-write with the object's
 * resourceVersion. A subclass says only how to read and rewrite its entry.
 */
export abstract class RouteObjectRouter<T extends RouteObject> implements TrafficRouter {
  constructor(
    private readonly kind: string,
    private readonly resource: CustomResource,
    protected readonly name: string,
    protected readonly target: TrafficTarget,
    private readonly deps: RouterDeps,
  ) {}

  /** What the managed entry of `obj` carries. */
  protected abstract read(obj: T): RouteObservation;
  /** `obj` with the managed entry carrying `weights`; throws TrafficRouterError('RuleNotFound') when it has none. */
  protected abstract rewrite(obj: T, weights: Weights): T;
  /**
   * When the API server did not keep what marks our entries in `sent` (`written` is what it stored: a CRD that
   * prunes a field), why (the error setWeights throws) and how to take our unmarked entries back out of an object
   * (they could not be found again, nor removed later); undefined when all was kept.
   */
  protected lostMarks(_sent: T, _written: T, _weights: Weights): { error: TrafficRouterError; undo: (obj: T) => T } | undefined {
    return undefined;
  }

  async observe(): Promise<RouteObservation> {
    const { namespace } = this.target;
    const obj = this.deps.cached ? (this.deps.cached(namespace, this.name) as T | undefined) : await this.get();
    if (!obj) return { found: false, error: `${this.kind} ${namespace}/${this.name} not found` };
    return this.read(obj);
  }

  async setWeights(weights: Weights): Promise<void> {
    const { namespace } = this.target;
    const what = `${this.kind} ${namespace}/${this.name}`;
    const attempts = this.deps.maxConflictRetries ?? 5;
    let sent: T | undefined;
    const written = await replaceWithRetry<T>({
      what,
      attempts,
      cached: () => this.deps.cached?.(namespace, this.name) as T | undefined,
      read: () => this.get(),
      modify: (obj) => (sent = this.rewrite(obj, weights)),
      write: (body) => this.replace(body),
    });
    this.deps.onWritten?.(written);
    const lost = this.lostMarks(sent!, written, weights);
    if (!lost) return;
    // What we wrote cannot be told from the user's any more: take it back out now, then refuse.
    const undone = await replaceWithRetry<T>({
      what,
      attempts,
      cached: () => written,
      read: () => this.get(),
      modify: lost.undo,
      write: (body) => this.replace(body),
    });
    this.deps.onWritten?.(undone);
    throw lost.error;
  }

  private async replace(body: T): Promise<T> {
    this.deps.onRequest?.('update');
    return (await this.deps.custom.replaceNamespacedCustomObject({ ...this.resource, namespace: this.target.namespace, name: this.name, body })) as T;
  }

  async finalize(): Promise<void> {}

  private async get(): Promise<T | undefined> {
    try {
      this.deps.onRequest?.('get');
      return (await this.deps.custom.getNamespacedCustomObject({ ...this.resource, namespace: this.target.namespace, name: this.name })) as T;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }
}

/**
 * Read-modify-write of a whole object with optimistic concurrency: the first attempt may start from a
 * cached copy (its resourceVersion makes a stale copy conflict), later ones re-read. 409 → try again.
 */
export async function replaceWithRetry<T>(opts: {
  what: string;
  attempts: number;
  cached?: () => T | undefined;
  read: () => Promise<T | undefined>;
  modify: (obj: T) => T;
  write: (obj: T) => Promise<T>;
}): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const cached = attempt === 1 ? opts.cached?.() : undefined;
    const current = cached ? structuredClone(cached) : await opts.read();
    if (current === undefined) throw new TrafficRouterError('RouteNotFound', `${opts.what} not found`);
    try {
      return await opts.write(opts.modify(current));
    } catch (err) {
      if (!isConflict(err)) throw err;
      if (attempt >= opts.attempts) throw new TrafficRouterError('Conflict', `${opts.what}: still conflicting after ${opts.attempts} attempts`, { cause: err });
    }
  }
}
