// Async jobs by id. Finished jobs (and their MP4 bytes) are kept for a TTL and up to a count, so memory
// stays bounded; queued and running jobs are never evicted.
import type { JobRecord } from './types.js';

export class JobStore {
  private readonly jobs = new Map<string, JobRecord>();

  constructor(private readonly opts: { ttlMs: number; maxFinished: number; now?: () => number }) {}

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  add(job: JobRecord): void {
    this.evict();
    this.jobs.set(job.id, job);
  }

  get(id: string): JobRecord | undefined {
    this.evict();
    return this.jobs.get(id);
  }

  /** Forgets a finished job and its MP4 at once (DELETE); false for an unknown or unfinished one. */
  delete(id: string): boolean {
    const job = this.jobs.get(id);
    if (!job || job.finishedAt === undefined) return false;
    return this.jobs.delete(id);
  }

  get size(): number {
    return this.jobs.size;
  }

  /** Drops expired finished jobs, then the oldest finished ones beyond maxFinished. */
  evict(): void {
    const finished: JobRecord[] = [];
    for (const job of this.jobs.values()) {
      if (job.finishedAt === undefined) continue;
      if (this.now() - job.finishedAt > this.opts.ttlMs) this.jobs.delete(job.id);
      else finished.push(job);
    }
    finished.sort((a, b) => (a.finishedAt as number) - (b.finishedAt as number));
    for (let i = 0; i < finished.length - this.opts.maxFinished; i++) this.jobs.delete((finished[i] as JobRecord).id);
  }
}
