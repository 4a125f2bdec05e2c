// Accepted generations, from queue to MP4: one path for the async jobs and the sync route, so both get
// the same limits, timeout, cancellation, metrics and the same "job finished" log line.
import type { Logger } from 'pino';
import type { AdapterLease } from '../adapters/adapter-cache.js';
import type { AdapterRef } from '../adapters/style.js';
import { CancelledError, IdempotencyKeyReusedError, ShuttingDownError, TimeoutError, asT2vError, type T2vError } from '../errors.js';
import { NO_ARM, type Arm } from '../experiment-arm.js';
import type { FrameSource } from '../pipeline/frames.js';
import type { GeneratedFrames, GenerationHooks, GenerationParams } from '../pipeline/pipeline.js';
import { ClipQualityMeter } from '../quality/clip-quality.js';
import type { AdapterMetrics } from '../telemetry/adapter-metrics.js';
import type { Route, RuntimeMetrics } from '../telemetry/metrics.js';
import type { Mp4Encoder, Mp4Options } from '../video/mp4-encoder.js';
import type { FaultInjector } from './faults.js';
import type { JobQueue, TaskCost } from './job-queue.js';
import type { JobPage, JobStore } from './job-store.js';
import type { Adjustment, GenerationRequest, JobRecord, JobResult, JobTimings } from './types.js';

export interface FrameGenerator {
  generate(p: GenerationParams, hooks: GenerationHooks): Promise<GeneratedFrames>;
  /** How the text encoder reads a prompt (to report a truncation at admission); absent: not reported up front. */
  tokenize?(text: string): { tokens: number; inputTokens: number; maxLength: number };
}

/**
 * What a generation is expected to cost, in the queue's units (Retry-After, expected starts): the denoiser loop
 * grows with steps × frames × pixels, twice over with guidance (two batches); the rest (text encoder, VAE decode,
 * frame conversion, encode) with frames × pixels. In megapixel-frames.
 */
export function generationCost(r: Pick<GenerationRequest, 'steps' | 'frames' | 'width' | 'height' | 'guidance' | 'negativePrompt'>): TaskCost {
  const guided = (r.negativePrompt ?? '') !== '' && r.guidance !== 1;
  const clip = (r.frames * r.width * r.height) / 1e6;
  return { steps: r.steps * clip * (guided ? 2 : 1), other: clip };
}

export interface ServiceDeps {
  pipeline: FrameGenerator;
  startEncoder: (o: Mp4Options) => Promise<Mp4Encoder>;
  queue: JobQueue;
  store: JobStore;
  metrics: RuntimeMetrics;
  faults: FaultInjector;
  log: Logger;
  model: { name: string; version: string };
  requestTimeoutMs: number;
  ffmpegPath: string;
  x264: { preset: string; crf: number };
  /**
   * Start ffmpeg alongside the denoiser to hide its start-up (the runtime does, on GPU and CPU). With the
   * process launcher the start costs the event loop no fork; on CPU ffmpeg's own start-up competes with ONNX
   * for a moment, and `npm run bench:inference` on 2 cores measured 40–50 ms less per request than starting it
   * after decoding (wall − Σ session.run() 159–175 ms against 178–268 ms). Forked from the ffmpeg zygote
   * (ffmpeg-zygote.ts) that start-up is a fork, ~65 ms less CPU taken from onnxruntime per clip.
   */
  overlapEncoderStart: boolean;
  newId: () => string;
  /** Whether this clip's quality signals are computed (T2V_QUALITY_SAMPLE); absent: every clip. */
  sampleQuality?: () => boolean;
  /** GPUs one generation holds: GPUs per replica ÷ concurrent slots (absent: 1), for the GPU-seconds counter. */
  gpusPerSlot?: number;
  /** The adapters a request's style resolved to are taken from here (absent: the replica serves no styles). */
  adapters?: { acquire(ref: AdapterRef): Promise<AdapterLease> };
  adapterMetrics?: AdapterMetrics;
  /** Epoch ms, for job timestamps. */
  clock: () => number;
  /** Monotonic ms, for durations. */
  monotonic: () => number;
}

