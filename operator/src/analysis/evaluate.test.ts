import { describe, expect, it } from 'vitest';
import { checkBreaker, judgeMetric, judgeStep, judgeValue, selectorOf, trackNoData, type StepLimits } from './evaluate.js';
import { BUILTIN_QUERIES, parseAnalysis, renderQuery } from './spec.js';
import type { AnalysisStatus, MetricRule } from './types.js';

const v = (value: number) => ({ kind: 'value', value }) as const;
const noData = { kind: 'noData', message: 'no series' } as const;
const err = { kind: 'error', message: 'connection refused' } as const;
const limits: StepLimits = { maxConsecutiveErrors: 3, onError: 'pause', maxInconclusive: 2 };

describe('judging one metric', () => {
  it('absolute bounds, with an inconclusive zone between pass and fail bounds', () => {
    expect(judgeValue(0.005, { max: 0.01 })).toBe('pass');
    expect(judgeValue(0.02, { max: 0.01 })).toBe('fail');
    expect(judgeValue(0.015, { max: 0.01, failMax: 0.02 })).toBe('inconclusive');
    expect(judgeValue(0.3, { min: 0.5, failMin: 0.2 })).toBe('inconclusive');
    expect(judgeValue(0.1, { min: 0.5, failMin: 0.2 })).toBe('fail');
  });

  it('relative bounds compare the candidate with the stable baseline of the same query', () => {
    const rule: MetricRule = { name: 'latency-p99', query: 'q', bounds: {}, relative: { max: 1.5 } };
    expect(judgeMetric(rule, v(2.9), v(2))).toMatchObject({ verdict: 'pass', value: 2.9, baseline: 2 });
    const bad = judgeMetric(rule, v(4), v(2));
    expect(bad.verdict).toBe('fail');
    expect(bad.message).toContain('latency-p99 candidate/stable ratio (4/2) 2 (max 1.5): fail');
    expect(judgeMetric(rule, v(1), noData).verdict).toBe('noData');
    expect(judgeMetric(rule, v(1), err).verdict).toBe('error');
    expect(judgeMetric(rule, v(0), v(0)).verdict).toBe('pass');
  });

  it('a stable baseline needs a minimum sample, and a zero baseline is said to be one rather than judged as infinity', () => {
    const rule: MetricRule = { name: 'latency-p99', query: 'q', bounds: {}, relative: { max: 1.5 } };
    const few = judgeMetric(rule, v(9), v(2), { stableSamples: 4, minStableSamples: 20 });
    expect(few).toMatchObject({ verdict: 'noData', message: 'latency-p99: the stable baseline rests on 4 requests, fewer than 20' });
    expect(judgeMetric(rule, v(9), v(2), { stableSamples: 20, minStableSamples: 20 }).verdict).toBe('fail');
    const zero = judgeMetric(rule, v(0.3), v(0));
    expect(zero).toMatchObject({ verdict: 'inconclusive', baseline: 0, message: expect.stringContaining('stable baseline is 0') });
    // With an absolute bound as well, the absolute bound judges alone.
    expect(judgeMetric({ ...rule, bounds: { max: 1 } }, v(0.3), v(0)).verdict).toBe('pass');
    expect(judgeMetric({ ...rule, bounds: { max: 1 } }, v(3), v(0)).verdict).toBe('fail');
  });

  it('NaN and ±Inf never pass, whatever the bounds, and are kept as Prometheus wrote them', () => {
    for (const bounds of [{ max: 0.01 }, { min: 0.5 }, { max: 5, min: 0 }, { max: 1, failMax: 2 }]) {
      for (const x of [NaN, Infinity, -Infinity]) expect(judgeValue(x, bounds), `${x} ${JSON.stringify(bounds)}`).not.toBe('pass');
    }
    expect(judgeMetric({ name: 'q', query: 'q', bounds: { min: 0.5 } }, v(NaN))).toMatchObject({ verdict: 'inconclusive', raw: 'NaN' });
    expect(judgeMetric({ name: 'q', query: 'q', bounds: { max: 5 } }, v(Infinity))).toMatchObject({ verdict: 'fail', raw: '+Inf' });
    // +Inf/+Inf as a ratio of two infinite p99s is NaN: not a pass either.
    expect(judgeMetric({ name: 'p99', query: 'q', bounds: {}, relative: { max: 1.5 } }, v(Infinity), v(Infinity)).verdict).not.toBe('pass');
    expect(judgeMetric({ name: 'p99', query: 'q', bounds: {}, relative: { max: 1.5 } }, v(1), v(Infinity)).verdict).not.toBe('pass');
  });

  it('at 100 % (no stable traffic) a relative bound cannot apply; absolute bounds still do', () => {
    const relativeOnly: MetricRule = { name: 'latency-p99', query: 'q', bounds: {}, relative: { max: 1.5 } };
    expect(judgeMetric(relativeOnly, v(3), noData, { stableCarriesTraffic: false })).toMatchObject({
      verdict: 'pass',
      message: expect.stringContaining('relative bound not applicable'),
    });
    expect(judgeMetric(relativeOnly, v(3), noData, { stableCarriesTraffic: true }).verdict).toBe('noData');
    const both: MetricRule = { name: 'latency-p99', query: 'q', bounds: { max: 2 }, relative: { max: 1.5 } };
    expect(judgeMetric(both, v(3), noData, { stableCarriesTraffic: false }).verdict).toBe('fail');
  });

  it('no data and errors are their own verdicts, never a pass', () => {
    const rule: MetricRule = { name: 'error-rate', query: 'q', bounds: { max: 0.01 } };
    expect(judgeMetric(rule, noData).verdict).toBe('noData');
    expect(judgeMetric(rule, err).verdict).toBe('error');
  });

  it('the worse of absolute and relative wins', () => {
    const rule: MetricRule = { name: 'p99', query: 'q', bounds: { max: 5 }, relative: { max: 1.5 } };
    expect(judgeMetric(rule, v(6), v(5)).verdict).toBe('fail');
    expect(judgeMetric(rule, v(4), v(2)).verdict).toBe('fail');
  });
});

