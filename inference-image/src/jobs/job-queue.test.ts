import { describe, expect, it } from 'vitest';
import { CancelledError, QueueFullError, ShuttingDownError, TimeoutError } from '../errors.js';
import { JobQueue } from './job-queue.js';

/** A task whose completion the test controls. */
function gate<T = string>(): {
  task: (signal: AbortSignal) => Promise<T>;
  open: (v: T) => void;
  fail: (e: Error) => void;
  started: () => boolean;
  signal: () => AbortSignal | undefined;
} {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  let signal: AbortSignal | undefined;
  const p = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return {
    task: (s) => {
      signal = s;
      return p;
    },
    open: (v) => resolve(v),
    fail: (e) => reject(e),
    started: () => signal !== undefined,
    signal: () => signal,
  };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('JobQueue', () => {
  it('runs at most maxConcurrency tasks, in FIFO order', async () => {
    const q = new JobQueue({ maxConcurrency: 1, maxQueue: 5 });
    const [a, b, c] = [gate(), gate(), gate()];
    const pa = q.submit(a.task, new AbortController());
    const pb = q.submit(b.task, new AbortController());
    const pc = q.submit(c.task, new AbortController());
    expect([a.started(), b.started(), c.started()]).toEqual([true, false, false]);
    expect([q.inflight, q.depth]).toEqual([1, 2]);
    a.open('a');
    await expect(pa).resolves.toBe('a');
    await tick();
    expect([b.started(), c.started()]).toEqual([true, false]);
    b.open('b');
    c.open('c');
    await expect(Promise.all([pb, pc])).resolves.toEqual(['b', 'c']);
    await q.onIdle();
    expect([q.inflight, q.depth]).toEqual([0, 0]);
  });

  it('refuses with QueueFullError and a Retry-After once slots and queue are full', () => {
    const q = new JobQueue({ maxConcurrency: 2, maxQueue: 1 });
    for (let i = 0; i < 3; i++) void q.submit(gate().task, new AbortController());
    let err: unknown;
    try {
      void q.submit(gate().task, new AbortController());
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(QueueFullError);
    expect(err).toMatchObject({ code: 'QueueFull', httpStatus: 429, maxQueue: 1 });
    expect((err as QueueFullError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
  });

  it('estimates Retry-After from the work queued: the running remainder plus the waiting tasks, by cost, over the slots', () => {
    let now = 0;
    const q = new JobQueue({ maxConcurrency: 2, maxQueue: 10, now: () => now });
    // 2 ms per step unit, 1 ms per other unit.
    q.observe({ steps: 200, other: 50 }, { steps: 100, other: 50 });
    expect(q.retryAfterSeconds()).toBe(1); // nothing queued: the floor
    const cost = (steps: number, other: number) => ({ steps, other });
    const a = new AbortController();
    void q.submit(gate().task, a, undefined, cost(2500, 1000)); // runs: 6 s expected
    void q.submit(gate().task, new AbortController(), undefined, cost(500, 1000)); // runs: 2 s
    const c = new AbortController();
    void q.submit(gate().task, c, undefined, cost(3500, 1000)); // waits: 8 s
    const d = new AbortController();
    void q.submit(gate().task, d, undefined, cost(500, 1000)); // waits: 2 s
    now += 1000; // 1 s into both running tasks: 5 s + 1 s left
    expect(q.retryAfterSeconds()).toBe(Math.ceil((5 + 1 + 8 + 2) / 2));
    expect(q.placeOf(c)).toEqual({ position: 1, startsInMs: 3000 });
    expect(q.placeOf(d)).toEqual({ position: 2, startsInMs: 7000 });
    expect(q.placeOf(a)).toBeUndefined();
  });

  it('keeps the step-bound and the fixed parts apart: a short observed task does not inflate a long one', () => {
    const q = new JobQueue({ maxConcurrency: 1, maxQueue: 10, now: () => 0 });
    // A 2-step warm-up: 200 ms of steps, 600 ms of the rest.
    q.observe({ steps: 200, other: 600 }, { steps: 2, other: 1 });
    void q.submit(gate().task, new AbortController(), undefined, { steps: 30, other: 1 });
    // 30 steps × 100 ms + 600 ms = 3.6 s (one rate for the whole task would say 30 × 400 ms = 12 s).
    expect(q.retryAfterSeconds()).toBe(4);
  });

  it('lets the first real task replace a prior (the warm-up) instead of averaging with it', () => {
    const q = new JobQueue({ maxConcurrency: 1, maxQueue: 10, now: () => 0 });
    q.observe({ steps: 0, other: 4000 }, { steps: 0, other: 1 }, { prior: true });
    void q.submit(gate().task, new AbortController());
    expect(q.retryAfterSeconds()).toBe(4);
    q.observe({ steps: 0, other: 1000 }, { steps: 0, other: 1 });
    expect(q.retryAfterSeconds()).toBe(1);
    // From then on, a moving average: 0.7 × 1 s + 0.3 × 2 s.
    q.observe({ steps: 0, other: 2000 }, { steps: 0, other: 1 });
    expect(q.expectedMs({ steps: 0, other: 1 })).toBeCloseTo(1300);
  });

  it('assumes 1 s per task before any was observed', () => {
    const q = new JobQueue({ maxConcurrency: 1, maxQueue: 10, now: () => 0 });
    for (let i = 0; i < 3; i++) void q.submit(gate().task, new AbortController());
    expect(q.retryAfterSeconds()).toBe(3);
  });

  it('drops an aborted queued task without running it', async () => {
    const q = new JobQueue({ maxConcurrency: 1, maxQueue: 5 });
    const a = gate();
    const b = gate();
    void q.submit(a.task, new AbortController());
    const cb = new AbortController();
    const pb = q.submit(b.task, cb);
    cb.abort(new CancelledError('cancelled by DELETE'));
    await expect(pb).rejects.toBeInstanceOf(CancelledError);
    expect(q.depth).toBe(0);
    a.open('a');
    await q.onIdle();
    expect(b.started()).toBe(false);
  });

  it('answers an aborted running task at once but holds its slot until the work stops', async () => {
    const q = new JobQueue({ maxConcurrency: 1, maxQueue: 5 });
    const a = gate();
    const b = gate();
    const ca = new AbortController();
    const pa = q.submit(a.task, ca);
    void q.submit(b.task, new AbortController());
    ca.abort(new TimeoutError(100));
    await expect(pa).rejects.toBeInstanceOf(TimeoutError);
    expect(a.signal()?.aborted).toBe(true);
    await tick();
    expect(b.started()).toBe(false);
    a.fail(new Error('stopped between steps'));
    await tick();
    expect(b.started()).toBe(true);
  });

  it('refuses new work after stopAccepting, and abortAll fails everything accepted', async () => {
    const q = new JobQueue({ maxConcurrency: 1, maxQueue: 5 });
    const a = gate();
    const pa = q.submit(a.task, new AbortController());
    const pb = q.submit(gate().task, new AbortController());
    q.stopAccepting();
    expect(() => q.submit(gate().task, new AbortController())).toThrow(ShuttingDownError);
    const reason = new ShuttingDownError('bye');
    q.abortAll(reason);
    await expect(pa).rejects.toBe(reason);
    await expect(pb).rejects.toBe(reason);
    a.fail(reason);
    await q.onIdle();
  });

  it('turns a task that throws synchronously into a rejection and frees the slot', async () => {
    const q = new JobQueue({ maxConcurrency: 1, maxQueue: 1 });
    const p = q.submit(() => {
      throw new Error('boom');
    }, new AbortController());
    await expect(p).rejects.toThrow('boom');
    await q.onIdle();
    expect(q.inflight).toBe(0);
  });
});
