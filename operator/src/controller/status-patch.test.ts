import { expect, it } from 'vitest';
import { isEmptyPatch, mergePatch } from './status-patch.js';

it('builds a merge patch that removes, replaces and recurses', () => {
  const before = { phase: 'Progressing', currentStep: { index: 1, weight: 5, trafficShiftedAt: 't' }, history: [1], failure: { reason: 'x' } };
  const after = { phase: 'Progressing', currentStep: { index: 2, weight: 20 }, history: [1, 2] };
  expect(mergePatch(before, after)).toEqual({ currentStep: { index: 2, weight: 20, trafficShiftedAt: null }, history: [1, 2], failure: null });
  expect(isEmptyPatch(mergePatch(after, structuredClone(after)))).toBe(true);
});