interface Outcome {
  result: JobResult;
  timings: Omit<JobTimings, 'queueSeconds' | 'totalSeconds'>;
}

export class GenerationService {
  private readonly finishedListeners: Array<(job: JobRecord) => void> = [];

  constructor(private readonly d: ServiceDeps) {}

  /** Calls `listener` with every job once it has ended (succeeded or failed), after its record is final. */
  onFinished(listener: (job: JobRecord) => void): void {
    this.finishedListeners.push(listener);
  }

  /** Accepts an async job (throws QueueFullError / ShuttingDownError); poll it with get(id). */
  submit(request: GenerationRequest, arrivedAt: number): JobRecord {
    const job = this.newJob('videos', request);
    const done = this.enqueue(job, arrivedAt);
    this.d.store.add(job);
    done.catch(() => undefined); // the outcome is recorded on the job
    return job;
  }

  /**
   * Accepts a short clip (throws QueueFullError / ShuttingDownError synchronously, before anything is
   * counted) and returns a promise of the finished job, rejected with the error that ended it.
   */
  generate(request: GenerationRequest, arrivedAt: number, clientGone: AbortSignal): Promise<JobRecord> {
    const job = this.newJob('generate', request);
    const onGone = (): void => job.controller.abort(new CancelledError('client closed the connection'));
    const done = this.enqueue(job, arrivedAt);
    clientGone.addEventListener('abort', onGone, { once: true });
    return done.then(() => job).finally(() => clientGone.removeEventListener('abort', onGone));
  }

  /**
   * submit() under an Idempotency-Key: the same key with the same body (fingerprint) answers the job it made
   * (`replayed`), while that job is kept; the same key with another body throws IdempotencyKeyReusedError (422).
   */
  submitOnce(request: GenerationRequest, arrivedAt: number, key: string, fingerprint: string): { job: JobRecord; replayed: boolean } {
    const known = this.d.store.byIdempotencyKey(key);
    if (known) {
      if (known.fingerprint !== fingerprint) throw new IdempotencyKeyReusedError(key, known.job.id);
      return { job: known.job, replayed: true };
    }
    const job = this.newJob('videos', request);
    const done = this.enqueue(job, arrivedAt);
    this.d.store.add(job, { key, fingerprint });
    done.catch(() => undefined);
    return { job, replayed: false };
  }

  get(id: string): JobRecord | undefined {
    return this.d.store.get(id);
  }

  /**
   * Runs a job another component keeps (a shared store's worker): through the same slots, limits, timeout,
   * metrics and "job finished" log line, but not kept in this replica's store. `started` resolves with the record
   * at once (abort its controller to cancel); `done` settles when the job ends (rejected with the error that ended it).
   */
  runShared(id: string, request: GenerationRequest, arrivedAt: number): { job: JobRecord; done: Promise<JobRecord> } {
    // The request was admitted (and its adjustments made) by the replica that took it.
    const job: JobRecord = {
      id,
      route: 'videos',
      status: 'queued',
      request,
      createdAt: this.d.clock(),
      progress: { phase: 'queued', step: 0, steps: request.steps },
      controller: new AbortController(),
    };
    return { job, done: this.enqueue(job, arrivedAt).then(() => job) };
  }

  /** Expected ms of a generation of `request` (observed rates). */
  expectedMs(request: GenerationRequest): number {
    return this.d.queue.expectedMs(generationCost(request));
  }

  /** Jobs newest first (GET /v1/videos); undefined when `after` names no kept job. */
  list(limit: number, after?: string): JobPage | undefined {
    return this.d.store.list(limit, after);
  }

  /** A queued job's place in the queue (1 = next) and expected seconds until it starts; undefined when not queued. */
  queuePlace(job: JobRecord): { position: number; startsInSeconds: number } | undefined {
    const place = this.d.queue.placeOf(job.controller);
    return place && { position: place.position, startsInSeconds: Math.round(place.startsInMs / 100) / 10 };
  }

  /** Epoch ms at which a finished job's record and video expire at the latest. */
  expiresAt(job: JobRecord): number | undefined {
    return this.d.store.expiresAt(job);
  }

  /** Seconds until the accepted work has drained (Retry-After). */
  retryAfterSeconds(): number {
    return this.d.queue.retryAfterSeconds();
  }

