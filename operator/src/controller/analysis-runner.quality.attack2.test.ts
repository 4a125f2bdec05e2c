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
  it("a candidate that delivers no video (cost +Inf, costChange +Inf) is recorded without a non-finite value: JSON turns Infinity into null in status.analysis.metrics[].value and history (metrics write it as raw)", async () => {
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
    expect(bad.map((m) => `${m.name}: ${m.value}`), 'non-finite values that reach status as null').toEqual([]);
  });
});
