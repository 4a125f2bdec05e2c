// The analysis section of a ModelRollout spec → metric rules and limits, with built-in templates for
// the inference runtime's own metrics (names documented in inference-image/README.md).
import { parseDuration } from '../rollout/duration.js';
import { DEFAULT_CONFIDENCE, type NoDataPolicy, type StepLimits } from './evaluate.js';
import type { Price } from './price.js';
import type { Bounds, BreakerRule, MetricRule, TradeOffRule } from './types.js';

export interface StoredAnalysis {
  interval?: string;
  minRequests?: number;
  requestQuery?: string;
  breakerInterval?: string;
  breakerWindow?: string;
  maxInconclusive?: number;
  confidence?: number;
  minStableRequests?: number;
  noDataDeadline?: string;
  onNoData?: 'Pause' | 'Rollback';
  onMetricsError?: { consecutiveErrors?: number; action?: 'Pause' | 'Rollback' };
  prometheus?: { address?: string; timeout?: string; secretRef?: { name?: string }; insecureSkipVerify?: boolean };
  metrics?: StoredMetric[];
  tradeOffs?: StoredTradeOff[];
  price?: { perGpuHour?: number; currency?: string };
  goldenProbes?: { configMap?: string; key?: string; interval?: string; timeout?: string };
}

interface StoredTradeOff {
  cost?: string;
  quality?: string;
  maxIncrease?: number;
  minImprovement?: number;
  freeIncrease?: number;
  better?: 'higher' | 'lower';
  onViolation?: 'Pause' | 'Rollback';
}

interface StoredBounds {
  min?: number;
  max?: number;
  failMin?: number;
  failMax?: number;
}

interface StoredMetric extends StoredBounds {
  name?: string;
  template?: BuiltinTemplate;
  query?: string;
  counts?: { events?: string; trials?: string };
  relative?: StoredBounds;
  breaker?: { threshold?: number; for?: string; severe?: number; below?: boolean; disabled?: boolean };
}

export interface AnalysisConfig {
  intervalMs: number;
  minRequests: number;
  requestQuery: string;
  breakerIntervalMs: number;
  breakerWindowMs: number;
  /** One-sided confidence of count bounds; 1 − confidence is the false-alarm rate of one check. */
  confidence: number;
  minStableRequests: number;
  noData: NoDataPolicy;
  limits: StepLimits;
  prometheus: { address: string; timeoutMs: number; secretName?: string; insecureSkipVerify: boolean };
  metrics: MetricRule[];
  /** Cost/quality rules judged on the step's measurements of the metrics they name. */
  tradeOffs: TradeOffRule[];
  /** Turns the cost templates' GPU-seconds into money in status; absent: GPU-seconds only. */
  price?: Price;
  /** Golden-prompt probes the operator sends to both sides (the golden-* templates judge what they measure). */
  goldenProbes?: GoldenProbesConfig;
}

export interface GoldenProbesConfig {
  /** ConfigMap (rollout's namespace) and key holding the prompt list (analysis/golden.ts parseGoldenPrompts). */
  configMap: string;
  key: string;
  intervalMs: number;
  /** Per generation. */
  timeoutMs: number;
}

/** The operator's own histograms of the golden-prompt comparisons (controller/golden-prober.ts observes them). */
export const GOLDEN_METRICS = { ssim: 'modelrollout_golden_ssim', psnr: 'modelrollout_golden_psnr_db' } as const;

/**
 * Candidate and stable are told apart by revision, never by model version: the operator puts the
 * revision, rollout name and namespace on every pod (labels and downward-API env), and the runtime puts
 * them on its series as these labels. Model name/version stay on the series for people.
 */
export const IDENTITY_LABELS = { namespace: 'modelrollout_namespace', name: 'modelrollout_name', revision: 'modelrollout_revision' } as const;
const BY_REVISION = `${IDENTITY_LABELS.namespace}="{{namespace}}",${IDENTITY_LABELS.name}="{{name}}",${IDENTITY_LABELS.revision}="{{revision}}"`;
/**
 * An adapter version on the same pods (StyleRollout): the runtime labels its t2v_adapter_* series by model,
 * adapter name and version (inference-image/README.md, "Style adapters"); stable and candidate are two versions.
 */
export const ADAPTER_LABELS = { model: 'model_name', name: 'adapter_name', version: 'adapter_version' } as const;
const BY_ADAPTER = `${ADAPTER_LABELS.model}="{{model}}",${ADAPTER_LABELS.name}="{{adapter}}",${ADAPTER_LABELS.version}="{{adapterVersion}}"`;
/** Requests the server answered for itself: client errors, cancellations and draining refusals are not its failures. */
const JUDGED = 'outcome=~"ok|server_error|timeout"';
const OFFERED = 'outcome=~"ok|server_error|timeout|overloaded"';