  /** Finished jobs whose outcome no client fetched yet (a draining replica lingers for them). */
  undelivered(): number {
    return this.d.store.undelivered();
  }

  /** Cancels a queued or running job; false when it had already finished. */
  cancel(id: string): boolean {
    const job = this.d.store.get(id);
    if (!job || job.finishedAt !== undefined) return false;
    job.controller.abort(new CancelledError('cancelled by DELETE'));
    return true;
  }

  /** Deletes a finished job and its video; false when it is unknown or still queued or running (cancel it). */
  delete(id: string): boolean {
    return this.d.store.delete(id);
  }

  /** One generation before readiness (no faults, no metrics): loads kernels, exercises the guidance batch and ffmpeg. */
  async warmUp(p: GenerationRequest): Promise<number> {
    const start = this.d.monotonic();
    const controller = new AbortController();
    const outcome = await this.produce(p, controller.signal, undefined);
    const ms = this.d.monotonic() - start;
    // The first Retry-After needs an estimate before any user's job ended; the warm-up (cold kernels) overestimates a little.
    this.observe(p, ms, outcome, true);
    return ms / 1000;
  }

  /**
   * SIGTERM: refuse new work, let accepted jobs finish for up to `graceMs`, then fail what is left with
   * ShuttingDown. Every accepted job ends succeeded or failed with a reason before this resolves
   * (unless a single ONNX run outlasts `hardStopMs`).
   */
  async drain(graceMs: number, hardStopMs = 10_000): Promise<{ abortedJobs: number }> {
    this.d.queue.stopAccepting();
    const pending = this.d.queue.depth + this.d.queue.inflight;
    if (await settlesWithin(this.d.queue.onIdle(), graceMs)) return { abortedJobs: 0 };
    const left = this.d.queue.depth + this.d.queue.inflight;
    this.d.log.warn({ pending, left, graceMs }, 'shutdown grace period over; failing the remaining jobs');
    this.d.queue.abortAll(new ShuttingDownError('server shut down before this job finished'));
    await settlesWithin(this.d.queue.onIdle(), hardStopMs);
    return { abortedJobs: left };
  }

  /** Feeds a finished generation's time to the queue's estimates: its denoise loop apart from the rest. */
  private observe(p: GenerationRequest, ms: number, outcome: Outcome, prior = false): void {
    const steps = outcome.timings.denoiseSeconds * 1000;
    this.d.queue.observe({ steps, other: Math.max(0, ms - steps) }, generationCost(p), { prior });
  }

  private newJob(route: Route, request: GenerationRequest): JobRecord {
    return {
      id: this.d.newId(),
      route,
      status: 'queued',
      request: this.withAdjustments(request),
      createdAt: this.d.clock(),
      progress: { phase: 'queued', step: 0, steps: request.steps },
      controller: new AbortController(),
    };
  }

  /** The request with the prompts the text encoder will cut added to its adjustments (said at admission). */
  withAdjustments(request: GenerationRequest): GenerationRequest {
    return { ...request, adjustments: [...(request.adjustments ?? []), ...this.truncations(request)] };
  }

  /** The prompts the text encoder will cut, as adjustments (said at admission, not only after the run). */
  private truncations(r: GenerationRequest): Adjustment[] {
    const out: Adjustment[] = [];
    const tokenize = this.d.pipeline.tokenize?.bind(this.d.pipeline);
    if (!tokenize) return out;
    for (const [field, text] of [
      ['prompt', r.prompt],
      ['negative_prompt', r.negativePrompt ?? ''],
    ] as const) {
      if (field === 'negative_prompt' && text === '') continue;
      const t = tokenize(text);
      if (t.inputTokens <= t.tokens) continue;
      out.push({
        field,
        asked: t.inputTokens,
        used: t.tokens,
        unit: 'tokens',
        reason: `the text encoder reads at most ${t.maxLength} tokens: the ${field} was cut after ${t.tokens} of its ${t.inputTokens}`,
      });
    }
    return out;
  }

