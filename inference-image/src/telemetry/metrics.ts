// Prometheus metrics. The operator's analysis templates query these names: keep them stable and keep
// README.md in step. Every series carries model_name and model_version for people, and, when the pod was
// made by a ModelRollout, modelrollout_namespace/_name/_revision (from downward-API env): analysis tells
// stable and candidate apart by revision, which a template change moves even when the model version stays.
// The per-request series (requests, durations, quality, GPU-seconds, video-seconds) also carry `arm`, the A/B
// experiment arm of the request (experiment-arm.ts), so an experiment compares treatment and control on them.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, exponentialBuckets } from 'prom-client';
import type { T2vError } from '../errors.js';
import { ARMS, type Arm } from '../experiment-arm.js';
import type { ClipQuality } from '../quality/clip-quality.js';
import type { Provider } from '../model/execution-provider.js';
import type { GpuMemory } from './gpu-memory.js';

export type Route = 'generate' | 'videos';

/**
 * 50 ms to ~11.5 min, each bucket 1.08× the one below (126 series per route with +Inf). histogram_quantile
 * interpolates linearly inside the bucket holding the rank, so with the tight latencies of a T2V model (a few %
 * spread) an estimate snaps towards a bucket edge and a ratio of two p99s is off by up to about one bucket
 * factor. At 1.25× a true 1.3× slowdown read as up to 1.56× (failing a relative max of 1.5); at 1.08× a
 * 1.3× never reads above 1.5× and a 1.6× never at or below it (buckets.attack.test.ts sweeps 5 s to 200 s).
 */
export const REQUEST_DURATION_BUCKETS = exponentialBuckets(0.05, 1.08, 125).map((b) => +b.toPrecision(4));

/**
 * How a request ended, for judgement: the error-rate template counts server_error and timeout out of
 * ok + server_error + timeout; overloaded has its own guardrail; client_error, cancelled and draining are
 * not the server failing (a bad request, a client that left, a healthy replica shutting down).
 */
