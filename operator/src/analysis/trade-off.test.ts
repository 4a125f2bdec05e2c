import { describe, expect, it } from 'vitest';
import { parseAnalysis } from './spec.js';
import { judgeTradeOff } from './trade-off.js';
import type { Measurement, TradeOffRule } from './types.js';

const rule: TradeOffRule = {
  name: 'cost-per-video-second-vs-quality-ssim',
  cost: 'cost-per-video-second',
  quality: 'quality-ssim',
  maxIncrease: 0.4,
  minImprovement: 0.1,
  freeIncrease: 0.05,
  better: 'higher',
  onViolation: 'rollback',
};
const v = (value: number): Measurement => ({ kind: 'value', value });
const sides = (candidate: number, stable: number) => ({ candidate: v(candidate), stable: v(stable) });

describe('judgeTradeOff', () => {
  it.each([
    // cost cand/stable, quality cand/stable, verdict
    ['cheaper, worse', [0.9, 1], [0.5, 0.8], 'pass'],
    ['4 % costlier with no gain: within freeIncrease', [1.04, 1], [0.8, 0.8], 'pass'],
    ['20 % costlier for 12.5 % better', [1.2, 1], [0.9, 0.8], 'pass'],
    ['20 % costlier for 5 % better', [1.2, 1], [0.84, 0.8], 'violated'],
    ['50 % costlier for 25 % better: over maxIncrease', [1.5, 1], [1, 0.8], 'violated'],
  ] as const)('%s → %s', (_, [c, cs], [q, qs], verdict) => {
    expect(judgeTradeOff(rule, sides(c, cs), sides(q, qs)).verdict).toBe(verdict);
  });

  it('puts both changes and all four values in the message', () => {
    const t = judgeTradeOff(rule, sides(1.2, 1), sides(0.84, 0.8));
    expect(t).toMatchObject({ verdict: 'violated', costChange: expect.closeTo(0.2, 9), qualityChange: expect.closeTo(0.05, 9) });
    expect(t.message).toBe(
      'cost-per-video-second-vs-quality-ssim: cost-per-video-second +20 % (1.2 vs stable 1), quality-ssim +5 % better (0.84 vs stable 0.8, higher is better); ' +
        'a cost increase needs quality-ssim at least +10 % better',
    );
    expect(judgeTradeOff(rule, sides(1.5, 1), sides(1, 0.8)).message).toMatch(
      /cost-per-video-second \+50 %.*quality-ssim \+25 % better.*costs more than the \+40 % allowed even with better quality/,
    );
  });

  it('writes tiny and large changes plainly', () => {
    expect(judgeTradeOff(rule, sides(12.5, 1), sides(0.9 * (1 + 1e-15), 0.9)).message).toMatch(/cost-per-video-second \+1150 % .*quality-ssim \+0 % better/);
  });

  it('lower-is-better quality: a drop in flicker is an improvement', () => {
    const flicker = { ...rule, quality: 'quality-flicker', better: 'lower' as const };
    expect(judgeTradeOff(flicker, sides(1.2, 1), sides(4, 5))).toMatchObject({ verdict: 'pass', qualityChange: expect.closeTo(0.2, 9) });
    expect(judgeTradeOff(flicker, sides(1.2, 1), sides(6, 5))).toMatchObject({ verdict: 'violated', qualityChange: expect.closeTo(-0.2, 9) });
  });

  it('never passes on missing data: no value, NaN, a failed query or a zero baseline hold the step', () => {
    expect(judgeTradeOff(rule, { candidate: { kind: 'noData', message: 'no series' }, stable: v(1) }, sides(1, 1)).verdict).toBe('noData');
    expect(judgeTradeOff(rule, sides(NaN, 1), sides(1, 1)).verdict).toBe('noData');
    // (The quality is read only when the cost rose past freeIncrease and not past maxIncrease.)
    expect(judgeTradeOff(rule, sides(1.2, 1), { candidate: v(1), stable: { kind: 'error', message: 'boom' } })).toMatchObject({
      verdict: 'error',
      message: expect.stringMatching(/quality-ssim \(stable\) query failed: boom/),
    });
    expect(judgeTradeOff(rule, sides(1, 1), { candidate: v(1), stable: { kind: 'error', message: 'boom' } }).verdict).toBe('pass');
    expect(judgeTradeOff(rule, sides(2, 0), sides(1, 1)).verdict).toBe('noData');
    // Stable at 0 % (the last step): nothing to compare with.
    expect(judgeTradeOff(rule, { candidate: v(2) }, { candidate: v(1) }).verdict).toBe('pass');
  });
});

