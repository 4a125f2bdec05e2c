// The runtime's configuration: the only place that reads process.env.
import { ConfigError } from './errors.js';
import type { ProviderPreference } from './model/execution-provider.js';

export interface FaultInjectionConfig {
  /** Probability in [0, 1] that a generation fails with FaultInjected (HTTP 500). 0 = off. */
  errorRate: number;
  /** Extra latency added to every generation, in ms. 0 = off. The GPU-seconds counter includes it: a costlier candidate. */
  latencyMs: number;
  /**
   * Share in [0, 1] of each clip's frames, from the end, replaced by the last frame before them (a clip
   * that freezes; the quality signals' frozen ratio then reads about this share). 0 or absent = off.
   */
  freezeFrames?: number;
}

export interface RuntimeConfig {
  modelDir: string;
  host: string;
  /** 0 picks a free port; the chosen one is logged ("listening"). */
  port: number;
  executionProvider: ProviderPreference;
  cudaDeviceId: number;
  /** ONNX intra-op threads on CPU; 0 = one per core. */
  cpuThreads: number;
  /** Generations running at once (one per GPU by default). */
  maxConcurrency: number;
  /** Accepted generations waiting for a slot; beyond it → 429. */
  maxQueue: number;
  /** From acceptance (queue wait included) to the finished MP4. */
  requestTimeoutMs: number;
  maxBodyBytes: number;
  /** A request body must arrive within this long after its headers, else 408 and the connection is closed. */
  bodyTimeoutMs: number;
  maxPromptChars: number;
  /** Duration cap of the synchronous POST /v1/generate (longer clips go to /v1/videos). */
  syncMaxSeconds: number;
  /** SIGTERM: how long accepted jobs may run on before they are failed with ShuttingDown. */
  shutdownGraceMs: number;
  /**
   * SIGTERM, after the drain: how long the replica stays up (refusing new work) so clients can fetch results
   * that finished during the drain; it ends early once every such result was downloaded or deleted.
   */
  shutdownLingerMs: number;
  /** Finished async jobs (and their MP4) are kept this long, at most maxStoredJobs of them and maxStoredBytes of video. */
  jobTtlMs: number;
  maxStoredJobs: number;
  maxStoredBytes: number;
  /**
   * Where async jobs live: 'memory' (this process; one replica) or a Redis URL (redis[s]://[[user]:password@]host:port[/db])
   * shared by every replica, with one queue per revision (identity.revision, else 'default'). Never log it as is
   * (it may hold a password): redactUrl().
   */
  jobStore: 'memory' | { redisUrl: string };
  /** With a Redis job store: the directory (shared by the replicas) the MP4s are written to; capped by maxStoredBytes. */
  resultsDir: string | undefined;
  /**
   * With a Redis job store: a request's Redis command fails after this long (the request then answers 503
   * StoreUnavailable with Retry-After) instead of waiting for Redis to come back.
   */
  redisCommandTimeoutMs: number;
  /** With a Redis job store: a running job's lock; a dead replica's job is re-queued within about twice this. */
  jobLockMs: number;
  /** With a Redis job store: jobs of a revision with no workers left are re-queued to a live one, or failed RevisionGone. */
  orphanJobs: 'requeue' | 'fail';
  /** HMAC-SHA256 key of completion webhooks; undefined = webhooks off (a request naming webhook_url is a 400). */
  webhookSecret: string | undefined;
  /** One webhook delivery attempt's limit. */
  webhookTimeoutMs: number;
  /**
   * Whether a webhook_url may name a loopback or private address (10/8, 172.16/12, 192.168/16, 127/8, fc00::/7,
   * ::1), e.g. a receiver inside the cluster. Link-local (169.254/16, fe80::/10: cloud metadata), unspecified and
   * multicast addresses are refused always.
   */
  webhookAllowPrivate: boolean;
  warmupSteps: number;
  ffmpegPath: string;
  /**
   * The ffmpeg fork server's library (native/ffmpeg-zygote.c, LD_PRELOADed into ffmpegPath): each clip's ffmpeg is
   * forked from one ffmpeg linked once, ~65 ms less CPU per clip. `T2V_FFMPEG_ZYGOTE`: a path, or `off`; by default
   * the library `npm run build:native` builds, when it exists. Unusable (missing, not ELF, or ffmpegPath a script): a
   * small launcher process spawns each ffmpeg instead, and every clip the zygote could not start.
   */
  ffmpegZygote: string | 'off' | undefined;
  /** libx264 speed/size trade-off and quality (lower CRF = better, bigger). */
  x264Preset: X264Preset;
  x264Crf: number;
  logLevel: string;
  /**
   * Share in [0, 1] of generated clips whose quality signals are computed (sampled at random per clip);
   * 1 = every clip, 0 = none.
   */
  qualitySample: number;
  /**
   * GPUs one replica holds (the container's nvidia.com/gpu limit, set by the operator), shared by its
   * maxConcurrency slots: a generation costs wall seconds × gpusPerReplica ÷ maxConcurrency GPU-seconds.
   * On CPU (no GPU) the default 1 makes the counter read replica-seconds.
   */
  gpusPerReplica: number;
  /**
   * The adapter library (style LoRAs, `<name>@v<N>/` directories in PEFT layout); undefined = this replica
   * serves no styles. The model's denoiser must take LoRA inputs when it is set.
   */
  adapterDir: string | undefined;
  /** Adapter versions kept in memory at most (least recently used evicted once no request holds it). */
  adapterCacheSize: number;
  /** FOR ROLLOUT DRILLS ONLY. Off unless T2V_FAULT_* is set. */
  faults: FaultInjectionConfig;
  /** The pod's place in a ModelRollout (MODELROLLOUT_* env, set by the operator through the downward API); labels every metric. */
  identity: { namespace?: string; name?: string; revision?: string };
}

