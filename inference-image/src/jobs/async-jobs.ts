// The async jobs of POST /v1/videos, wherever they live: one small interface, two implementations —
// memory-jobs.ts (this process; the default, one replica) and redis-jobs.ts (Redis via BullMQ: shared by every
// replica, surviving restarts). runtime.ts picks one from T2V_JOB_STORE.
import type { Adjustment, GenerationRequest, JobPhase, JobStatus, JobTimings } from './types.js';
import type { ClipQuality } from '../quality/clip-quality.js';

/** A job as any replica can show it (no process-local handles, no video bytes). */
export interface JobSnapshot {
  id: string;
  status: JobStatus;
  request: GenerationRequest & { adjustments?: Adjustment[] };
  /** Epoch ms. */
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  progress: { phase: JobPhase; step: number; steps: number };
  error?: { code: string; message: string };
  result?: {
    bytes: number;
    frames: number;
    seconds: number;
    promptTokens: number;
    promptTruncated: boolean;
    guided: boolean;
    quality?: ClipQuality;
  };
  timings?: JobTimings;
  /** While queued: 1 = next to start, and the expected wait. */
  queue?: { position: number; startsInSeconds: number };
  /** Epoch ms at which the finished job and its video are dropped at the latest. */
  expiresAt?: number;
  /** The revision it was routed to, when that revision's workers were all gone and it was re-queued here. */
  requeuedFrom?: string;
}

export interface JobList {
  jobs: JobSnapshot[];
  hasMore: boolean;
}

export interface AsyncJobs {
  /**
   * Accepts a job. Throws QueueFullError (429), ShuttingDownError (503), or IdempotencyKeyReusedError (422)
   * when `idempotency.key` was used with another body; the same key and body answer the first job (`replayed`).
   */
  create(request: GenerationRequest, arrivedAt: number, idempotency?: { key: string; fingerprint: string }): Promise<{ job: JobSnapshot; replayed: boolean }>;
  /** The job, or undefined when unknown or expired. */
  get(id: string): Promise<JobSnapshot | undefined>;
  /**
   * Newest first, `limit` of them older than the job `after` (which may be gone meanwhile); undefined when `after`
   * is not a job id.
   */
  list(limit: number, after?: string): Promise<JobList | undefined>;
  /** The MP4. Throws NotFoundError (404), ConflictError (409: unfinished or failed), GoneError (410: evicted by the byte cap). */
  content(id: string): Promise<Buffer>;
  /** A client fetched the finished video (whole, or its last byte). */
  delivered(id: string): void;
  /**
   * DELETE: a queued or running job is cancelled (it ends failed/Cancelled); a finished one is deleted with its
   * video. Throws NotFoundError for an unknown id.
   */
  remove(id: string): Promise<{ deleted: true } | { cancelled: JobSnapshot }>;
  /** Finished jobs no client fetched yet, that die with this process (0 when stored elsewhere). */
  undelivered(): number;
  /** Whether the store can serve requests now (readiness): a Redis that does not answer is not. */
  healthy(): Promise<boolean>;
  /** SIGTERM: stop taking jobs; let running ones finish within `graceMs`, then fail them with ShuttingDown. */
  drain(graceMs: number): Promise<{ abortedJobs: number }>;
  /** Releases connections (after the drain). */
  close(): Promise<void>;
}
