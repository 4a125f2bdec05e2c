// Per-adapter metrics, labelled adapter_name and adapter_version on top of the registry's default labels
// (model and ModelRollout revision, metrics.ts): an adapter rollout judges @v2 against @v1 on the same pods
// by these labels, as a model rollout judges revisions. Each version's series are written at zero when the
// library first lists it, so increase() sees its first request and first error.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { AdapterRef } from '../adapters/style.js';
import type { T2vError } from '../errors.js';
import type { ClipQuality } from '../quality/clip-quality.js';
import { FLICKER_BUCKETS, OUTCOMES, OUTCOME_STATUSES, RATIO_BUCKETS, REQUEST_DURATION_BUCKETS, SSIM_BUCKETS, outcomeOf, type Route } from './metrics.js';

export const ADAPTER_LOAD_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

type AdapterLabels = 'adapter_name' | 'adapter_version';

export interface AdapterMetrics {
  requests: Counter<AdapterLabels | 'route' | 'outcome' | 'status'>;
  requestDuration: Histogram<AdapterLabels>;
  loadSeconds: Histogram<AdapterLabels>;
  loadFailures: Counter<AdapterLabels>;
  cacheHits: Counter<AdapterLabels>;
  cacheMisses: Counter<AdapterLabels>;
  cacheEvictions: Counter<AdapterLabels>;
  /** The quality signals (quality/clip-quality.ts) of the clips each version made: a style that freezes or blanks the clip shows here. */
  quality: Record<'flicker' | 'frozenRatio' | 'blankRatio' | 'temporalSsim', Histogram<AdapterLabels>>;
  /** Writes the zero samples of a version the library lists. */
  known(ref: AdapterRef): void;
  requestFinished(ref: AdapterRef, route: Route, error: Pick<T2vError, 'code' | 'httpStatus'> | undefined, seconds?: number): void;
  observeQuality(ref: AdapterRef, q: ClipQuality): void;
}

export const adapterLabels = (ref: AdapterRef): Record<AdapterLabels, string> => ({ adapter_name: ref.name, adapter_version: `v${ref.version}` });

export function createAdapterMetrics(registry: Registry, loaded: () => number): AdapterMetrics {
  const registers = [registry];
  const labelNames = ['adapter_name', 'adapter_version'] as const;
  const counter = (name: string, help: string): Counter<AdapterLabels> => new Counter({ name, help, labelNames, registers });
  const requests = new Counter({
    name: 't2v_adapter_requests_total',
    help: 'Generation requests that named a style, by adapter version, outcome and final HTTP status (as t2v_requests_total).',
    labelNames: [...labelNames, 'route', 'outcome', 'status'] as const,
    registers,
  });
  const requestDuration = new Histogram({
    name: 't2v_adapter_request_duration_seconds',
    help: 'Accepted requests that named a style, arrival to finished MP4, by adapter version.',
    labelNames,
    buckets: REQUEST_DURATION_BUCKETS,
    registers,
  });
  const loadSeconds = new Histogram({
    name: 't2v_adapter_load_seconds',
    help: 'Time to read, check and stage one adapter version (cache misses).',
    labelNames,
    buckets: ADAPTER_LOAD_BUCKETS,
    registers,
  });
  const loadFailures = counter(
    't2v_adapter_load_failures_total',
    'Adapter loads refused (unreadable files, or a config or tensor that does not fit the base model).',
  );
  const cacheHits = counter('t2v_adapter_cache_hits_total', 'Requests whose adapter was already in memory.');
  const cacheMisses = counter('t2v_adapter_cache_misses_total', 'Requests (and explicit loads) whose adapter had to be loaded.');
  const cacheEvictions = counter('t2v_adapter_cache_evictions_total', 'Adapters dropped from memory (least recently used, once no request held them).');
  const histogram = (name: string, help: string, buckets: number[]): Histogram<AdapterLabels> => new Histogram({ name, help, labelNames, buckets, registers });
  const quality = {
    flicker: histogram('t2v_adapter_quality_flicker_luma_levels', 'Per measured clip of a style, as t2v_quality_flicker_luma_levels.', FLICKER_BUCKETS),
    frozenRatio: histogram('t2v_adapter_quality_frozen_frame_ratio', 'Per measured clip of a style, as t2v_quality_frozen_frame_ratio.', RATIO_BUCKETS),
    blankRatio: histogram('t2v_adapter_quality_blank_frame_ratio', 'Per measured clip of a style, as t2v_quality_blank_frame_ratio.', RATIO_BUCKETS),
    temporalSsim: histogram('t2v_adapter_quality_temporal_ssim', 'Per measured clip of a style, as t2v_quality_temporal_ssim.', SSIM_BUCKETS),
  };
  new Gauge({
    name: 't2v_adapters_loaded',
    help: 'Adapter versions in memory now.',
    registers,
    collect() {
      this.set(loaded());
    },
  });
  const routes: Route[] = ['generate', 'videos'];
  return {
    requests,
    requestDuration,
    loadSeconds,
    loadFailures,
    cacheHits,
    cacheMisses,
    cacheEvictions,
    quality,
    known(ref) {
      const l = adapterLabels(ref);
      for (const route of routes)
        for (const outcome of OUTCOMES) for (const status of OUTCOME_STATUSES[outcome]) requests.inc({ ...l, route, outcome, status: String(status) }, 0);
      requestDuration.zero(l);
      loadSeconds.zero(l);
      for (const h of Object.values(quality)) h.zero(l);
      for (const c of [loadFailures, cacheHits, cacheMisses, cacheEvictions]) c.inc(l, 0);
    },
    requestFinished(ref, route, error, seconds) {
      const l = adapterLabels(ref);
      requests.inc({ ...l, route, outcome: outcomeOf(error), status: String(error ? error.httpStatus : 200) });
      if (seconds !== undefined) requestDuration.observe(l, seconds);
    },
    observeQuality(ref, q) {
      const l = adapterLabels(ref);
      for (const key of ['flicker', 'frozenRatio', 'blankRatio', 'temporalSsim'] as const) {
        const v = q[key];
        if (v !== undefined) quality[key].observe(l, v);
      }
    },
  };
}