type Env = Record<string, string | undefined>;

export const X264_PRESETS = ['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium', 'slow', 'slower', 'veryslow'] as const;
export type X264Preset = (typeof X264_PRESETS)[number];

export function loadConfig(env: Env = process.env): RuntimeConfig {
  const num = (name: string, fallback: number, min: number, max: number, integer = true): number => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n > max) {
      throw new ConfigError(`${name}=${raw}: must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}]`);
    }
    return n;
  };
  const str = (name: string, fallback: string): string => {
    const raw = env[name];
    return raw === undefined || raw.trim() === '' ? fallback : raw.trim();
  };
  const provider = str('T2V_EXECUTION_PROVIDER', 'auto');
  if (provider !== 'auto' && provider !== 'cuda' && provider !== 'cpu') {
    throw new ConfigError(`T2V_EXECUTION_PROVIDER=${provider}: must be auto, cuda or cpu`);
  }
  const preset = str('T2V_X264_PRESET', 'veryfast');
  if (!(X264_PRESETS as readonly string[]).includes(preset)) throw new ConfigError(`T2V_X264_PRESET=${preset}: must be one of ${X264_PRESETS.join(', ')}`);
  return {
    modelDir: str('T2V_MODEL_DIR', '/models/current'),
    host: str('T2V_HOST', '127.0.0.1'),
    port: num('T2V_PORT', 8080, 0, 65535),
    executionProvider: provider,
    cudaDeviceId: num('T2V_CUDA_DEVICE_ID', 0, 0, 255),
    cpuThreads: num('T2V_CPU_THREADS', 0, 0, 1024),
    maxConcurrency: num('T2V_MAX_CONCURRENCY', 1, 1, 64),
    maxQueue: num('T2V_MAX_QUEUE', 8, 0, 10_000),
    requestTimeoutMs: num('T2V_REQUEST_TIMEOUT_MS', 600_000, 100, 86_400_000),
    maxBodyBytes: num('T2V_MAX_BODY_BYTES', 64 * 1024, 256, 16 * 1024 * 1024),
    bodyTimeoutMs: num('T2V_BODY_TIMEOUT_MS', 30_000, 100, 3_600_000),
    maxPromptChars: num('T2V_MAX_PROMPT_CHARS', 2000, 1, 100_000),
    syncMaxSeconds: num('T2V_SYNC_MAX_SECONDS', 5, 0.1, 3600, false),
    shutdownGraceMs: num('T2V_SHUTDOWN_GRACE_MS', 25_000, 0, 3_600_000),
    shutdownLingerMs: num('T2V_SHUTDOWN_LINGER_MS', 15_000, 0, 3_600_000),
    jobTtlMs: num('T2V_JOB_TTL_MS', 3_600_000, 1000, 7 * 86_400_000),
    maxStoredJobs: num('T2V_MAX_STORED_JOBS', 256, 1, 100_000),
    maxStoredBytes: num('T2V_MAX_STORED_BYTES', 512 * 1024 * 1024, 1024, 2 ** 40),
    ...jobStoreOf(env),
    redisCommandTimeoutMs: num('T2V_REDIS_COMMAND_TIMEOUT_MS', 2000, 50, 60_000),
    jobLockMs: num('T2V_JOB_LOCK_MS', 30_000, 500, 3_600_000),
    orphanJobs: orphanJobsOf(env),
    webhookSecret: webhookSecretOf(env),
    webhookTimeoutMs: num('T2V_WEBHOOK_TIMEOUT_MS', 5000, 100, 60_000),
    webhookAllowPrivate: booleanOf(env, 'T2V_WEBHOOK_ALLOW_PRIVATE'),
    warmupSteps: num('T2V_WARMUP_STEPS', 2, 1, 1000),
    ffmpegPath: str('T2V_FFMPEG_PATH', 'ffmpeg'),
    ffmpegZygote: env.T2V_FFMPEG_ZYGOTE?.trim() || undefined,
    x264Preset: preset as X264Preset,
    x264Crf: num('T2V_X264_CRF', 18, 0, 51),
    logLevel: str('T2V_LOG_LEVEL', 'info'),
    qualitySample: num('T2V_QUALITY_SAMPLE', 1, 0, 1, false),
    gpusPerReplica: num('T2V_GPUS_PER_REPLICA', 1, 0.001, 1024, false),
    adapterDir: env.T2V_ADAPTER_DIR?.trim() || undefined,
    adapterCacheSize: num('T2V_ADAPTER_CACHE', 8, 1, 10_000),
    faults: {
      errorRate: num('T2V_FAULT_ERROR_RATE', 0, 0, 1, false),
      latencyMs: num('T2V_FAULT_LATENCY_MS', 0, 0, 3_600_000),
      freezeFrames: num('T2V_FAULT_FREEZE_FRAMES', 0, 0, 1, false),
    },
    identity: identityOf(env),
  };
}

