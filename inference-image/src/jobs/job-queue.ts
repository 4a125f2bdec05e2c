// Bounded concurrency (one generation per GPU by default) in front of a bounded FIFO queue. A full
// queue refuses at once (429 + Retry-After) rather than letting latency pile up; an aborted job
// (timeout, cancel, shutdown) settles at once, while its slot frees only when the work really stops.
import { QueueFullError, ShuttingDownError } from '../errors.js';

export type Task<T> = (signal: AbortSignal) => Promise<T>;

export interface QueueOptions {
  maxConcurrency: number;
  maxQueue: number;
  now?: () => number;
}

interface Entry {
  run: () => void;
  controller: AbortController;
}

export class JobQueue {
  private readonly waiting: Entry[] = [];
  private readonly active = new Set<Entry>();
  private accepting = true;
  private idleWaiters: Array<() => void> = [];
  /** Moving average of task wall time, for Retry-After. */
  private avgTaskMs: number | undefined;
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
  submit<T>(task: Task<T>, controller: AbortController, onStart?: () => void): Promise<T> {
    if (!this.accepting) throw new ShuttingDownError('server is shutting down; not accepting new generations');
    if (this.active.size >= this.options.maxConcurrency && this.waiting.length >= this.options.maxQueue) {
      throw new QueueFullError(this.retryAfterSeconds(), this.options.maxQueue);
    }
    return new Promise<T>((resolve, reject) => {
      const signal = controller.signal;
      const entry: Entry = {
        controller,
        run: () => {
          this.active.add(entry);
          const started = this.now();
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
              this.recordDuration(this.now() - started);
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

  retryAfterSeconds(): number {
    const per = (this.avgTaskMs ?? 1000) / 1000;
    return Math.max(1, Math.ceil((per * (this.waiting.length + 1)) / this.options.maxConcurrency));
  }

  private recordDuration(ms: number): void {
    this.avgTaskMs = this.avgTaskMs === undefined ? ms : 0.8 * this.avgTaskMs + 0.2 * ms;
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