export type BuiltinTemplate =
  | 'error-rate'
  | 'overload-rate'
  | 'rejection-rate'
  | 'cancel-rate'
  | 'latency-p99'
  | 'quality-flicker'
  | 'quality-frozen'
  | 'quality-blank'
  | 'quality-ssim'
  | 'cost-per-video-second'
  | 'cost-per-clip'
  | 'golden-similarity'
  | 'golden-psnr';
/** Requests the server decided on (not shed, cancelled or refused while draining): the trials of rejection-rate. */
const DECIDED = 'outcome=~"ok|client_error|server_error|timeout"';
/** Requests the server accepted or the caller gave up on: the trials of cancel-rate. */
const ATTEMPTED = 'outcome=~"ok|client_error|server_error|timeout|cancelled"';

/**
 * What analysis judges: a revision of the pods (ModelRollout: t2v_* series by modelrollout_revision), or an
 * adapter version on the same pods (StyleRollout: the runtime's t2v_adapter_* series by adapter_version).
 */
export type AnalysisScope = 'revision' | 'adapter';

/** The runtime's series a scope's templates read: metric name prefix and label selector. */
const SERIES: Record<AnalysisScope, { prefix: string; selector: string }> = {
  revision: { prefix: 't2v_', selector: BY_REVISION },
  adapter: { prefix: 't2v_adapter_', selector: BY_ADAPTER },
};

/** The rate templates' counts, over `prefix`requests_total selected by `selector`. */
function countsFor(scope: AnalysisScope) {
  const { prefix, selector } = SERIES[scope];
  const increase = (matchers: string) => `sum(increase(${prefix}requests_total{${selector},${matchers}}[{{interval}}]))`;
  return {
    'error-rate': { events: increase('outcome=~"server_error|timeout"'), trials: increase(JUDGED) },
    'overload-rate': { events: increase('outcome="overloaded"'), trials: increase(OFFERED) },
    'rejection-rate': { events: increase('outcome="client_error"'), trials: increase(DECIDED) },
    'cancel-rate': { events: increase('outcome="cancelled"'), trials: increase(ATTEMPTED) },
    ok: increase('outcome="ok"'),
    requests: `sum(increase(${prefix}requests_total{${selector}}[{{interval}}]))`,
  };
}

function latencyQuantileFor(scope: AnalysisScope, q: number): string {
  const { prefix, selector } = SERIES[scope];
  return `histogram_quantile(${q}, sum by (le) (rate(${prefix}request_duration_seconds_bucket{${selector}}[{{interval}}])))`;
}

/** Mean per measured clip of a runtime quality histogram over the window (its _sum ÷ its _count). */
const clipMean = (histogram: string, selector = BY_REVISION) =>
  `sum(increase(${histogram}_sum{${selector}}[{{interval}}])) / sum(increase(${histogram}_count{${selector}}[{{interval}}]))`;
const GPU_SECONDS = `sum(increase(t2v_gpu_seconds_total{${BY_REVISION}}[{{interval}}]))`;

/** The rate, latency and quality templates of a scope (the cost and golden ones exist only per revision). */
function sharedQueries(scope: AnalysisScope) {
  const c = countsFor(scope);
  const { prefix, selector } = SERIES[scope];
  const rate = (r: { events: string; trials: string }) => `(${r.events} or vector(0)) / ${r.trials}`;
  return {
    'error-rate': rate(c['error-rate']),
    'overload-rate': rate(c['overload-rate']),
    'rejection-rate': rate(c['rejection-rate']),
    'cancel-rate': rate(c['cancel-rate']),
    'latency-p99': latencyQuantileFor(scope, 0.99),
    // Quality signals the runtime computes on its own clips (inference-image/README.md, "Quality signals").
    'quality-flicker': clipMean(`${prefix}quality_flicker_luma_levels`, selector),
    'quality-frozen': clipMean(`${prefix}quality_frozen_frame_ratio`, selector),
    'quality-blank': clipMean(`${prefix}quality_blank_frame_ratio`, selector),
    'quality-ssim': clipMean(`${prefix}quality_temporal_ssim`, selector),
    requests: c.requests,
  };
}

export const BUILTIN_QUERIES = {
  ...sharedQueries('revision'),
  // GPU-seconds (failed generations included) per second of video delivered, and per delivered clip.
  'cost-per-video-second': `${GPU_SECONDS} / sum(increase(t2v_generated_video_seconds_total{${BY_REVISION}}[{{interval}}]))`,
  'cost-per-clip': `${GPU_SECONDS} / ${countsFor('revision').ok}`,
  // Mean over the window's golden-prompt pairs (candidate's clip vs stable's, same prompt and seed).
  'golden-similarity': clipMean(GOLDEN_METRICS.ssim),
  'golden-psnr': clipMean(GOLDEN_METRICS.psnr),
} as const;

