import type { AdapterRef } from '../adapters/style.js';
import type { Arm } from '../experiment-arm.js';
import type { GenerationParams } from '../pipeline/pipeline.js';
import type { ClipQuality } from '../quality/clip-quality.js';
import type { Route } from '../telemetry/metrics.js';

/** A validated request: pipeline parameters plus what the video file needs. */
export interface GenerationRequest extends GenerationParams {
  fps: number;
  seconds: number;
  /**
   * Keep the clip's raw rgb24 frames beside the MP4 (the golden-prompt probes compare them frame by frame:
   * the MP4's lossy encode would blur the comparison). Set from the Accept header, never from the body.
   */
  keepFrames?: boolean;
  /**
   * A golden-prompt probe of the operator (header X-ModelRollout-Probe): counted in t2v_probe_requests_total only,
   * so users' request counts, latency, quality and cost series stay what users got.
   */
  probe?: boolean;
  /**
   * The A/B experiment arm (header X-ModelRollout-Arm), never from the body; absent: `none`. Part of the stored
   * request, so the replica that runs a shared (Redis) job labels its metrics with the submitter's arm.
   */
  arm?: Arm;
  /** The style as asked (`ink-wash`, `ink-wash@v2`); absent: the base model alone. */
  style?: string;
  /** The adapter version the style resolved to when the request was admitted. */
  adapter?: AdapterRef;
  /** Async jobs only: where the signed completion event is POSTed (jobs/webhooks.ts). */
  webhookUrl?: string;
  /** What the runtime changed from what was asked (seconds rounded to whole frames, a prompt cut to the encoder's length). */
  adjustments?: Adjustment[];
}

/**
 * A request value the runtime did not use as asked, reported in the job view (`adjustments`) and in the sync
 * route's X-Adjustments header: `asked` and `used` in `unit` (seconds, tokens), `reason` in words.
 */
export interface Adjustment {
  field: string;
  asked: number;
  used: number;
  unit: string;
  reason: string;
}

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed';
export type JobPhase = 'queued' | 'text' | 'denoise' | 'decode' | 'encode' | 'done';

export interface JobTimings {
  queueSeconds: number;
  onnxSeconds: number;
  textSeconds: number;
  denoiseSeconds: number;
  decodeSeconds: number;
  /** VAE output → rgb24 frames (streamed into ffmpeg, so it overlaps the encode). */
  convertSeconds: number;
  /** Computing the quality signals on the converted frames (0 when the clip was not sampled; inside encodeSeconds). */
  qualitySeconds: number;
  /** After decoding: frame conversion + H.264 encode + MP4 mux (ffmpeg start-up too when not overlapped). */
  encodeSeconds: number;
  /** Acceptance to finished MP4. */
  totalSeconds: number;
}

export interface JobResult {
  video: Buffer;
  frames: number;
  seconds: number;
  promptTokens: number;
  promptTruncated: boolean;
  guided: boolean;
  /** The clip's quality signals, when it was sampled (T2V_QUALITY_SAMPLE). */
  quality?: ClipQuality;
  /** width × height × 3 bytes per frame, frames in order; only when the request asked (keepFrames). */
  rgbFrames?: { width: number; height: number; data: Buffer };
}

export interface JobRecord {
  id: string;
  route: Route;
  status: JobStatus;
  request: GenerationRequest;
  /** Epoch ms. */
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  progress: { phase: JobPhase; step: number; steps: number };
  error?: { code: string; message: string };
  result?: JobResult;
  timings?: JobTimings;
  controller: AbortController;
  /** The Idempotency-Key the job was created with (async route only). */
  idempotencyKey?: string;
  /** A client fetched the finished outcome (the video, or the failure): a draining replica need not wait for it. */
  delivered?: boolean;
}