describe('judging a step', () => {
  const pass = { name: 'a', verdict: 'pass', message: 'a ok' } as const;
  it('fails on any failed metric, holds on no data, counts errors and inconclusives', () => {
    const state: AnalysisStatus = { revision: 'r' };
    expect(judgeStep([pass, { name: 'b', verdict: 'fail', message: 'b bad' }], state, limits)).toEqual({ result: 'fail', reason: 'b', message: 'b bad' });
    expect(judgeStep([pass, { name: 'b', verdict: 'noData', message: 'b none' }], state, limits).result).toBe('pending');
    expect(judgeStep([{ name: 'b', verdict: 'inconclusive', message: 'meh' }], state, limits).result).toBe('inconclusive');
    expect(judgeStep([{ name: 'b', verdict: 'inconclusive', message: 'meh' }], state, limits).result).toBe('pause');
    expect(judgeStep([pass], state, limits).result).toBe('pass');
    expect(state.consecutiveInconclusive).toBe(0);
  });

  it('metrics errors hold, then pause or roll back after the configured number in a row', () => {
    const e = { name: 'a', verdict: 'error', message: 'down' } as const;
    const paused: AnalysisStatus = { revision: 'r' };
    expect([1, 2, 3].map(() => judgeStep([e], paused, limits).result)).toEqual(['pending', 'pending', 'pause']);
    const rolled: AnalysisStatus = { revision: 'r' };
    const results = [1, 2, 3].map(() => judgeStep([e], rolled, { ...limits, onError: 'rollback' }));
    expect(results[2]).toMatchObject({ result: 'fail', reason: 'AnalysisError' });
    const reset: AnalysisStatus = { revision: 'r', consecutiveErrors: 2 };
    judgeStep([pass], reset, limits);
    expect(reset.consecutiveErrors).toBe(0);
  });
});

