// attack-14: the analysis runner against a scripted Prometheus (queries matched by what they select).
import { describe, expect, it } from 'vitest';
import type { Measurement } from '../analysis/types.js';
import type { MetricsProvider } from '../metric-providers/provider.js';
import { AnalysisRunner } from './analysis-runner.js';
import { drive as driveTicks, isCandidate, progressingRollout as rollout, scriptedRunner as runner, T0 } from './analysis-runner.test-support.js';
import type { ModelRollout } from '../api/index.js';

/** Round 1 ran past a pass (a pass is not the end of these scenarios). */
const drive = (r: AnalysisRunner, ro: ModelRollout, minutes: number, stepDurationMs: number, everyS = 10) =>
  driveTicks(r, ro, minutes, stepDurationMs, { everyS, stopOnPass: false });
/** The failed-request side of error-rate and overload-rate (round 1's view: rejection-rate's is counted as requests). */
const isEvents = (q: string) => q.includes('outcome=~"server_error|timeout"') || q.includes('outcome="overloaded"');

describe('attack-14: analysis runner', () => {
  it('a candidate that serves 1 request and then nothing meets noDataDeadline (10m) instead of holding the step forever', async () => {
    // The route is broken: after the first request the candidate gets nothing. increase() over the step keeps
    // reading ~1 request: not 0, so never "no requests"; below minRequests, so never judged.
    const r = runner((q, at) => {
      if (!isCandidate(q)) return { kind: 'value', value: 500 };
      if (isEvents(q)) return { kind: 'value', value: 0 };
      // The one request came in the step's first seconds: only a window reaching back to the start sees it.
      const windowS = Number(/\[(\d+)s\]/.exec(q)?.[1] ?? '60');
      return { kind: 'value', value: windowS >= (at.getTime() - T0) / 1000 - 5 ? 1 : 0 };
    });
    const ro = rollout({ metrics: [{ template: 'error-rate' }, { template: 'latency-p99', max: 60 }] });
    const out = await drive(r, ro, 60, 60_000, 30);
    const last = out[out.length - 1]!;
    expect(last.analysis.result, `after ${last.t} s: ${last.analysis.message}`).not.toBe('pending');
  });

  it('the latency breaker (p99 50 % over its bound) trips within 10 min for a candidate at 10× its p99 bound at 6 requests a minute', async () => {
    // 6 req/min: the 1m breaker window never holds minRequests (20), so the plain-value breaker never runs;
    // the count-rule fallback to the whole step does not apply to plain values.
    const r = runner((q, at) => {
      const elapsedMin = (at.getTime() - T0) / 60_000;
      const window = Number(/\[(\d+)s\]/.exec(q)?.[1] ?? '60') / 60;
      if (!isCandidate(q)) return { kind: 'value', value: 1000 };
      if (q.includes('histogram_quantile')) return { kind: 'value', value: 600 };
      if (isEvents(q)) return { kind: 'value', value: 0 };
      return { kind: 'value', value: 6 * Math.min(window, Math.max(elapsedMin, 0.01)) };
    });
    const ro = rollout({ metrics: [{ template: 'latency-p99', max: 60 }] });
    const out = await drive(r, ro, 10, 60 * 60_000);
    expect(
      out.some((o) => o.breaker.tripped),
      'breaker never ran the latency rule',
    ).toBe(true);
  });
  describe('custom counts returning odd values', () => {
    const metrics = [
      {
        name: 'failures',
        counts: { events: 'sum(my_failed{rev="{{revision}}"})', trials: 'sum(my_total{rev="{{revision}}"})' },
        max: 0.01,
        breaker: { disabled: true },
      },
    ];
    const counts =
      (events: Measurement) =>
      (q: string): Measurement => {
        if (q.includes('t2v_requests_total')) return { kind: 'value', value: 1000 };
        return q.includes('my_failed') ? events : { kind: 'value', value: 1000 };
      };

    it('events = +Inf out of 1000 is never a pass (README: NaN and ±Inf never pass)', async () => {
      const out = await drive(runner(counts({ kind: 'value', value: Infinity })), rollout({ metrics }), 3, 60_000, 30);
      expect(out.map((o) => o.analysis.result)).not.toContain('pass');
    });

    it('events = NaN out of 1000 is never a pass', async () => {
      const out = await drive(runner(counts({ kind: 'noData', message: 'NaN', raw: 'NaN' })), rollout({ metrics }), 3, 60_000, 30);
      expect(out.map((o) => o.analysis.result)).not.toContain('pass');
    });

    it('events = -3 (a delta() or a subtraction) is a measurement error, not an exception out of the reconcile', async () => {
      const r = runner(counts({ kind: 'value', value: -3 }));
      await expect(drive(r, rollout({ metrics }), 3, 60_000, 30)).resolves.toBeDefined();
    });
  });
  it('scattered Prometheus errors (1 query pass in 3) while a healthy candidate is still below minRequests are not "consecutive" errors: no rollback', async () => {
    // While requests < minRequests the step returns "pending" before judgeStep, so a pass without errors never
    // resets consecutiveErrors; three errors minutes apart add up to onMetricsError.
    let pass = -1;
    let lastAt = -1;
    const r = runner((q, at) => {
      if (at.getTime() !== lastAt) {
        lastAt = at.getTime();
        pass++;
      }
      if (pass % 3 === 2) return { kind: 'error', message: 'timed out after 5000 ms' };
      if (!isCandidate(q)) return { kind: 'value', value: 1000 };
      return isEvents(q) ? { kind: 'value', value: 0 } : { kind: 'value', value: 10 };
    });
    const ro = rollout({ metrics: [{ template: 'error-rate' }], onMetricsError: { consecutiveErrors: 3, action: 'Rollback' } });
    const out = await drive(r, ro, 10, 60_000, 30);
    const last = out[out.length - 1]!;
    expect(last.analysis.result, `after ${last.t} s: ${last.analysis.message}`).not.toBe('fail');
  });
  it('after a NoData pause, a resume gives the metrics a fresh deadline; data that returns then passes', async () => {
    let data = false;
    const r = runner((q) => {
      if (!data) return { kind: 'noData', message: 'the query returned no series' };
      if (!isCandidate(q)) return { kind: 'value', value: 1000 };
      return isEvents(q) ? { kind: 'value', value: 0 } : { kind: 'value', value: 1000 };
    });
    const ro = rollout({ metrics: [{ template: 'error-rate' }], noDataDeadline: '5m' });
    const first = await drive(r, ro, 20, 60_000, 30);
    const paused = first[first.length - 1]!;
    expect(paused.analysis.result).toBe('pause');
    ro.metadata.annotations = { 'modelrollout.dev/resume': 'r1' };
    // Still no data: no immediate re-pause.
    const t = paused.t + 30;
    const again = await r.run(ro, 60_000, new Date(T0 + t * 1000));
    ro.status!.analysis = again.status;
    expect(again.analysis.result).toBe('pending');
    data = true;
    const later = await r.run(ro, 60_000, new Date(T0 + (t + 30) * 1000));
    expect(later.analysis.result, (later.analysis as { message?: string }).message).toBe('pass');
  });

  it('status.analysis round-trips through JSON (an operator restart) mid-NoData: the deadline keeps its start', async () => {
    const r = runner(() => ({ kind: 'noData', message: 'the query returned no series' }));
    const ro = rollout({ metrics: [{ template: 'error-rate' }], noDataDeadline: '5m' });
    let result = '';
    let t = 0;
    for (; t <= 20 * 60 && result !== 'pause'; t += 30) {
      const o = await new AnalysisRunner({
        core: {} as never,
        cache: { podsOf: () => [] } as never,
        providerFor: () => ({ query: async (q, at) => (r as never as { deps: { providerFor: () => MetricsProvider } }).deps.providerFor().query(q, at) }),
      }).run(ro, 60_000, new Date(T0 + t * 1000));
      ro.status!.analysis = JSON.parse(JSON.stringify(o.status));
      result = o.analysis.result;
    }
    // Bake 60 s, then 3 checks to report, deadline 5 min after the first no-data check.
    expect(result).toBe('pause');
    expect(t - 30).toBeLessThanOrEqual(60 + 5 * 60 + 30);
  });
  it('a candidate that answers 400 to every request (stable answers them) is failed, not held then paused as NoData', async () => {
    // A new version that rejects the requests the old one served (a changed schema or limit): every request is
    // client_error, which neither error-rate (ok|server_error|timeout) nor overload-rate counts.
    const r = runner((q) => {
      const window = Number(/\[(\d+)s\]/.exec(q)?.[1] ?? '60') / 60;
      const n = 60 * window;
      // Stable answers everything (no client errors); the candidate answers 400 to everything.
      const clientErrors = q.includes('outcome="client_error"');
      if (!isCandidate(q)) return isEvents(q) || clientErrors ? { kind: 'value', value: 0 } : { kind: 'value', value: 10 * n };
      if (isEvents(q)) return { kind: 'value', value: 0 };
      if (clientErrors) return { kind: 'value', value: n };
      // The request count (all outcomes) and the decided count (client errors included) see them; the judged and offered counts do not.
      return q.includes('outcome=~') && !q.includes('client_error') ? { kind: 'value', value: 0 } : { kind: 'value', value: n };
    });
    const ro = rollout({ metrics: [{ template: 'error-rate' }], onNoData: 'Pause' });
    const out = await drive(r, ro, 30, 5 * 60_000, 30);
    const last = out[out.length - 1]!;
    expect(
      last.breaker.tripped || last.analysis.result === 'fail',
      `after ${last.t} s: ${last.analysis.result}: ${(last.analysis.message ?? '').slice(0, 200)}`,
    ).toBe(true);
  });
  it('a metric removed from the spec after it was reported as NoData does not pause the rollout at its old deadline', async () => {
    // The natural fix for a query with a wrong selector is to edit or remove it; analysis is not part of the
    // pod template, so the candidate (and status.analysis) stay.
    const r = runner((q) => {
      if (q.includes('my_metric')) return { kind: 'noData', message: 'the query returned no series' };
      if (!isCandidate(q)) return { kind: 'value', value: 1000 };
      if (q.includes('histogram_quantile')) return { kind: 'value', value: 10 };
      return isEvents(q) ? { kind: 'value', value: 0 } : { kind: 'value', value: 100_000 };
    });
    const ro = rollout({
      metrics: [
        { template: 'latency-p99', max: 60 },
        { name: 'mine', query: 'sum(my_metric{rev="{{revision}}"})', max: 1 },
      ],
      noDataDeadline: '5m',
    });
    // Bake 60 s, then 4 checks without data for "mine" (reported after 3).
    for (let t = 0; t <= 180; t += 30) {
      const o = await r.run(ro, 60_000, new Date(T0 + t * 1000));
      ro.status!.analysis = o.status;
    }
    expect(ro.status!.analysis?.noData?.mine?.checks).toBeGreaterThanOrEqual(3);
    (ro.spec as { analysis: { metrics: unknown[] } }).analysis.metrics = [{ template: 'latency-p99', max: 60 }];
    // The step now passes on the remaining metric... until the removed metric's deadline.
    const results: string[] = [];
    for (let t = 210; t <= 900; t += 30) {
      const o = await r.run(ro, 60_000, new Date(T0 + t * 1000));
      ro.status!.analysis = o.status;
      results.push(`${t}:${o.analysis.result}${o.analysis.result === 'pause' ? `:${(o.analysis as { message?: string }).message?.slice(0, 120)}` : ''}`);
    }
    expect(results.filter((x) => !/:pass$/.test(x))).toEqual([]);
  });
  it('a relative bound is not judged when the stable request count fails (minStableRequests cannot be checked)', async () => {
    // Stable served 2 requests (a slow one inflates its p99); its request count query times out. count()
    // returns undefined and judgeMetric reads undefined as "skip the minimum".
    const r = runner((q) => {
      const stable = q.includes('modelrollout_revision="aaaa"');
      if (stable && !q.includes('histogram_quantile')) return { kind: 'error', message: 'timed out after 5000 ms' };
      if (q.includes('histogram_quantile')) return { kind: 'value', value: stable ? 900 : 120 };
      return isEvents(q) ? { kind: 'value', value: 0 } : { kind: 'value', value: 1000 };
    });
    const ro = rollout({ metrics: [{ template: 'latency-p99', relative: { max: 1.5 } }], minStableRequests: 50 });
    const out = await drive(r, ro, 3, 60_000, 30);
    const m = ro.status!.analysis!.metrics!.find((x) => x.name === 'latency-p99' && x.kind === 'step')!;
    expect(m.verdict, m.message).not.toBe('pass');
    expect(out.map((o) => o.analysis.result)).not.toContain('pass');
  });
});