  /** Queues the job (may throw synchronously) and records its outcome when it ends. */
  private enqueue(job: JobRecord, arrivedAt: number): Promise<void> {
    const timer = setTimeout(() => job.controller.abort(new TimeoutError(this.d.requestTimeoutMs)), this.d.requestTimeoutMs);
    let startedMono: number | undefined;
    let running: Promise<Outcome>;
    try {
      running = this.d.queue.submit(
        (signal) => this.produce(job.request, signal, job),
        job.controller,
        () => {
          startedMono = this.d.monotonic();
          job.startedAt = this.d.clock();
          job.status = 'running';
          job.progress = { phase: 'text', step: 0, steps: job.request.steps };
        },
        generationCost(job.request),
      );
    } catch (err) {
      clearTimeout(timer);
      throw err;
    }
    this.d.log.info({ jobId: job.id, route: job.route, status: job.status, queued: this.d.queue.depth, seed: job.request.seed }, 'job accepted');
    return running.then(
      (outcome) => {
        clearTimeout(timer);
        if (startedMono !== undefined) this.observe(job.request, this.d.monotonic() - startedMono, outcome);
        this.finish(job, arrivedAt, startedMono, outcome, undefined);
      },
      (err: unknown) => {
        clearTimeout(timer);
        const error = asT2vError(err);
        this.finish(job, arrivedAt, startedMono, undefined, error);
        throw error;
      },
    );
  }

  /** Faults (drills; not for the warm-up), then text → latents → frames → MP4. */
  private async produce(p: GenerationRequest, signal: AbortSignal, job: JobRecord | undefined): Promise<Outcome> {
    if (job) await this.d.faults.apply(signal);
    const startEncoder = (): Promise<Mp4Encoder> =>
      this.d.startEncoder({
        width: p.width,
        height: p.height,
        fps: p.fps,
        ffmpegPath: this.d.ffmpegPath,
        ...this.d.x264,
        comment: `${this.d.model.name} ${this.d.model.version} seed=${p.seed}`,
      });
    const early = this.d.overlapEncoderStart ? startEncoder() : undefined;
    // Handled from now on: a start that fails while the denoiser runs (temp dir, socket) is this job's error, met
    // at `await early` below; left unhandled until then it would end the process (main.ts: unhandledRejection).
    early?.catch(() => undefined);
    let frames: GeneratedFrames;
    let lease: AdapterLease | undefined;
    try {
      // Held until the frames are made: the cache never unloads an adapter a running request uses.
      lease = p.adapter ? await this.acquireAdapter(p.adapter) : undefined;
      frames = await this.d.pipeline.generate(lease ? { ...p, lora: lease.adapter.feeds } : p, {
        signal,
        onProgress: (phase, step, steps) => {
          if (job) job.progress = { phase, step, steps };
        },
        ...(job && !p.probe ? { onDenoiseStep: (s: number) => this.d.metrics.denoiseStep.observe(s) } : {}),
      });
      // Aborted during the last ONNX run: do not spend the encode on an answer nobody waits for.
      signal.throwIfAborted();
    } catch (err) {
      await early?.then(
        (e) => e.abort(),
        () => undefined,
      );
      throw err;
    } finally {
      lease?.release();
    }
    if (job) job.progress = { phase: 'encode', step: p.steps, steps: p.steps };
    const encodeStart = this.d.monotonic();
    let convertSeconds = 0;
    let qualitySeconds = 0;
    const source = job ? this.d.faults.freeze(frames.video) : frames.video;
    // Measured on the frames as they stream into the encoder: no second conversion, one frame of luma kept. The
    // warm-up (no job) measures too, unrecorded, so the first user's clip does not pay for compiling the meter.
    const meter = (job ? (this.d.sampleQuality?.() ?? true) : true) ? new ClipQualityMeter(source.width, source.height) : undefined;
    const kept: Uint8Array[] | undefined = p.keepFrames ? [] : undefined;
    const timedSource: FrameSource = {
      frames: source.frames,
      width: source.width,
      height: source.height,
      frame: (f, into) => {
        const t0 = this.d.monotonic();
        // The luma the meter reads is written in the conversion's own pass where the source can (counted as
        // conversion time: it is one more store per pixel there, a whole pass over the rgb24 in the meter).
        const fused = meter && source.frameWithLuma;
        const rgb = fused ? fused.call(source, f, meter.nextLuma(), into) : source.frame(f, into);
        const t1 = this.d.monotonic();
        convertSeconds += (t1 - t0) / 1000;
        kept?.push(Uint8Array.from(rgb));
        if (meter) {
          if (fused) meter.pushLuma();
          else meter.push(rgb);
          qualitySeconds += (this.d.monotonic() - t1) / 1000;
        }
        return rgb;
      },
    };
    const video = await (await (early ?? startEncoder())).encode(timedSource, signal);
    const t = frames.timings;
    const measured = meter?.result();
    const quality = job ? measured : undefined;
    if (quality && !p.probe) this.d.metrics.observeQuality(quality, qualitySeconds, armOf(p));
    if (quality && !p.probe && p.adapter) this.d.adapterMetrics?.observeQuality(p.adapter, quality);
    return {
      result: {
        video,
        frames: source.frames,
        seconds: source.frames / p.fps,
        promptTokens: frames.promptTokens,
        promptTruncated: frames.promptTruncated,
        guided: frames.guided,
        ...(quality ? { quality } : {}),
        ...(kept ? { rgbFrames: { width: source.width, height: source.height, data: Buffer.concat(kept) } } : {}),
      },
      timings: {
        onnxSeconds: t.onnxSeconds,
        textSeconds: t.textSeconds,
        denoiseSeconds: t.denoiseSeconds,
        decodeSeconds: t.decodeSeconds,
        convertSeconds,
        qualitySeconds,
        encodeSeconds: (this.d.monotonic() - encodeStart) / 1000,
      },
    };
  }

