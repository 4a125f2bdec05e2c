// The analysis section of a ModelRollout spec → metric rules and limits, with built-in templates for
// the inference runtime's own metrics (names documented in inference-image/README.md).
import { parseDuration } from '../rollout/duration.js';
import type { StepLimits } from './evaluate.js';
import type { Bounds, BreakerRule, MetricRule } from './types.js';

export interface StoredAnalysis {
  interval?: string;
  minRequests?: number;
  requestQuery?: string;
  breakerInterval?: string;
  breakerWindow?: string;
  maxInconclusive?: number;
  onMetricsError?: { consecutiveErrors?: number; action?: 'Pause' | 'Rollback' };
  prometheus?: { address?: string; timeout?: string; secretRef?: { name?: string }; insecureSkipVerify?: boolean };
  metrics?: StoredMetric[];
}

interface StoredBounds {
  min?: number;
  max?: number;
  failMin?: number;
  failMax?: number;
}

interface StoredMetric extends StoredBounds {
  name?: string;
  template?: 'error-rate' | 'latency-p99';
  query?: string;
  relative?: StoredBounds;
  breaker?: { threshold?: number; for?: string; severe?: number; below?: boolean; disabled?: boolean };
}

export interface AnalysisConfig {
  intervalMs: number;
  minRequests: number;
  requestQuery: string;
  breakerIntervalMs: number;
  breakerWindowMs: number;
  limits: StepLimits;
  prometheus: { address: string; timeoutMs: number; secretName?: string; insecureSkipVerify: boolean };
  metrics: MetricRule[];
}

const BY_VERSION = 'model_name="{{model}}",model_version="{{version}}"';

export const BUILTIN_QUERIES = {
  'error-rate': `(sum(rate(t2v_requests_total{${BY_VERSION},status=~"5.."}[{{interval}}])) or vector(0)) / sum(rate(t2v_requests_total{${BY_VERSION}}[{{interval}}]))`,
  'latency-p99': `histogram_quantile(0.99, sum by (le) (rate(t2v_request_duration_seconds_bucket{${BY_VERSION}}[{{interval}}])))`,
  requests: `sum(increase(t2v_requests_total{${BY_VERSION}}[{{interval}}]))`,
} as const;

export interface AnalysisDefaults {
  /** Used when a rollout sets metrics but no spec.analysis.prometheus.address. */
  prometheusAddress?: string;
}

/** Undefined when the spec has no analysis; errors name the field. */
export function parseAnalysis(stored: StoredAnalysis | undefined, errors: string[], defaults: AnalysisDefaults = {}): AnalysisConfig | undefined {
  if (!stored || !stored.metrics || stored.metrics.length === 0) return undefined;
  const duration = (field: string, text: string | undefined, fallback: string) => {
    const ms = parseDuration(text ?? fallback);
    if (ms === undefined) errors.push(`spec.analysis.${field}: "${text}" is not a positive duration (e.g. 30s, 5m)`);
    return ms ?? 0;
  };
  const address = stored.prometheus?.address || defaults.prometheusAddress;
  if (!address) errors.push('spec.analysis.prometheus.address: required when metrics are set and the operator has no default (e.g. http://prometheus.monitoring:9090)');
  else if (!/^https?:\/\/[^\s/]+/.test(address)) errors.push(`spec.analysis.prometheus.address: "${address}" must be an http:// or https:// URL`);
  const names = new Set<string>();
  const metrics = stored.metrics.map((m, i) => {
    const rule = metricRule(m, i, errors, (field, text, fallback) => duration(`metrics[${i}].${field}`, text, fallback));
    if (names.has(rule.name)) errors.push(`spec.analysis.metrics[${i}].name: "${rule.name}" is used twice`);
    names.add(rule.name);
    return rule;
  });
  const action = stored.onMetricsError?.action ?? 'Pause';
  if (action !== 'Pause' && action !== 'Rollback') errors.push(`spec.analysis.onMetricsError.action: "${action}" must be Pause or Rollback`);
  return {
    intervalMs: duration('interval', stored.interval, '30s'),
    minRequests: stored.minRequests ?? 20,
    requestQuery: stored.requestQuery ?? BUILTIN_QUERIES.requests,
    breakerIntervalMs: duration('breakerInterval', stored.breakerInterval, '10s'),
    breakerWindowMs: duration('breakerWindow', stored.breakerWindow, '1m'),
    limits: {
      maxConsecutiveErrors: stored.onMetricsError?.consecutiveErrors ?? 3,
      onError: action === 'Rollback' ? 'rollback' : 'pause',
      maxInconclusive: stored.maxInconclusive ?? 3,
    },
    prometheus: {
      address: (address ?? '').replace(/\/+$/, ''),
      timeoutMs: duration('prometheus.timeout', stored.prometheus?.timeout, '5s'),
      secretName: stored.prometheus?.secretRef?.name,
      insecureSkipVerify: stored.prometheus?.insecureSkipVerify ?? false,
    },
    metrics,
  };
}

