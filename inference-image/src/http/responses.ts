// JSON bodies for jobs and errors. Field names are snake_case like the request fields.
import type { ServerResponse } from 'node:http';
import { refText } from '../adapters/style.js';
import {
  IdempotencyKeyReusedError,
  InvalidAdapterError,
  QueueFullError,
  RangeNotSatisfiableError,
  StoreUnavailableError,
  ValidationError,
  type T2vError,
} from '../errors.js';
import type { JobSnapshot } from '../jobs/async-jobs.js';
import type { Adjustment, JobRecord } from '../jobs/types.js';
import type { ClipQuality } from '../quality/clip-quality.js';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function errorBody(err: T2vError): { error: Record<string, unknown> } {
  const error: Record<string, unknown> = { code: err.code, message: err.message };
  if (err instanceof ValidationError) {
    const first = err.problems[0];
    Object.assign(error, { field: first.field, allowed: first.allowed, ...(first.value === undefined ? {} : { value: first.value }) });
    if (err.problems.length > 1) error.details = err.problems;
  }
  if (err instanceof QueueFullError) error.retry_after_seconds = err.retryAfterSeconds;
  if (err instanceof InvalidAdapterError) Object.assign(error, { adapter: err.adapter, field: err.field });
  if (err instanceof IdempotencyKeyReusedError) Object.assign(error, { field: err.field, value: err.key, job_id: err.jobId });
  if (err instanceof RangeNotSatisfiableError) Object.assign(error, { field: 'Range', value: err.range, allowed: { unit: 'bytes', size: err.size } });
  return { error };
}

export function sendError(res: ServerResponse, err: T2vError, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy(err);
    return;
  }
  const extra = { ...headers };
  if (err instanceof QueueFullError || err instanceof StoreUnavailableError) extra['Retry-After'] = String(err.retryAfterSeconds);
  if (err instanceof RangeNotSatisfiableError) extra['Content-Range'] = `bytes */${err.size}`;
  sendJson(res, err.httpStatus, errorBody(err), extra);
}

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

function percent(job: JobSnapshot): number {
  const { phase, step, steps } = job.progress;
  switch (phase) {
    case 'queued':
    case 'text':
      return 0;
    case 'denoise':
      return Math.round((90 * step) / Math.max(1, steps));
    case 'decode':
      return 90;
    case 'encode':
      return 95;
    case 'done':
      return 100;
  }
}

/**
 * A job as the API shows it (snake_case). `queue` only while queued ({position: 1 = next, starts_in_seconds:
 * expected wait}); `adjustments` lists request values not used as asked; `result.expires_at` is when the video is
 * dropped at the latest.
 */
export function jobView(job: JobSnapshot, model: { name: string; version: string }): Record<string, unknown> {
  const r = job.request;
  return {
    id: job.id,
    object: 'video',
    status: job.status,
    model,
    created_at: iso(job.createdAt),
    started_at: iso(job.startedAt),
    completed_at: iso(job.finishedAt),
    progress: { phase: job.progress.phase, step: job.progress.step, steps: job.progress.steps, percent: percent(job) },
    ...(job.queue ? { queue: { position: job.queue.position, starts_in_seconds: job.queue.startsInSeconds } } : {}),
    adjustments: (r.adjustments ?? []).map(adjustmentView),
    request: {
      prompt: r.prompt,
      negative_prompt: r.negativePrompt ?? '',
      seconds: r.seconds,
      fps: r.fps,
      frames: r.frames,
      width: r.width,
      height: r.height,
      steps: r.steps,
      guidance: r.guidance,
      seed: r.seed,
      ...(r.style === undefined ? {} : { style: r.style }),
      ...(r.webhookUrl === undefined ? {} : { webhook_url: r.webhookUrl }),
    },
    ...(r.adapter ? { adapter: refText(r.adapter) } : {}),
    ...(job.requeuedFrom === undefined ? {} : { requeued_from: job.requeuedFrom }),
    ...(job.result
      ? {
          result: {
            content_url: `/v1/videos/${job.id}/content`,
            content_type: 'video/mp4',
            ...(job.expiresAt === undefined ? {} : { expires_at: iso(job.expiresAt) }),
            bytes: job.result.bytes,
            frames: job.result.frames,
            seconds: job.result.seconds,
            prompt_tokens: job.result.promptTokens,
            prompt_truncated: job.result.promptTruncated,
            guided: job.result.guided,
            ...(job.result.quality ? { quality: qualityView(job.result.quality) } : {}),
          },
        }
      : {}),
    ...(job.timings ? { timings: snakeTimings(job.timings) } : {}),
    ...(job.error ? { error: job.error } : {}),
  };
}

function adjustmentView(a: Adjustment): Record<string, unknown> {
  return { field: a.field, asked: a.asked, used: a.used, unit: a.unit, reason: a.reason };
}

/**
 * The sync route's X-Adjustments header: `field;asked=N;used=N;unit=U` items, comma-separated (an RFC 8941
 * list; the reasons are in the job view's `adjustments`); undefined when nothing was adjusted.
 */
export function adjustmentsHeader(adjustments: Adjustment[] | undefined): string | undefined {
  if (!adjustments || adjustments.length === 0) return undefined;
  return adjustments.map((a) => `${a.field};asked=${a.asked};used=${a.used};unit=${a.unit}`).join(', ');
}

/** A clip's quality signals (units in quality/clip-quality.ts); signals the clip was too short for are left out. */
function qualityView(q: ClipQuality): Record<string, number> {
  const out: Record<string, number> = { frames: q.frames };
  if (q.flicker !== undefined) out.flicker_luma_levels = q.flicker;
  if (q.frozenRatio !== undefined) out.frozen_frame_ratio = q.frozenRatio;
  if (q.blankRatio !== undefined) out.blank_frame_ratio = q.blankRatio;
  if (q.temporalSsim !== undefined) out.temporal_ssim = q.temporalSsim;
  return out;
}

function snakeTimings(t: NonNullable<JobRecord['timings']>): Record<string, number> {
  return {
    queue_seconds: t.queueSeconds,
    onnx_seconds: t.onnxSeconds,
    text_seconds: t.textSeconds,
    denoise_seconds: t.denoiseSeconds,
    decode_seconds: t.decodeSeconds,
    convert_seconds: t.convertSeconds,
    quality_seconds: t.qualitySeconds,
    encode_seconds: t.encodeSeconds,
    total_seconds: t.totalSeconds,
  };
}

/** Server-Timing header (durations in ms), readable in browser dev tools and by the bench. */
export function serverTiming(t: NonNullable<JobRecord['timings']>): string {
  const ms = (s: number): string => (s * 1000).toFixed(2);
  return [
    `queue;dur=${ms(t.queueSeconds)}`,
    `onnx;dur=${ms(t.onnxSeconds)}`,
    `denoise;dur=${ms(t.denoiseSeconds)}`,
    `decode;dur=${ms(t.decodeSeconds)}`,
    `convert;dur=${ms(t.convertSeconds)}`,
    `quality;dur=${ms(t.qualitySeconds)}`,
    `encode;dur=${ms(t.encodeSeconds)}`,
    `total;dur=${ms(t.totalSeconds)}`,
  ].join(', ');
}
