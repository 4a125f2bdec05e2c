// One small interface per traffic system (Flagger's router pattern): the controller asks a router
// what the managed route carries now and tells it what to carry next. One file per implementation.
import type { RouteObservation } from '../rollout/types.js';
import { isConflict } from '../kube/errors.js';

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
}

export interface TrafficRouter {
  /** What the route carries now. `found: false` (with `error`) when the route or the managed rule is missing. */
  observe(): Promise<RouteObservation>;
  /** Sets the weights and mirror of the managed rule, touching nothing else of the route. */
  setWeights(weights: Weights): Promise<void>;
}

/** Thrown when the route cannot be changed (missing, or the write keeps conflicting). */
export class TrafficRouterError extends Error {
  constructor(readonly code: 'RouteNotFound' | 'RuleNotFound' | 'Conflict', message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TrafficRouterError';
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
