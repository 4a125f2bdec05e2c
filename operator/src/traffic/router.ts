// One small interface per traffic system (Flagger's router pattern): the controller asks a router
// what the managed route carries now and tells it what to carry next. One file per implementation.
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
