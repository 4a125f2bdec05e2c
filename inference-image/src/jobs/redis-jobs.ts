// AsyncJobs in Redis through BullMQ (T2V_JOB_STORE=redis://…): every replica answers every poll, and a job
// outlives the replica that took it. One queue per model revision (t2v-<revision>), so the revision a request
// was routed to does the work; each replica's worker takes jobs from its own revision's queue only. A worker
// holds a lock on its running job (T2V_JOB_LOCK_MS); when the replica dies, the lock lapses and BullMQ's
// stalled-job check of any live replica of that revision puts the job back in the queue once, then fails it
// with a reason (WorkerLost). Videos are files in T2V_RESULTS_DIR (shared by the replicas: a volume), capped
// by total bytes, oldest first out.
// A revision whose workers are all gone (a rollback or promotion scaled it to zero, or it crashed) leaves its
// queue behind: every replica sweeps the other revisions' queues each lock period, and once one has had no worker
// for a whole period its jobs are re-queued to the sweeper's revision (the one still serving: stable after a
// rollback) with `requeued_from`, or failed RevisionGone (T2V_ORPHAN_JOBS=fail). Never left silently.
import fs from 'node:fs';
import path from 'node:path';
import { Queue, WaitingError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import {
  CancelledError,
  ConflictError,
  GoneError,
  IdempotencyKeyReusedError,
  NotFoundError,
  QueueFullError,
  ShuttingDownError,
  StoreUnavailableError,
  T2vError,
  asT2vError,
} from '../errors.js';
import type { ClipQuality } from '../quality/clip-quality.js';
import type { AsyncJobs, JobList, JobSnapshot } from './async-jobs.js';
import type { GenerationService } from './generation-service.js';
import { isJobId } from './job-ids.js';
import type { GenerationRequest, JobPhase, JobRecord, JobTimings } from './types.js';

export interface RedisJobsOptions {
  /** redis[s]://[[user]:password@]host:port[/db] */
  url: string;
  /** A request's Redis command fails (StoreUnavailable, 503) after this long instead of waiting for Redis. */
  commandTimeoutMs: number;
  /** This replica's revision: the queue it adds to and works from. */
  revision: string;
  /** Shared directory of the MP4s. */
  resultsDir: string;
  /** Total bytes of MP4s kept in resultsDir at most (oldest removed first). */
  maxResultBytes: number;
  /** Finished jobs (and videos) are kept this long. */
  ttlMs: number;
  /** Waiting jobs per live worker slot of the revision before 429. */
  maxQueue: number;
  /** Jobs this replica runs at once. */
  concurrency: number;
  /** BullMQ lock of a running job; a dead replica's job is recovered within about twice this. */
  lockMs: number;
  /** Jobs of a revision with no workers left: re-queued to this replica's revision, or failed RevisionGone. */
  orphans: 'requeue' | 'fail';
  service: GenerationService;
  log: Logger;
  /**
   * Called once with each job that named a webhook_url when it ends: by the replica that ran it, or that cancelled
   * it while queued, or that failed it as an orphan.
   */
  notify?: (job: JobSnapshot) => void;
  newId: () => string;
  clock: () => number;
  monotonic: () => number;
}

/** What a queued job carries: the admitted request and when it was accepted (epoch ms). */
interface JobData {
  request: GenerationRequest;
  createdAt: number;
  /** The revision whose queue it was in before that revision's workers were all gone. */
  requeuedFrom?: string;
  /** The Idempotency-Key that created it: forgotten with the job (DELETE), so the key then makes a new job. */
  idempotencyKey?: string;
  /** How long it is kept once finished: the TTL of the replica that accepted it (revisions may differ). */
  ttlMs?: number;
}

/** What a finished job returns (BullMQ's returnvalue). */
interface JobOutput {
  bytes: number;
  frames: number;
  seconds: number;
  promptTokens: number;
  promptTruncated: boolean;
  guided: boolean;
  quality?: ClipQuality;
  timings?: JobTimings;
}

interface Progress {
  phase: JobPhase;
  step: number;
  steps: number;
}

const PREFIX = 't2v';
/** Job id → its queue's name (any replica finds any job). */
const INDEX_KEY = `${PREFIX}:job-queues`;
const idempotencyKey = (key: string): string => `${PREFIX}:idempotency:${key}`;
const cancelKey = (id: string): string => `${PREFIX}:cancel:${id}`;
/** A job cancelled while queued is removed from its queue; this record answers for it until it expires. */
const tombstoneKey = (id: string): string => `${PREFIX}:cancelled:${id}`;
/** The ids with a tombstone (listed with the queues' jobs; pruned once their tombstone expired). */
const TOMBSTONES_KEY = `${PREFIX}:cancelled-ids`;
/** Finished jobs cleaned (expired) per queue and sweep at most. */
const CLEAN_BATCH = 1000;
/** One sweeper moves a given orphan. */
const adoptKey = (id: string): string => `${PREFIX}:adopting:${id}`;
/** An Idempotency-Key claimed this long ago whose job does not exist was left by a replica that died. */
const STALE_CLAIM_MS = 30_000;
/** How often a running job's progress is published and its cancel flag read. */
const PROGRESS_MS = 250;

export const queueNameOf = (revision: string): string => `t2v-${revision}`;
const revisionOf = (queueName: string): string => queueName.replace(/^t2v-/, '');

export class RedisJobs implements AsyncJobs {
  /** Requests' commands (and the queues'): fail fast, never wait for Redis to come back. */
  private readonly redis: Redis;
  /** The worker's connection options: BullMQ's blocking commands must not time out. */
  private readonly connection: RedisAddress & { maxRetriesPerRequest: null };
  /** Finished jobs' webhooks being handed to `notify` (read back from Redis first): the drain waits for them. */
  private readonly notifying = new Set<Promise<void>>();
  private lastRedisError: string | undefined;
  /** Source (worker, a queue) → the last error it reported: a Redis that stays down is logged once per change. */
  private readonly lastErrors = new Map<string, string>();
  private readonly queues = new Map<string, Queue<JobData, JobOutput>>();
  private readonly own: Queue<JobData, JobOutput>;
  private worker: Worker<JobData, JobOutput> | undefined;
  private accepting = true;
  private sweeper: NodeJS.Timeout | undefined;
  /** Queue name → epoch ms since which it was seen without a worker. */
  private readonly workerless = new Map<string, number>();

  constructor(private readonly o: RedisJobsOptions) {
    const base = redisOptionsOf(o.url);
    // BullMQ's blocking commands must not time out (maxRetriesPerRequest: null, as its docs require) ...
    this.connection = { ...base, maxRetriesPerRequest: null };
    // ... but a request must not wait for Redis: no offline queue (fail at once while disconnected), one retry,
    // and a command timeout (a Redis that accepts connections but does not answer). BullMQ's docs advise the same
    // for a Queue's connection ("fail fast").
    this.redis = new Redis({ ...base, maxRetriesPerRequest: 1, enableOfflineQueue: false, commandTimeout: o.commandTimeoutMs });
    // Without a listener ioredis prints every connection error as "[ioredis] Unhandled error event" (not JSON).
    this.redis.on('error', (err: Error) => {
      if (err.message === this.lastRedisError) return;
      this.lastRedisError = err.message;
      this.o.log.error({ err: { message: err.message, code: (err as NodeJS.ErrnoException).code } }, 'job store (Redis) unusable; retrying');
    });
    this.redis.on('ready', () => {
      if (this.lastRedisError !== undefined) this.o.log.info('job store (Redis) usable again');
      this.lastRedisError = undefined;
      this.lastErrors.clear();
    });
    this.own = this.queue(queueNameOf(o.revision));
    fs.mkdirSync(o.resultsDir, { recursive: true });
  }

  /** Starts this replica's worker on its revision's queue. */
  start(): void {
    this.worker = new Worker<JobData, JobOutput>(this.own.name, (job, token) => this.process(job, token), {
      connection: this.connection,
      prefix: PREFIX,
      concurrency: this.o.concurrency,
      lockDuration: this.o.lockMs,
      stalledInterval: this.o.lockMs,
      maxStalledCount: 1,
    });
    this.worker.on('error', (err) => this.reportOnce('worker', err, 'job worker error'));
    const ended = (job: Job<JobData, JobOutput> | undefined): void => {
      if (!job || job.data.request.webhookUrl === undefined || !this.o.notify) return;
      const notify = this.o.notify;
      const handing = this.get(job.id as string).then(
        (snap) => {
          if (snap) notify(snap);
        },
        (err: unknown) => this.o.log.warn({ err, jobId: job.id }, 'could not read a finished job for its webhook'),
      );
      this.notifying.add(handing);
      void handing.finally(() => this.notifying.delete(handing));
    };
    this.worker.on('completed', ended);
    this.worker.on('failed', ended);
    this.worker.on('stalled', (jobId) => this.o.log.warn({ jobId }, 'job stalled (the replica running it stopped): back in the queue'));
    this.sweeper = setInterval(() => {
      this.sweep().catch((err: unknown) => this.o.log.warn({ err }, 'sweep of workerless revisions failed; next period retries'));
      this.cleanExpired().catch((err: unknown) => this.o.log.warn({ err }, 'clean-up of expired jobs failed; next period retries'));
    }, this.o.lockMs);
    this.sweeper.unref();
  }

  /**
   * Re-queues (or fails) the jobs of every other revision's queue that has had no worker for a whole lock period;
   * resolves with how many jobs it took.
   */
  async sweep(): Promise<number> {
    const names = await this.queueNames();
    names.delete(this.own.name);
    let taken = 0;
    for (const name of names) {
      const q = this.queue(name);
      if ((await q.getWorkersCount()) > 0) {
        this.workerless.delete(name);
        continue;
      }
      const since = this.workerless.get(name) ?? this.o.clock();
      this.workerless.set(name, since);
      // A replica restarting is not a revision gone: wait a whole lock period.
      if (this.o.clock() - since < this.o.lockMs) continue;
      for (const job of await q.getJobs(['prioritized', 'waiting', 'delayed', 'active'], 0, -1, true)) if (await this.adopt(job, name)) taken++;
    }
    return taken;
  }

  /** Moves one orphan to this revision's queue (or fails it); false when another sweeper has it or it is still locked. */
  private async adopt(job: Job<JobData, JobOutput>, from: string): Promise<boolean> {
    const id = job.id as string;
    if ((await job.getState()) === 'active' && (await this.redis.exists(`${PREFIX}:${from}:${id}:lock`))) return false;
    if (!(await this.redis.set(adoptKey(id), this.own.name, 'PX', 60_000, 'NX'))) return false;
    const gone = revisionOf(from);
    if (this.o.orphans === 'fail') {
      const snap = await this.snapshot(job);
      const failed: JobSnapshot = {
        ...snap,
        status: 'failed',
        finishedAt: this.o.clock(),
        error: { code: 'RevisionGone', message: `revision ${gone} has no workers left (rolled back or scaled to zero); not re-queued (T2V_ORPHAN_JOBS=fail)` },
      };
      delete failed.queue;
      await this.entomb(failed);
    } else {
      await this.own.add('generate', { ...job.data, requeuedFrom: gone }, { jobId: id, attempts: 1 });
      await this.redis.hset(INDEX_KEY, id, this.own.name);
    }
    await job.remove().catch((err: unknown) => this.o.log.warn({ err, jobId: id }, 'could not remove an adopted job from its old queue'));
    this.o.log.warn(
      { jobId: id, from: gone, to: this.o.orphans === 'fail' ? undefined : this.o.revision, action: this.o.orphans },
      'job of a revision with no workers left taken over',
    );
    return true;
  }

  create(request: GenerationRequest, arrivedAt: number, idempotency?: { key: string; fingerprint: string }): Promise<{ job: JobSnapshot; replayed: boolean }> {
    return this.guarded(async () => {
      if (!this.accepting) throw new ShuttingDownError('server is shutting down; retry on another replica');
      const id = this.o.newId();
      if (idempotency) {
        const known = await this.claimKey(idempotency.key, idempotency.fingerprint, id);
        const replayed = known && (await this.replay(idempotency.key, known));
        if (replayed) return { job: replayed, replayed: true };
        // The request that claimed the key died before creating its job: this one takes the key over.
        if (known) await this.redis.set(idempotencyKey(idempotency.key), this.claim(idempotency.fingerprint, id), 'PX', this.o.ttlMs);
      }
      try {
        return { job: await this.add(id, request, arrivedAt, idempotency?.key), replayed: false };
      } catch (err) {
        // Not created (429, Redis down): the key must not keep naming a job that never was.
        if (idempotency) await this.redis.del(idempotencyKey(idempotency.key)).catch(() => undefined);
        throw err;
      }
    });
  }

  /**
   * The job an Idempotency-Key named; 409 while the request that claimed it may still be creating it; undefined
   * once that claim is STALE_CLAIM_MS old with no job (its replica died in between).
   */
  private async replay(key: string, known: { id: string; claimedAt: number }): Promise<JobSnapshot | undefined> {
    const job = await this.get(known.id);
    if (job) return job;
    if (this.o.clock() - known.claimedAt >= STALE_CLAIM_MS) return undefined;
    throw new ConflictError(`Idempotency-Key ${JSON.stringify(key)}: the request that used it first is still being processed; retry shortly`);
  }

  private claim(fingerprint: string, id: string): string {
    return JSON.stringify({ fingerprint, id, claimedAt: this.o.clock() });
  }

  private async add(id: string, request: GenerationRequest, arrivedAt: number, key: string | undefined): Promise<JobSnapshot> {
    const [waiting, workers] = await Promise.all([this.own.getWaitingCount(), this.own.getWorkersCount()]);
    const slots = Math.max(1, workers) * this.o.concurrency;
    if (waiting >= this.o.maxQueue * Math.max(1, workers))
      throw new QueueFullError(await this.retryAfterSeconds(slots), this.o.maxQueue * Math.max(1, workers));
    const data: JobData = {
      request: this.o.service.withAdjustments(request),
      createdAt: this.o.clock() - (this.o.monotonic() - arrivedAt),
      ttlMs: this.o.ttlMs,
      ...(key === undefined ? {} : { idempotencyKey: key }),
    };
    await this.redis.hset(INDEX_KEY, id, this.own.name);
    // Finished jobs are removed by cleanExpired() (not BullMQ's removeOnComplete, which drops them only when another
    // job of the queue completes, and says nothing of the ids it dropped: their MP4s and index entries stayed).
    const job = await this.own.add('generate', data, { jobId: id, attempts: 1 });
    return this.snapshot(job);
  }

  get(id: string): Promise<JobSnapshot | undefined> {
    return this.guarded(async () => {
      const job = await this.find(id);
      if (job) return (await this.expireIfDue(job)) ? undefined : this.snapshot(job);
      const tomb = await this.redis.get(tombstoneKey(id));
      return tomb ? (JSON.parse(tomb) as JobSnapshot) : undefined;
    });
  }

  /**
   * Newest first (ids sort by creation time), cancelled-while-queued jobs included; a cursor naming a job that is
   * gone meanwhile still pages on (keyset: the jobs older than its id). Undefined when `after` is not a job id.
   */
  list(limit: number, after?: string): Promise<JobList | undefined> {
    return this.guarded(async () => {
      if (after !== undefined && !isJobId(after)) return undefined;
      const all: Array<{ id: string; snapshot: () => Promise<JobSnapshot> }> = [];
      for (const name of await this.queueNames()) {
        const jobs = await this.queue(name).getJobs(['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized'], 0, -1);
        for (const job of jobs) if (!(await this.expireIfDue(job))) all.push({ id: job.id as string, snapshot: () => this.snapshot(job) });
      }
      for (const tomb of await this.tombstones()) all.push({ id: tomb.id, snapshot: () => Promise.resolve(tomb) });
      const older = all.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)).filter((j) => after === undefined || j.id < after);
      const page = older.slice(0, limit);
      return { jobs: await Promise.all(page.map((j) => j.snapshot())), hasMore: older.length > limit };
    });
  }

  content(id: string): Promise<Buffer> {
    return this.guarded(async () => {
      const snap = await this.get(id);
      if (!snap) throw new NotFoundError(`no video ${id} (unknown, or expired)`);
      if (snap.status === 'failed') throw new ConflictError(`video ${id} failed (${snap.error?.code}): no content`);
      if (snap.status !== 'succeeded') throw new ConflictError(`video ${id} is ${snap.status}; poll GET /v1/videos/${id} until it succeeds`);
      try {
        return await fs.promises.readFile(this.fileOf(id));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new GoneError(`video ${id} was removed to keep the results under their byte cap`);
        throw err;
      }
    });
  }

  delivered(): void {
    // Results are shared: any replica serves them after this one is gone.
  }

  remove(id: string): Promise<{ deleted: true } | { cancelled: JobSnapshot }> {
    return this.guarded(async () => {
      const job = await this.find(id);
      if (!job) {
        if (!(await this.redis.del(tombstoneKey(id)))) throw new NotFoundError(`no video ${id} (unknown, or expired)`);
        await this.forget(id);
        return { deleted: true };
      }
      const state = await job.getState();
      if (state === 'completed' || state === 'failed') {
        await job.remove();
        await this.forget(id, job.data.idempotencyKey);
        return { deleted: true };
      }
      if (state !== 'active') {
        const cancelled = await this.cancelQueued(job);
        if (cancelled) return { cancelled };
      }
      await this.redis.set(cancelKey(id), '1', 'PX', this.o.ttlMs);
      return { cancelled: await this.snapshot(job) };
    });
  }

  /** A queued job cancelled: out of its queue, a tombstone answers for it (and its webhook says so); undefined when a worker took it meanwhile. */
  private async cancelQueued(job: Job<JobData, JobOutput>): Promise<JobSnapshot | undefined> {
    try {
      await job.remove();
    } catch {
      return undefined;
    }
    const snap = await this.snapshot(job);
    const cancelled: JobSnapshot = { ...snap, status: 'failed', finishedAt: this.o.clock(), error: { code: 'Cancelled', message: 'cancelled by DELETE' } };
    delete cancelled.queue;
    await this.entomb(cancelled);
    return cancelled;
  }

  /** Keeps a job that ended outside its queue (cancelled while queued, failed as an orphan) for the TTL, and sends its webhook. */
  private async entomb(job: JobSnapshot): Promise<void> {
    const ended: JobSnapshot = { ...job, expiresAt: (job.finishedAt ?? this.o.clock()) + this.o.ttlMs };
    await this.redis.multi().set(tombstoneKey(job.id), JSON.stringify(ended), 'PX', this.o.ttlMs).sadd(TOMBSTONES_KEY, job.id).exec();
    if (ended.request.webhookUrl !== undefined) this.o.notify?.(ended);
  }

  /** The kept tombstones; ids whose tombstone expired are pruned from the set and the index. */
  private async tombstones(): Promise<JobSnapshot[]> {
    const ids = await this.redis.smembers(TOMBSTONES_KEY);
    if (ids.length === 0) return [];
    const values = await this.redis.mget(ids.map(tombstoneKey));
    const gone = ids.filter((_, i) => values[i] === null);
    if (gone.length > 0)
      await this.redis
        .multi()
        .srem(TOMBSTONES_KEY, ...gone)
        .hdel(INDEX_KEY, ...gone)
        .exec();
    return values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as JobSnapshot);
  }

  /** Forgets a job that is gone from its queue: index entry, tombstone id, MP4, and the Idempotency-Key that names it. */
  private async forget(id: string, key?: string): Promise<void> {
    await this.redis.multi().hdel(INDEX_KEY, id).srem(TOMBSTONES_KEY, id).exec();
    await fs.promises.rm(this.fileOf(id), { force: true });
    if (key === undefined) return;
    const claim = await this.redis.get(idempotencyKey(key));
    if (claim && (JSON.parse(claim) as { id: string }).id === id) await this.redis.del(idempotencyKey(key));
  }

  /** A finished job past its expires_at is removed now (record, MP4, index entry): true when it was. */
  private async expireIfDue(job: Job<JobData, JobOutput>): Promise<boolean> {
    const expiresAt = this.expiry(job).expiresAt;
    if (expiresAt === undefined || this.o.clock() < expiresAt) return false;
    await job.remove().catch(() => undefined);
    await this.forget(job.id as string);
    return true;
  }

  /**
   * Removes this revision's finished jobs older than the TTL (BullMQ's Queue.clean), and the expired ones of
   * revisions with no workers left (each by its own TTL), with their MP4s and index entries; prunes expired
   * tombstones. Resolves with how many jobs it removed. Live revisions clean their own queues.
   */
  async cleanExpired(): Promise<number> {
    let removed = 0;
    for (const type of ['completed', 'failed'] as const) {
      const ids = await this.own.clean(this.o.ttlMs, CLEAN_BATCH, type);
      for (const id of ids) await this.forget(id);
      removed += ids.length;
    }
    for (const name of this.workerless.keys())
      for (const job of await this.queue(name).getJobs(['completed', 'failed'], 0, CLEAN_BATCH)) if (await this.expireIfDue(job)) removed++;
    await this.tombstones();
    return removed;
  }

  undelivered(): number {
    return 0;
  }

  /** Whether Redis answers a PING now (within the command timeout): readiness. */
  async healthy(): Promise<boolean> {
    if (this.redis.status !== 'ready') return false;
    return this.redis.ping().then(
      () => true,
      () => false,
    );
  }

  async drain(graceMs: number): Promise<{ abortedJobs: number }> {
    this.accepting = false;
    clearInterval(this.sweeper);
    // The worker stops taking jobs at once; queued jobs stay in Redis for the revision's other replicas.
    const closing = this.worker?.close();
    const drained = await this.o.service.drain(graceMs);
    await closing;
    // The last jobs' webhooks are handed over only once read back from Redis: before the connection closes.
    await Promise.all([...this.notifying]);
    return drained;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await this.worker?.close();
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  /** Runs a request's store work: a Redis error (down, timed out, refused) becomes StoreUnavailable (503, Retry-After). */
  private async guarded<T>(work: () => Promise<T>): Promise<T> {
    // Not connected (down, reconnecting, or never ready: a wrong password): BullMQ's queues would wait for the
    // connection to be ready, so refuse here at once.
    if (this.redis.status !== 'ready')
      throw new StoreUnavailableError(
        `the job store (Redis) is not connected (${this.redis.status}${this.lastRedisError ? `: ${this.lastRedisError}` : ''}); retry shortly`,
      );
    try {
      return await work();
    } catch (err) {
      if (err instanceof T2vError) throw err;
      throw new StoreUnavailableError(`the job store (Redis) did not answer: ${(err as Error).message}; retry shortly`, { cause: err });
    }
  }

  /** Logs an error of the worker or a queue unless it is the one that source reported last (Redis down: every second). */
  private reportOnce(source: string, err: Error, msg: string): void {
    if (this.lastErrors.get(source) === err.message) return;
    this.lastErrors.set(source, err.message);
    this.o.log.error({ err: { message: err.message }, source }, msg);
  }

  /** The queues named in the job index. */
  private async queueNames(): Promise<Set<string>> {
    return new Set([this.own.name, ...Object.values(await this.redis.hgetall(INDEX_KEY))]);
  }

  private queue(name: string): Queue<JobData, JobOutput> {
    let q = this.queues.get(name);
    if (!q) {
      // The shared fail-fast connection: a queue's reads serve requests.
      q = new Queue<JobData, JobOutput>(name, { connection: this.redis, prefix: PREFIX });
      q.on('error', (err) => this.reportOnce(`queue ${name}`, err, 'job queue error'));
      this.queues.set(name, q);
    }
    return q;
  }

  private async find(id: string): Promise<Job<JobData, JobOutput> | undefined> {
    const name = await this.redis.hget(INDEX_KEY, id);
    if (!name) return undefined;
    return (await this.queue(name).getJob(id)) ?? undefined;
  }

  /** Claims an Idempotency-Key for `id` (atomically, SET NX); what it already names (same body), or throws (other body). */
  private async claimKey(key: string, fingerprint: string, id: string): Promise<{ id: string; claimedAt: number } | undefined> {
    const value = this.claim(fingerprint, id);
    if (await this.redis.set(idempotencyKey(key), value, 'PX', this.o.ttlMs, 'NX')) return undefined;
    const known = JSON.parse((await this.redis.get(idempotencyKey(key))) ?? value) as { fingerprint: string; id: string; claimedAt: number };
    if (known.fingerprint !== fingerprint) throw new IdempotencyKeyReusedError(key, known.id);
    return { id: known.id, claimedAt: known.claimedAt };
  }

  /** Seconds until the revision's accepted work has drained: (running + waiting) × the expected job time, over the slots. */
  private async retryAfterSeconds(slots: number): Promise<number> {
    const jobs = await this.own.getJobs(['waiting', 'active', 'prioritized'], 0, -1);
    const now = this.o.clock();
    const ms = jobs.reduce((sum, j) => sum + Math.max(0, this.o.service.expectedMs(j.data.request) - (j.processedOn ? now - j.processedOn : 0)), 0);
    return Math.max(1, Math.ceil(ms / slots / 1000));
  }

  /** The worker's side: runs the job through the local slots, publishes progress, honours a cancel. */
  private async process(bull: Job<JobData, JobOutput>, token: string | undefined): Promise<JobOutput> {
    const id = bull.id as string;
    if (await this.redis.get(cancelKey(id))) throw failure(new CancelledError('cancelled by DELETE'));
    const arrivedAt = this.o.monotonic() - (this.o.clock() - bull.data.createdAt);
    let running: { job: JobRecord; done: Promise<JobRecord> };
    try {
      running = this.o.service.runShared(id, bull.data.request, arrivedAt);
    } catch (err) {
      throw failure(err);
    }
    let last = '';
    const tick = setInterval(() => {
      void this.publish(bull, running.job, last).then(
        (sent) => (last = sent),
        () => undefined,
      );
    }, PROGRESS_MS);
    try {
      const job = await running.done;
      return await this.store(id, job);
    } catch (err) {
      // The drain's grace ran out: hand the job back to the revision's queue for another replica, not failed.
      if (asT2vError(err).code === 'ShuttingDown' && token !== undefined) {
        await bull.updateProgress({ phase: 'queued', step: 0, steps: bull.data.request.steps });
        await bull.moveToWait(token);
        this.o.log.warn({ jobId: id }, 'shutdown grace over: job handed back to the queue');
        throw new WaitingError();
      }
      throw failure(err);
    } finally {
      clearInterval(tick);
    }
  }

  /** Publishes progress when it changed and aborts the job when a DELETE flagged it; the progress sent. */
  private async publish(bull: Job<JobData, JobOutput>, job: JobRecord, last: string): Promise<string> {
    if (await this.redis.get(cancelKey(job.id))) job.controller.abort(new CancelledError('cancelled by DELETE'));
    const progress = JSON.stringify(job.progress);
    if (progress !== last) await bull.updateProgress(job.progress);
    return progress;
  }

  /** Writes the MP4 (temp file + rename: a reader never sees half of it), then keeps the directory under its cap. */
  private async store(id: string, job: JobRecord): Promise<JobOutput> {
    const r = job.result;
    if (!r) throw new Error('succeeded job without a result');
    const file = this.fileOf(id);
    await fs.promises.writeFile(`${file}.tmp`, r.video);
    await fs.promises.rename(`${file}.tmp`, file);
    await evictOldest(this.o.resultsDir, this.o.maxResultBytes, this.o.log, path.basename(file));
    return {
      bytes: r.video.length,
      frames: r.frames,
      seconds: r.seconds,
      promptTokens: r.promptTokens,
      promptTruncated: r.promptTruncated,
      guided: r.guided,
      ...(r.quality ? { quality: r.quality } : {}),
      ...(job.timings ? { timings: job.timings } : {}),
    };
  }

  private fileOf(id: string): string {
    return path.join(this.o.resultsDir, `${id}.mp4`);
  }

  private async snapshot(job: Job<JobData, JobOutput>): Promise<JobSnapshot> {
    const state = await job.getState();
    const base: JobSnapshot = {
      id: job.id as string,
      status: 'queued',
      request: job.data.request,
      createdAt: job.data.createdAt,
      progress: { phase: 'queued', step: 0, steps: job.data.request.steps },
      ...(job.data.requeuedFrom === undefined ? {} : { requeuedFrom: job.data.requeuedFrom }),
    };
    if (job.processedOn !== undefined) base.startedAt = job.processedOn;
    const progress = job.progress as Progress | number | undefined;
    // A job handed back (or re-queued) keeps its last progress in Redis: only a running one shows it.
    if (state === 'active' && typeof progress === 'object' && progress !== null) base.progress = progress;
    if (state === 'active')
      return { ...base, status: 'running', ...(base.progress.phase === 'queued' ? { progress: { phase: 'text', step: 0, steps: base.progress.steps } } : {}) };
    if (state === 'completed') return this.succeeded(base, job);
    if (state === 'failed') return { ...base, status: 'failed', ...finishedAt(job), error: errorOf(job.failedReason), ...this.expiry(job) };
    return { ...base, ...(await this.place(job)) };
  }

  private succeeded(base: JobSnapshot, job: Job<JobData, JobOutput>): JobSnapshot {
    const { timings, ...result } = job.returnvalue;
    const steps = job.data.request.steps;
    return {
      ...base,
      status: 'succeeded',
      ...finishedAt(job),
      progress: { phase: 'done', step: steps, steps },
      result,
      ...(timings ? { timings } : {}),
      ...this.expiry(job),
    };
  }

  private expiry(job: Job<JobData, JobOutput>): Pick<JobSnapshot, 'expiresAt'> {
    return job.finishedOn === undefined ? {} : { expiresAt: job.finishedOn + (job.data.ttlMs ?? this.o.ttlMs) };
  }

  /** A waiting job's place in its revision's queue (oldest first) and the expected wait. */
  private async place(job: Job<JobData, JobOutput>): Promise<Pick<JobSnapshot, 'queue'>> {
    const q = this.queue(job.queueName);
    const [waiting, active, workers] = await Promise.all([
      q.getJobs(['prioritized', 'waiting'], 0, -1, true),
      q.getJobs(['active'], 0, -1),
      q.getWorkersCount(),
    ]);
    const i = waiting.findIndex((j) => j.id === job.id);
    if (i < 0) return {};
    const now = this.o.clock();
    const ahead = [
      ...active.map((j) => Math.max(0, this.o.service.expectedMs(j.data.request) - (now - (j.processedOn ?? now)))),
      ...waiting.slice(0, i).map((j) => this.o.service.expectedMs(j.data.request)),
    ];
    const slots = Math.max(1, workers) * this.o.concurrency;
    return { queue: { position: i + 1, startsInSeconds: Math.round(ahead.reduce((a, b) => a + b, 0) / slots / 100) / 10 } };
  }
}

