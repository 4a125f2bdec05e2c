// AsyncJobs in this process (the default; one replica): the GenerationService runs them, the JobStore keeps them.
// A job is known only to the replica that took it, and dies with it.
import { ConflictError, NotFoundError } from '../errors.js';
import type { AsyncJobs, JobList, JobSnapshot } from './async-jobs.js';
import type { GenerationService } from './generation-service.js';
import type { GenerationRequest, JobRecord } from './types.js';

export class MemoryJobs implements AsyncJobs {
  /** `notify` is called once with each kept job that named a webhook_url, when it ends. */
  constructor(
    private readonly service: GenerationService,
    notify?: (job: JobSnapshot) => void,
  ) {
    if (notify)
      service.onFinished((job) => {
        if (job.request.webhookUrl !== undefined && service.get(job.id) === job) notify(this.snapshot(job));
      });
  }

  async create(
    request: GenerationRequest,
    arrivedAt: number,
    idempotency?: { key: string; fingerprint: string },
  ): Promise<{ job: JobSnapshot; replayed: boolean }> {
    if (!idempotency) return { job: this.snapshot(this.service.submit(request, arrivedAt)), replayed: false };
    const { job, replayed } = this.service.submitOnce(request, arrivedAt, idempotency.key, idempotency.fingerprint);
    return { job: this.snapshot(job), replayed };
  }

  async get(id: string): Promise<JobSnapshot | undefined> {
    const job = this.service.get(id);
    if (!job) return undefined;
    // A failure read is a failure delivered; a success is delivered with its video.
    if (job.status === 'failed') job.delivered = true;
    return this.snapshot(job);
  }

  async list(limit: number, after?: string): Promise<JobList | undefined> {
    const page = this.service.list(limit, after);
    return page && { jobs: page.jobs.map((j) => this.snapshot(j)), hasMore: page.hasMore };
  }

  async content(id: string): Promise<Buffer> {
    const job = this.find(id);
    if (job.status === 'failed') throw new ConflictError(`video ${id} failed (${job.error?.code}): no content`);
    if (!job.result) throw new ConflictError(`video ${id} is ${job.status}; poll GET /v1/videos/${id} until it succeeds`);
    return job.result.video;
  }

  delivered(id: string): void {
    const job = this.service.get(id);
    if (job) job.delivered = true;
  }

  async remove(id: string): Promise<{ deleted: true } | { cancelled: JobSnapshot }> {
    const job = this.find(id);
    if (job.finishedAt !== undefined && this.service.delete(id)) return { deleted: true };
    this.service.cancel(id);
    return { cancelled: this.snapshot(job) };
  }

  undelivered(): number {
    return this.service.undelivered();
  }

  async healthy(): Promise<boolean> {
    return true;
  }

  drain(graceMs: number): Promise<{ abortedJobs: number }> {
    return this.service.drain(graceMs);
  }

  async close(): Promise<void> {}

  private find(id: string): JobRecord {
    const job = this.service.get(id);
    if (!job) throw new NotFoundError(`no video ${id} (unknown, or expired from this replica)`);
    return job;
  }

  private snapshot(job: JobRecord): JobSnapshot {
    return snapshotOf(job, { queue: this.service.queuePlace(job), expiresAt: this.service.expiresAt(job) });
  }
}

/** A local job record as the API shows it. */
export function snapshotOf(job: JobRecord, extras: Pick<JobSnapshot, 'queue' | 'expiresAt'>): JobSnapshot {
  const r = job.result;
  return {
    id: job.id,
    status: job.status,
    request: job.request,
    createdAt: job.createdAt,
    ...(job.startedAt === undefined ? {} : { startedAt: job.startedAt }),
    ...(job.finishedAt === undefined ? {} : { finishedAt: job.finishedAt }),
    progress: { ...job.progress },
    ...(job.error ? { error: job.error } : {}),
    ...(r
      ? {
          result: {
            bytes: r.video.length,
            frames: r.frames,
            seconds: r.seconds,
            promptTokens: r.promptTokens,
            promptTruncated: r.promptTruncated,
            guided: r.guided,
            ...(r.quality ? { quality: r.quality } : {}),
          },
        }
      : {}),
    ...(job.timings ? { timings: job.timings } : {}),
    ...(extras.queue ? { queue: extras.queue } : {}),
    ...(extras.expiresAt === undefined ? {} : { expiresAt: extras.expiresAt }),
  };
}
