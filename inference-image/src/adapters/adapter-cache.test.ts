import { describe, expect, it } from 'vitest';
import { AdapterCache, type LoadedAdapter } from './adapter-cache.js';
import { refText, type AdapterRef } from './style.js';

const ref = (name: string, version = 1): AdapterRef => ({ name, version });

/** A cache whose loads resolve when the test says, recording every event. */
function cache(capacity: number) {
  const events: string[] = [];
  const pending = new Map<string, Array<(a: LoadedAdapter) => void>>();
  let loads = 0;
  const c = new AdapterCache({
    capacity,
    load: (r) => {
      loads++;
      if (r.name === 'broken') return Promise.reject(new Error('bad shapes'));
      return new Promise((resolve) => pending.set(refText(r), [...(pending.get(refText(r)) ?? []), resolve]));
    },
    events: {
      hit: (r) => events.push(`hit ${refText(r)}`),
      miss: (r) => events.push(`miss ${refText(r)}`),
      loaded: (r) => events.push(`loaded ${refText(r)}`),
      loadFailed: (r) => events.push(`failed ${refText(r)}`),
      evicted: (r) => events.push(`evicted ${refText(r)}`),
    },
  });
  const finish = async (r: AdapterRef): Promise<void> => {
    for (const resolve of pending.get(refText(r)) ?? []) resolve({ ref: r, rank: 8, scale: 2, feeds: {} });
    pending.delete(refText(r));
    await new Promise((r) => setImmediate(r));
  };
  /** Acquire that completes its load at once. */
  const take = async (r: AdapterRef) => {
    const lease = c.acquire(r);
    await finish(r);
    return lease;
  };
  return { c, events, finish, take, loads: () => loads };
}

const loadedNames = (c: AdapterCache): string[] => c.loaded().map((e) => refText(e.ref));

describe('adapter cache (refcounted LRU)', () => {
  it('evicts the least recently used adapter beyond capacity', async () => {
    const { c, events, take } = cache(2);
    (await take(ref('a'))).release();
    (await take(ref('b'))).release();
    (await take(ref('a'))).release(); // a is now the most recent
    (await take(ref('c'))).release();
    expect(loadedNames(c)).toEqual(['a@v1', 'c@v1']);
    expect(events).toEqual(['miss a@v1', 'loaded a@v1', 'miss b@v1', 'loaded b@v1', 'hit a@v1', 'miss c@v1', 'loaded c@v1', 'evicted b@v1']);
  });

  it('never unloads an adapter a request holds: it leaves when the last holder releases', async () => {
    const { c, events, take } = cache(1);
    const a1 = await take(ref('a'));
    const a2 = await take(ref('a'));
    const b = await take(ref('b'));
    expect(loadedNames(c)).toEqual(['a@v1', 'b@v1']); // over capacity while a is held
    a1.release();
    a1.release(); // idempotent
    expect(c.has(ref('a'))).toBe(true);
    a2.release();
    expect(loadedNames(c)).toEqual(['b@v1']);
    expect(events.filter((e) => e.startsWith('evicted'))).toEqual(['evicted a@v1']);
    expect(a2.adapter.ref).toEqual(ref('a')); // what a holder got stays usable
    b.release();
  });

  it('shares one load between concurrent misses', async () => {
    const { c, finish, loads } = cache(2);
    const leases = [c.acquire(ref('a')), c.acquire(ref('a')), c.acquire(ref('a'))];
    await finish(ref('a'));
    const got = await Promise.all(leases);
    expect(loads()).toBe(1);
    expect(new Set(got.map((l) => l.adapter)).size).toBe(1);
    expect(c.loaded()).toEqual([{ ref: ref('a'), refs: 3 }]);
    expect(got.map((l) => l.hit)).toEqual([false, false, false]);
  });

  it('does not keep a failed load: the next request tries again', async () => {
    const { c, events, loads } = cache(2);
    await expect(c.acquire(ref('broken'))).rejects.toThrow('bad shapes');
    await expect(c.acquire(ref('broken'))).rejects.toThrow('bad shapes');
    expect(loads()).toBe(2);
    expect(c.loaded()).toEqual([]);
    expect(events).toEqual(['miss broken@v1', 'failed broken@v1', 'miss broken@v1', 'failed broken@v1']);
  });

  it('refuses a capacity below 1', () => {
    expect(() => new AdapterCache({ capacity: 0, load: async () => Promise.reject(new Error('unused')) })).toThrow(/capacity must be a positive integer/);
  });
});
