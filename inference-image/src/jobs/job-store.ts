// Async jobs by id, in this process (one replica). Finished jobs (and their MP4 bytes) are kept for a TTL,
// up to a count and up to a total of video bytes, oldest finished first out, so memory stays bounded;
// queued and running jobs are never evicted. Idempotency keys live as long as their job.
import { isJobId } from './job-ids.js';
import type { JobRecord } from './types.js';

export interface JobStoreOptions {
  ttlMs: number;
  maxFinished: number;
  /** Total MP4 bytes kept at most (finished jobs' videos; the oldest finished job goes first). */
  maxBytes?: number;
  now?: () => number;
}

/** A page of jobs, newest first. */
export interface JobPage {
  jobs: JobRecord[];
  hasMore: boolean;
}

export class JobStore {
  /** Insertion order = creation order, which list() relies on. */
  private readonly jobs = new Map<string, JobRecord>();
  private readonly keys = new Map<string, { fingerprint: string; jobId: string }>();

  constructor(private readonly opts: JobStoreOptions) {}

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  add(job: JobRecord, idempotency?: { key: string; fingerprint: string }): void {
    this.evict();
    this.jobs.set(job.id, job);
    if (idempotency) {
      job.idempotencyKey = idempotency.key;
      this.keys.set(idempotency.key, { fingerprint: idempotency.fingerprint, jobId: job.id });
    }
  }

  get(id: string): JobRecord | undefined {
    this.evict();
    return this.jobs.get(id);
  }

  /** The job an Idempotency-Key created (while that job is kept), with the fingerprint of the body it came with. */
  byIdempotencyKey(key: string): { job: JobRecord; fingerprint: string } | undefined {
    this.evict();
    const k = this.keys.get(key);
    const job = k && this.jobs.get(k.jobId);
    return k && job ? { job, fingerprint: k.fingerprint } : undefined;
  }

  /**
   * Jobs newest first, `limit` of them, starting after the job `after` (a cursor from the previous page). A cursor
   * whose job is gone meanwhile pages on from the jobs older than its id (ids sort by creation time). Undefined
   * when `after` is neither a kept job nor a job id.
   */
  list(limit: number, after?: string): JobPage | undefined {
    this.evict();
    const all = [...this.jobs.values()].reverse();
    let from = after === undefined ? 0 : all.findIndex((j) => j.id === after) + 1;
    if (from === 0 && after !== undefined) {
      if (!isJobId(after)) return undefined;
      const older = all.findIndex((j) => j.id < after);
      from = older < 0 ? all.length : older;
    }
    return { jobs: all.slice(from, from + limit), hasMore: from + limit < all.length };
  }

  /** Forgets a finished job and its MP4 at once (DELETE); false for an unknown or unfinished one. */
  delete(id: string): boolean {
    const job = this.jobs.get(id);
    if (!job || job.finishedAt === undefined) return false;
    this.forget(job);
    return true;
  }

  /** Epoch ms at which a finished job (and its video) is dropped at the latest (the TTL; the count and byte caps may drop it sooner). */
  expiresAt(job: JobRecord): number | undefined {
    return job.finishedAt === undefined ? undefined : job.finishedAt + this.opts.ttlMs;
  }

  /** Finished jobs whose outcome no client has fetched yet (the video downloaded, or a failure read). */
  undelivered(): number {
    let n = 0;
    for (const job of this.jobs.values()) if (job.finishedAt !== undefined && !job.delivered) n++;
    return n;
  }

  get size(): number {
    return this.jobs.size;
  }

  /**
   * Drops expired finished jobs, then the oldest finished ones beyond maxFinished or maxBytes — never the newest
   * (a job that just succeeded keeps its video even when it alone is over maxBytes).
   */
  evict(): void {
    const finished: JobRecord[] = [];
    for (const job of this.jobs.values()) {
      if (job.finishedAt === undefined) continue;
      if (this.now() - job.finishedAt > this.opts.ttlMs) this.forget(job);
      else finished.push(job);
    }
    finished.sort((a, b) => (a.finishedAt as number) - (b.finishedAt as number));
    let bytes = finished.reduce((sum, j) => sum + (j.result?.video.length ?? 0), 0);
    let count = finished.length;
    const maxBytes = this.opts.maxBytes ?? Number.POSITIVE_INFINITY;
    for (const job of finished.slice(0, -1)) {
      if (count <= this.opts.maxFinished && bytes <= maxBytes) break;
      this.forget(job);
      count--;
      bytes -= job.result?.video.length ?? 0;
    }
  }

  private forget(job: JobRecord): void {
    this.jobs.delete(job.id);
    if (job.idempotencyKey !== undefined && this.keys.get(job.idempotencyKey)?.jobId === job.id) this.keys.delete(job.idempotencyKey);
  }
}
