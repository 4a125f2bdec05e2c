// Attack on issue #17's trade-off rule (analysis/trade-off.ts) and its spec (analysis/spec.ts).
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

describe('attack-17: judgeTradeOff', () => {
  it("a candidate that costs the same passes even when stable's quality value is 0 (quality-blank / quality-frozen are 0 on any healthy model)", () => {
    // Healthy clips have no blank frames: stable's quality-blank is 0, the candidate's too. The cost did not
    // move, so there is nothing for the quality metric to pay for; "no relative improvement can be judged"
    // must not matter. Today qs === 0 is checked before the cost, so this holds the step (noData) forever.
    expect(judgeTradeOff(rule('quality-blank', 'lower'), sides(1, 1), sides(0, 0)).verdict).toBe('pass');
    expect(judgeTradeOff(rule('quality-frozen', 'lower'), sides(1.02, 1), sides(0, 0)).verdict).toBe('pass');
  });

  it('a 60 % costlier candidate with stable quality 0 is violated (over maxIncrease whatever the quality), not noData', () => {
    // Over maxIncrease is a violation "even with better quality": the quality value is irrelevant.
    expect(judgeTradeOff(rule('quality-blank', 'lower'), sides(1.6, 1), sides(0, 0)).verdict).toBe('violated');
  });

  it('exact boundaries hold in floating point: +5 % cost is within freeIncrease 0.05, +10 % quality meets minImprovement 0.1', () => {
    // 1.05 / 1 − 1 = 0.050000000000000044 and 0.88 / 0.8 − 1 = 0.09999999999999987: the messages then read
    // "+5 % ... allowed +5 %" and "+10 % better; ... needs at least +10 % better".
    expect(judgeTradeOff(rule('quality-ssim', 'higher'), sides(1.05, 1), sides(0.8, 0.8)).verdict).toBe('pass');
    const t = judgeTradeOff(rule('quality-ssim', 'higher'), sides(1.3, 1), sides(0.88, 0.8));
    expect(t.verdict, t.message).toBe('pass');
  });

  it('a custom quality score that is negative (e.g. a log-likelihood, higher is better) that improves reads as an improvement', () => {
    // Stable -10, candidate -5: higher is better, the candidate is better. q / qs − 1 = −0.5 reads as 50 % worse.
    const t = judgeTradeOff(rule('loglik', 'higher'), sides(1.2, 1), sides(-5, -10));
    expect(t.qualityChange).toBeGreaterThan(0);
    expect(t.verdict).toBe('pass');
  });

  it('a candidate that spends GPU time and delivers no video (cost-per-video-second +Inf) violates the rule rather than holding without data', () => {
    // GPU-seconds / 0 video-seconds = +Inf in PromQL: infinitely more expensive than stable.
    expect(judgeTradeOff(rule('quality-ssim', 'higher'), sides(Infinity, 1), sides(0.9, 0.9)).verdict).toBe('violated');
  });
});

describe('attack-17: spec.analysis.tradeOffs / goldenProbes / price validation', () => {
  const base = { prometheus: { address: 'http://prom:9090' } };

  it("a trade-off naming a golden-* metric is refused (golden series exist only under the candidate's revision: stable is never measured)", () => {
    const errors: string[] = [];
    parseAnalysis(
      {
        ...base,
        goldenProbes: { configMap: 'golden' },
        metrics: [{ template: 'cost-per-video-second' }, { template: 'golden-similarity', min: 0.5 }],
        tradeOffs: [{ cost: 'cost-per-video-second', quality: 'golden-similarity', better: 'higher', maxIncrease: 0.4, minImprovement: 0.1 }],
      } as never,
      errors,
    );
    expect(errors.join('\n')).toMatch(/spec\.analysis\.tradeOffs\[0\]\.quality: .*golden-similarity/);
  });

  it('a trade-off naming a counts metric (error-rate) as its cost is refused: a rate is not GPU-seconds', () => {
    const errors: string[] = [];
    parseAnalysis(
      {
        ...base,
        metrics: [{ template: 'error-rate' }, { template: 'quality-ssim' }],
        tradeOffs: [{ cost: 'error-rate', quality: 'quality-ssim', maxIncrease: 0.4, minImprovement: 0.1 }],
      } as never,
      errors,
    );
    expect(errors.join('\n')).toMatch(/spec\.analysis\.tradeOffs\[0\]\.cost: .*error-rate/);
  });

  it('`better` contradicting a built-in quality template is refused (quality-frozen is lower-is-better)', () => {
    const errors: string[] = [];
    parseAnalysis(
      {
        ...base,
        metrics: [{ template: 'cost-per-video-second' }, { template: 'quality-frozen' }],
        tradeOffs: [{ cost: 'cost-per-video-second', quality: 'quality-frozen', better: 'higher', maxIncrease: 0.4, minImprovement: 0.1 }],
      } as never,
      errors,
    );
    expect(errors.join('\n')).toMatch(/spec\.analysis\.tradeOffs\[0\]\.better: .*higher/);
  });

  it('a trade-off whose cost and quality are the same metric is refused', () => {
    const errors: string[] = [];
    parseAnalysis(
      {
        ...base,
        metrics: [{ template: 'cost-per-video-second' }],
        tradeOffs: [{ cost: 'cost-per-video-second', quality: 'cost-per-video-second', better: 'lower', maxIncrease: 0.4, minImprovement: 0.1 }],
      } as never,
      errors,
    );
    expect(errors.join('\n')).toMatch(/spec\.analysis\.tradeOffs\[0\]/);
  });

  it('goldenProbes, tradeOffs or price without metrics are not silently ignored', () => {
    for (const extra of [
      { goldenProbes: { configMap: 'golden' } },
      { tradeOffs: [{ cost: 'cost-per-video-second', quality: 'quality-ssim', maxIncrease: 0.4, minImprovement: 0.1 }] },
      { price: { perGpuHour: 2.49 } },
    ]) {
      const errors: string[] = [];
      const cfg = parseAnalysis({ ...base, metrics: [], ...extra } as never, errors);
      expect(cfg !== undefined || errors.length > 0, `${JSON.stringify(extra)} with no metrics: neither used nor refused`).toBe(true);
    }
  });

  it('price.perGpuHour given as a string names the value as a string (the message says "2.49 must be a number", which reads as a contradiction)', () => {
    const errors: string[] = [];
    parseAnalysis({ ...base, metrics: [{ template: 'cost-per-clip', max: 1 }], price: { perGpuHour: '2.49' } } as never, errors);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/spec\.analysis\.price\.perGpuHour: "2\.49"/);
  });

  it('golden-similarity bounds SSIM can never meet are refused (min 1.5; max only, which fails a candidate for being too alike)', () => {
    for (const bounds of [{ min: 1.5 }, { max: 0.5 }]) {
      const errors: string[] = [];
      parseAnalysis({ ...base, goldenProbes: { configMap: 'golden' }, metrics: [{ template: 'golden-similarity', ...bounds }] } as never, errors);
      expect(errors.join('\n'), JSON.stringify(bounds)).toMatch(/spec\.analysis\.metrics\[0\]\.(min|max)/);
    }
  });

  it('goldenProbes.interval 1ms is refused: rounds run back to back, keeping a production stable pod busy with probes', () => {
    const errors: string[] = [];
    parseAnalysis({ ...base, goldenProbes: { configMap: 'golden', interval: '1ms' }, metrics: [{ template: 'golden-similarity', min: 0.8 }] } as never, errors);
    expect(errors.join('\n')).toMatch(/spec\.analysis\.goldenProbes\.interval: "1ms"/);
  });
});
