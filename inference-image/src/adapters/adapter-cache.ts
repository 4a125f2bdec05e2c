// At most `capacity` adapters in memory, least recently used evicted first — but never one a running
// request holds: each acquire() takes a reference, release() drops it, and an adapter leaves only at
// refcount 0 (over capacity meanwhile, until the last holder releases). Concurrent misses on one version
// share one load. lru-cache evicts on insert whatever is in use, so the refcount rule is kept here.
import { refText, type AdapterRef } from './style.js';
import type { LoraFeeds } from './lora-feeds.js';

export interface LoadedAdapter {
  ref: AdapterRef;
  rank: number;
  scale: number;
  feeds: LoraFeeds;
}

export interface AdapterLease {
  adapter: LoadedAdapter;
  /** Whether this acquire found it in memory. */
  hit: boolean;
  /** Idempotent. */
  release(): void;
}

export interface CacheEvents {
  hit(ref: AdapterRef): void;
  miss(ref: AdapterRef): void;
  loaded(ref: AdapterRef, seconds: number): void;
  loadFailed(ref: AdapterRef, err: unknown): void;
  evicted(ref: AdapterRef): void;
}

export interface AdapterCacheOptions {
  capacity: number;
  load: (ref: AdapterRef) => Promise<LoadedAdapter>;
  events?: Partial<CacheEvents>;
  /** Monotonic ms. */
  now?: () => number;
}

interface Entry {
  adapter: LoadedAdapter;
  refs: number;
}

export class AdapterCache {
  /** Map order is recency: the first entry is the least recently used. */
  private readonly entries = new Map<string, Entry>();
  private readonly loading = new Map<string, Promise<LoadedAdapter>>();

  constructor(private readonly o: AdapterCacheOptions) {
    if (!Number.isInteger(o.capacity) || o.capacity < 1) throw new RangeError(`capacity must be a positive integer (got ${o.capacity})`);
  }

  async acquire(ref: AdapterRef): Promise<AdapterLease> {
    const key = refText(ref);
    const cached = this.entries.get(key);
    if (cached) this.o.events?.hit?.(ref);
    else this.o.events?.miss?.(ref);
    const adapter = cached?.adapter ?? (await this.loadOnce(key, ref));
    // Looked up again: while this caller awaited, the entry may have been inserted, or inserted and evicted.
    const entry = this.entries.get(key) ?? { adapter, refs: 0 };
    entry.refs++;
    this.entries.delete(key);
    this.entries.set(key, entry);
    this.trim();
    let released = false;
    return {
      adapter: entry.adapter,
      hit: cached !== undefined,
      release: () => {
        if (released) return;
        released = true;
        entry.refs--;
        if (entry.refs === 0) this.trim();
      },
    };
  }

  /** Loaded versions, least recently used first, with how many requests hold each. */
  loaded(): Array<{ ref: AdapterRef; refs: number }> {
    return [...this.entries.values()].map((e) => ({ ref: e.adapter.ref, refs: e.refs }));
  }

  has(ref: AdapterRef): boolean {
    return this.entries.has(refText(ref));
  }

  private loadOnce(key: string, ref: AdapterRef): Promise<LoadedAdapter> {
    const pending = this.loading.get(key);
    if (pending) return pending;
    const now = this.o.now ?? (() => performance.now());
    const start = now();
    const p = this.o.load(ref).then(
      (adapter) => {
        this.o.events?.loaded?.(ref, (now() - start) / 1000);
        return adapter;
      },
      (err: unknown) => {
        this.o.events?.loadFailed?.(ref, err);
        throw err;
      },
    );
    this.loading.set(key, p);
    const forget = (): void => void this.loading.delete(key);
    p.then(forget, forget);
    return p;
  }

  private trim(): void {
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= this.o.capacity) return;
      if (entry.refs > 0) continue;
      this.entries.delete(key);
      this.o.events?.evicted?.(entry.adapter.ref);
    }
  }
}
