// Bounded concurrency (one generation per GPU by default) in front of a bounded FIFO queue. A full
// queue refuses at once (429 + Retry-After) rather than letting latency pile up; an aborted job
// (timeout, cancel, shutdown) settles at once, while its slot frees only when the work really stops.
// Retry-After and a queued job's expected start come from the work really queued: each task carries a cost in
// two parts (the runtime's: denoising grows with steps × frames × pixels, the rest — text encoder, VAE decode,
// encode — with frames × pixels only), and the observed milliseconds per unit of each part are averaged. One
// rate for both overestimated a 30-step job 8× from a 2-step warm-up, whose fixed costs it spread over the steps.
import { QueueFullError, ShuttingDownError } from '../errors.js';

export type Task<T> = (signal: AbortSignal) => Promise<T>;

export interface QueueOptions {
  maxConcurrency: number;
  maxQueue: number;
  now?: () => number;
}

/** A task's expected work in two parts, each in the caller's units (estimate = Σ part × observed ms per unit). */
export interface TaskCost {
  /** Work that grows with the number of steps (the denoiser loop). */
  steps: number;
  /** The rest (text encoder, decode, encode, faults). */
  other: number;
}

/** What a task of unknown size costs: one unit of "other". */
const UNIT_COST: TaskCost = { steps: 0, other: 1 };

interface Entry {
  run: () => void;
  controller: AbortController;
  cost: TaskCost;
  /** Monotonic ms, once running. */
  startedAt?: number;
}

/** Weight of the newest observation in the moving averages of ms per cost unit. */
const EWMA_ALPHA = 0.3;
/** Assumed before any task was observed (and no warm-up seeded the estimate): one second per task. */
const UNOBSERVED_TASK_MS = 1000;

const ewma = (avg: number | undefined, x: number): number => (avg === undefined ? x : (1 - EWMA_ALPHA) * avg + EWMA_ALPHA * x);

export class JobQueue {
  private readonly waiting: Entry[] = [];
  private readonly active = new Set<Entry>();
  private accepting = true;
  private idleWaiters: Array<() => void> = [];
  /** Moving averages of ms per unit of each cost part, for Retry-After and expected starts. */
  private readonly msPer: { steps?: number; other?: number } = {};
  /** The estimates come from a prior (the warm-up) only. */
  private fromPrior = false;
  private readonly now: () => number;

  constructor(private readonly options: QueueOptions) {
    this.now = options.now ?? (() => performance.now());
  }

  get depth(): number {
    return this.waiting.length;
  }

  get inflight(): number {
    return this.active.size;
  }

  get isAccepting(): boolean {
    return this.accepting;
  }

  /**
   * Accepts a task or throws (QueueFullError, ShuttingDownError) synchronously. The returned promise
   * settles with the task's result, or with `controller.signal.reason` as soon as the controller aborts.
   */
  submit<T>(task: Task<T>, controller: AbortController, onStart?: () => void, cost: TaskCost = UNIT_COST): Promise<T> {
    if (!this.accepting) throw new ShuttingDownError('server is shutting down; not accepting new generations');
    if (this.active.size >= this.options.maxConcurrency && this.waiting.length >= this.options.maxQueue) {
      throw new QueueFullError(this.retryAfterSeconds(), this.options.maxQueue);
    }
    return new Promise<T>((resolve, reject) => {
      const signal = controller.signal;
      const entry: Entry = {
        controller,
        cost,
        run: () => {
          this.active.add(entry);
          const started = this.now();
          entry.startedAt = started;
          onStart?.();
          let work: Promise<T>;
          try {
            work = task(signal);
          } catch (err) {
            work = Promise.reject(err);
          }
          work.then(resolve, reject);
          // The slot is held until the work itself settles, even if the caller was answered already.
          work
            .catch(() => undefined)
            .finally(() => {
              this.active.delete(entry);
              this.pump();
            });
        },
      };
      signal.addEventListener(
        'abort',
        () => {
          const i = this.waiting.indexOf(entry);
          if (i >= 0) {
            this.waiting.splice(i, 1);
            this.checkIdle();
          }
          reject(signal.reason);
        },
        { once: true },
      );
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      this.waiting.push(entry);
      this.pump();
    });
  }

  /** Refuse new work from now on (SIGTERM). Accepted work carries on. */
  stopAccepting(): void {
    this.accepting = false;
  }

  /** Aborts every waiting and running task with `reason`. */
  abortAll(reason: Error): void {
    for (const e of [...this.waiting, ...this.active]) e.controller.abort(reason);
  }

  /** Resolves once nothing waits and nothing runs. */
  onIdle(): Promise<void> {
    if (this.waiting.length === 0 && this.active.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Seconds until the work already accepted has drained: the running tasks' expected remainder plus the
   * waiting tasks, spread over the slots; at least 1 (Retry-After on 429).
   */
  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(this.workAheadMs(this.waiting.length) / this.options.maxConcurrency / 1000));
  }

  /**
   * A waiting task's place: `position` 1 = next to start, and the expected ms until it starts (the work ahead
   * of it over the slots); undefined once it runs or left the queue.
   */
  placeOf(controller: AbortController): { position: number; startsInMs: number } | undefined {
    const i = this.waiting.findIndex((e) => e.controller === controller);
    if (i < 0) return undefined;
    return { position: i + 1, startsInMs: this.workAheadMs(i) / this.options.maxConcurrency };
  }

  /**
   * Records a finished task of `cost` whose parts took `ms` (the caller measures them; the runtime also feeds its
   * warm-up generation). Aborted tasks are not fed: their time says nothing about a task's. A `prior` (the
   * warm-up: cold kernels, measured ~2× slow on the bench) only stands in until the first real task replaces it.
   */
  observe(ms: TaskCost, cost: TaskCost, opts: { prior?: boolean } = {}): void {
    const fresh = this.fromPrior && !opts.prior;
    this.fromPrior = opts.prior === true || (this.fromPrior && !fresh);
    if (cost.steps > 0 && ms.steps >= 0) this.msPer.steps = ewma(fresh ? undefined : this.msPer.steps, ms.steps / cost.steps);
    if (cost.other > 0 && ms.other >= 0) this.msPer.other = ewma(fresh ? undefined : this.msPer.other, ms.other / cost.other);
  }

  /** Expected ms of a task of `cost` (observed rates; 1 s before any observation). */
  expectedMs(cost: TaskCost): number {
    const { steps, other } = this.msPer;
    if (steps === undefined && other === undefined) return UNOBSERVED_TASK_MS;
    return (steps ?? 0) * cost.steps + (other ?? 0) * cost.other;
  }

  private estimateMs(e: Entry): number {
    return this.expectedMs(e.cost);
  }

  /** Expected ms of work ahead of the waiting task at index `waitingIndex`: the running tasks' remainder, the waiting ones before it. */
  private workAheadMs(waitingIndex: number): number {
    const now = this.now();
    let ms = 0;
    for (const e of this.active) ms += Math.max(0, this.estimateMs(e) - (now - (e.startedAt ?? now)));
    for (const e of this.waiting.slice(0, waitingIndex)) ms += this.estimateMs(e);
    return ms;
  }

  private pump(): void {
    while (this.active.size < this.options.maxConcurrency && this.waiting.length > 0) {
      (this.waiting.shift() as Entry).run();
    }
    this.checkIdle();
  }

  private checkIdle(): void {
    if (this.waiting.length === 0 && this.active.size === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}