/** An adapter rollout's templates: the same names over t2v_adapter_* (no GPU-seconds or golden probes per adapter). */
const ADAPTER_QUERIES: Partial<Record<BuiltinTemplate | 'requests', string>> = sharedQueries('adapter');

/** What the cost templates measure GPU-seconds per. */
const COST_PER: Partial<Record<BuiltinTemplate, 'video-second' | 'clip'>> = { 'cost-per-video-second': 'video-second', 'cost-per-clip': 'clip' };

/** Which way a built-in quality signal gets better, for trade-off rules. */
export const QUALITY_DIRECTION: Partial<Record<BuiltinTemplate, 'higher' | 'lower'>> = {
  'quality-ssim': 'higher',
  'quality-flicker': 'lower',
  'quality-frozen': 'lower',
  'quality-blank': 'lower',
};

/** Templates judged on counts (events out of trials) rather than on the ratio alone. */
function rateCounts(scope: AnalysisScope): Partial<Record<BuiltinTemplate, { events: string; trials: string }>> {
  const c = countsFor(scope);
  return { 'error-rate': c['error-rate'], 'overload-rate': c['overload-rate'], 'rejection-rate': c['rejection-rate'], 'cancel-rate': c['cancel-rate'] };
}
export const BUILTIN_COUNTS = rateCounts('revision');
const ADAPTER_COUNTS = rateCounts('adapter');

const TEMPLATES: readonly BuiltinTemplate[] = [
  'error-rate',
  'overload-rate',
  'rejection-rate',
  'cancel-rate',
  'latency-p99',
  'quality-flicker',
  'quality-frozen',
  'quality-blank',
  'quality-ssim',
  'cost-per-video-second',
  'cost-per-clip',
  'golden-similarity',
  'golden-psnr',
];
/** Templates measured by the golden-prompt probes: they compare the candidate with stable already. */
const GOLDEN_TEMPLATES: readonly BuiltinTemplate[] = ['golden-similarity', 'golden-psnr'];
/**
 * rejection-rate's default: fail only when the candidate's share of client errors (4xx) is confidently over 3×
 * stable's. Client errors are the callers' (bad prompts), so they never fail on their own; a candidate that
 * rejects what stable serves (a changed schema or limit) has none of the failures error-rate counts.
 */
/**
 * quality-flicker: within half to twice stable's (a strobing candidate, or one that stands still where stable
 * moves); quality-ssim: consecutive frames at least 90 % as alike as stable's. Content sets their level, so
 * only a comparison with stable on the same traffic means something by default.
 */
const DEFAULT_RELATIVE: Partial<Record<BuiltinTemplate, Bounds>> = {
  'rejection-rate': { failMax: 3 },
  'cancel-rate': { failMax: 3 },
  'quality-flicker': { min: 0.5, max: 2 },
  'quality-ssim': { min: 0.9 },
};
/** The guardrails that come with error-rate (each can be set, or re-bounded, by listing it). */
const GUARDRAILS = ['overload-rate', 'rejection-rate', 'cancel-rate'] as const;
/**
 * Default bounds of the rate templates: at most 1 % errors; a candidate shedding over 5 % of its load is not
 * healthy. Quality: at most 40 % of a clip's frame pairs frozen on average (a drill freezing half fails) (a still scene or a model's own
 * time upsampling freezes some: the small test model's repeats its edge frames, 2 pairs of 7 in an 8-frame
 * clip; a relative bound catches a smaller freeze when stable moves) and at most one frame in twenty blank.
 * The cost templates have none: a price is the business's call (set bounds, or name them in a trade-off).
 */
const DEFAULT_MAX: Partial<Record<BuiltinTemplate, number>> = { 'error-rate': 0.01, 'overload-rate': 0.05, 'quality-frozen': 0.4, 'quality-blank': 0.05 };

export interface AnalysisDefaults {
  /** Used when a rollout sets metrics but no spec.analysis.prometheus.address. */
  prometheusAddress?: string;
}