export const OUTCOMES = ['ok', 'client_error', 'overloaded', 'server_error', 'timeout', 'cancelled', 'draining'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/**
 * Every HTTP status each outcome is written with (errors.ts: each error class's httpStatus, by outcomeOf).
 * Each (outcome, status) series is written at 0 at start: increase() reads a series that first appears at 1
 * as no increase, so a first 503 NotReady on a series born at 1 would be invisible to the judged queries.
 * errors.test covers that every error class's pair is listed.
 */
export const OUTCOME_STATUSES: Record<Outcome, readonly number[]> = {
  ok: [200],
  client_error: [400, 404, 408, 409, 410, 413, 415, 416, 422],
  overloaded: [429, 503],
  server_error: [500, 503], // 503: the job store is unreachable (StoreUnavailable), a failure users see
  timeout: [504],
  cancelled: [499],
  draining: [503],
};

/** Outcome of an error by its stable code; undefined error = ok. */
export function outcomeOf(error: Pick<T2vError, 'code' | 'httpStatus'> | undefined): Outcome {
  if (!error) return 'ok';
  switch (error.code) {
    case 'QueueFull':
    case 'NotReady':
      return 'overloaded';
    case 'ShuttingDown':
      return 'draining';
    case 'Timeout':
      return 'timeout';
    case 'Cancelled':
      return 'cancelled';
    default:
      return error.httpStatus >= 500 ? 'server_error' : 'client_error';
  }
}

/** Where the pod sits in a ModelRollout (from MODELROLLOUT_* env); absent outside one. */
export interface PodIdentity {
  namespace?: string;
  name?: string;
  revision?: string;
}
export const DENOISE_STEP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Flicker, in luma levels (0–255): a still clip is 0, VAE noise ~1, a moving scene a few, a strobe tens. */
export const FLICKER_BUCKETS = [0.25, 0.5, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128];
/** Frozen and blank ratios (0–1); le="0" counts the clips with none. */
export const RATIO_BUCKETS = [0, 0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1];
/** Temporal SSIM (≤ 1), finer towards 1 where smooth clips sit. */
export const SSIM_BUCKETS = [0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 1];
export const QUALITY_SECONDS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** Per measured clip, by the request's experiment arm. */
export interface QualityHistograms {
  flicker: Histogram<'arm'>;
  frozenRatio: Histogram<'arm'>;
  blankRatio: Histogram<'arm'>;
  temporalSsim: Histogram<'arm'>;
  /** Time spent computing one clip's signals. */
  seconds: Histogram<'arm'>;
}

export interface RuntimeMetrics {
  registry: Registry;
  requests: Counter<'status' | 'route' | 'outcome' | 'arm'>;
  requestDuration: Histogram<'route' | 'arm'>;
  denoiseStep: Histogram;
  modelLoadSeconds: Gauge;
  warmupSeconds: Gauge;
  generatedVideoSeconds: Counter<'arm'>;
  /** GPU-seconds held by generations (succeeded or not): wall seconds × GPUs per replica ÷ slots. */
  gpuSeconds: Counter<'arm'>;
  quality: QualityHistograms;
  providerInfo: Gauge<'provider'>;
  faultInjection: Gauge<'kind'>;
  /** Records a finished request once: ok when `error` is undefined, else the error's outcome and HTTP status. */
  requestFinished(route: Route, arm: Arm, error: Pick<T2vError, 'code' | 'httpStatus'> | undefined, seconds?: number): void;
  /** A golden-prompt probe's generation finished (or was refused): counted apart from users' requests. */
  probeFinished(error: Pick<T2vError, 'code' | 'httpStatus'> | undefined): void;
  setProvider(provider: Provider): void;
  /** Observes one measured clip; a signal the clip is too short for (one frame has no pairs) is skipped. */
  observeQuality(q: ClipQuality, seconds: number, arm: Arm): void;
}

export interface MetricSources {
  queueDepth: () => number;
  inflight: () => number;
  /** GPU memory of the device in use; undefined on CPU or where it cannot be read (no series then). */
  gpuMemory: () => Promise<{ deviceId: number; memory: GpuMemory } | undefined>;
}

export function createMetrics(model: { name: string; version: string }, sources: MetricSources, identity: PodIdentity = {}): RuntimeMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ model_name: model.name, model_version: model.version, ...identityLabels(identity) });
  collectDefaultMetrics({ register: registry, prefix: 't2v_' });
  const registers = [registry];
  const requests = new Counter({
    name: 't2v_requests_total',
    help: 'Generation requests by outcome, final HTTP status and experiment arm (async jobs counted when they finish).',
    labelNames: ['status', 'route', 'outcome', 'arm'] as const,
    registers,
  });
  const probeRequests = new Counter({
    name: 't2v_probe_requests_total',
    help: 'Golden-prompt probe generations of the operator (header X-ModelRollout-Probe), by outcome; not in t2v_requests_total.',
    labelNames: ['status', 'outcome'] as const,
    registers,
  });
  const routes: Route[] = ['generate', 'videos'];
  // Zero samples for every outcome and arm: rate() and increase() then read 0 before the first request, not nothing
  // (an arm's first request would otherwise start its series at 1 and read as no increase).
  for (const route of routes)
    for (const arm of ARMS)
      for (const outcome of OUTCOMES) for (const status of OUTCOME_STATUSES[outcome]) requests.inc({ route, outcome, status: String(status), arm }, 0);
  const requestDuration = new Histogram({
    name: 't2v_request_duration_seconds',
    help: 'Accepted generation requests, arrival to finished MP4 (queue wait included), by route and experiment arm.',
    labelNames: ['route', 'arm'] as const,
    buckets: REQUEST_DURATION_BUCKETS,
    registers,
  });
  for (const route of routes) for (const arm of ARMS) requestDuration.zero({ route, arm });
  new Gauge({
    name: 't2v_queue_depth',
    help: 'Accepted generations waiting for a slot.',
    registers,
    collect() {
      this.set(sources.queueDepth());
    },
  });
  new Gauge({
    name: 't2v_inflight_jobs',
    help: 'Generations running now.',
    registers,
    collect() {
      this.set(sources.inflight());
    },
  });
  const denoiseStep = new Histogram({
    name: 't2v_denoise_step_duration_seconds',
    help: 'One denoiser step (all its session runs, guidance and scheduler update).',
    buckets: DENOISE_STEP_BUCKETS,
    registers,
  });
  const modelLoadSeconds = new Gauge({ name: 't2v_model_load_seconds', help: 'Time to load the tokenizer and ONNX sessions.', registers });
  const warmupSeconds = new Gauge({ name: 't2v_warmup_seconds', help: 'Time of the warm-up generation run before readiness.', registers });
  const generatedVideoSeconds = new Counter({
    name: 't2v_generated_video_seconds_total',
    help: 'Seconds of video successfully generated (for cost per generated second), by experiment arm.',
    labelNames: ['arm'] as const,
    registers,
  });
  const gpuSeconds = new Counter({
    name: 't2v_gpu_seconds_total',
    labelNames: ['arm'] as const,
    registers,
    help: 'GPU-seconds held by generations, succeeded or failed (slot start to end × GPUs per replica ÷ concurrent slots; replica-seconds on CPU), by experiment arm. With t2v_generated_video_seconds_total: cost per generated second.',
  });
  const quality = qualityHistograms(registers);
  for (const arm of ARMS) {
    generatedVideoSeconds.inc({ arm }, 0);
    gpuSeconds.inc({ arm }, 0);
    for (const h of Object.values(quality)) h.zero({ arm });
  }
  const providerInfo = new Gauge({
    name: 't2v_execution_provider_info',
    help: 'The onnxruntime execution provider in use (value 1).',
    labelNames: ['provider'] as const,
    registers,
  });
  const faultInjection = new Gauge({
    name: 't2v_fault_injection',
    help: 'Fault injection settings (drills only; 0 = off): kind=error_rate|latency_seconds|freeze_frames.',
    labelNames: ['kind'] as const,
    registers,
  });
  new Gauge({
    name: 't2v_gpu_memory_used_bytes',
    help: 'GPU memory in use on the device (nvidia-smi); absent on CPU.',
    labelNames: ['device'] as const,
    registers,
    async collect() {
      const gpu = await sources.gpuMemory();
      this.reset();
      if (gpu) this.set({ device: String(gpu.deviceId) }, gpu.memory.usedBytes);
    },
  });
  return {
    registry,
    requests,
    requestDuration,
    denoiseStep,
    modelLoadSeconds,
    warmupSeconds,
    generatedVideoSeconds,
    gpuSeconds,
    quality,
    providerInfo,
    faultInjection,
    probeFinished(error) {
      probeRequests.inc({ outcome: outcomeOf(error), status: String(error ? error.httpStatus : 200) });
    },
    requestFinished(route, arm, error, seconds) {
      requests.inc({ route, outcome: outcomeOf(error), status: String(error ? error.httpStatus : 200), arm });
      if (seconds !== undefined) requestDuration.observe({ route, arm }, seconds);
    },
    setProvider(provider) {
      providerInfo.reset();
      providerInfo.set({ provider }, 1);
    },
    observeQuality(q, seconds, arm) {
      const labels = { arm };
      if (q.flicker !== undefined) quality.flicker.observe(labels, q.flicker);
      if (q.frozenRatio !== undefined) quality.frozenRatio.observe(labels, q.frozenRatio);
      if (q.blankRatio !== undefined) quality.blankRatio.observe(labels, q.blankRatio);
      if (q.temporalSsim !== undefined) quality.temporalSsim.observe(labels, q.temporalSsim);
      quality.seconds.observe(labels, seconds);
    },
  };
}