describe('spec.analysis.tradeOffs', () => {
  const base = {
    prometheus: { address: 'http://prom:9090' },
    metrics: [{ template: 'cost-per-video-second' }, { template: 'quality-ssim' }, { name: 'mine', query: 'my_score', min: 0 }],
  };

  it('parses a rule; metrics it names need no bounds of their own; defaults Pause, freeIncrease 5 %, direction from the template', () => {
    const errors: string[] = [];
    const cfg = parseAnalysis(
      { ...base, tradeOffs: [{ cost: 'cost-per-video-second', maxIncrease: 0.4, quality: 'quality-ssim', minImprovement: 0.1 }] } as never,
      errors,
    )!;
    expect(errors).toEqual([]);
    expect(cfg.tradeOffs).toEqual([{ ...rule, onViolation: 'pause' }]);
    expect(cfg.metrics.find((m) => m.name === 'cost-per-video-second')).toMatchObject({ bounds: {} });
    expect(cfg.metrics.find((m) => m.name === 'cost-per-video-second')?.relative).toBeUndefined();
  });

  it('a cost template with no bounds and no trade-off has nothing to be judged by', () => {
    const errors: string[] = [];
    parseAnalysis({ ...base, metrics: [{ template: 'cost-per-video-second' }] } as never, errors);
    expect(errors).toEqual(['spec.analysis.metrics[0]: set max, min or relative bounds, or name it in a tradeOff (nothing to judge cost-per-video-second by)']);
  });

  it('reads a price per GPU-hour for the cost templates, naming a bad one', () => {
    const errors: string[] = [];
    const cfg = parseAnalysis(
      {
        ...base,
        metrics: [
          { template: 'cost-per-clip', max: 100 },
          { template: 'cost-per-video-second', query: 'my_cost', max: 1 },
        ],
        price: { perGpuHour: 2.5 },
      } as never,
      errors,
    )!;
    expect(errors).toEqual([]);
    expect(cfg.price).toEqual({ perGpuHour: 2.5, currency: 'USD' });
    // Only the built-in query is known to be GPU-seconds.
    expect(cfg.metrics.map((m) => m.costPer)).toEqual(['clip', undefined]);
    const metrics = [{ template: 'cost-per-clip', max: 1 }];
    parseAnalysis({ ...base, metrics, price: { perGpuHour: 0 } } as never, errors);
    parseAnalysis({ ...base, metrics, price: { perGpuHour: 2, currency: 'US dollars' } } as never, errors);
    expect(errors).toEqual([
      'spec.analysis.price.perGpuHour: 0 must be a number above 0 (money per GPU-hour, e.g. 2.49)',
      'spec.analysis.price.currency: "US dollars" must be 1 to 8 characters without spaces (e.g. USD)',
    ]);
  });

  it('names the field of every bad reference or value', () => {
    const errors: string[] = [];
    parseAnalysis(
      {
        ...base,
        tradeOffs: [
          { cost: 'cost', quality: 'mine', maxIncrease: -1, onViolation: 'Ignore' },
          { cost: 'cost-per-video-second', quality: 'quality-ssim', maxIncrease: 0.1, minImprovement: 0.1, freeIncrease: 0.2 },
        ],
      } as never,
      errors,
    );
    expect(errors).toEqual([
      'spec.analysis.tradeOffs[0].cost: "cost" is not a metric of this analysis (known: cost-per-video-second, quality-ssim, mine)',
      'spec.analysis.tradeOffs[0].maxIncrease: -1 must be a number ≥ 0 (a fraction: 0.4 = at most 40 % more per generated second)',
      'spec.analysis.tradeOffs[0].minImprovement: required (a fraction: 0.1 = the quality metric at least 10 % better than stable)',
      'spec.analysis.tradeOffs[0].better: required for "mine" (not a built-in quality template): must be higher or lower (which way mine improves)',
      'spec.analysis.tradeOffs[0].onViolation: "Ignore" must be Pause or Rollback',
      'spec.analysis.tradeOffs[1].freeIncrease: 0.2 is above maxIncrease 0.1',
    ]);
  });
});