/** Undefined when the spec has no analysis; errors name the field. */
export function parseAnalysis(
  stored: StoredAnalysis | undefined,
  errors: string[],
  defaults: AnalysisDefaults = {},
  scope: AnalysisScope = 'revision',
): AnalysisConfig | undefined {
  if (!stored || !stored.metrics || stored.metrics.length === 0) {
    // Settings that only mean something with metrics must not be dropped in silence.
    const orphans = (['goldenProbes', 'tradeOffs', 'price'] as const).filter(
      (k) => stored?.[k] !== undefined && !(Array.isArray(stored[k]) && (stored[k] as unknown[]).length === 0),
    );
    if (orphans.length > 0)
      errors.push(`spec.analysis.metrics: required with ${orphans.map((k) => `spec.analysis.${k}`).join(', ')} (they judge or price metrics; none is listed)`);
    return undefined;
  }
  const duration = (field: string, text: string | undefined, fallback: string) => {
    const ms = parseDuration(text ?? fallback);
    if (ms === undefined) errors.push(`spec.analysis.${field}: "${text}" is not a positive duration (e.g. 30s, 5m)`);
    return ms ?? 0;
  };
  const address = stored.prometheus?.address || defaults.prometheusAddress;
  if (!address)
    errors.push('spec.analysis.prometheus.address: required when metrics are set and the operator has no default (e.g. http://prometheus.monitoring:9090)');
  else if (!/^https?:\/\/[^\s/]+/.test(address)) errors.push(`spec.analysis.prometheus.address: "${address}" must be an http:// or https:// URL`);
  const names = new Set<string>();
  // A metric a trade-off names may carry no bounds of its own: it is measured for the trade-off.
  const traded = new Set((stored.tradeOffs ?? []).flatMap((t) => [t.cost, t.quality]).filter((n): n is string => typeof n === 'string'));
  const metrics = stored.metrics.map((m, i) => {
    const rule = metricRule(m, i, errors, (field, text, fallback) => duration(`metrics[${i}].${field}`, text, fallback), { traded, scope });
    if (names.has(rule.name)) errors.push(`spec.analysis.metrics[${i}].name: "${rule.name}" is used twice`);
    names.add(rule.name);
    return rule;
  });
  // The guardrails come with the error rate: shedding load, or rejecting what stable serves, must not read as healthy.
  if (stored.metrics.some((m) => m.template === 'error-rate')) {
    for (const guardrail of GUARDRAILS) {
      if (stored.metrics.some((m) => m.template === guardrail) || names.has(guardrail)) continue;
      metrics.push(metricRule({ template: guardrail }, metrics.length, [], (field, text, fallback) => duration(field, text, fallback), { scope }));
      names.add(guardrail);
    }
  }
  const unknownInRequestQuery = stored.requestQuery ? unknownVariables(stored.requestQuery, scope) : [];
  if (unknownInRequestQuery.length > 0)
    errors.push(
      `spec.analysis.requestQuery: unknown variable ${unknownInRequestQuery.map((v) => `{{${v}}}`).join(', ')} (known: ${variablesOf(scope)
        .map((v) => `{{${v}}}`)
        .join(', ')})`,
    );
  if (scope === 'adapter' && stored.goldenProbes)
    errors.push('spec.analysis.goldenProbes: not available for an adapter rollout (both versions run on the same pods; judge them on t2v_adapter_* metrics)');
  const tradeOffs = (stored.tradeOffs ?? []).map((t, i) => tradeOffRule(t, i, stored.metrics ?? [], metrics, errors));
  // A trade-off's results, no-data record and rollback reason go by its name: one name, one rule.
  tradeOffs.forEach((t, i) => {
    if (names.has(t.name)) errors.push(`spec.analysis.tradeOffs[${i}]: its name "${t.name}" is also a metric's name (rename the metric)`);
    const first = tradeOffs.findIndex((x) => x.name === t.name);
    if (first < i) errors.push(`spec.analysis.tradeOffs[${i}]: weighs the same cost and quality as tradeOffs[${first}] ("${t.name}"); keep one rule per pair`);
  });
  if (stored.price && !stored.metrics.some((m) => m.template && COST_PER[m.template] && !m.query)) {
    errors.push(`spec.analysis.price: no cost metric to price (add cost-per-video-second or cost-per-clip to spec.analysis.metrics)`);
  }
  const price = priceOf(stored.price, errors);
  const goldenProbes = goldenProbesOf(stored.goldenProbes, (field, text, fallback) => duration(`goldenProbes.${field}`, text, fallback), errors);
  stored.metrics.forEach((m, i) => {
    if (!m.template || !GOLDEN_TEMPLATES.includes(m.template)) return;
    if (!goldenProbes && !stored.goldenProbes)
      errors.push(
        `spec.analysis.metrics[${i}].template: ${m.template} is measured by golden-prompt probes: set spec.analysis.goldenProbes.configMap (the prompts to send to both sides)`,
      );
    if (m.relative)
      errors.push(
        `spec.analysis.metrics[${i}].relative: ${m.template} already compares the candidate with stable (same prompt and seed); set min (e.g. ${m.template === 'golden-psnr' ? '25 dB' : '0.8'})`,
      );
    if (m.min === undefined && m.failMin === undefined)
      errors.push(
        `spec.analysis.metrics[${i}].min: required for ${m.template} (no default: how alike a new version's videos must stay is the team's call, e.g. ${m.template === 'golden-psnr' ? '25 dB' : '0.8'}; a max alone would fail a candidate for being too alike)`,
      );
    const top = m.template === 'golden-similarity' ? 1 : 100;
    for (const k of ['min', 'failMin', 'max', 'failMax'] as const) {
      const b = m[k];
      if (b !== undefined && !(typeof b === 'number' && b >= 0 && b <= top))
        errors.push(
          `spec.analysis.metrics[${i}].${k}: ${JSON.stringify(b)} is outside ${m.template}'s range 0 to ${top}${m.template === 'golden-psnr' ? ' dB (100 stands for identical)' : ' (1 = identical)'}`,
        );
    }
  });
  const confidence = stored.confidence ?? DEFAULT_CONFIDENCE;
  if (!(confidence > 0.5 && confidence < 1))
    errors.push(`spec.analysis.confidence: ${confidence} must be above 0.5 and below 1 (e.g. 0.95: one check in 20 may misjudge a rate at its bound)`);
  const onNoData = stored.onNoData ?? 'Pause';
  if (onNoData !== 'Pause' && onNoData !== 'Rollback') errors.push(`spec.analysis.onNoData: "${onNoData}" must be Pause or Rollback`);
  const minRequests = stored.minRequests ?? 20;
  const action = stored.onMetricsError?.action ?? 'Pause';
  if (action !== 'Pause' && action !== 'Rollback') errors.push(`spec.analysis.onMetricsError.action: "${action}" must be Pause or Rollback`);
  return {
    intervalMs: duration('interval', stored.interval, '30s'),
    minRequests,
    minStableRequests: stored.minStableRequests ?? minRequests,
    confidence,
    noData: {
      deadlineMs: duration('noDataDeadline', stored.noDataDeadline, '10m'),
      action: onNoData === 'Rollback' ? 'rollback' : 'pause',
      reportAfterChecks: 3,
    },
    requestQuery: stored.requestQuery ?? (scope === 'adapter' ? ADAPTER_QUERIES.requests! : BUILTIN_QUERIES.requests),
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
    tradeOffs,
    ...(price ? { price } : {}),
    ...(goldenProbes ? { goldenProbes } : {}),
  };
}

