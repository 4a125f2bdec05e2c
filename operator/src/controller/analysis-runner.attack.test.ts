// attack-14: the analysis runner against a scripted Prometheus (queries matched by what they select).
import { describe, expect, it } from 'vitest';
import type { Measurement } from '../analysis/types.js';
import type { MetricsProvider } from '../metric-providers/provider.js';
import { AnalysisRunner } from './analysis-runner.js';
import type { ModelRollout } from './model-rollout.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
type Answer = (q: string, at: Date) => Measurement;

function runner(answer: Answer, queries: string[] = []) {
  const provider: MetricsProvider = { query: async (q, at) => { queries.push(q); return answer(q, at); } };
  return new AnalysisRunner({ core: {} as never, cache: { podsOf: () => [] } as never, providerFor: () => provider });
}

function rollout(analysis: Record<string, unknown>, stableWeight = 95): ModelRollout {
  return {
    apiVersion: 'modelrollout.dev/v1alpha1', kind: 'ModelRollout',
    metadata: { name: 'ro', namespace: 'ns', annotations: {} },
    spec: { service: { name: 'svc' }, model: { name: 'm', version: 'v2' }, analysis: { prometheus: { address: 'http://127.0.0.1:9' }, ...analysis } } as never,
    status: {
      phase: 'Progressing',
      stable: { revision: 'aaaa', modelVersion: 'v1' },
      candidate: { revision: 'bbbb', modelVersion: 'v2' },
      currentStep: { index: 0, weight: 100 - stableWeight, label: '1/5', trafficShiftedAt: new Date(T0).toISOString() },
      weights: { stable: stableWeight, candidate: 100 - stableWeight },
    },
  } as ModelRollout;
}

/** Runs the runner every `everyS` seconds for `minutes`, feeding status.analysis back like the reconciler. */
async function drive(r: AnalysisRunner, ro: ModelRollout, minutes: number, stepDurationMs: number, everyS = 10) {
  const out: { t: number; analysis: { result: string; message?: string }; breaker: { tripped: boolean; message?: string } }[] = [];
  for (let s = 0; s <= minutes * 60; s += everyS) {
    const o = await r.run(ro, stepDurationMs, new Date(T0 + s * 1000));
    if (o.status) ro.status!.analysis = o.status;
    out.push({ t: s, analysis: o.analysis as never, breaker: o.breaker as never });
    if (o.breaker.tripped || o.analysis.result === 'fail' || o.analysis.result === 'pause') break;
  }
  return out;
}

const isCandidate = (q: string) => q.includes('modelrollout_revision="bbbb"');
/** The failed-request side of a counts rule (error-rate: server_error|timeout; overload-rate: overloaded). */
const isEvents = (q: string) => q.includes('outcome=~"server_error|timeout"') || q.includes('outcome="overloaded"');

describe('attack-14: analysis runner', () => {

  describe('custom counts returning odd values', () => {
    const metrics = [{ name: 'failures', counts: { events: 'sum(my_failed{rev="{{revision}}"})', trials: 'sum(my_total{rev="{{revision}}"})' }, max: 0.01, breaker: { disabled: true } }];
    const counts = (events: Measurement) => (q: string): Measurement => {
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
      const o = await new AnalysisRunner({ core: {} as never, cache: { podsOf: () => [] } as never, providerFor: () => ({ query: async (q, at) => (r as never as { deps: { providerFor: () => MetricsProvider } }).deps.providerFor().query(q, at) }) }).run(ro, 60_000, new Date(T0 + t * 1000));
      ro.status!.analysis = JSON.parse(JSON.stringify(o.status));
      result = o.analysis.result;
    }
    // Bake 60 s, then 3 checks to report, deadline 5 min after the first no-data check.
    expect(result).toBe('pause');
    expect(t - 30).toBeLessThanOrEqual(60 + 5 * 60 + 30);
  });
});
