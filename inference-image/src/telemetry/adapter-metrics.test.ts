import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { NotReadyError } from '../errors.js';
import { createAdapterMetrics } from './adapter-metrics.js';

describe('per-adapter metrics', () => {
  it('writes zero series for a version when it is first listed, then counts by outcome and status', async () => {
    const registry = new Registry();
    registry.setDefaultLabels({ model_name: 'm', modelrollout_revision: 'abc' });
    const m = createAdapterMetrics(registry, () => 1);
    const v2 = { name: 'ink-wash', version: 2 };
    m.known(v2);
    m.requestFinished(v2, 'videos', new NotReadyError('x'), 1.5);
    m.observeQuality(v2, { frames: 1, blankRatio: 1 });
    const text = await registry.metrics();
    // Histograms put the default labels first: compare label sets, not text.
    const line = (s: string): boolean => {
      const [name, labels, value] = /^(\w+)\{(.*)\} (\S+)$/.exec(s)?.slice(1) ?? [];
      const want = new Set(labels?.split(','));
      return text.split('\n').some((l) => {
        const [n, ls, v] = /^(\w+)\{(.*)\} (\S+)$/.exec(l)?.slice(1) ?? [];
        const have = ls?.split(',') ?? [];
        return n === name && v === value && have.length === want.size && have.every((x) => want.has(x));
      });
    };
    expect(
      line(
        't2v_adapter_requests_total{adapter_name="ink-wash",adapter_version="v2",route="generate",outcome="server_error",status="500",model_name="m",modelrollout_revision="abc"} 0',
      ),
    ).toBe(true);
    expect(
      line(
        't2v_adapter_requests_total{adapter_name="ink-wash",adapter_version="v2",route="videos",outcome="overloaded",status="503",model_name="m",modelrollout_revision="abc"} 1',
      ),
    ).toBe(true);
    expect(line('t2v_adapter_cache_evictions_total{adapter_name="ink-wash",adapter_version="v2",model_name="m",modelrollout_revision="abc"} 0')).toBe(true);
    expect(line('t2v_adapter_load_seconds_count{adapter_name="ink-wash",adapter_version="v2",model_name="m",modelrollout_revision="abc"} 0')).toBe(true);
    expect(line('t2v_adapter_request_duration_seconds_count{adapter_name="ink-wash",adapter_version="v2",model_name="m",modelrollout_revision="abc"} 1')).toBe(
      true,
    );
    expect(line('t2v_adapters_loaded{model_name="m",modelrollout_revision="abc"} 1')).toBe(true);
    // A one-frame clip has no pairs: blank is observed, frozen is not.
    expect(line('t2v_adapter_quality_blank_frame_ratio_count{adapter_name="ink-wash",adapter_version="v2",model_name="m",modelrollout_revision="abc"} 1')).toBe(
      true,
    );
    expect(
      line('t2v_adapter_quality_frozen_frame_ratio_count{adapter_name="ink-wash",adapter_version="v2",model_name="m",modelrollout_revision="abc"} 0'),
    ).toBe(true);
  });
});
