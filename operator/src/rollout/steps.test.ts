import { describe, expect, it } from 'vitest';
import { rederiveStep } from './steps.js';

describe('rederiveStep', () => {
  it.each([
    // [current weight, old index, new steps, expected index, expected weight]
    [5, 1, [1, 5, 20, 50, 100], 1, 5],
    [5, 1, [50, 100], 0, 50],
    [5, 1, [5, 100], 0, 5],
    [20, 2, [10, 20, 100], 1, 20],
    [50, 3, [100], 0, 100],
    [1, 0, [2, 3, 100], 0, 2],
    [100, 4, [50, 100], 1, 100],
  ])('at %i %% (index %i), steps %j → index %i (%i %%)', (weight, index, steps, nextIndex, nextWeight) => {
    const next = rederiveStep({ index, weight, label: `${index + 1}/5`, trafficShiftedAt: '2026-11-30T00:00:00Z' }, steps);
    expect(next.index).toBe(nextIndex);
    expect(next.weight).toBe(nextWeight);
    expect(next.label).toBe(`${nextIndex + 1}/${steps.length}`);
    // The bake timer survives only when the weight is unchanged.
    expect(next.trafficShiftedAt !== undefined).toBe(nextWeight === weight);
  });

  it('returns the same object when nothing changed', () => {
    const step = { index: 1, weight: 5, label: '2/5' };
    expect(rederiveStep(step, [1, 5, 20, 50, 100])).toBe(step);
  });
});
