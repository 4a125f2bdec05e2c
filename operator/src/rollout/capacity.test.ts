import { describe, expect, it } from 'vitest';
import { chooseCandidateWeight, readyNeededFor, weightCarriedBy, type WeightInput } from './capacity.js';

const base: WeightInput = { current: 0, target: 0, candidateReady: 0, stableReady: 4, fullReplicas: 4, drainCandidate: false };

describe('weightCarriedBy / readyNeededFor', () => {
  it.each([
    [0, 4, 0],
    [1, 4, 25],
    [2, 4, 50],
    [3, 4, 75],
    [4, 4, 100],
    [5, 4, 100],
    [1, 3, 33],
    [2, 3, 66],
    [1, 1, 100],
    [7, 10, 70],
  ])('%i ready of %i carry %i %%', (ready, full, weight) => {
    expect(weightCarriedBy(ready, full)).toBe(weight);
  });

  it('is the inverse of readyNeededFor for every weight and size up to 16', () => {
    for (let full = 1; full <= 16; full++) {
      for (let ready = 0; ready <= full; ready++) {
        const w = weightCarriedBy(ready, full);
        expect(readyNeededFor(w, full)).toBeLessThanOrEqual(ready);
        if (w < 100) expect(readyNeededFor(w + 1, full)).toBeGreaterThan(ready);
      }
    }
  });
});

describe('chooseCandidateWeight', () => {
  it('moves up only to a target the candidate can carry, whole', () => {
    expect(chooseCandidateWeight({ ...base, current: 20, target: 50, candidateReady: 1 })).toEqual({ candidateWeight: 20, limitedBy: 'capacity' });
    expect(chooseCandidateWeight({ ...base, current: 20, target: 50, candidateReady: 2 })).toEqual({ candidateWeight: 50 });
  });

  it('moves down only as far as stable can carry', () => {
    expect(chooseCandidateWeight({ ...base, current: 100, target: 0, candidateReady: 4, stableReady: 1 })).toEqual({
      candidateWeight: 75,
      limitedBy: 'capacity',
    });
    expect(chooseCandidateWeight({ ...base, current: 100, target: 0, candidateReady: 4, stableReady: 0 })).toEqual({
      candidateWeight: 100,
      limitedBy: 'capacity',
    });
    expect(chooseCandidateWeight({ ...base, current: 100, target: 0, candidateReady: 4, stableReady: 4 })).toEqual({ candidateWeight: 0 });
  });

  it('drains a failing candidate at once, whatever stable has, and never gives it weight back', () => {
    expect(chooseCandidateWeight({ ...base, current: 100, target: 0, candidateReady: 4, stableReady: 1, drainCandidate: true })).toEqual({
      candidateWeight: 0,
      limitedBy: 'drain',
    });
    expect(chooseCandidateWeight({ ...base, current: 0, target: 0, candidateReady: 4, stableReady: 1, drainCandidate: true })).toEqual({ candidateWeight: 0 });
  });

  it('lowers a candidate that lost ready replicas to what the rest carry (stable has room)', () => {
    expect(chooseCandidateWeight({ ...base, current: 50, target: 50, candidateReady: 1, stableReady: 4 })).toEqual({
      candidateWeight: 25,
      limitedBy: 'capacity',
    });
    expect(chooseCandidateWeight({ ...base, current: 50, target: 50, candidateReady: 0, stableReady: 4 })).toEqual({
      candidateWeight: 0,
      limitedBy: 'capacity',
    });
  });

  it('splits by ready replicas when neither side can carry its share, never moving away from the target', () => {
    expect(chooseCandidateWeight({ ...base, current: 50, target: 50, candidateReady: 0, stableReady: 2 })).toEqual({
      candidateWeight: 0,
      limitedBy: 'overload',
    });
    expect(chooseCandidateWeight({ ...base, current: 50, target: 50, candidateReady: 1, stableReady: 2 })).toEqual({
      candidateWeight: 33,
      limitedBy: 'overload',
    });
    // Returning to stable (target 0) with a short stable: the candidate never gets more than it has.
    expect(chooseCandidateWeight({ ...base, current: 20, target: 0, candidateReady: 3, stableReady: 1 }).candidateWeight).toBeLessThanOrEqual(20);
    expect(chooseCandidateWeight({ ...base, current: 50, target: 50, candidateReady: 0, stableReady: 0 })).toEqual({
      candidateWeight: 50,
      limitedBy: 'overload',
    });
  });

  it('never moves the weight past the target or away from it, over all small inputs', () => {
    for (let full = 1; full <= 5; full++) {
      for (const current of [0, 1, 20, 50, 75, 100]) {
        for (const target of [0, 5, 50, 100]) {
          for (let c = 0; c <= full; c++) {
            for (let s = 0; s <= full; s++) {
              for (const drainCandidate of [false, true]) {
                const { candidateWeight: w, limitedBy } = chooseCandidateWeight({
                  current,
                  target,
                  candidateReady: c,
                  stableReady: s,
                  fullReplicas: full,
                  drainCandidate,
                });
                expect(w).toBeLessThanOrEqual(Math.max(current, target));
                expect(w).toBeGreaterThanOrEqual(0);
                // A weight that moves, other than by the overload or drain policy, lands where both sides can carry it.
                const lo = 100 - weightCarriedBy(s, full);
                const hi = weightCarriedBy(c, full);
                if (w !== current && limitedBy !== 'overload' && limitedBy !== 'drain' && lo <= hi && lo <= Math.max(current, target)) {
                  expect(readyNeededFor(w, full)).toBeLessThanOrEqual(c);
                  expect(readyNeededFor(100 - w, full)).toBeLessThanOrEqual(s);
                }
              }
            }
          }
        }
      }
    }
  });
});