function webhookSecretOf(env: Env): string | undefined {
  const raw = env.T2V_WEBHOOK_SECRET?.trim();
  if (!raw) return undefined;
  // A short key makes the signature guessable; 16 characters is the floor, 32 random bytes the advice.
  if (raw.length < 16) throw new ConfigError(`T2V_WEBHOOK_SECRET: must be at least 16 characters (got ${raw.length})`);
  return raw;
}

function booleanOf(env: Env, name: string): boolean {
  const raw = env[name]?.trim().toLowerCase() || 'false';
  if (raw !== 'true' && raw !== 'false') throw new ConfigError(`${name}=${env[name]}: must be true or false`);
  return raw === 'true';
}

/** The URL with its password (and user) replaced by `***`: for logs and error messages. */
export function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.username === '' && url.password === '') return raw;
    url.username = url.username === '' ? '' : '***';
    url.password = url.password === '' ? '' : '***';
    return url.toString();
  } catch {
    return '(not a URL)';
  }
}

function orphanJobsOf(env: Env): RuntimeConfig['orphanJobs'] {
  const raw = env.T2V_ORPHAN_JOBS?.trim() || 'requeue';
  if (raw !== 'requeue' && raw !== 'fail') throw new ConfigError(`T2V_ORPHAN_JOBS=${raw}: must be requeue or fail`);
  return raw;
}

function jobStoreOf(env: Env): Pick<RuntimeConfig, 'jobStore' | 'resultsDir'> {
  const raw = env.T2V_JOB_STORE?.trim() || 'memory';
  const resultsDir = env.T2V_RESULTS_DIR?.trim() || undefined;
  if (raw === 'memory') return { jobStore: 'memory', resultsDir };
  const shown = redactUrl(raw);
  const allowed = 'must be memory or redis[s]://[[user]:password@]host:port[/db]';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`T2V_JOB_STORE=${shown}: ${allowed}`);
  }
  if ((url.protocol !== 'redis:' && url.protocol !== 'rediss:') || !url.hostname) throw new ConfigError(`T2V_JOB_STORE=${shown}: ${allowed}`);
  if (!resultsDir) throw new ConfigError(`T2V_RESULTS_DIR: required with T2V_JOB_STORE=${shown} (a directory every replica shares, for the MP4s)`);
  return { jobStore: { redisUrl: raw }, resultsDir };
}

/** Label values must be Prometheus-safe strings; a value that is not is a config error naming the variable. */
function identityOf(env: Env): RuntimeConfig['identity'] {
  const identity: RuntimeConfig['identity'] = {};
  for (const [key, name] of [
    ['namespace', 'MODELROLLOUT_NAMESPACE'],
    ['name', 'MODELROLLOUT_NAME'],
    ['revision', 'MODELROLLOUT_REVISION'],
  ] as const) {
    const raw = env[name]?.trim();
    if (!raw) continue;
    if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(raw))
      throw new ConfigError(`${name}=${raw}: must be a Kubernetes name (lower-case letters, digits, '-' and '.')`);
    identity[key] = raw;
  }
  return identity;
}

export function faultsEnabled(f: FaultInjectionConfig): boolean {
  return f.errorRate > 0 || f.latencyMs > 0 || (f.freezeFrames ?? 0) > 0;
}