type DurationOf = (field: string, text: string | undefined, fallback: string) => number;

function metricRule(m: StoredMetric, i: number, errors: string[], duration: DurationOf): MetricRule {
  const field = `spec.analysis.metrics[${i}]`;
  const name = m.name ?? m.template ?? `metric-${i}`;
  let query = m.query;
  if (m.template) {
    if (!(m.template in BUILTIN_QUERIES) || m.template === ('requests' as string)) errors.push(`${field}.template: "${m.template}" is not a built-in template (error-rate, latency-p99)`);
    query ??= BUILTIN_QUERIES[m.template as 'error-rate' | 'latency-p99'];
  }
  if (!query) errors.push(`${field}: set a query or a template (error-rate, latency-p99)`);
  const bounds: Bounds = pick(m);
  // The built-in error rate needs no bounds to be useful: at most 1 %.
  if (m.template === 'error-rate' && !hasAny(bounds) && !m.relative) bounds.max = 0.01;
  const relative = m.relative ? pick(m.relative) : undefined;
  if (!hasAny(bounds) && !(relative && hasAny(relative))) errors.push(`${field}: set max, min or relative bounds (nothing to judge ${name} by)`);
  for (const [k, b] of [['', bounds], ['relative.', relative ?? {}]] as const) {
    if (b.max !== undefined && b.failMax !== undefined && b.failMax < b.max) errors.push(`${field}.${k}failMax: ${b.failMax} is below max ${b.max}`);
    if (b.min !== undefined && b.failMin !== undefined && b.failMin > b.min) errors.push(`${field}.${k}failMin: ${b.failMin} is above min ${b.min}`);
  }
  const rule: MetricRule = { name, query: query ?? '', bounds };
  if (relative) rule.relative = relative;
  const breaker = breakerRule(m, bounds, duration);
  if (breaker) rule.breaker = breaker;
  return rule;
}

/** Defaults from how T2V services are run: error rate > 1 % for 5 min or > 10 % at once; p99 50 % over its bound for 5 min. */
function breakerRule(m: StoredMetric, bounds: Bounds, duration: DurationOf): BreakerRule | undefined {
  if (m.breaker?.disabled) return undefined;
  const forMs = duration('breaker.for', m.breaker?.for, '5m');
  if (m.breaker?.threshold !== undefined) {
    return { threshold: m.breaker.threshold, forMs, ...(m.breaker.severe !== undefined ? { severe: m.breaker.severe } : {}), ...(m.breaker.below ? { below: true } : {}) };
  }
  if (m.template === 'error-rate') return { threshold: bounds.max ?? 0.01, forMs, severe: m.breaker?.severe ?? 0.1 };
  if (m.template === 'latency-p99' && bounds.max !== undefined) return { threshold: bounds.max * 1.5, forMs, ...(m.breaker?.severe !== undefined ? { severe: m.breaker.severe } : {}) };
  return undefined;
}

function pick(b: StoredBounds): Bounds {
  const out: Bounds = {};
  for (const k of ['min', 'max', 'failMin', 'failMax'] as const) if (typeof b[k] === 'number') out[k] = b[k];
  return out;
}

function hasAny(b: Bounds): boolean {
  return Object.keys(b).length > 0;
}

export interface QueryVars {
  namespace: string;
  service: string;
  model: string;
  version: string;
  revision: string;
  role: 'stable' | 'candidate';
  intervalMs: number;
}

/** Fills {{...}} variables; the interval becomes a PromQL duration in whole seconds. */
export function renderQuery(template: string, vars: QueryVars): string {
  const values: Record<string, string> = {
    namespace: vars.namespace, service: vars.service, model: vars.model, version: vars.version, revision: vars.revision, role: vars.role,
    interval: `${Math.max(1, Math.round(vars.intervalMs / 1000))}s`,
  };
  return template.replace(/\{\{\s*(\w+)\s*\}\}/g, (whole, key: string) => values[key] ?? whole);
}
