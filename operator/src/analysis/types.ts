// Analysis vocabulary. A query result is a measurement, never an exception: a value, no data, or an
// error — three outcomes, each counted against its own limit (Argo Rollouts' model).
import type { ExperimentStatus } from './experiment-gate.js';

export type Measurement =
  /** A number; ±Inf are kept as values (they never pass a bound they could violate). */
  | { kind: 'value'; value: number }
  /** Counts over the window (e.g. failed and all requests), judged with a confidence bound. */
  | { kind: 'counts'; events: number; trials: number }
  /** No series, or NaN (`raw` keeps what Prometheus said, e.g. "NaN"). */
  | { kind: 'noData'; message: string; raw?: string }
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
  /**
   * PromQL with {{namespace}} {{name}} {{service}} {{model}} {{version}} {{revision}} {{stableRevision}}
   * {{candidateRevision}} {{role}} {{interval}}. For a counts rule, the ratio people read (not queried).
   */
  query: string;
  /** Judge a rate on its counts: `events` (e.g. failed requests) out of `trials` (all requests) in the window. */
  counts?: { events: string; trials: string };
  bounds: Bounds;
  /** Bounds on candidate ÷ stable, both measured by the same query. */
  relative?: Bounds;
  breaker?: BreakerRule;
  /**
   * What the breaker measures instead of `query` when it widens its window to the whole step at low rates
   * (latency-p99: the median). Below ~100 requests a p99 is the slowest request, so one slow request would read
   * as a sustained breach; the median beyond the p99's threshold is evidence of a slow candidate. Without it the
   * widened window applies only the severe bound.
   */
  lowRateQuery?: string;
  /** The query measures GPU-seconds per video-second or per clip (the cost templates): shown in money when a price is set. */
  costPer?: 'video-second' | 'clip';
  /** Measured by the operator's golden-prompt probes (golden-* templates): their errors explain missing data. */
  golden?: true;
}

/**
 * A candidate may cost more only for better videos: its `cost` metric may rise over stable's by at most
 * `freeIncrease` on its own, and by at most `maxIncrease` when its `quality` metric improves on stable's by at
 * least `minImprovement` (fractions: 0.4 = 40 %). Beyond, the rollout pauses for a person or rolls back.
 */
export interface TradeOffRule {
  /** "<cost>-vs-<quality>": the name in status, messages and a rollback reason. */
  name: string;
  /** Metric names in spec.analysis.metrics (each measured on candidate and stable). */
  cost: string;
  quality: string;
  maxIncrease: number;
  minImprovement: number;
  freeIncrease: number;
  /** Which way the quality metric improves. */
  better: 'higher' | 'lower';
  onViolation: 'pause' | 'rollback';
}

export type MetricVerdict = 'pass' | 'fail' | 'inconclusive' | 'noData' | 'error';

export interface MetricResult {
  name: string;
  verdict: MetricVerdict;
  /** The candidate's value (for counts: events ÷ trials). Non-finite values are kept in `raw` instead. */
  value?: number;
  /** What the query returned when it was not a finite number: "NaN", "+Inf", "-Inf". */
  raw?: string;
  /** How many requests the value rests on (the trials of a counts rule, or the candidate's request count). */
  samples?: number;
  /** Counts rules: the events and the one-sided confidence bounds of the rate. */
  events?: number;
  lower?: number;
  upper?: number;
  baseline?: number;
  /** Cost metrics with spec.analysis.price: the value (and stable's) in money. */
  money?: { amount: number; currency: string; per: 'video-second' | 'clip'; stable?: number };
  message: string;
}

/** A metric that has returned no data since `since`, with the query and the label selection that found nothing. */
export interface NoDataRecord {
  since: string;
  query: string;
  selector: string;
  /** What came back: no series, NaN, no requests. */
  why: string;
  checks: number;
}

/** What status.analysis keeps between passes, so a restarted operator resumes counting. */
export interface AnalysisStatus {
  /** The candidate these measurements are about; a new candidate starts afresh. */
  revision: string;
  metrics?: (MetricResult & { time: string; kind: 'step' | 'breaker' })[];
  history?: { time: string; kind: 'step' | 'breaker'; name: string; verdict: MetricVerdict; value?: number; samples?: number }[];
  /** Metrics (and the request count, as "requests") that currently return no data. */
  noData?: Record<string, NoDataRecord>;
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
  /** The metric (or NoData) a failed step verdict names, repeated while the verdict is reused. */
  lastStepReason?: string;
  /** The step whose trade-off pause a person resumed: that step's Pause trade-offs are accepted. */
  acceptedTradeOffStep?: number;
  /** The golden-prompt probes' last round (spec.analysis.goldenProbes); informational, judged through metrics. */
  goldenProbes?: GoldenReport;
  /** The A/B experiment (spec.experiment): published assignment, last look, verdict. */
  experiment?: ExperimentStatus;
}

/** What the last round of golden-prompt probes found. */
export interface GoldenReport {
  lastRoundTime: string;
  /** Prompt pairs compared in that round, and their mean scores. */
  compared: number;
  /** Mean SSIM, 0..1. */
  ssim?: number;
  /** Mean PSNR, dB. */
  psnrDb?: number;
  /** Why a prompt or the whole round could not be compared (bad ConfigMap, no ready pod, a failed generation). */
  error?: string;
}
