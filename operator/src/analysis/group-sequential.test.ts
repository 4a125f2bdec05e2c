import { describe, expect, it } from 'vitest';
import { seededRandom } from './breaker-simulation.test-support.js';
import { groupSequentialBounds, spentAlpha } from './group-sequential.js';

/** Box–Muller over a seeded generator: standard normals, the same on every run. */
function normals(seed: number): () => number {
  const uniform = seededRandom(seed);
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

/** Share of Brownian paths (no effect) whose z crosses the boundary at some look, and at each look. */
function simulate(fractions: number[], bounds: number[], paths: number, seed: number): { total: number; byLook: number[] } {
  const z = normals(seed);
  const byLook = fractions.map(() => 0);
  for (let p = 0; p < paths; p++) {
    let s = 0;
    let previous = 0;
    for (let k = 0; k < fractions.length; k++) {
      s += z() * Math.sqrt(fractions[k]! - previous);
      previous = fractions[k]!;
      if (s / Math.sqrt(fractions[k]!) >= bounds[k]!) {
        byLook[k]!++;
        break;
      }
    }
  }
  return { total: byLook.reduce((a, b) => a + b, 0) / paths, byLook: byLook.map((n) => n / paths) };
}

describe('spentAlpha', () => {
  it('spends all of α at t = 1 and none at 0, O’Brien–Fleming-type late and Pocock-type evenly', () => {
    for (const spending of ['obrienFleming', 'pocock'] as const) {
      expect(spentAlpha(spending, 0.025, 0)).toBe(0);
      expect(spentAlpha(spending, 0.025, 1)).toBeCloseTo(0.025, 12);
      expect(spentAlpha(spending, 0.025, 1.5)).toBeCloseTo(0.025, 12);
    }
    // Lan–DeMets 1983: at half the information O'Brien–Fleming-type has spent 2(1 − Φ(2.2414/√0.5)) = 0.00153.
    expect(spentAlpha('obrienFleming', 0.025, 0.5)).toBeCloseTo(0.001525, 5);
    expect(spentAlpha('pocock', 0.025, 0.5)).toBeCloseTo(0.025 * Math.log(1 + (Math.E - 1) / 2), 12);
    expect(() => spentAlpha('pocock', 0, 0.5)).toThrow(RangeError);
  });
});

describe('groupSequentialBounds', () => {
  it('is the fixed-horizon z at one look', () => {
    expect(groupSequentialBounds([1], 0.025)[0]).toBeCloseTo(1.95996, 4);
  });

  it('matches the published O’Brien–Fleming-type boundaries (one-sided α 0.025)', () => {
    // Two equally spaced looks: 2.963, 1.969; five: 4.8769, 3.3569, 2.6803, 2.2898, 2.0310 (gsDesign's sfLDOF).
    const two = groupSequentialBounds([0.5, 1], 0.025);
    expect(two[0]).toBeCloseTo(2.963, 2);
    expect(two[1]).toBeCloseTo(1.969, 2);
    const five = groupSequentialBounds([0.2, 0.4, 0.6, 0.8, 1], 0.025);
    [4.8769, 3.3569, 2.6803, 2.2898, 2.031].forEach((c, i) => expect(five[i]).toBeCloseTo(c, 3));
  });

  it('matches the published Pocock-type boundaries (five equal looks, one-sided α 0.025: gsDesign sfLDPocock)', () => {
    const five = groupSequentialBounds([0.2, 0.4, 0.6, 0.8, 1], 0.025, 'pocock');
    [2.438, 2.4268, 2.4101, 2.3966, 2.3859].forEach((c, i) => expect(five[i]).toBeCloseTo(c, 3));
  });

  it('keeps the false-positive rate at α and spends it look by look as planned (simulated, uneven looks)', () => {
    const fractions = [0.1, 0.25, 0.55, 0.7, 1];
    for (const spending of ['obrienFleming', 'pocock'] as const) {
      const bounds = groupSequentialBounds(fractions, 0.05, spending);
      const run = simulate(fractions, bounds, 60_000, spending === 'pocock' ? 7 : 11);
      // 3 standard errors of a share near 0.05 over 60 000 paths: 0.0027.
      expect(Math.abs(run.total - 0.05)).toBeLessThan(0.0027);
      fractions.forEach((t, k) => {
        const planned = spentAlpha(spending, 0.05, t) - (k > 0 ? spentAlpha(spending, 0.05, fractions[k - 1]!) : 0);
        expect(Math.abs(run.byLook[k]! - planned)).toBeLessThan(3 * Math.sqrt((planned * (1 - planned)) / 60_000) + 2e-4);
      });
      // Pocock-type boundaries are nearly flat; O'Brien–Fleming-type ones fall.
      if (spending === 'obrienFleming') expect(bounds[0]!).toBeGreaterThan(bounds[4]! + 1.5);
      else expect(bounds[0]! - bounds[4]!).toBeLessThan(0.45);
    }
  });

  it('refuses fractions that do not grow or fall outside (0, 1]', () => {
    expect(() => groupSequentialBounds([0.5, 0.5], 0.05)).toThrow('fractions[1]: 0.5 must be greater than the look before (0.5)');
    expect(() => groupSequentialBounds([0, 1], 0.05)).toThrow('fractions[0]: 0 must be in (0, 1]');
    expect(() => groupSequentialBounds([0.5, 1.2], 0.05)).toThrow('fractions[1]: 1.2 must be in (0, 1]');
  });
});

describe('looks close in information', () => {
  it('an extra look with almost no new information barely moves the later boundaries (no numerical blow-up)', () => {
    const reference = groupSequentialBounds([0.5, 1], 0.025)[1]!;
    for (const d of [1e-7, 1e-5, 1e-4, 1e-3, 5e-3, 1e-2])
      expect(Math.abs(groupSequentialBounds([0.5, 0.5 + d, 1], 0.025)[2]! - reference), `Δt ${d}`).toBeLessThan(0.005);
  });
});