  private acquireAdapter(ref: AdapterRef): Promise<AdapterLease> {
    if (!this.d.adapters) throw new Error('a request names an adapter but the service has no adapter cache');
    return this.d.adapters.acquire(ref);
  }

  private finish(job: JobRecord, arrivedAt: number, startedMono: number | undefined, outcome: Outcome | undefined, error: T2vError | undefined): void {
    const end = this.d.monotonic();
    const totalSeconds = (end - arrivedAt) / 1000;
    job.finishedAt = this.d.clock();
    const probe = job.request.probe === true;
    const arm = armOf(job.request);
    // Every generation that held a slot spent GPU time, also one that failed: cost per delivered second counts it
    // (users' generations only: a probe's cost is the rollout's, not a user's).
    if (startedMono !== undefined && !probe) this.d.metrics.gpuSeconds.inc({ arm }, ((end - startedMono) / 1000) * (this.d.gpusPerSlot ?? 1));
    if (outcome) {
      job.status = 'succeeded';
      job.result = outcome.result;
      job.progress = { phase: 'done', step: job.request.steps, steps: job.request.steps };
      job.timings = { ...outcome.timings, queueSeconds: ((startedMono ?? end) - arrivedAt) / 1000, totalSeconds };
      if (!probe) this.d.metrics.generatedVideoSeconds.inc({ arm }, outcome.result.seconds);
    } else if (error) {
      job.status = 'failed';
      job.error = { code: error.code, message: error.message };
    }
    const status = error ? error.httpStatus : 200;
    if (probe) this.d.metrics.probeFinished(error);
    else {
      this.d.metrics.requestFinished(job.route, arm, error, totalSeconds);
      if (job.request.adapter) this.d.adapterMetrics?.requestFinished(job.request.adapter, job.route, error, totalSeconds);
    }
    const level = error && error.httpStatus >= 500 ? 'warn' : 'info';
    this.d.log[level](
      {
        jobId: job.id,
        route: job.route,
        status: job.status,
        httpStatus: status,
        code: error?.code,
        reason: error?.message,
        seconds: totalSeconds,
        seed: job.request.seed,
        timings: job.timings,
      },
      'job finished',
    );
    for (const listener of this.finishedListeners) listener(job);
  }
}

/** A request's experiment arm for its metrics; `none` when it has none (the header was absent, or an older replica stored it). */
const armOf = (r: GenerationRequest): Arm => r.arm ?? NO_ARM;

async function settlesWithin(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([p.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