describe('the breaker', () => {
  const rule = { threshold: 0.01, forMs: 300_000, severe: 0.1 };
  const t = (s: number) => new Date(Date.parse('2026-11-24T10:00:00Z') + s * 1000);

  it('trips at once on a severe value', () => {
    expect(checkBreaker('error-rate', rule, v(0.2), undefined, t(0))).toMatchObject({ tripped: true, message: expect.stringContaining('severe bound 0.1') });
  });

  it('trips when a breach lasts the whole window, keeping its start across checks (and restarts)', () => {
    let out = checkBreaker('error-rate', rule, v(0.05), undefined, t(0));
    expect(out).toEqual({ tripped: false, since: t(0).toISOString() });
    // The start comes from status: a restarted operator passes it back in and keeps counting.
    out = checkBreaker('error-rate', rule, v(0.05), t(0).toISOString(), t(200));
    expect(out).toEqual({ tripped: false, since: t(0).toISOString() });
    out = checkBreaker('error-rate', rule, noData, t(0).toISOString(), t(250));
    expect(out).toEqual({ tripped: false, since: t(0).toISOString() });
    out = checkBreaker('error-rate', rule, v(0.05), t(0).toISOString(), t(300));
    expect(out).toMatchObject({ tripped: true, message: expect.stringContaining('continuously since') });
  });

  it('a good value clears the breach', () => {
    expect(checkBreaker('error-rate', rule, v(0.001), t(0).toISOString(), t(100))).toEqual({ tripped: false });
  });

  it('works downwards for quality scores', () => {
    expect(checkBreaker('clip', { threshold: 0.3, forMs: 0, below: true }, v(0.2), undefined, t(0)).tripped).toBe(true);
  });
});

