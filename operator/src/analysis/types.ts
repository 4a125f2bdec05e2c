// Analysis vocabulary. A query result is a measurement, never an exception: a value, no data, or an
// error — three outcomes, each counted against its own limit (Argo Rollouts' model).

export type Measurement =
  | { kind: 'value'; value: number }
  | { kind: 'noData'; message: string }
  | { kind: 'error'; message: string };

export interface Bounds {
  /** Pass when value ≥ min / ≤ max. */
  min?: number;
  max?: number;
  /** Fail only beyond these; between a pass bound and its fail bound the measurement is inconclusive. */
  failMin?: number;
  failMax?: number;
}

export interface BreakerRule {
  /** Breach when the value is above (or below, for `below: true`) this bound... */
  threshold: number;
  below?: boolean;
  /** ...continuously for this long. */
  forMs: number;
  /** Trip at once when beyond this. */
  severe?: number;
}

export interface MetricRule {
  name: string;
  /** PromQL with {{namespace}} {{service}} {{model}} {{version}} {{revision}} {{role}} {{interval}}. */
  query: string;
  bounds: Bounds;
  /** Bounds on candidate ÷ stable, both measured by the same query. */
  relative?: Bounds;
  breaker?: BreakerRule;
}

export type MetricVerdict = 'pass' | 'fail' | 'inconclusive' | 'noData' | 'error';

export interface MetricResult {
  name: string;
  verdict: MetricVerdict;
  value?: number;
  baseline?: number;
  message: string;
}

/** What status.analysis keeps between passes, so a restarted operator resumes counting. */
export interface AnalysisStatus {
  /** The candidate these measurements are about; a new candidate starts afresh. */
  revision: string;
  metrics?: (MetricResult & { time: string; kind: 'step' | 'breaker' })[];
  history?: { time: string; kind: 'step' | 'breaker'; name: string; verdict: MetricVerdict; value?: number }[];
  /** Start of a continuous breach, per metric. */
  breaches?: Record<string, string>;
  lastBreakerCheck?: string;
  lastStepCheck?: string;
  /** The step (index, or -1 for shadow) the step counters belong to. */
  step?: number;
  consecutiveErrors?: number;
  consecutiveInconclusive?: number;
  /** Last resume token that reset the counters after a pause. */
  resumeToken?: string;
  lastStepVerdict?: 'pass' | 'pending' | 'inconclusive' | 'fail' | 'pause';
  lastStepMessage?: string;
}