function goldenProbesOf(stored: StoredAnalysis['goldenProbes'], duration: DurationOf, errors: string[]): GoldenProbesConfig | undefined {
  if (!stored) return undefined;
  const { configMap, key = 'prompts.yaml' } = stored;
  const dns = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
  if (typeof configMap !== 'string' || !dns.test(configMap)) {
    errors.push(
      `spec.analysis.goldenProbes.configMap: ${configMap === undefined ? 'required' : `"${configMap}" is not a ConfigMap name`} (a DNS subdomain in the rollout's namespace, e.g. golden-prompts)`,
    );
  }
  if (typeof key !== 'string' || !/^[-._a-zA-Z0-9]{1,253}$/.test(key) || key === '.' || key === '..')
    errors.push(`spec.analysis.goldenProbes.key: "${key}" is not a ConfigMap key (letters, digits, -, _ and ., not "." or "..")`);
  const intervalMs = duration('interval', stored.interval, '1m');
  // Each round is two generations per prompt; shorter than a second keeps a serving pod busy with probes.
  if (intervalMs > 0 && intervalMs < 1000)
    errors.push(`spec.analysis.goldenProbes.interval: "${stored.interval}" is under 1s (each round generates every prompt twice; e.g. 1m)`);
  const timeoutMs = duration('timeout', stored.timeout, '2m');
  if (timeoutMs > 0 && timeoutMs < 1000)
    errors.push(`spec.analysis.goldenProbes.timeout: "${stored.timeout}" is under 1s: no generation finishes that fast (e.g. 2m)`);
  return { configMap: String(configMap ?? ''), key: String(key), intervalMs, timeoutMs };
}

function priceOf(stored: StoredAnalysis['price'], errors: string[]): Price | undefined {
  if (!stored) return undefined;
  const { perGpuHour, currency = 'USD' } = stored;
  if (typeof perGpuHour !== 'number' || !Number.isFinite(perGpuHour) || perGpuHour <= 0) {
    errors.push(
      `spec.analysis.price.perGpuHour: ${JSON.stringify(perGpuHour)} must be a number above 0 (money per GPU-hour, e.g. 2.49${typeof perGpuHour === 'string' ? ', without quotes' : ''})`,
    );
    return undefined;
  }
  if (typeof currency !== 'string' || !/^\S{1,8}$/.test(currency))
    errors.push(`spec.analysis.price.currency: "${currency}" must be 1 to 8 characters without spaces (e.g. USD)`);
  return { perGpuHour, currency };
}

