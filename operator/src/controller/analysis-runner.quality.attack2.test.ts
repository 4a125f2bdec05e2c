// Second attack on issue #17 through the analysis runner (controller/analysis-runner.ts): what a trade-off
// writes to status, against a scripted Prometheus (candidate bbbb, stable aaaa).
import { describe, expect, it } from 'vitest';
import type { Measurement } from '../analysis/types.js';
import { isCandidate, rolloutWithAnalysis, scriptedRunner, T0 } from './analysis-runner.test-support.js';

type Script = Record<string, [number, number]>;
const answer =
  (script: Script) =>
  (q: string): Measurement => {
    const side = isCandidate(q) ? 0 : 1;
    for (const [metric, values] of Object.entries(script)) if (q.includes(metric)) return { kind: 'value', value: values[side] };
    if (q.includes('t2v_requests_total')) return { kind: 'value', value: 200 };
    return { kind: 'noData', message: 'no series' };
  };
const COST = 't2v_gpu_seconds_total';
const SSIM = 't2v_quality_temporal_ssim';

describe('attack2-17: a trade-off in status', () => {
  it('a candidate that delivers no video (cost +Inf, costChange +Inf) is recorded without a non-finite value: JSON turns Infinity into null in status.analysis.metrics[].value and history (metrics write it as raw)', async () => {
    const ro = rolloutWithAnalysis(
      {
        metrics: [{ template: 'cost-per-video-second' }, { template: 'quality-ssim' }],
        tradeOffs: [{ cost: 'cost-per-video-second', quality: 'quality-ssim', maxIncrease: 0.4, minImprovement: 0.1, onViolation: 'Rollback' }],
      },
      80,
      1,
    );
    const out = await scriptedRunner(answer({ [COST]: [Infinity, 1], [SSIM]: [0.9, 0.9] })).run(ro, 60_000, new Date(T0 + 90_000));
    expect(out.analysis.result, JSON.stringify(out.analysis)).toBe('fail');
    const records = [...(out.status?.metrics ?? []), ...(out.status?.history ?? [])] as { name: string; value?: number }[];
    const bad = records.filter((m) => m.value !== undefined && !Number.isFinite(m.value));
    expect(
      bad.map((m) => `${m.name}: ${m.value}`),
      'non-finite values that reach status as null',
    ).toEqual([]);
  });
});

describe('attack2-17: a person and a paused trade-off', () => {
  it('after a trade-off pauses (onViolation: Pause), `kubectl modelrollout resume` — the way out its message names — lets the step go on instead of pausing again at the next check', async () => {
    const ro = rolloutWithAnalysis(
      {
        metrics: [{ template: 'cost-per-video-second' }, { template: 'quality-ssim' }],
        tradeOffs: [{ cost: 'cost-per-video-second', quality: 'quality-ssim', maxIncrease: 0.4, minImprovement: 0.1, onViolation: 'Pause' }],
      },
      80,
      1,
    );
    const r = scriptedRunner(answer({ [COST]: [1.6, 1], [SSIM]: [0.9, 0.9] }));
    const first = await r.run(ro, 60_000, new Date(T0 + 90_000));
    expect(first.analysis.result).toBe('pause');
    ro.status!.analysis = JSON.parse(JSON.stringify(first.status));
    // The person read "cost-per-video-second +60 % …: pausing" and accepts the cost: resume.
    ro.metadata.annotations = { 'modelrollout.dev/resume': 'r1' };
    const after: string[] = [];
    for (let s = 100; s <= 300; s += 30) {
      const o = await r.run(ro, 60_000, new Date(T0 + s * 1000));
      if (o.status) ro.status!.analysis = JSON.parse(JSON.stringify(o.status));
      after.push(`${s}s ${o.analysis.result}: ${(o.analysis as { message?: string }).message ?? ''}`.slice(0, 160));
    }
    expect(
      after.filter((x) => / pause:/.test(x)),
      after.join('\n'),
    ).toEqual([]);
  });
});

describe('attack2-17: the golden NoData message', () => {
  it('the prober compares clips every round but Prometheus has no golden series (the operator\'s /metrics is not scraped: metrics.serviceMonitor.enabled off): the NoData message says so, not just "no series"', async () => {
    const { AnalysisRunner } = await import('./analysis-runner.js');
    const golden = { sync: () => undefined, report: () => ({ lastRoundTime: new Date(T0).toISOString(), compared: 3, ssim: 0.97, psnrDb: 40 }) };
    const r = new AnalysisRunner({
      core: {} as never,
      cache: { podsOf: () => [] } as never,
      providerFor: () => ({ query: async (q: string) => (q.includes('modelrollout_golden') ? { kind: 'noData', message: 'no series' } : answer({})(q)) }),
      golden: golden as never,
    });
    const ro = rolloutWithAnalysis(
      { goldenProbes: { configMap: 'golden' }, metrics: [{ template: 'golden-similarity', min: 0.8 }], noDataDeadline: '2m' },
      80,
      1,
    );
    let message = '';
    for (let s = 90; s <= 600; s += 30) {
      const o = await r.run(ro, 60_000, new Date(T0 + s * 1000));
      if (o.status) ro.status!.analysis = JSON.parse(JSON.stringify(o.status));
      message = (o.analysis as { message?: string }).message ?? '';
      if (o.analysis.result === 'pause' || o.analysis.result === 'fail') break;
    }
    expect(message).toMatch(/golden-similarity/);
    expect(message, 'a hint that the scores exist but Prometheus does not have them').toMatch(/scrape|serviceMonitor|operator's \/metrics|compared 3/i);
  });
});

describe("attack2-17: README's SSIM warning, flicker variant", () => {
  it('a candidate that moves half as much as stable (flicker 0.55×, inside the default relative 0.5–2) does not buy +35 % cost as "45 % better quality" (flicker is two-sided: README calls both strobing and standing still regressions)', async () => {
    const { parseAnalysis } = await import('../analysis/spec.js');
    const analysis = {
      metrics: [{ template: 'cost-per-video-second' }, { template: 'quality-flicker' }, { template: 'quality-frozen', max: 0.1 }],
      tradeOffs: [{ cost: 'cost-per-video-second', quality: 'quality-flicker', maxIncrease: 0.4, minImprovement: 0.1 }],
    };
    const errors: string[] = [];
    parseAnalysis({ prometheus: { address: 'http://prom:9090' }, ...analysis } as never, errors);
    if (errors.length > 0) return; // refused: a two-sided signal cannot buy cost
    const ro = rolloutWithAnalysis(analysis, 80, 1);
    const out = await scriptedRunner(
      answer({ [COST]: [1.35, 1], t2v_quality_flicker_luma_levels: [2.2, 4], t2v_quality_frozen_frame_ratio: [0.05, 0.05] }),
    ).run(ro, 60_000, new Date(T0 + 90_000));
    expect(out.analysis.result, JSON.stringify(out.analysis)).not.toBe('pass');
  });
});
