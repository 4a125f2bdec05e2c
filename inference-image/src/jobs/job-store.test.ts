import { describe, expect, it } from 'vitest';
import { FaultInjectedError, TimeoutError } from '../errors.js';
import { FaultInjector } from './faults.js';
import { JobStore } from './job-store.js';
import type { JobRecord } from './types.js';

function job(id: string, finishedAt?: number): JobRecord {
  return {
    id,
    route: 'videos',
    status: finishedAt === undefined ? 'running' : 'succeeded',
    createdAt: 0,
    ...(finishedAt === undefined ? {} : { finishedAt }),
    request: { prompt: 'p', width: 64, height: 64, frames: 8, fps: 8, seconds: 1, steps: 1, guidance: 1, seed: 0 },
    progress: { phase: 'queued', step: 0, steps: 1 },
    controller: new AbortController(),
  };
}

describe('JobStore', () => {
  it('expires finished jobs after the TTL but never running ones', () => {
    let now = 0;
    const store = new JobStore({ ttlMs: 1000, maxFinished: 10, now: () => now });
    store.add(job('done', 0));
    store.add(job('running'));
    now = 999;
    expect(store.get('done')).toBeDefined();
    now = 1001;
    expect(store.get('done')).toBeUndefined();
    expect(store.get('running')).toBeDefined();
  });

  it('keeps at most maxFinished finished jobs, dropping the oldest', () => {
    const store = new JobStore({ ttlMs: 1e9, maxFinished: 2, now: () => 10 });
    store.add(job('a', 1));
    store.add(job('b', 3));
    store.add(job('c', 2));
    store.add(job('live'));
    expect(['a', 'b', 'c', 'live'].map((id) => store.get(id) !== undefined)).toEqual([false, true, true, true]);
  });
});

describe('FaultInjector (drills only)', () => {
  const never = new AbortController().signal;

  it('does nothing when off (the default)', async () => {
    const sleeps: number[] = [];
    const f = new FaultInjector(
      { errorRate: 0, latencyMs: 0 },
      () => 0,
      async (ms) => void sleeps.push(ms),
    );
    expect(f.enabled).toBe(false);
    await f.apply(never);
    expect(sleeps).toEqual([]);
  });

  it('adds latency and fails with the configured probability', async () => {
    const sleeps: number[] = [];
    const rolls = [0.05, 0.5];
    const f = new FaultInjector(
      { errorRate: 0.1, latencyMs: 250 },
      () => rolls.shift() ?? 1,
      async (ms) => void sleeps.push(ms),
    );
    expect(f.enabled).toBe(true);
    await expect(f.apply(never)).rejects.toBeInstanceOf(FaultInjectedError);
    await expect(f.apply(never)).resolves.toBeUndefined();
    expect(sleeps).toEqual([250, 250]);
  });

  it('stops its latency when the job is aborted, with the abort reason', async () => {
    const f = new FaultInjector({ errorRate: 0, latencyMs: 60_000 });
    const c = new AbortController();
    const p = f.apply(c.signal);
    c.abort(new TimeoutError(5));
    await expect(p).rejects.toBeInstanceOf(TimeoutError);
  });
});
