// The quality gate and the cost/quality trade-off through the analysis runner, against a scripted Prometheus
// that answers each built-in template's query for candidate (bbbb) and stable (aaaa).
import { describe, expect, it } from 'vitest';
import type { Measurement } from '../analysis/types.js';
import type { MetricsProvider } from '../metric-providers/provider.js';
import { AnalysisRunner } from './analysis-runner.js';
import type { ModelRollout } from '../api/index.js';
import { rolloutWithAnalysis, T0 } from './analysis-runner.test-support.js';

/** Per metric name in the query: [candidate, stable]. Requests: 200 each side. */
type Script = Record<string, [number, number]>;

function runner(script: Script) {
  const provider: MetricsProvider = {
    query: async (q): Promise<Measurement> => {
      const side = q.includes('modelrollout_revision="bbbb"') ? 0 : 1;
      for (const [metric, values] of Object.entries(script)) if (q.includes(metric)) return { kind: 'value', value: values[side] };
      if (q.includes('t2v_requests_total')) return { kind: 'value', value: 200 };
      return { kind: 'noData', message: 'no series' };
    },
  };
  return new AnalysisRunner({ core: {} as never, cache: { podsOf: () => [] } as never, providerFor: () => provider });
}

const rollout = (analysis: Record<string, unknown>): ModelRollout => rolloutWithAnalysis(analysis, 80, 1);

/** The step verdict once the 1-minute bake is over. */
async function verdict(script: Script, analysis: Record<string, unknown>) {
  const ro = rollout(analysis);
  const out = await runner(script).run(ro, 60_000, new Date(T0 + 90_000));
  return { analysis: out.analysis as { result: string; reason?: string; message?: string }, status: out.status! };
}

const FROZEN = 't2v_quality_frozen_frame_ratio';
const SSIM = 't2v_quality_temporal_ssim';
const COST = 't2v_gpu_seconds_total';
const tradeOff = { cost: 'cost-per-video-second', quality: 'quality-ssim', maxIncrease: 0.4, minImprovement: 0.1 };
const costAndQuality = [{ template: 'cost-per-video-second' }, { template: 'quality-ssim' }];

describe('quality gate', () => {
  it('rolls back a candidate whose frames freeze (quality-frozen, default max 0.4), naming the value', async () => {
    const { analysis } = await verdict({ [FROZEN]: [0.75, 0.06] }, { metrics: [{ template: 'quality-frozen' }] });
    expect(analysis).toMatchObject({ result: 'fail', reason: 'quality-frozen', message: 'quality-frozen 0.75 (max 0.4): fail' });
  });

  it('passes one whose frozen ratio is like stable’s; a relative bound catches a smaller freeze', async () => {
    expect((await verdict({ [FROZEN]: [0.29, 0.29] }, { metrics: [{ template: 'quality-frozen' }] })).analysis.result).toBe('pass');
    const relative = await verdict({ [FROZEN]: [0.45, 0.06] }, { metrics: [{ template: 'quality-frozen', max: 0.5, relative: { max: 2 } }] });
    expect(relative.analysis).toMatchObject({ result: 'fail', reason: 'quality-frozen' });
  });

  it('quality-ssim is judged relative to stable by default (at least 0.9×)', async () => {
    const { analysis } = await verdict({ [SSIM]: [0.6, 0.9] }, { metrics: [{ template: 'quality-ssim' }] });
    expect(analysis).toMatchObject({ result: 'fail', reason: 'quality-ssim' });
    expect(analysis.message).toMatch(/candidate\/stable ratio \(0.6\/0.9\) 0.6667 \(min 0.9\)/);
  });
});

describe('cost/quality trade-off', () => {
  it('holds for a person when the candidate costs 60 % more (over the 40 % allowed), with both numbers in the message', async () => {
    const { analysis, status } = await verdict({ [COST]: [1.6, 1], [SSIM]: [0.9, 0.88] }, { metrics: costAndQuality, tradeOffs: [tradeOff] });
    expect(analysis.result).toBe('pause');
    expect(analysis.message).toMatch(
      /cost-per-video-second \+60 % \(1\.6 vs stable 1\), quality-ssim \+2\.27 % better \(0\.9 vs stable 0\.88.*costs more than the \+40 % allowed.*pausing/,
    );
    expect(status.metrics?.find((m) => m.name === 'cost-per-video-second-vs-quality-ssim')).toMatchObject({ verdict: 'fail', value: expect.closeTo(0.6, 9) });
  });

  it('rolls back instead when onViolation is Rollback; a 20 % costlier candidate without a 10 % gain breaks it too', async () => {
    const { analysis } = await verdict(
      { [COST]: [1.2, 1], [SSIM]: [0.9, 0.88] },
      { metrics: costAndQuality, tradeOffs: [{ ...tradeOff, onViolation: 'Rollback' }] },
    );
    expect(analysis).toMatchObject({ result: 'fail', reason: 'cost-per-video-second-vs-quality-ssim' });
    expect(analysis.message).toMatch(/\+20 %.*\+2\.27 % better.*needs quality-ssim at least \+10 % better: rolling back/);
  });

  it('lets a candidate cost 20 % more for 12.5 % better quality, and one cost the same for nothing', async () => {
    expect((await verdict({ [COST]: [1.2, 1], [SSIM]: [0.9, 0.8] }, { metrics: costAndQuality, tradeOffs: [tradeOff] })).analysis.result).toBe('pass');
    expect((await verdict({ [COST]: [1.02, 1], [SSIM]: [0.8, 0.8] }, { metrics: costAndQuality, tradeOffs: [tradeOff] })).analysis.result).toBe('pass');
  });

  it('shows cost in money in status with spec.analysis.price (GPU-seconds × price per GPU-hour ÷ 3600)', async () => {
    const { status } = await verdict(
      { [COST]: [1.6, 1], [SSIM]: [0.9, 0.88] },
      { metrics: costAndQuality, tradeOffs: [tradeOff], price: { perGpuHour: 3.6, currency: 'EUR' } },
    );
    const cost = status.metrics?.find((m) => m.name === 'cost-per-video-second');
    expect(cost?.money).toEqual({ amount: expect.closeTo(0.0016, 12), stable: expect.closeTo(0.001, 12), currency: 'EUR', per: 'video-second' });
    expect(cost?.message).toMatch(/; 0\.0016 EUR per video-second \(stable 0\.001 EUR\) at 3\.6 EUR\/GPU-hour$/);
  });

  it('holds the step (pending) when stable has no cost data, never passing on a guess', async () => {
    const ro = rollout({ metrics: costAndQuality, tradeOffs: [tradeOff] });
    const r = new AnalysisRunner({
      core: {} as never,
      cache: { podsOf: () => [] } as never,
      providerFor: () => ({
        query: async (q): Promise<Measurement> => {
          const candidate = q.includes('modelrollout_revision="bbbb"');
          if (q.includes(COST)) return candidate ? { kind: 'value', value: 1.6 } : { kind: 'noData', message: 'no series', raw: 'NaN' };
          if (q.includes(SSIM)) return { kind: 'value', value: 0.9 };
          return { kind: 'value', value: 200 };
        },
      }),
    });
    const out = await r.run(ro, 60_000, new Date(T0 + 90_000));
    expect(out.analysis.result).toBe('pending');
  });
});
