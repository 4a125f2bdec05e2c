import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { WorkQueue } from './work-queue.js';
import { TerminalError } from './errors.js';

async function eventually(check: () => void, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(10);
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
    await sleep(5);
    gate.resolve();
    await eventually(() => expect(calls).toEqual(['ns/a', 'ns/a']));
    await sleep(20);
    expect(calls).toHaveLength(2);
    expect(maxConcurrent).toBe(1);
    await q.stop();
  });

  it('retries a failing key with growing backoff and resets after success', async () => {
    const times: number[] = [];
    const errors: (number | undefined)[] = [];
    const q = new WorkQueue(
      async () => {
        times.push(Date.now());
        if (times.length < 3) throw new Error('boom');
      },
      { workers: 1, baseBackoffMs: 20, onError: (_k, _e, retryIn) => errors.push(retryIn) },
    );
    q.start();
    q.add('ns/a');
    await eventually(() => expect(times).toHaveLength(3));
    await sleep(100);
    expect(times).toHaveLength(3);
    expect(errors).toEqual([20, 40]);
    await q.stop();
  });

  it('does not retry a TerminalError hot: only after its retryAfterMs, or on the next add', async () => {
    let calls = 0;
    const retries: (number | undefined)[] = [];
    const q = new WorkQueue(
      async (key) => {
        calls++;
        if (key === 'ns/never') throw new TerminalError('object owned by someone else');
        if (calls <= 2) throw new TerminalError('template lost', 30);
      },
      { workers: 1, baseBackoffMs: 1, onError: (_k, _e, retryIn) => retries.push(retryIn) },
    );
    q.start();
    q.add('ns/later');
    await eventually(() => expect(calls).toBe(3));
    expect(retries).toEqual([30, 30]);
    q.add('ns/never');
    await eventually(() => expect(retries).toEqual([30, 30, undefined]));
    await sleep(50);
    expect(calls).toBe(4);
    q.add('ns/never');
    await eventually(() => expect(calls).toBe(5));
    await q.stop();
  });

  it('honours requeue-after, keeping the earliest timer', async () => {
    let n = 0;
    const q = new WorkQueue(
      async () => {
        n++;
        return n === 1 ? { requeueAfterMs: 30 } : {};
      },
      { workers: 1 },
    );
    q.start();
    q.add('ns/a');
    q.addAfter('ns/a', 10_000);
    await sleep(10);
    expect(n).toBe(1);
    await eventually(() => expect(n).toBe(2));
    await q.stop();
  });

  it('stop() waits for handlers in flight', async () => {
    let finished = false;
    const q = new WorkQueue(
      async () => {
        await sleep(30);
        finished = true;
      },
      { workers: 1 },
    );
    q.start();
    q.add('ns/a');
    await sleep(5);
    await q.stop();
    expect(finished).toBe(true);
  });
});
