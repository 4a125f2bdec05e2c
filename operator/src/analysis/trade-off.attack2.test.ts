// Second attack on issue #17's trade-off rule (analysis/trade-off.ts) and its spec (analysis/spec.ts): extremes
// of the maths and names that collide.
import { describe, expect, it } from 'vitest';
import { parseAnalysis } from './spec.js';
import { judgeTradeOff } from './trade-off.js';
import type { Measurement, TradeOffRule } from './types.js';

const v = (value: number): Measurement => ({ kind: 'value', value });
const sides = (candidate: number, stable: number) => ({ candidate: v(candidate), stable: v(stable) });
const rule = (quality: string, better: 'higher' | 'lower'): TradeOffRule => ({
  name: `cost-per-video-second-vs-${quality}`,
  cost: 'cost-per-video-second',
  quality,
  maxIncrease: 0.4,
  minImprovement: 0.1,
  freeIncrease: 0.05,
  better,
  onViolation: 'rollback',
});

describe('attack2-17: judgeTradeOff at the extremes', () => {
  it("stable's quality +Inf (a custom PSNR-like score of identical frames, or x/0 in PromQL), candidate finite and higher-is-better: the candidate is worse, not a pass on a NaN change", () => {
    // (q − Inf) / |Inf| = NaN; NaN < minImprovement is false, so the rule passes with "NaN % better".
    const t = judgeTradeOff(rule('psnr', 'higher'), sides(1.3, 1), sides(30, Infinity));
    expect(t.verdict, t.message).not.toBe('pass');
    expect(t.message).not.toMatch(/NaN/);
  });

  it("both sides' quality +Inf (equal) with a 30 % costlier candidate: no improvement, so violated — not a pass on NaN", () => {
    const t = judgeTradeOff(rule('psnr', 'higher'), sides(1.3, 1), sides(Infinity, Infinity));
    expect(t.verdict, t.message).toBe('violated');
  });

  it('a negative cost (a custom cost query gone wrong) is no measurement, not "cheaper than stable": it must not pass', () => {
    const t = judgeTradeOff(rule('quality-ssim', 'higher'), sides(-2, 1), sides(0.5, 0.9));
    expect(t.verdict, t.message).not.toBe('pass');
  });

  it('both sides cost 0 (the same cost: nothing for quality to pay for) passes rather than holding without data until the deadline', () => {
    const t = judgeTradeOff(rule('quality-ssim', 'higher'), sides(0, 0), sides(0.9, 0.9));
    expect(t.verdict, t.message).toBe('pass');
  });
});

describe('attack2-17: spec.analysis.tradeOffs names', () => {
  const base = { prometheus: { address: 'http://prom:9090' } };
  const metrics = [{ template: 'cost-per-video-second' }, { template: 'quality-ssim' }, { template: 'quality-frozen', max: 0.1 }];

  it('two trade-offs on the same cost and quality (one Pause, one Rollback) share the name <cost>-vs-<quality>: status records, no-data tracking and the rollback reason collide — refused or named apart', () => {
    const errors: string[] = [];
    const config = parseAnalysis(
      {
        ...base,
        metrics,
        tradeOffs: [
          { cost: 'cost-per-video-second', quality: 'quality-ssim', maxIncrease: 0.2, minImprovement: 0.05, onViolation: 'Pause' },
          { cost: 'cost-per-video-second', quality: 'quality-ssim', maxIncrease: 0.4, minImprovement: 0.1, onViolation: 'Rollback' },
        ],
      } as never,
      errors,
    );
    const names = config?.tradeOffs.map((t) => t.name) ?? [];
    expect(errors.length > 0 || new Set(names).size === names.length, `errors: ${errors.join('; ')}; names: ${names.join(', ')}`).toBe(true);
  });

  it("a trade-off's name <cost>-vs-<quality> equal to a metric's name: the trade-off's record overwrites the metric's (and its no-data check) — refused", () => {
    const errors: string[] = [];
    const config = parseAnalysis(
      {
        ...base,
        metrics: [...metrics, { name: 'cost-per-video-second-vs-quality-ssim', query: 'vector(1)', max: 2 }],
        tradeOffs: [{ cost: 'cost-per-video-second', quality: 'quality-ssim', maxIncrease: 0.4, minImprovement: 0.1 }],
      } as never,
      errors,
    );
    const all = [...(config?.metrics.map((m) => m.name) ?? []), ...(config?.tradeOffs.map((t) => t.name) ?? [])];
    expect(errors.length > 0 || new Set(all).size === all.length, `names: ${all.join(', ')}`).toBe(true);
  });
});

describe('attack2-17: spec.analysis.goldenProbes / metric bounds', () => {
  const base = { prometheus: { address: 'http://prom:9090' } };

  it('goldenProbes.key "." or ".." is not a ConfigMap key Kubernetes accepts: refused at admission, not a ConfigMapInvalid every round', () => {
    for (const key of ['.', '..']) {
      const errors: string[] = [];
      parseAnalysis({ ...base, goldenProbes: { configMap: 'golden', key }, metrics: [{ template: 'golden-similarity', min: 0.8 }] } as never, errors);
      expect(errors.join('\n'), key).toMatch(/goldenProbes\.key/);
    }
  });

  it('golden-similarity with min above max (min 0.9, max 0.5) can never pass: refused', () => {
    const errors: string[] = [];
    parseAnalysis({ ...base, goldenProbes: { configMap: 'golden' }, metrics: [{ template: 'golden-similarity', min: 0.9, max: 0.5 }] } as never, errors);
    expect(errors.join('\n')).toMatch(/metrics\[0\]\.(min|max)/);
  });
});

describe('attack2-17: spec gaps around cost and price', () => {
  const base = { prometheus: { address: 'http://prom:9090' } };

  it('a trade-off whose cost is a quality template (cost: quality-ssim — higher SSIM would read as "costs more") is refused like a counts metric is', () => {
    const errors: string[] = [];
    parseAnalysis(
      {
        ...base,
        metrics: [{ template: 'quality-ssim' }, { template: 'quality-frozen', max: 0.1 }],
        tradeOffs: [{ cost: 'quality-ssim', quality: 'quality-frozen', maxIncrease: 0.4, minImprovement: 0.1 }],
      } as never,
      errors,
    );
    expect(errors.join('\n')).toMatch(/spec\.analysis\.tradeOffs\[0\]\.cost/);
  });

  it('price with no cost template among the metrics is dropped in silence (the orphan rule refuses it without metrics at all)', () => {
    const errors: string[] = [];
    parseAnalysis({ ...base, price: { perGpuHour: 2.49 }, metrics: [{ template: 'error-rate' }] } as never, errors);
    expect(errors.join('\n')).toMatch(/spec\.analysis\.price/);
  });
});

describe('attack2-17: goldenProbes.timeout', () => {
  const base = { prometheus: { address: 'http://prom:9090' } };
  it('goldenProbes.timeout of 1ms (every generation times out: golden-* NoData forever) is refused like interval 1ms is', () => {
    const errors: string[] = [];
    parseAnalysis({ ...base, goldenProbes: { configMap: 'golden', timeout: '1ms' }, metrics: [{ template: 'golden-similarity', min: 0.8 }] } as never, errors);
    expect(errors.join('\n')).toMatch(/goldenProbes\.timeout/);
  });
});