describe('analysis spec', () => {
  it('two lines of YAML give error rate and p99 with the default breaker policy', () => {
    const errors: string[] = [];
    const cfg = parseAnalysis(
      { prometheus: { address: 'http://prom:9090/' }, metrics: [{ template: 'error-rate' }, { template: 'latency-p99', max: 5 }] },
      errors,
    )!;
    expect(errors).toEqual([]);
    expect(cfg.prometheus.address).toBe('http://prom:9090');
    expect(cfg.metrics[0]).toMatchObject({ name: 'error-rate', bounds: { max: 0.01 }, breaker: { threshold: 0.01, forMs: 300_000, severe: 0.1 } });
    expect(cfg.metrics[1]).toMatchObject({ name: 'latency-p99', bounds: { max: 5 }, breaker: { threshold: 7.5, forMs: 300_000 } });
    expect(cfg).toMatchObject({
      intervalMs: 30_000,
      breakerIntervalMs: 10_000,
      minRequests: 20,
      limits: { maxConsecutiveErrors: 3, onError: 'pause', maxInconclusive: 3 },
    });
  });

  it("falls back to the operator's default Prometheus, and asks for one when there is none", () => {
    const withDefault: string[] = [];
    const cfg = parseAnalysis({ metrics: [{ template: 'error-rate' }] }, withDefault, { prometheusAddress: 'http://prom.monitoring:9090' })!;
    expect(withDefault).toEqual([]);
    expect(cfg.prometheus.address).toBe('http://prom.monitoring:9090');
    const without: string[] = [];
    parseAnalysis({ metrics: [{ template: 'error-rate' }] }, without);
    expect(without).toEqual([
      'spec.analysis.prometheus.address: required when metrics are set and the operator has no default (e.g. http://prometheus.monitoring:9090)',
    ]);
  });

  it('names the field of every mistake', () => {
    const errors: string[] = [];
    parseAnalysis(
      {
        interval: '0s',
        prometheus: { address: 'prom:9090' },
        metrics: [
          { name: 'x', query: 'up' },
          { name: 'x', query: 'up', max: 1, failMax: 0.5 },
        ],
      },
      errors,
    );
    expect(errors).toEqual([
      'spec.analysis.prometheus.address: "prom:9090" must be an http:// or https:// URL',
      'spec.analysis.metrics[0]: set max, min or relative bounds, or name it in a tradeOff (nothing to judge x by)',
      'spec.analysis.metrics[1].failMax: 0.5 is below max 1',
      'spec.analysis.metrics[1].name: "x" is used twice',
      'spec.analysis.interval: "0s" is not a positive duration (e.g. 30s, 5m)',
    ]);
  });

  it('renders query variables', () => {
    const vars = {
      namespace: 'ml',
      name: 'wan-t2v',
      service: 't2v',
      model: 'wan',
      version: 'v2',
      revision: 'abc',
      stableRevision: 'def',
      candidateRevision: 'abc',
      role: 'candidate',
      intervalMs: 90_400,
    } as const;
    const q = renderQuery(BUILTIN_QUERIES['error-rate'], vars);
    const sel = 'modelrollout_namespace="ml",modelrollout_name="wan-t2v",modelrollout_revision="abc"';
    expect(q).toBe(
      `(sum(increase(t2v_requests_total{${sel},outcome=~"server_error|timeout"}[90s])) or vector(0)) / sum(increase(t2v_requests_total{${sel},outcome=~"ok|server_error|timeout"}[90s]))`,
    );
    expect(renderQuery('x{rev=~"{{stableRevision}}|{{candidateRevision}}",v="{{version}}",n="{{name}}"}', vars)).toBe('x{rev=~"def|abc",v="v2",n="wan-t2v"}');
  });

  it('selects by revision, never by model version: a template change that keeps the version is still told apart', () => {
    for (const q of Object.values(BUILTIN_QUERIES)) {
      expect(q).toContain('modelrollout_revision="{{revision}}"');
      expect(q).not.toMatch(/model_version|\{\{version\}\}/);
    }
  });

  it('judges the rate templates on counts, and adds the overload and rejection guardrails next to the error rate', () => {
    const errors: string[] = [];
    const cfg = parseAnalysis({ prometheus: { address: 'http://prom:9090' }, metrics: [{ template: 'error-rate' }] }, errors)!;
    expect(errors).toEqual([]);
    expect(cfg.metrics.map((m) => [m.name, m.bounds.max, !!m.counts])).toEqual([
      ['error-rate', 0.01, true],
      ['overload-rate', 0.05, true],
      ['rejection-rate', undefined, true],
      ['cancel-rate', undefined, true],
    ]);
    expect(cfg.metrics[0]!.counts!.events).toContain('outcome=~"server_error|timeout"');
    expect(cfg.metrics[1]!.counts!.events).toContain('outcome="overloaded"');
    // Client errors fail only relative to stable, and only when confidently over 3×; no breaker.
    expect(cfg.metrics[2]).toMatchObject({
      relative: { failMax: 3 },
      counts: { events: expect.stringContaining('outcome="client_error"'), trials: expect.stringContaining('outcome=~"ok|client_error|server_error|timeout"') },
    });
    expect(cfg.metrics[2]!.breaker).toBeUndefined();
    expect(cfg).toMatchObject({ confidence: 0.95, minStableRequests: 20, noData: { deadlineMs: 600_000, action: 'pause' } });
    // A custom query replaces the template's counts and is judged as a value.
    const custom = parseAnalysis(
      { prometheus: { address: 'http://prom:9090' }, metrics: [{ template: 'error-rate', query: 'my_ratio' }, { template: 'overload-rate' }] },
      errors,
    )!;
    expect(custom.metrics.map((m) => [m.name, !!m.counts])).toEqual([
      ['error-rate', false],
      ['overload-rate', true],
      ['rejection-rate', true],
      ['cancel-rate', true],
    ]);
  });

  it('names the field of every mistake in the count and no-data settings', () => {
    const errors: string[] = [];
    parseAnalysis(
      {
        prometheus: { address: 'http://prom:9090' },
        confidence: 1,
        noDataDeadline: 'soon',
        onNoData: 'Ignore' as 'Pause',
        metrics: [
          { name: 'c', counts: { events: 'e' }, max: 0.1 },
          { name: 'd', counts: { events: 'e', trials: 't' }, min: 0.1 },
        ],
      },
      errors,
    );
    expect(errors).toEqual([
      'spec.analysis.metrics[0].counts.trials: required with counts (PromQL counting all judged requests in {{interval}})',
      'spec.analysis.metrics[0]: set a query, counts or a template (error-rate, overload-rate, rejection-rate, cancel-rate, latency-p99, quality-flicker, quality-frozen, quality-blank, quality-ssim, cost-per-video-second, cost-per-clip, golden-similarity, golden-psnr)',
      'spec.analysis.metrics[1].min: a counts metric is a rate judged against an upper bound; set max (and failMax), not min',
      'spec.analysis.confidence: 1 must be above 0.5 and below 1 (e.g. 0.95: one check in 20 may misjudge a rate at its bound)',
      'spec.analysis.onNoData: "Ignore" must be Pause or Rollback',
      'spec.analysis.noDataDeadline: "soon" is not a positive duration (e.g. 30s, 5m)',
    ]);
  });
});