/** A trade-off rule; its names must be metrics of this analysis (errors name the field and the known names). */
function tradeOffRule(t: StoredTradeOff, i: number, stored: StoredMetric[], metrics: MetricRule[], errors: string[]): TradeOffRule {
  const field = `spec.analysis.tradeOffs[${i}]`;
  const known = metrics.map((m) => m.name);
  for (const key of ['cost', 'quality'] as const) {
    const name = t[key];
    if (!name) errors.push(`${field}.${key}: required (the name of a metric in spec.analysis.metrics: ${known.join(', ')})`);
    else if (!known.includes(name)) errors.push(`${field}.${key}: "${name}" is not a metric of this analysis (known: ${known.join(', ')})`);
    else {
      const m = metrics.find((x) => x.name === name)!;
      const template = stored.find((x) => (x.name ?? x.template) === name)?.template;
      // Golden scores exist for the candidate only (they compare it with stable already): no stable side.
      if (template && GOLDEN_TEMPLATES.includes(template))
        errors.push(`${field}.${key}: "${name}" (${template}) has no stable value to compare with: it already scores the candidate against stable`);
      else if (m.counts)
        errors.push(
          `${field}.${key}: "${name}" is a counts metric (a rate of events), not a ${key === 'cost' ? 'cost (use cost-per-video-second or cost-per-clip)' : 'quality score'}`,
        );
      else if (key === 'cost' && template && QUALITY_DIRECTION[template])
        errors.push(`${field}.cost: "${name}" is a quality metric, not a cost (use cost-per-video-second or cost-per-clip)`);
      // Flicker is bad both ways (strobing, or standing still): less of it is no improvement to pay for.
      else if (key === 'quality' && template === 'quality-flicker')
        errors.push(
          `${field}.quality: quality-flicker is bad in both directions (a strobing clip, or one that stands still), so no change of it can pay for a cost; use quality-ssim with a tight quality-frozen, or a score of your own`,
        );
    }
  }
  if (t.cost && t.cost === t.quality)
    errors.push(`${field}.quality: "${t.quality}" is also the cost: a trade-off weighs a cost against a different quality metric`);
  const fraction = (key: 'maxIncrease' | 'minImprovement' | 'freeIncrease', fallback: number | undefined, example: string): number => {
    const v = t[key] ?? fallback;
    if (v === undefined) errors.push(`${field}.${key}: required (a fraction: ${example})`);
    else if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) errors.push(`${field}.${key}: ${v} must be a number ≥ 0 (a fraction: ${example})`);
    return typeof v === 'number' ? v : 0;
  };
  const maxIncrease = fraction('maxIncrease', undefined, '0.4 = at most 40 % more per generated second');
  const minImprovement = fraction('minImprovement', undefined, '0.1 = the quality metric at least 10 % better than stable');
  // Two measurements of the same cost differ by a few % from noise alone; that must not read as a costlier candidate.
  const freeIncrease = fraction('freeIncrease', Math.min(0.05, Math.max(0, maxIncrease)), '0.05 = 5 % more allowed without any quality gain');
  if (maxIncrease >= 0 && freeIncrease > maxIncrease) errors.push(`${field}.freeIncrease: ${freeIncrease} is above maxIncrease ${maxIncrease}`);
  const template = stored.find((m) => (m.name ?? m.template) === t.quality)?.template;
  const known_ = template ? QUALITY_DIRECTION[template] : undefined;
  if (t.better !== undefined && known_ !== undefined && t.better !== known_)
    errors.push(`${field}.better: "${t.better}" contradicts ${template}, where ${known_} is better (leave better out for a built-in template)`);
  const better = t.better ?? known_;
  if (better !== 'higher' && better !== 'lower') {
    errors.push(
      `${field}.better: ${t.better === undefined ? `required for "${t.quality}" (not a built-in quality template)` : `"${t.better}"`}: must be higher or lower (which way ${t.quality} improves)`,
    );
  }
  const onViolation = t.onViolation ?? 'Pause';
  if (onViolation !== 'Pause' && onViolation !== 'Rollback') errors.push(`${field}.onViolation: "${onViolation}" must be Pause or Rollback`);
  return {
    name: `${t.cost}-vs-${t.quality}`,
    cost: t.cost ?? '',
    quality: t.quality ?? '',
    maxIncrease,
    minImprovement,
    freeIncrease,
    better: better === 'lower' ? 'lower' : 'higher',
    onViolation: onViolation === 'Rollback' ? 'rollback' : 'pause',
  };
}

type DurationOf = (field: string, text: string | undefined, fallback: string) => number;