function finishedAt(job: Job): Pick<JobSnapshot, 'finishedAt'> {
  return job.finishedOn === undefined ? {} : { finishedAt: job.finishedOn };
}

export interface RedisAddress {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls?: { servername: string };
}

/** ioredis options from redis[s]://[[user]:password@]host:port[/db]: the password used, TLS for rediss:. */
export function redisOptionsOf(raw: string): RedisAddress {
  const u = new URL(raw);
  return {
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(u.port || 6379),
    db: Number(u.pathname.slice(1) || 0),
    ...(u.username === '' ? {} : { username: decodeURIComponent(u.username) }),
    ...(u.password === '' ? {} : { password: decodeURIComponent(u.password) }),
    ...(u.protocol === 'rediss:' ? { tls: { servername: u.hostname } } : {}),
  };
}

/** BullMQ keeps a failure as a message: ours carry the stable code as JSON. */
function failure(err: unknown): Error {
  const e = asT2vError(err);
  return new Error(JSON.stringify({ code: e.code, message: e.message }));
}

/** A failed job's reason: ours as written; BullMQ's own (a worker that died twice with it) as WorkerLost. */
export function errorOf(reason: string | undefined): { code: string; message: string } {
  try {
    const parsed = JSON.parse(reason ?? '') as { code?: unknown; message?: unknown };
    if (typeof parsed.code === 'string' && typeof parsed.message === 'string') return { code: parsed.code, message: parsed.message };
  } catch {
    // not ours
  }
  return { code: 'WorkerLost', message: `the replica running this job stopped (${reason ?? 'no reason given'})` };
}

/**
 * Removes the oldest finished MP4s until the directory holds at most `maxBytes`; never `keep` (the video just made:
 * a job must not succeed with its video already gone).
 */
export async function evictOldest(dir: string, maxBytes: number, log?: Logger, keep?: string): Promise<string[]> {
  const files = await Promise.all(
    (await fs.promises.readdir(dir))
      .filter((f) => f.endsWith('.mp4'))
      .map(async (f) => {
        const st = await fs.promises.stat(path.join(dir, f)).catch(() => undefined);
        return st && { f, bytes: st.size, mtime: st.mtimeMs };
      }),
  );
  const kept = files.filter((x): x is { f: string; bytes: number; mtime: number } => x !== undefined).sort((a, b) => a.mtime - b.mtime);
  let total = kept.reduce((sum, x) => sum + x.bytes, 0);
  const removed: string[] = [];
  for (const x of kept) {
    if (total <= maxBytes) break;
    if (x.f === keep) continue;
    await fs.promises.rm(path.join(dir, x.f), { force: true });
    total -= x.bytes;
    removed.push(x.f);
  }
  if (removed.length > 0) log?.info({ removed, maxBytes }, 'results over their byte cap: oldest videos removed');
  return removed;
}
