// The runtime's adapters: the library on disk, the in-memory cache in front of it, and the metrics both
// feed. What the HTTP routes and the generation service call.
import { adapterLabels, type AdapterMetrics } from '../telemetry/adapter-metrics.js';
import { AdapterCache, type AdapterLease } from './adapter-cache.js';
import { loadAdapter } from './load-adapter.js';
import { AdapterLibrary } from './library.js';
import type { BaseModel } from './peft.js';
import { refText, type AdapterRef } from './style.js';

export interface AdapterView {
  name: string;
  latest: string;
  versions: Array<{ adapter: string; version: string; loaded: boolean; in_use: number }>;
}

export interface LoadView {
  adapter: string;
  rank: number;
  scale: number;
  /** Whether it was in memory already (a load of a loaded version is a no-op). */
  already_loaded: boolean;
}

export interface AdapterServiceOptions {
  dir: string;
  capacity: number;
  base: BaseModel;
  /** Created once the registry exists; absent in tests that need none. */
  metrics?: AdapterMetrics;
}

export class AdapterService {
  readonly library: AdapterLibrary;
  readonly cache: AdapterCache;

  constructor(o: AdapterServiceOptions) {
    const m = o.metrics;
    this.library = new AdapterLibrary(o.dir, (ref) => m?.known(ref));
    this.cache = new AdapterCache({
      capacity: o.capacity,
      load: (ref) => loadAdapter(this.library, ref, o.base),
      events: m && {
        hit: (ref) => m.cacheHits.inc(adapterLabels(ref)),
        miss: (ref) => m.cacheMisses.inc(adapterLabels(ref)),
        loaded: (ref, seconds) => m.loadSeconds.observe(adapterLabels(ref), seconds),
        loadFailed: (ref) => m.loadFailures.inc(adapterLabels(ref)),
        evicted: (ref) => m.cacheEvictions.inc(adapterLabels(ref)),
      },
    });
  }

  /** The first scan; a missing library directory fails start-up. */
  start(): Promise<void> {
    return this.library.scan();
  }

  resolve(style: string, field?: string): Promise<AdapterRef> {
    return this.library.resolve(style, field);
  }

  acquire(ref: AdapterRef): Promise<AdapterLease> {
    return this.cache.acquire(ref);
  }

  /** Rescans, so a version published since start-up is listed. */
  async list(): Promise<AdapterView[]> {
    await this.library.scan();
    const inMemory = new Map(this.cache.loaded().map((e) => [refText(e.ref), e.refs]));
    return this.library.list().map(({ name, versions }) => ({
      name,
      latest: refText({ name, version: versions[versions.length - 1] as number }),
      versions: versions.map((version) => {
        const adapter = refText({ name, version });
        return { adapter, version: `v${version}`, loaded: inMemory.has(adapter), in_use: inMemory.get(adapter) ?? 0 };
      }),
    }));
  }

  /** Loads (and checks) a version ahead of its first request; refusals name the field `adapter`. */
  async load(style: string): Promise<LoadView> {
    const ref = await this.library.resolve(style, 'adapter');
    const lease = await this.cache.acquire(ref);
    lease.release();
    return { adapter: refText(ref), rank: lease.adapter.rank, scale: lease.adapter.scale, already_loaded: lease.hit };
  }
}