function metricRule(
  m: StoredMetric,
  i: number,
  errors: string[],
  duration: DurationOf,
  { traded = new Set(), scope = 'revision' }: { traded?: ReadonlySet<string>; scope?: AnalysisScope } = {},
): MetricRule {
  const field = `spec.analysis.metrics[${i}]`;
  const name = m.name ?? m.template ?? `metric-${i}`;
  let query = m.query;
  const template = m.template && TEMPLATES.includes(m.template) ? m.template : undefined;
  if (m.template && !template) errors.push(`${field}.template: "${m.template}" is not a built-in template (${TEMPLATES.join(', ')})`);
  if (template && scope === 'adapter' && !ADAPTER_QUERIES[template])
    errors.push(
      `${field}.template: "${template}" is not measured per adapter version (an adapter rollout has ${TEMPLATES.filter((t) => ADAPTER_QUERIES[t]).join(', ')})`,
    );
  if (template) query ??= scope === 'adapter' ? ADAPTER_QUERIES[template] : BUILTIN_QUERIES[template];
  const counts = countsOf(m, template, field, errors, scope);
  if (!query && counts) query = `(${counts.events}) / (${counts.trials})`;
  if (!query) errors.push(`${field}: set a query, counts or a template (${TEMPLATES.join(', ')})`);
  const bounds: Bounds = pick(m);
  // The built-in rates need no bounds to be useful; a relative bound does not drop the absolute default
  // (a ratio passes on its point estimate: the absolute bound is what asks for confidence).
  const defaultMax = template ? DEFAULT_MAX[template] : undefined;
  if (defaultMax !== undefined && !hasAny(bounds)) bounds.max = defaultMax;
  if (counts) {
    // A count rule judges a rate (a fraction): 0 cannot be shown by any number of requests, and a value over 1
    // (a percentage written as 5 for 5 %) would silently never trip or fail.
    const rates: [string, number | undefined][] = [
      ['max', bounds.max],
      ['failMax', bounds.failMax],
      ['breaker.threshold', m.breaker?.threshold],
      ['breaker.severe', m.breaker?.severe],
    ];
    for (const [k, v] of rates) {
      if (v !== undefined && !(v > 0 && v <= 1))
        errors.push(
          `${field}.${k}: ${v} is not a rate a count can be judged against (a fraction above 0 and at most 1, e.g. 0.01 for 1 %; "no errors at all" cannot be shown by any number of requests — use e.g. 0.001)`,
        );
    }
  }
  if (counts && (bounds.min !== undefined || bounds.failMin !== undefined))
    errors.push(`${field}.min: a counts metric is a rate judged against an upper bound; set max (and failMax), not min`);
  const defaultRelative = template && !hasAny(bounds) ? DEFAULT_RELATIVE[template] : undefined;
  const relative = m.relative ? pick(m.relative) : defaultRelative ? { ...defaultRelative } : undefined;
  if (!hasAny(bounds) && !(relative && hasAny(relative)) && !traded.has(name) && !(template && GOLDEN_TEMPLATES.includes(template)))
    errors.push(`${field}: set max, min or relative bounds, or name it in a tradeOff (nothing to judge ${name} by)`);
  for (const [k, b] of [
    ['', bounds],
    ['relative.', relative ?? {}],
  ] as const) {
    if (b.min !== undefined && b.max !== undefined && b.min > b.max) errors.push(`${field}.${k}min: ${b.min} is above max ${b.max}: no value could pass`);
    if (b.max !== undefined && b.failMax !== undefined && b.failMax < b.max) errors.push(`${field}.${k}failMax: ${b.failMax} is below max ${b.max}`);
    if (b.min !== undefined && b.failMin !== undefined && b.failMin > b.min) errors.push(`${field}.${k}failMin: ${b.failMin} is above min ${b.min}`);
  }
  for (const [where, text] of [
    ['query', m.query],
    ['counts.events', m.counts?.events],
    ['counts.trials', m.counts?.trials],
  ] as const) {
    const unknown = text ? unknownVariables(text, scope) : [];
    if (unknown.length > 0)
      errors.push(
        `${field}.${where}: unknown variable ${unknown.map((v) => `{{${v}}}`).join(', ')} (known: ${variablesOf(scope)
          .map((v) => `{{${v}}}`)
          .join(', ')})`,
      );
  }
  const rule: MetricRule = { name, query: query ?? '', bounds };
  if (template === 'latency-p99' && !m.query) rule.lowRateQuery = latencyQuantileFor(scope, 0.5);
  const costPer = template && !m.query ? COST_PER[template] : undefined;
  if (costPer) rule.costPer = costPer;
  if (template && GOLDEN_TEMPLATES.includes(template) && !m.query) rule.golden = true;
  if (counts) rule.counts = counts;
  if (relative) rule.relative = relative;
  const breaker = breakerRule(m, bounds, duration, field, errors);
  if (breaker) rule.breaker = breaker;
  return rule;
}