/** One observation per measured clip (T2V_QUALITY_SAMPLE of them); definitions and thresholds in quality/clip-quality.ts. */
function qualityHistograms(registers: Registry[]): QualityHistograms {
  return {
    flicker: new Histogram({
      name: 't2v_quality_flicker_luma_levels',
      help: 'Per clip: mean absolute luma change between consecutive frames, in levels of 0-255 (0 = still).',
      labelNames: ['arm'] as const,
      buckets: FLICKER_BUCKETS,
      registers,
    }),
    frozenRatio: new Histogram({
      name: 't2v_quality_frozen_frame_ratio',
      help: 'Per clip: share of consecutive frame pairs that differ by under 0.5 luma levels on average.',
      labelNames: ['arm'] as const,
      buckets: RATIO_BUCKETS,
      registers,
    }),
    blankRatio: new Histogram({
      name: 't2v_quality_blank_frame_ratio',
      help: 'Per clip: share of frames whose luma standard deviation is under 2 levels (flat frames).',
      labelNames: ['arm'] as const,
      buckets: RATIO_BUCKETS,
      registers,
    }),
    temporalSsim: new Histogram({
      name: 't2v_quality_temporal_ssim',
      help: 'Per clip: mean SSIM between consecutive frames (1 = identical).',
      labelNames: ['arm'] as const,
      buckets: SSIM_BUCKETS,
      registers,
    }),
    seconds: new Histogram({
      name: 't2v_quality_compute_seconds',
      help: 'Per clip: time spent computing the quality signals.',
      labelNames: ['arm'] as const,
      buckets: QUALITY_SECONDS_BUCKETS,
      registers,
    }),
  };
}

function identityLabels(identity: PodIdentity): Record<string, string> {
  const labels: Record<string, string> = {};
  if (identity.namespace) labels.modelrollout_namespace = identity.namespace;
  if (identity.name) labels.modelrollout_name = identity.name;
  if (identity.revision) labels.modelrollout_revision = identity.revision;
  return labels;
}
