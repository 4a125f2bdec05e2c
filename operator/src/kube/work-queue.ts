// A work queue keyed by "namespace/name", like client-go's: a key waiting in the queue is not added
// twice (coalescing), a key being processed is never processed concurrently — events during processing
// mark it dirty and it runs again afterwards — failures retry with capped exponential backoff, and a
// handler can ask to run again after a delay (requeue-after). A TerminalError (kube/errors.ts) is not
// retried hot: only after its retryAfterMs, or when an event adds the key again.
import { realClock, type Clock } from './clock.js';
import { isTerminal } from './errors.js';

export interface WorkResult {
  requeueAfterMs?: number;
}

export interface WorkQueueOptions {
  workers: number;
  /** Default: the real clock. */
  clock?: Clock;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /** `retryInMs` is undefined for a TerminalError without retryAfterMs: the key waits for its next event. */
  onError?: (key: string, err: unknown, retryInMs: number | undefined) => void;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; cancel: () => void }>();
  private readonly idleWaiters: (() => void)[] = [];
  private active = 0;
  private running = false;

  constructor(
    private readonly handler: (key: string) => Promise<WorkResult | void>,
    private readonly options: WorkQueueOptions,
  ) {}

  get depth(): number {
    return this.queue.length;
  }

  start(): void {
    this.running = true;
    this.pump();
  }

  /** Stops taking work; resolves once the handlers in flight have finished. */
  async stop(): Promise<void> {
    this.running = false;
    for (const { cancel } of this.timers.values()) cancel();
    this.timers.clear();
    if (this.active > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  add(key: string): void {
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.pump();
  }

  /** Adds the key after `ms`; an earlier pending timer for the same key wins. */
  addAfter(key: string, ms: number): void {
    if (ms <= 0) return this.add(key);
    const clock = this.options.clock ?? realClock;
    const at = clock.now() + ms;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) existing.cancel();
    const cancel = clock.schedule(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    this.timers.set(key, { at, cancel });
  }

  private pump(): void {
    while (this.running && this.active < this.options.workers && this.queue.length > 0) {
      const key = this.queue.shift()!;
      this.queued.delete(key);
      this.processing.add(key);
      this.active++;
      void this.process(key);
    }
  }

  /** Capped exponential backoff per key, reset by a success. */
  private backoff(key: string): number {
    const attempts = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, attempts);
    const base = this.options.baseBackoffMs ?? 200;
    return Math.min(this.options.maxBackoffMs ?? 60_000, base * 2 ** (attempts - 1));
  }

  private async process(key: string): Promise<void> {
    try {
      const result = await this.handler(key);
      this.failures.delete(key);
      if (result?.requeueAfterMs !== undefined) this.addAfter(key, result.requeueAfterMs);
    } catch (err) {
      const retryIn = isTerminal(err) ? err.retryAfterMs : this.backoff(key);
      this.options.onError?.(key, err, retryIn);
      if (retryIn !== undefined) this.addAfter(key, retryIn);
    } finally {
      this.processing.delete(key);
      this.active--;
      if (this.dirty.delete(key)) this.add(key);
      if (this.active === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
      this.pump();
    }
  }
}
