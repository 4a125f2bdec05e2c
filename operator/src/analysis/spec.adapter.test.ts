import { describe, expect, it } from 'vitest';
import { parseAnalysis, renderQuery, type QueryVars } from './spec.js';

const prometheus = { address: 'http://prometheus:9090' };
const vars = (adapterVersion: string): QueryVars => ({
  namespace: 'ml',
  name: 'ink-wash',
  service: 't2v',
  model: 'wan',
  version: adapterVersion,
  revision: `ink-wash@${adapterVersion}`,
  stableRevision: 'ink-wash@v1',
  candidateRevision: 'ink-wash@v2',
  role: 'candidate',
  intervalMs: 60_000,
  adapter: 'ink-wash',
  adapterVersion,
});

describe('analysis of an adapter version (StyleRollout)', () => {
  it('reads the templates from the per-adapter series, selected by model, adapter name and version', () => {
    const errors: string[] = [];
    const config = parseAnalysis(
      { prometheus, metrics: [{ template: 'error-rate' }, { template: 'latency-p99', max: 30 }, { template: 'quality-frozen' }] },
      errors,
      {},
      'adapter',
    )!;
    expect(errors).toEqual([]);
    const byName = Object.fromEntries(config.metrics.map((m) => [m.name, m]));
    expect(renderQuery(byName['error-rate']!.counts!.events, vars('v2'))).toBe(
      'sum(increase(t2v_adapter_requests_total{model_name="wan",adapter_name="ink-wash",adapter_version="v2",outcome=~"server_error|timeout"}[60s]))',
    );
    expect(renderQuery(config.requestQuery, vars('v1'))).toBe(
      'sum(increase(t2v_adapter_requests_total{model_name="wan",adapter_name="ink-wash",adapter_version="v1"}[60s]))',
    );
    expect(byName['latency-p99']!.query).toContain(
      't2v_adapter_request_duration_seconds_bucket{model_name="{{model}}",adapter_name="{{adapter}}",adapter_version="{{adapterVersion}}"}',
    );
    expect(byName['latency-p99']!.lowRateQuery).toContain('histogram_quantile(0.5, sum by (le) (rate(t2v_adapter_request_duration_seconds_bucket');
    expect(byName['quality-frozen']!.query).toContain('t2v_adapter_quality_frozen_frame_ratio_sum{');
    // The guardrails come along, over the same series; nothing reads the revision series.
    expect(Object.keys(byName).sort()).toEqual(['cancel-rate', 'error-rate', 'latency-p99', 'overload-rate', 'quality-frozen', 'rejection-rate']);
    for (const m of config.metrics) expect(`${m.query} ${m.counts?.trials ?? ''}`).not.toMatch(/modelrollout_revision|t2v_requests_total/);
  });

  it('leaves ModelRollout analysis on the revision series', () => {
    const config = parseAnalysis({ prometheus, metrics: [{ template: 'error-rate' }] }, [])!;
    expect(config.metrics[0]!.counts!.trials).toContain('t2v_requests_total{modelrollout_namespace="{{namespace}}"');
    expect(config.requestQuery).toBe(
      'sum(increase(t2v_requests_total{modelrollout_namespace="{{namespace}}",modelrollout_name="{{name}}",modelrollout_revision="{{revision}}"}[{{interval}}]))',
    );
  });

  it('refuses what is not measured per adapter, naming the field', () => {
    const errors: string[] = [];
    parseAnalysis(
      {
        prometheus,
        metrics: [
          { template: 'cost-per-clip', max: 3 },
          { template: 'golden-similarity', min: 0.8 },
          { name: 'x', query: 'sum(y{v="{{adapterVersion}}",w="{{adaptor}}"})', max: 1 },
        ],
        goldenProbes: { configMap: 'g' },
      },
      errors,
      {},
      'adapter',
    );
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^spec\.analysis\.metrics\[0\]\.template: "cost-per-clip" is not measured per adapter version \(an adapter rollout has error-rate, .*quality-ssim\)$/,
        ),
        expect.stringMatching(/^spec\.analysis\.metrics\[1\]\.template: "golden-similarity" is not measured per adapter version/),
        expect.stringMatching(/^spec\.analysis\.metrics\[2\]\.query: unknown variable \{\{adaptor\}\} \(known: .*\{\{adapterVersion\}\}\)$/),
        expect.stringMatching(/^spec\.analysis\.goldenProbes: not available for an adapter rollout/),
      ]),
    );
    // {{adapterVersion}} is not a ModelRollout variable.
    const revisionErrors: string[] = [];
    parseAnalysis({ prometheus, metrics: [{ name: 'x', query: 'sum(y{v="{{adapterVersion}}"})', max: 1 }] }, revisionErrors);
    expect(revisionErrors).toEqual([expect.stringContaining('spec.analysis.metrics[0].query: unknown variable {{adapterVersion}}')]);
  });
});
