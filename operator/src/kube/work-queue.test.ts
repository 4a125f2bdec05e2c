import { describe, expect, it } from 'vitest';
import { WorkQueue } from './work-queue.js';
import { ManualClock, settle } from './manual-clock.test-support.js';
import { TerminalError } from './errors.js';

/** Checks after letting pending handlers settle (a few turns of the event loop, no real time). */
async function eventually(check: () => void, turns = 20): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      return check();
    } catch (err) {
      if (i >= turns) throw err;
      await settle();
    }
  }
}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('WorkQueue', () => {
  it('coalesces adds of a waiting key and never runs one key concurrently', async () => {
    const gate = deferred();
    const calls: string[] = [];
    let concurrent = 0;
    let maxConcurrent = 0;
    const q = new WorkQueue(
      async (key) => {
        calls.push(key);
        concurrent++;
        maxConcurrent = Math.max(maxConcurrent, concurrent);
        if (calls.length === 1) await gate.promise;
        concurrent--;
      },
      { workers: 4 },
    );
    q.start();
    q.add('ns/a'); // starts processing
    q.add('ns/a'); // dirty while processing
    q.add('ns/a'); // still just dirty
    await settle();
    gate.resolve();
    await eventually(() => expect(calls).toEqual(['ns/a', 'ns/a']));
    for (let i = 0; i < 5; i++) await settle();
    expect(calls).toHaveLength(2);
    expect(maxConcurrent).toBe(1);
    await q.stop();
  });

  it('retries a failing key with growing backoff and resets after success', async () => {
    const clock = new ManualClock();
    const times: number[] = [];
    const errors: (number | undefined)[] = [];
    const q = new WorkQueue(
      async () => {
        times.push(clock.now());
        if (times.length < 3) throw new Error('boom');
      },
      { workers: 1, baseBackoffMs: 20, clock, onError: (_k, _e, retryIn) => errors.push(retryIn) },
    );
    q.start();
    q.add('ns/a');
    await settle();
    await clock.advance(1000);
    expect(times).toEqual([0, 20, 60]);
    expect(errors).toEqual([20, 40]);
    expect(clock.delays).toEqual([]);
    await q.stop();
  });

  it('does not retry a TerminalError hot: only after its retryAfterMs, or on the next add', async () => {
    const clock = new ManualClock();
    const calls: [string, number][] = [];
    const retries: (number | undefined)[] = [];
    const q = new WorkQueue(
      async (key) => {
        calls.push([key, clock.now()]);
        if (key === 'ns/never') throw new TerminalError('object owned by someone else');
        if (calls.length <= 2) throw new TerminalError('template lost', 30);
      },
      { workers: 1, baseBackoffMs: 1, clock, onError: (_k, _e, retryIn) => retries.push(retryIn) },
    );
    q.start();
    q.add('ns/later');
    await settle();
    // Not at the 1 ms backoff: at its own 30 ms, twice.
    await clock.advance(29);
    expect(calls).toEqual([['ns/later', 0]]);
    await clock.advance(100);
    expect(calls).toEqual([
      ['ns/later', 0],
      ['ns/later', 30],
      ['ns/later', 60],
    ]);
    expect(retries).toEqual([30, 30]);
    q.add('ns/never');
    await settle();
    expect(retries).toEqual([30, 30, undefined]);
    // No retry at all, however long: it waits for the next event.
    await clock.advance(3_600_000);
    expect(calls).toHaveLength(4);
    q.add('ns/never');
    await settle();
    expect(calls).toHaveLength(5);
    await q.stop();
  });

  it('honours requeue-after, keeping the earliest timer', async () => {
    const clock = new ManualClock();
    const runs: number[] = [];
    const q = new WorkQueue(
      async () => {
        runs.push(clock.now());
        return runs.length === 1 ? { requeueAfterMs: 30 } : {};
      },
      { workers: 1, clock },
    );
    q.start();
    q.add('ns/a');
    q.addAfter('ns/a', 10_000);
    await settle();
    expect(runs).toEqual([0]);
    // The 30 ms requeue replaces the 10 s timer: one run at 30 ms, none at 10 s.
    await clock.advance(20_000);
    expect(runs).toEqual([0, 30]);
    await q.stop();
  });

  it('stop() waits for handlers in flight', async () => {
    let finished = false;
    const gate = deferred();
    const q = new WorkQueue(
      async () => {
        await gate.promise;
        finished = true;
      },
      { workers: 1 },
    );
    q.start();
    q.add('ns/a');
    await settle();
    let stopped = false;
    const stopping = q.stop().then(() => (stopped = true));
    await settle();
    expect(stopped).toBe(false);
    gate.resolve();
    await stopping;
    expect(finished).toBe(true);
  });
});
