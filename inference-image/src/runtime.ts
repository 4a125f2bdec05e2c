// Wires the runtime: listen first (so /healthz answers while loading), load the model, warm up, then
// report ready. shutdown() drains accepted jobs and closes the server.
import { randomInt } from 'node:crypto';
import type { Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { AdapterService } from './adapters/adapter-service.js';
import { faultsEnabled, redactUrl, type RuntimeConfig } from './config.js';
import { InvalidModelError, ValidationError } from './errors.js';
import { requestDefaults, requestLimits, MAX_SEED, type RequestLimits } from './http/request-limits.js';
import { createHandler, listen, type RuntimeState } from './http/server.js';
import { validateRequest } from './http/validation.js';
import { FaultInjector } from './jobs/faults.js';
import { GenerationService } from './jobs/generation-service.js';
import { JobQueue } from './jobs/job-queue.js';
import { timeOrderedIds } from './jobs/job-ids.js';
import { JobStore } from './jobs/job-store.js';
import type { AsyncJobs, JobSnapshot } from './jobs/async-jobs.js';
import { Webhooks } from './jobs/webhooks.js';
import { jobView } from './http/responses.js';
import { MemoryJobs } from './jobs/memory-jobs.js';
import type { GenerationRequest } from './jobs/types.js';
import type { SessionFactory } from './model/execution-provider.js';
import { loadModel, type LoadedModel } from './model/load-model.js';
import { readManifest, type ModelManifest } from './model/manifest.js';
import { frameConversion } from './pipeline/frames.js';
import { T2vPipeline } from './pipeline/pipeline.js';
import { ssimImplementation } from './quality/ssim.js';
import { createAdapterMetrics, type AdapterMetrics } from './telemetry/adapter-metrics.js';
import { createGpuMemoryReader } from './telemetry/gpu-memory.js';
import { createMetrics } from './telemetry/metrics.js';
import { startMp4Encoder } from './video/mp4-encoder.js';
import { DEFAULT_ZYGOTE_LIBRARY, firstAlive, startFfmpegZygote, zygoteUnusable } from './video/ffmpeg-zygote.js';
import { startProcessLauncher, type ProcessLauncher } from './video/process-launcher.js';
import { simdFallbacks } from './wasm/simd-module.js';

export interface Runtime {
  port: number;
  /** Resolves when ready (model loaded, warm-up done); rejects if loading fails. */
  ready: Promise<void>;
  state: RuntimeState;
  shutdown(reason: string): Promise<void>;
}

export interface RuntimeDeps {
  createSession: SessionFactory;
  random?: () => number;
}

export async function startRuntime(config: RuntimeConfig, log: Logger, deps: RuntimeDeps): Promise<Runtime> {
  const manifest = readManifest(config.modelDir);
  const model = { name: manifest.name, version: manifest.version };
  log.info({ modelDir: config.modelDir, model, scheduler: manifest.scheduler.type }, 'model manifest read');
  // Loaded now (each module checks itself against the JavaScript reference once): say when a clip costs more for it.
  const simd = { frameConversion: frameConversion(), ssim: ssimImplementation() };
  if (simdFallbacks.size > 0)
    log.warn({ ...simd, why: Object.fromEntries(simdFallbacks) }, 'WebAssembly SIMD not used: frames and SSIM computed in JavaScript (slower per clip)');
  if (faultsEnabled(config.faults)) {
    log.warn({ faults: config.faults }, 'FAULT INJECTION ENABLED (T2V_FAULT_*): for rollout drills only, never in normal serving');
  }
  const state: RuntimeState = { phase: 'loading', provider: undefined };
  // Forked now, while this process is small: each clip's ffmpeg is started from it (see process-launcher.ts).
  const nodeLauncher = startProcessLauncher({
    onExit: (code, signal) => {
      if (state.phase !== 'draining') log.warn({ code, signal }, 'process launcher exited; ffmpeg is spawned by the runtime from now on (slower per clip)');
    },
  });
  const { launcher, zygoteSettled } = ffmpegLaunchers(config, nodeLauncher, () => state.phase, log);
  const queue = new JobQueue({ maxConcurrency: config.maxConcurrency, maxQueue: config.maxQueue });
  const readGpu = createGpuMemoryReader(config.cudaDeviceId);
  const metrics = createMetrics(
    model,
    {
      queueDepth: () => queue.depth,
      inflight: () => queue.inflight,
      gpuMemory: async () => {
        if (state.provider !== 'cuda') return undefined;
        const memory = await readGpu();
        return memory && { deviceId: config.cudaDeviceId, memory };
      },
    },
    config.identity,
  );
  metrics.faultInjection.set({ kind: 'error_rate' }, config.faults.errorRate);
  metrics.faultInjection.set({ kind: 'latency_seconds' }, config.faults.latencyMs / 1000);
  metrics.faultInjection.set({ kind: 'freeze_frames' }, config.faults.freezeFrames ?? 0);

  let service: GenerationService | undefined;
  let jobs: AsyncJobs | undefined;
  let limits: RequestLimits | undefined;
  let loaded: LoadedModel | undefined;
  let adapters: AdapterService | undefined;
  const adapterMetrics = config.adapterDir === undefined ? undefined : createAdapterMetrics(metrics.registry, () => adapters?.cache.loaded().length ?? 0);
  const monotonic = (): number => performance.now();
  const webhooks = webhooksOf(config, log);
  const newId = timeOrderedIds(Date.now);
  const { server, port } = await listen(
    createHandler({
      log,
      metrics,
      model,
      state: () => state,
      service: () => service,
      jobs: () => jobs,
      limits: () => limits,
      defaults: requestDefaults(manifest),
      syncMaxSeconds: config.syncMaxSeconds,
      maxBodyBytes: config.maxBodyBytes,
      bodyTimeoutMs: config.bodyTimeoutMs,
      webhooks: config.webhookSecret !== undefined,
      webhookAllowPrivate: config.webhookAllowPrivate,
      faults: config.faults,
      randomSeed: () => randomInt(0, MAX_SEED + 1),
      monotonic,
      ...(config.adapterDir === undefined ? {} : { adapters: () => adapters }),
      ...(deps.random ? { random: deps.random } : {}),
    }),
    config.host,
    config.port,
  );
  log.info({ host: config.host, port, url: `http://${config.host}:${port}` }, 'listening');

  const ready = (async () => {
    loaded = await loadModel(config.modelDir, manifest, {
      preference: config.executionProvider,
      cudaDeviceId: config.cudaDeviceId,
      cpuThreads: config.cpuThreads,
      create: deps.createSession,
      log,
    });
    state.provider = loaded.provider;
    metrics.setProvider(loaded.provider);
    metrics.modelLoadSeconds.set(loaded.loadSeconds);
    limits = requestLimits(manifest, loaded.io.denoiser.fixed, { maxPromptChars: config.maxPromptChars });
    adapters = await startAdapters(config, manifest, loaded, adapterMetrics);
    if (adapters) log.info({ adapterDir: config.adapterDir, cache: config.adapterCacheSize, adapters: adapters.library.list() }, 'adapter library read');
    log.info({ provider: loaded.provider, loadSeconds: loaded.loadSeconds, limits }, 'model loaded');
    service = new GenerationService({
      pipeline: new T2vPipeline(loaded),
      startEncoder: (o) => startMp4Encoder({ ...o, launcher }),
      queue,
      store: new JobStore({ ttlMs: config.jobTtlMs, maxFinished: config.maxStoredJobs, maxBytes: config.maxStoredBytes }),
      metrics,
      faults: new FaultInjector(config.faults, deps.random),
      log,
      model,
      requestTimeoutMs: config.requestTimeoutMs,
      ffmpegPath: config.ffmpegPath,
      x264: { preset: config.x264Preset, crf: config.x264Crf },
      overlapEncoderStart: true,
      newId,
      sampleQuality: () => config.qualitySample >= 1 || (deps.random ?? Math.random)() < config.qualitySample,
      gpusPerSlot: config.gpusPerReplica / config.maxConcurrency,
      ...(adapters ? { adapters: adapters.cache } : {}),
      ...(adapterMetrics ? { adapterMetrics } : {}),
      clock: Date.now,
      monotonic,
    });
    const store = await asyncJobs(config, service, log, notifierOf(webhooks, model), newId);
    jobs = store.jobs;
    // SIGTERM while loading: do not come up.
    if (state.phase === 'draining') return;
    state.phase = 'warming';
    // The warm-up's clip starts ffmpeg the way user clips will (the zygote says ready or fails within 10 s).
    await zygoteSettled;
    const warmupSeconds = await service.warmUp(warmupRequest(manifest, limits, config.warmupSteps));
    metrics.warmupSeconds.set(warmupSeconds);
    if (state.phase !== 'warming') return;
    store.start();
    state.phase = 'ready';
    log.info({ provider: loaded.provider, warmupSeconds }, 'ready');
  })();

  let closing: Promise<void> | undefined;
  const shutdown = (reason: string): Promise<void> => {
    closing ??= (async () => {
      const graceEnds = monotonic() + config.shutdownGraceMs;
      state.phase = 'draining';
      log.info({ reason, queued: queue.depth, running: queue.inflight }, 'shutting down: refusing new work, draining accepted jobs');
      queue.stopAccepting();
      const { abortedJobs } = jobs ? await jobs.drain(config.shutdownGraceMs) : service ? await service.drain(config.shutdownGraceMs) : { abortedJobs: 0 };
      // The webhooks of the jobs that ended during the drain (retries included), within what is left of the grace.
      const unsent = webhooks ? await webhooks.settled(Math.max(0, graceEnds - monotonic())) : 0;
      if (unsent > 0) log.warn({ unsent, graceMs: config.shutdownGraceMs }, 'shutdown grace over with webhook deliveries still under way; they are dropped');
      const undelivered = jobs ? await linger(jobs, config.shutdownLingerMs) : 0;
      if (undelivered > 0) log.warn({ undelivered, lingerMs: config.shutdownLingerMs }, 'linger over; results no client fetched are dropped');
      await closeServer(server, 5000);
      await jobs?.close();
      // A warm-up may still be inside session.run(); release the sessions only after it.
      await Promise.race([ready.catch(() => undefined), sleep(10_000, undefined, { ref: false })]);
      await loaded?.release();
      await launcher.close();
      log.info({ abortedJobs }, 'shutdown complete');
    })();
    return closing;
  };
  return { port, ready, state, shutdown };
}

/**
 * The ffmpeg zygote first (each clip's ffmpeg forked from one linked once: see ffmpeg-zygote.ts), then the node
 * launcher; the zygote is skipped, with the reason logged, when T2V_FFMPEG_ZYGOTE is `off` or it cannot be used.
 */
function ffmpegLaunchers(
  config: RuntimeConfig,
  nodeLauncher: ProcessLauncher,
  phase: () => RuntimeState['phase'],
  log: Logger,
): { launcher: ProcessLauncher; zygoteSettled: Promise<unknown> } {
  const without = { launcher: nodeLauncher, zygoteSettled: Promise.resolve() };
  if (config.ffmpegZygote === 'off') return without;
  const library = config.ffmpegZygote ?? DEFAULT_ZYGOTE_LIBRARY;
  const unusable = zygoteUnusable(config.ffmpegPath, library);
  if (unusable) {
    // Named explicitly and unusable: a mistake worth a warning. The default library missing: a build without it.
    log[config.ffmpegZygote ? 'warn' : 'info']({ library, why: unusable }, 'ffmpeg zygote not used: each clip spawns ffmpeg (~65 ms more CPU per clip)');
    return without;
  }
  const zygote = startFfmpegZygote({
    ffmpegPath: config.ffmpegPath,
    library,
    onExit: (code, signal, why) => {
      if (phase() !== 'draining') log.warn({ code, signal, why }, 'ffmpeg zygote exited; each clip spawns ffmpeg from now on (~65 ms more CPU per clip)');
    },
  });
  const zygoteSettled = zygote.ready.then((ok) => ok && log.info({ library }, 'ffmpeg zygote ready: clips fork ffmpeg from it'));
  const launcher = firstAlive([
    { launcher: zygote, serves: (file) => file === zygote.file },
    { launcher: nodeLauncher, serves: () => true },
  ]);
  return { launcher, zygoteSettled };
}

/**
 * After the drain, stay up (not ready, refusing new work, still answering polls and downloads) until every
 * finished job's outcome was fetched or `ms` passed; resolves with how many were not fetched.
 */
async function linger(jobs: AsyncJobs, ms: number): Promise<number> {
  const deadline = performance.now() + ms;
  while (jobs.undelivered() > 0 && performance.now() < deadline) await sleep(50, undefined, { ref: false });
  return jobs.undelivered();
}

/** Completion webhooks when T2V_WEBHOOK_SECRET is set. */
function webhooksOf(config: RuntimeConfig, log: Logger): Webhooks | undefined {
  if (config.webhookSecret === undefined) return undefined;
  return new Webhooks({ secret: config.webhookSecret, timeoutMs: config.webhookTimeoutMs, log, allowPrivate: config.webhookAllowPrivate });
}

/** The job view, signed, POSTed to the job's webhook_url. */
function notifierOf(webhooks: Webhooks | undefined, model: { name: string; version: string }): ((job: JobSnapshot) => void) | undefined {
  if (!webhooks) return undefined;
  return (job) => {
    if (job.request.webhookUrl !== undefined) webhooks.send(job.request.webhookUrl, job, jobView(job, model));
  };
}

/**
 * The async job store, and what starts it taking work once the replica is ready. The Redis store (BullMQ, ioredis)
 * is imported only when configured: the two libraries are 5.5 MB of the heap every full GC walks, 40 % of it in
 * memory mode, where they are not used.
 */
async function asyncJobs(
  config: RuntimeConfig,
  service: GenerationService,
  log: Logger,
  notify: ((job: JobSnapshot) => void) | undefined,
  newId: () => string,
): Promise<{ jobs: AsyncJobs; start: () => void }> {
  if (config.jobStore === 'memory') return { jobs: new MemoryJobs(service, notify), start: () => undefined };
  const revision = config.identity.revision ?? 'default';
  log.info({ store: redactUrl(config.jobStore.redisUrl), queue: revision, resultsDir: config.resultsDir }, 'async jobs in Redis');
  const { RedisJobs } = await import('./jobs/redis-jobs.js');
  const jobs = new RedisJobs({
    url: config.jobStore.redisUrl,
    commandTimeoutMs: config.redisCommandTimeoutMs,
    revision,
    resultsDir: config.resultsDir as string,
    maxResultBytes: config.maxStoredBytes,
    ttlMs: config.jobTtlMs,
    maxQueue: config.maxQueue,
    concurrency: config.maxConcurrency,
    lockMs: config.jobLockMs,
    orphans: config.orphanJobs,
    ...(notify ? { notify } : {}),
    service,
    log,
    newId,
    clock: Date.now,
    monotonic: () => performance.now(),
  });
  return { jobs, start: () => jobs.start() };
}

/** The adapter library when T2V_ADAPTER_DIR is set; a denoiser without LoRA inputs cannot serve one. */
async function startAdapters(
  config: RuntimeConfig,
  manifest: ModelManifest,
  model: LoadedModel,
  metrics: AdapterMetrics | undefined,
): Promise<AdapterService | undefined> {
  if (config.adapterDir === undefined) return undefined;
  const lora = model.io.denoiser.lora;
  if (!lora)
    throw new InvalidModelError(
      `T2V_ADAPTER_DIR=${config.adapterDir} is set but ${manifest.name} ${manifest.version}'s denoiser takes no LoRA inputs (<module>.lora_A, <module>.lora_B, lora_scale)`,
    );
  const service = new AdapterService({
    dir: config.adapterDir,
    capacity: config.adapterCacheSize,
    base: { name: manifest.name, lora },
    ...(metrics ? { metrics } : {}),
  });
  await service.start();
  return service;
}

/** The manifest's default clip with a negative prompt (so the guidance batch shape is warmed too). */
export function warmupRequest(m: ModelManifest, limits: RequestLimits, steps: number): GenerationRequest {
  try {
    return validateRequest(
      { prompt: 'warm-up', negative_prompt: 'blurry', steps: Math.min(steps, limits.steps.max), seed: 0 },
      { limits, defaults: requestDefaults(m), randomSeed: () => 0 },
    );
  } catch (err) {
    if (err instanceof ValidationError) throw new InvalidModelError(`the manifest's default clip does not fit the graphs: ${err.message}`, { cause: err });
    throw err;
  }
}

/** Stop listening, let in-flight responses finish, drop idle keep-alive sockets, force after `ms`. */
async function closeServer(server: Server, ms: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  const sweep = setInterval(() => server.closeIdleConnections(), 100);
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), ms);
  await closed;
  clearInterval(sweep);
  clearTimeout(timer);
}
