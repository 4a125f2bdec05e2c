import { describe, expect, it } from 'vitest';
import { measurementOf } from '../metric-providers/prometheus.js';
import { checkBreaker, judgeMetric, judgeStep, judgeValue, type StepLimits } from './evaluate.js';
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

  it('at 100 % (no stable traffic) a relative bound cannot apply; absolute bounds still do', () => {
    const relativeOnly: MetricRule = { name: 'latency-p99', query: 'q', bounds: {}, relative: { max: 1.5 } };
    expect(judgeMetric(relativeOnly, v(3), noData, false)).toMatchObject({ verdict: 'pass', message: expect.stringContaining('relative bound not applicable') });
    expect(judgeMetric(relativeOnly, v(3), noData, true).verdict).toBe('noData');
    const both: MetricRule = { name: 'latency-p99', query: 'q', bounds: { max: 2 }, relative: { max: 1.5 } };
    expect(judgeMetric(both, v(3), noData, false).verdict).toBe('fail');
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
    const cfg = parseAnalysis({ prometheus: { address: 'http://prom:9090/' }, metrics: [{ template: 'error-rate' }, { template: 'latency-p99', max: 5 }] }, errors)!;
    expect(errors).toEqual([]);
    expect(cfg.prometheus.address).toBe('http://prom:9090');
    expect(cfg.metrics[0]).toMatchObject({ name: 'error-rate', bounds: { max: 0.01 }, breaker: { threshold: 0.01, forMs: 300_000, severe: 0.1 } });
    expect(cfg.metrics[1]).toMatchObject({ name: 'latency-p99', bounds: { max: 5 }, breaker: { threshold: 7.5, forMs: 300_000 } });
    expect(cfg).toMatchObject({ intervalMs: 30_000, breakerIntervalMs: 10_000, minRequests: 20, limits: { maxConsecutiveErrors: 3, onError: 'pause', maxInconclusive: 3 } });
  });

  it('falls back to the operator\'s default Prometheus, and asks for one when there is none', () => {
    const withDefault: string[] = [];
    const cfg = parseAnalysis({ metrics: [{ template: 'error-rate' }] }, withDefault, { prometheusAddress: 'http://prom.monitoring:9090' })!;
    expect(withDefault).toEqual([]);
    expect(cfg.prometheus.address).toBe('http://prom.monitoring:9090');
    const without: string[] = [];
    parseAnalysis({ metrics: [{ template: 'error-rate' }] }, without);
    expect(without).toEqual(['spec.analysis.prometheus.address: required when metrics are set and the operator has no default (e.g. http://prometheus.monitoring:9090)']);
  });

  it('names the field of every mistake', () => {
    const errors: string[] = [];
    parseAnalysis({ interval: '0s', prometheus: { address: 'prom:9090' }, metrics: [{ name: 'x', query: 'up' }, { name: 'x', query: 'up', max: 1, failMax: 0.5 }] }, errors);
    expect(errors).toEqual([
      'spec.analysis.prometheus.address: "prom:9090" must be an http:// or https:// URL',
      'spec.analysis.metrics[0]: set max, min or relative bounds (nothing to judge x by)',
      'spec.analysis.metrics[1].failMax: 0.5 is below max 1',
      'spec.analysis.metrics[1].name: "x" is used twice',
      'spec.analysis.interval: "0s" is not a positive duration (e.g. 30s, 5m)',
    ]);
  });

  it('renders query variables', () => {
    const q = renderQuery(BUILTIN_QUERIES['error-rate'], { namespace: 'ml', service: 't2v', model: 'wan', version: 'v2', revision: 'abc', role: 'candidate', intervalMs: 90_400 });
    expect(q).toBe('(sum(rate(t2v_requests_total{model_name="wan",model_version="v2",status=~"5.."}[90s])) or vector(0)) / sum(rate(t2v_requests_total{model_name="wan",model_version="v2"}[90s]))');
  });
});

describe('Prometheus results', () => {
  it('turns query results into measurements', () => {
    expect(measurementOf({ resultType: 'vector', result: [{ metric: {}, value: [1, '0.25'] }] })).toEqual({ kind: 'value', value: 0.25 });
    expect(measurementOf({ resultType: 'vector', result: [] }).kind).toBe('noData');
    expect(measurementOf({ resultType: 'vector', result: [{ metric: {}, value: [1, 'NaN'] }] }).kind).toBe('noData');
    expect(measurementOf({ resultType: 'scalar', result: [1, '+Inf'] })).toEqual({ kind: 'value', value: Infinity });
    expect(measurementOf({ resultType: 'vector', result: [{ metric: { a: '1' }, value: [1, '1'] }, { metric: { a: '2' }, value: [1, '2'] }] }).kind).toBe('error');
    expect(measurementOf({ resultType: 'matrix', result: [] }).kind).toBe('error');
  });
});
