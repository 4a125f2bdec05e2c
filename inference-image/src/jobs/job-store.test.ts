import { describe, expect, it } from 'vitest';
import { FaultInjectedError, TimeoutError } from '../errors.js';
import { FaultInjector } from './faults.js';
import { timeOrderedIds } from './job-ids.js';
import { JobStore } from './job-store.js';
import type { JobRecord } from './types.js';

function job(id: string, finishedAt?: number, bytes?: number): JobRecord {
  return {
    ...(bytes === undefined ? {} : { result: { video: Buffer.alloc(bytes), frames: 8, seconds: 1, promptTokens: 1, promptTruncated: false, guided: false } }),
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

describe('JobStore: bytes, pages, idempotency keys, delivery', () => {
  it('keeps at most maxBytes of video, dropping the oldest finished job first', () => {
    const store = new JobStore({ ttlMs: 1e9, maxFinished: 100, maxBytes: 250, now: () => 10 });
    store.add(job('old', 1, 100));
    store.add(job('mid', 2, 100));
    store.add(job('live'));
    store.add(job('new', 3, 100));
    store.evict();
    expect(['old', 'mid', 'new', 'live'].map((id) => store.get(id) !== undefined)).toEqual([false, true, true, true]);
  });

  it('lists newest first in pages, with a cursor; an unknown cursor is undefined', () => {
    const store = new JobStore({ ttlMs: 1e9, maxFinished: 100, now: () => 10 });
    for (const id of ['a', 'b', 'c', 'd', 'e']) store.add(job(id));
    const first = store.list(2);
    expect(first?.jobs.map((j) => j.id)).toEqual(['e', 'd']);
    expect(first?.hasMore).toBe(true);
    const last = store.list(2, 'b');
    expect(last).toMatchObject({ hasMore: false });
    expect(last?.jobs.map((j) => j.id)).toEqual(['a']);
    expect(store.list(2, 'zzz')).toBeUndefined();
  });

  it('pages on from a cursor whose job is gone (ids sort by creation time)', () => {
    const store = new JobStore({ ttlMs: 1e9, maxFinished: 100, now: () => 10 });
    const next = timeOrderedIds(() => 1_700_000_000_000);
    const ids = [next(), next(), next(), next()];
    for (const id of ids) store.add(job(id, 1));
    expect(store.delete(ids[2] as string)).toBe(true);
    expect(store.list(10, ids[2])?.jobs.map((j) => j.id)).toEqual([ids[1], ids[0]]);
  });

  it('never evicts the job that finished last, even when it alone is over maxBytes', () => {
    const store = new JobStore({ ttlMs: 1e9, maxFinished: 100, maxBytes: 1024, now: () => 10 });
    store.add(job('old', 1, 100));
    store.add(job('big', 2, 4096));
    store.evict();
    expect(['old', 'big'].map((id) => store.get(id) !== undefined)).toEqual([false, true]);
  });

  it('finds a job by its idempotency key while the job is kept, and forgets the key with it', () => {
    const store = new JobStore({ ttlMs: 1e9, maxFinished: 100, now: () => 10 });
    const j = job('a', 1);
    store.add(j, { key: 'k1', fingerprint: 'f1' });
    expect(store.byIdempotencyKey('k1')).toEqual({ job: j, fingerprint: 'f1' });
    expect(store.byIdempotencyKey('k2')).toBeUndefined();
    expect(store.delete('a')).toBe(true);
    expect(store.byIdempotencyKey('k1')).toBeUndefined();
  });

  it('counts finished jobs no client has fetched', () => {
    const store = new JobStore({ ttlMs: 1e9, maxFinished: 100, now: () => 10 });
    const done = job('done', 1);
    store.add(done);
    store.add(job('running'));
    expect(store.undelivered()).toBe(1);
    done.delivered = true;
    expect(store.undelivered()).toBe(0);
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