describe('decisions on counts', () => {
  const counts = (events: number, trials: number) => ({ kind: 'counts', events, trials }) as const;
  const rule: MetricRule = { name: 'error-rate', query: 'ratio', counts: { events: 'e', trials: 't' }, bounds: { max: 0.01 } };
  const breaker = { threshold: 0.01, forMs: 300_000, severe: 0.1 };
  const t = (s: number) => new Date(Date.parse('2026-11-24T10:00:00Z') + s * 1000);

  it('the breaker trips on 2 or 3 failures out of as many, not on 1 of 1 nor on 1 of 400', () => {
    expect(checkBreaker('error-rate', breaker, counts(1, 1), undefined, t(0)).tripped).toBe(false);
    expect(checkBreaker('error-rate', breaker, counts(2, 2), undefined, t(0))).toMatchObject({
      tripped: true,
      message: expect.stringMatching(/^error-rate 2\/2 \(95 % bounds 0\.2236–1\) > severe bound 0\.1 at /),
    });
    expect(checkBreaker('error-rate', breaker, counts(3, 3), undefined, t(0)).tripped).toBe(true);
    expect(checkBreaker('error-rate', breaker, counts(1, 400), undefined, t(0))).toEqual({ tripped: false });
    // An open breach is judged on its counts since it began: 0/2 since then ends it; no counts neither trips nor ends it.
    expect(checkBreaker('error-rate', breaker, counts(0, 2), t(0).toISOString(), t(10), 0.95, counts(0, 2))).toEqual({ tripped: false });
    expect(checkBreaker('error-rate', breaker, counts(0, 2), t(0).toISOString(), t(10), 0.95, counts(0, 0))).toEqual({
      tripped: false,
      since: t(0).toISOString(),
    });
  });

  it('a breach opens on a confidently bad window and trips on the counts since it began, once they are confidently above for `for`', () => {
    let out = checkBreaker('error-rate', breaker, counts(30, 1000), undefined, t(0));
    expect(out).toEqual({ tripped: false, since: t(0).toISOString() });
    // 5 minutes on, everything since the start is confidently above 1 %: trip.
    out = checkBreaker('error-rate', breaker, counts(30, 1000), t(0).toISOString(), t(300), 0.95, counts(150, 5000));
    expect(out).toMatchObject({
      tripped: true,
      message: expect.stringMatching(/^error-rate 150\/5000 .* since 2026-11-24T10:00:00\.000Z > 0\.01 \(300 s ≥ 300 s\)$/),
    });
    // Above 1 % but not confidently (12 of 1000 since the start): the breach stays open, no trip.
    expect(checkBreaker('error-rate', breaker, counts(12, 1000), t(0).toISOString(), t(300), 0.95, counts(12, 1000))).toEqual({
      tripped: false,
      since: t(0).toISOString(),
    });
    // At or below 1 % since the start: the breach ends, whatever the last window says.
    expect(checkBreaker('error-rate', breaker, counts(30, 1000), t(0).toISOString(), t(100), 0.95, counts(10, 1000))).toEqual({ tripped: false });
  });

  it('a step passes on counts only with enough error-free requests, fails when confidently bad, and says why', () => {
    expect(judgeMetric(rule, counts(0, 299))).toMatchObject({ verdict: 'pass', samples: 299, events: 0, value: 0 });
    const unsure = judgeMetric(rule, counts(0, 100));
    expect(unsure).toMatchObject({ verdict: 'inconclusive', samples: 100 });
    expect(unsure.message).toContain('299 error-free requests would pass');
    const bad = judgeMetric(rule, counts(6, 120));
    expect(bad).toMatchObject({ verdict: 'fail', events: 6, samples: 120 });
    expect(bad.message).toMatch(/^error-rate 6\/120 = 0\.05 \(max 0\.01; lower 95 % bound 0\.02\d+ > 0\.01\): fail$/);
    expect(judgeMetric(rule, counts(0, 0))).toMatchObject({ verdict: 'noData', samples: 0 });
  });

  it('50 % errors diluted to 0.5 % of a mixed stream would pass a 1 % bound: counts of the candidate alone do not', () => {
    // The candidate alone at the 1 % step: 10 of 20 failed.
    expect(judgeMetric(rule, counts(10, 20)).verdict).toBe('fail');
  });
});

