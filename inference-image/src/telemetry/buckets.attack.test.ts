// attack-14: what histogram_quantile(0.99, ...) reads from REQUEST_DURATION_BUCKETS when latencies are tight
// (a T2V model with fixed steps and resolution runs within a few % of its mean). The README's example judges
// p99 relative to stable with max 1.5. Prometheus interpolates linearly inside the bucket holding the rank,
// so with a narrow spread the estimate snaps towards a bucket's upper edge and the ratio of two estimates
// is quantised to powers of 1.25.
import { describe, expect, it } from 'vitest';
import { REQUEST_DURATION_BUCKETS } from './metrics.js';

/** Prometheus' histogram_quantile over cumulative bucket counts (upper bounds ascending, +Inf last). */
function histogramQuantile(q: number, samples: number[]): number {
  const bounds = [...REQUEST_DURATION_BUCKETS, Infinity];
  const counts = bounds.map((b) => samples.filter((s) => s <= b).length);
  const total = counts[counts.length - 1]!;
  const rank = q * total;
  const i = counts.findIndex((c) => c >= rank);
  if (i === bounds.length - 1) return bounds[bounds.length - 2]!;
  const lower = i === 0 ? 0 : bounds[i - 1]!;
  const below = i === 0 ? 0 : counts[i - 1]!;
  return lower + (bounds[i]! - lower) * ((rank - below) / (counts[i]! - below));
}

/** n latencies around `mean` with a ±`spread` (uniform in log space): deterministic. */
function latencies(mean: number, spread: number, n = 400): number[] {
  return Array.from({ length: n }, (_, k) => mean * Math.exp(spread * ((2 * (k + 0.5)) / n - 1)));
}

function sweep(trueRatio: number): { min: number; max: number; at: { v: number; ratio: number }[] } {
  const at: { v: number; ratio: number }[] = [];
  for (let v = 5; v < 200; v *= 1.01) {
    const ratio = histogramQuantile(0.99, latencies(v * trueRatio, 0.03)) / histogramQuantile(0.99, latencies(v, 0.03));
    at.push({ v: +v.toFixed(2), ratio: +ratio.toFixed(3) });
  }
  return { min: Math.min(...at.map((a) => a.ratio)), max: Math.max(...at.map((a) => a.ratio)), at };
}

describe('attack-14: p99 resolution against a relative bound of 1.5', () => {
  it('a candidate 1.3× slower than stable (within the 1.5× bound) never reads above 1.5×', () => {
    const s = sweep(1.3);
    const bad = s.at.filter((a) => a.ratio > 1.5);
    expect(
      bad.length,
      `read as up to ${s.max}× at stable p99 ${bad
        .slice(0, 3)
        .map((b) => `${b.v}s→${b.ratio}×`)
        .join(', ')} (${bad.length} of ${s.at.length} points)`,
    ).toBe(0);
  });

  it('a candidate 1.6× slower than stable (beyond the 1.5× bound) never reads at or below 1.5×', () => {
    const s = sweep(1.6);
    const bad = s.at.filter((a) => a.ratio <= 1.5);
    expect(
      bad.length,
      `read as low as ${s.min}× at stable p99 ${bad
        .slice(0, 3)
        .map((b) => `${b.v}s→${b.ratio}×`)
        .join(', ')} (${bad.length} of ${s.at.length} points)`,
    ).toBe(0);
  });
});