/** Defaults from how T2V services are run: error rate > 1 % for 5 min or > 10 % at once; p99 50 % over its bound for 5 min. */
function breakerRule(m: StoredMetric, bounds: Bounds, duration: DurationOf, field: string, errors: string[]): BreakerRule | undefined {
  if (m.breaker?.disabled) return undefined;
  const forMs = duration('breaker.for', m.breaker?.for, '5m');
  const below = m.breaker?.below ?? false;
  // error-rate's defaults apply per field, and follow the user's own bounds: the threshold is the step's bound
  // (max, else failMax), and the severe bound is never at or below it (a 20 % bound would otherwise trip at 15 %).
  let threshold = m.breaker?.threshold;
  let severe = m.breaker?.severe;
  if (m.template === 'error-rate') {
    threshold ??= bounds.max ?? bounds.failMax ?? 0.01;
    severe ??= Math.min(1, Math.max(0.1, 2 * Math.max(bounds.max ?? 0, threshold)));
  } else if (m.template === 'latency-p99' && bounds.max !== undefined) {
    threshold ??= bounds.max * 1.5;
  }
  if (
    m.breaker?.threshold !== undefined &&
    m.breaker.severe !== undefined &&
    (below ? m.breaker.severe >= m.breaker.threshold : m.breaker.severe <= m.breaker.threshold)
  ) {
    errors.push(
      `${field}.breaker.severe: ${m.breaker.severe} must be ${below ? 'below' : 'above'} breaker.threshold ${m.breaker.threshold} (severe trips at once, the threshold only when sustained)`,
    );
  }
  if (threshold === undefined && severe === undefined) return undefined;
  // Only a severe bound: trips at once beyond it, never on a sustained breach.
  threshold ??= below ? -Infinity : Infinity;
  return { threshold, forMs, ...(severe !== undefined ? { severe } : {}), ...(below ? { below: true } : {}) };
}

/** Counts of a built-in rate, or a custom metric's `counts` (both queries required). */
function countsOf(m: StoredMetric, template: BuiltinTemplate | undefined, field: string, errors: string[], scope: AnalysisScope): MetricRule['counts'] {
  if (m.counts) {
    if (!m.counts.events) errors.push(`${field}.counts.events: required with counts (PromQL counting failed requests in {{interval}})`);
    if (!m.counts.trials) errors.push(`${field}.counts.trials: required with counts (PromQL counting all judged requests in {{interval}})`);
    return m.counts.events && m.counts.trials ? { events: m.counts.events, trials: m.counts.trials } : undefined;
  }
  // A custom query replaces the template's counts: it is judged as a plain value.
  return template && !m.query ? (scope === 'adapter' ? ADAPTER_COUNTS : BUILTIN_COUNTS)[template] : undefined;
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
  /** The ModelRollout's name. */
  name: string;
  service: string;
  model: string;
  version: string;
  /** The revision this query is about (the candidate's, or stable's for a relative bound's baseline). */
  revision: string;
  stableRevision: string;
  candidateRevision: string;
  role: 'stable' | 'candidate';
  intervalMs: number;
  /** Adapter rollouts: the style (adapter name) and the version this query is about (`v2`). */
  adapter?: string;
  adapterVersion?: string;
}

/** Fills {{...}} variables; the interval becomes a PromQL duration in whole seconds. */
/** The {{variables}} a query may use; renderQuery fills each one. */
export const QUERY_VARIABLES = [
  'namespace',
  'name',
  'service',
  'model',
  'version',
  'revision',
  'stableRevision',
  'candidateRevision',
  'role',
  'interval',
] as const;

/** An adapter rollout's queries may also name the adapter and the version they are about. */
const ADAPTER_VARIABLES = ['adapter', 'adapterVersion'] as const;

function variablesOf(scope: AnalysisScope): readonly string[] {
  return scope === 'adapter' ? [...QUERY_VARIABLES, ...ADAPTER_VARIABLES] : QUERY_VARIABLES;
}

/** The {{names}} in `text` that renderQuery would leave unfilled (a typo would otherwise reach Prometheus as a literal). */
export function unknownVariables(text: string, scope: AnalysisScope = 'revision'): string[] {
  const known = variablesOf(scope);
  return [...new Set([...text.matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((x) => x[1]!).filter((v) => !known.includes(v)))];
}

export function renderQuery(template: string, vars: QueryVars): string {
  const values: Record<string, string> = {
    namespace: vars.namespace,
    name: vars.name,
    service: vars.service,
    model: vars.model,
    version: vars.version,
    revision: vars.revision,
    stableRevision: vars.stableRevision,
    candidateRevision: vars.candidateRevision,
    role: vars.role,
    interval: `${Math.max(1, Math.round(vars.intervalMs / 1000))}s`,
  };
  if (vars.adapter !== undefined) values.adapter = vars.adapter;
  if (vars.adapterVersion !== undefined) values.adapterVersion = vars.adapterVersion;
  return template.replace(/\{\{\s*(\w+)\s*\}\}/g, (whole, key: string) => values[key] ?? whole);
}