describe('no data is a state', () => {
  const policy = { deadlineMs: 60_000, action: 'rollback', reportAfterChecks: 3 } as const;
  const t = (s: number) => new Date(Date.parse('2026-11-24T10:00:00Z') + s * 1000);
  const q = 'sum(increase(t2v_requests_total{modelrollout_revision="abc",model_version="v9"}[30s]))';

  it('collects quietly, then names the query and its selector, then takes the configured action at the deadline', () => {
    const state: AnalysisStatus = { revision: 'abc' };
    const check = { 'error-rate': { query: q, why: 'no series' } };
    expect(trackNoData(state, check, t(0), policy)).toBeUndefined();
    expect(trackNoData(state, check, t(10), policy)).toBeUndefined();
    const named = trackNoData(state, check, t(20), policy);
    expect(named).toMatchObject({ result: 'pending' });
    expect((named as { message: string }).message).toBe(
      `NoData: error-rate: no series since ${t(0).toISOString()} (3 checks) for {modelrollout_revision="abc",model_version="v9"} in \`${q}\`; rolls back at ${t(60).toISOString()}`,
    );
    expect(state.noData?.['error-rate']).toMatchObject({ since: t(0).toISOString(), checks: 3, selector: '{modelrollout_revision="abc",model_version="v9"}' });
    const done = trackNoData(state, check, t(60), policy);
    expect(done).toMatchObject({ result: 'fail', reason: 'NoData', message: expect.stringMatching(/^NoData past the 60 s deadline: error-rate: no series/) });
    expect(trackNoData(state, check, t(60), { ...policy, action: 'pause' })).toMatchObject({ result: 'pause' });
  });

  it('data clears the record, so the deadline counts from the latest gap', () => {
    const state: AnalysisStatus = { revision: 'abc' };
    trackNoData(state, { p99: { query: q, why: 'returned NaN' } }, t(0), policy);
    trackNoData(state, { p99: undefined }, t(10), policy);
    expect(state.noData).toBeUndefined();
    trackNoData(state, { p99: { query: q, why: 'returned NaN' } }, t(50), policy);
    expect(trackNoData(state, { p99: { query: q, why: 'returned NaN' } }, t(100), policy)).toBeUndefined();
    expect(selectorOf('histogram_quantile(0.99, sum by (le) (rate(x{a="b"}[1m])))')).toBe('{a="b"}');
  });
});
