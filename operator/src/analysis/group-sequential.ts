// Group-sequential boundaries with Lan–DeMets alpha spending (#16): when the looks are fixed by the step plan (one
// at the end of each step up to the gate), a boundary per look that spends α as the information grows gives more
// power than an always-valid test, at the price of looking only there. Pure.
//
// Sources: K. K. G. Lan and D. L. DeMets, "Discrete sequential boundaries for clinical trials", Biometrika 70 (1983)
// (the spending functions); C. Jennison and B. W. Turnbull, "Group Sequential Methods with Applications to Clinical
// Trials" (2000), ch. 19 (the recursive numerical integration of the score's sub-densities, Armitage, McPherson and
// Rowe 1969). Reference boundaries in the test are the published ones (O'Brien–Fleming-type, K = 2 and 5).
import jStat from 'jstat';

export type SpendingFunction = 'obrienFleming' | 'pocock';

const normalCdf = (z: number): number => jStat.normal.cdf(z, 0, 1);
const normalInv = (p: number): number => jStat.normal.inv(p, 0, 1);
const normalPdf = (z: number): number => Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI);

/**
 * One-sided α spent by information fraction t ∈ [0, 1]: O'Brien–Fleming-type 2(1 − Φ(z_{1−α/2} ÷ √t)) (almost
 * nothing early, nearly all of α at the end), Pocock-type α·ln(1 + (e − 1)t) (evenly).
 */
export function spentAlpha(spending: SpendingFunction, alpha: number, t: number): number {
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`alpha ${alpha} must be in (0, 1)`);
  if (t <= 0) return 0;
  const f = Math.min(t, 1);
  if (spending === 'pocock') return alpha * Math.log(1 + (Math.E - 1) * f);
  return 2 * (1 - normalCdf(normalInv(1 - alpha / 2) / Math.sqrt(f)));
}

/** Looks closer than this in information fraction to the last one count as the same look. */
export const MIN_INFORMATION_STEP = 1e-3;

/** Points of the grid the score's sub-density is carried on, per look. */
const GRID = 401;

/**
 * Upper z boundaries c_1…c_K for looks at increasing information fractions t_1 < … < t_K (each in (0, 1]; the last
 * one is usually 1): the one-sided test that rejects at the first look with Z_k ≥ c_k has P(reject | no effect) =
 * spentAlpha(t_K), having spent spentAlpha(t_k) − spentAlpha(t_{k−1}) at look k. Throws on fractions that are not
 * increasing or outside (0, 1]. A look within MIN_INFORMATION_STEP of the last one counts as that one (same score
 * boundary, nothing spent).
 */
export function groupSequentialBounds(fractions: readonly number[], alpha: number, spending: SpendingFunction = 'obrienFleming'): number[] {
  fractions.forEach((t, i) => {
    if (!(t > 0 && t <= 1)) throw new RangeError(`fractions[${i}]: ${t} must be in (0, 1]`);
    if (i > 0 && !(t > fractions[i - 1]!)) throw new RangeError(`fractions[${i}]: ${t} must be greater than the look before (${fractions[i - 1]})`);
  });
  const bounds: number[] = [];
  // The score S_k = Z_k·√t_k is Brownian motion at time t_k; `density` is its sub-density on the continuation
  // region (no earlier boundary crossed), on the points `grid`.
  let grid: number[] = [];
  let density: number[] = [];
  let previousT = 0;
  let spent = 0;
  for (const t of fractions) {
    // A look with almost no new information is no new look: its boundary is the last one's on the score scale, and
    // it spends nothing (what it would have spent goes to the next look). Numerically, an increment that narrow
    // would otherwise be re-gridded at every such look, each adding a little error.
    if (bounds.length > 0 && t - previousT < MIN_INFORMATION_STEP) {
      bounds.push((bounds[bounds.length - 1]! * Math.sqrt(previousT)) / Math.sqrt(t));
      continue;
    }
    const target = spentAlpha(spending, alpha, t) - spent;
    if (bounds.length === 0) {
      const c = target > 0 ? normalInv(1 - target) : Infinity;
      bounds.push(c);
      ({ grid, density } = firstDensity(t, c));
    } else {
      const step = t - previousT;
      const crossing = (b: number) => crossingProbability(grid, density, b, step);
      const b = target > 0 ? solveBoundary(crossing, target, Math.sqrt(t)) : Infinity;
      bounds.push(b / Math.sqrt(t));
      ({ grid, density } = nextDensity(grid, density, b, step, t));
    }
    spent += target;
    previousT = t;
  }
  return bounds;
}

function firstDensity(t: number, c: number): { grid: number[]; density: number[] } {
  const sd = Math.sqrt(t);
  const grid = linspace(-8 * sd, Math.min(c, 8) * sd);
  return { grid, density: grid.map((s) => normalPdf(s / sd) / sd) };
}

/**
 * P(S_k ≥ b, no earlier crossing) = ∫ f_{k−1}(u)·(1 − Φ((b − u)/√Δ)) du (trapezoid rule). For a narrow increment
 * (√Δ not well above the grid's spacing h: the integrand is a step the grid cannot sample) f_{k−1} is taken as
 * constant on each cell and 1 − Φ averaged over the cell exactly, with ∫Φ(x)dx = xΦ(x) + φ(x).
 */
function crossingProbability(grid: number[], density: number[], b: number, step: number): number {
  const sd = Math.sqrt(step);
  const h = grid.length > 1 ? grid[1]! - grid[0]! : 0;
  if (h > 0 && sd < 4 * h) {
    const antiderivative = (x: number) => x * normalCdf(x) + normalPdf(x);
    const mass = cellMasses(grid, density);
    let sum = 0;
    for (let i = 0; i < grid.length; i++) {
      if (mass[i] === 0) continue;
      // Mean over u in the cell of Φ((b − u)/√Δ): (√Δ/h)·(G((b − u_i + h/2)/√Δ) − G((b − u_i − h/2)/√Δ)).
      const below = (sd / h) * (antiderivative((b - grid[i]! + h / 2) / sd) - antiderivative((b - grid[i]! - h / 2) / sd));
      sum += mass[i]! * (1 - below);
    }
    return sum;
  }
  return trapezoid(
    grid,
    grid.map((u, i) => density[i]! * (1 - normalCdf((b - u) / sd))),
  );
}

/** The score boundary b with crossing(b) = target: crossing falls as b grows; bisection to 1e-9. */
function solveBoundary(crossing: (b: number) => number, target: number, scale: number): number {
  let lo = -10 * scale;
  let hi = 12 * scale;
  if (crossing(hi) > target) return hi;
  for (let i = 0; i < 200 && hi - lo > 1e-9; i++) {
    const mid = (lo + hi) / 2;
    if (crossing(mid) > target) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/**
 * f_k(s) = ∫ f_{k−1}(u)·φ((s − u)/√Δ)/√Δ du for s below the boundary b. When the increment's spread √Δ is not
 * well above the grid's spacing h (two looks close in information), the kernel sampled at the grid points is
 * garbage (a spike or nothing between them); then f_{k−1} is taken as constant on each cell of width h and the
 * kernel integrated over the cell exactly: (Φ((s − u + h/2)/√Δ) − Φ((s − u − h/2)/√Δ))/h, which tends to
 * f_{k−1} itself as Δ → 0.
 */
function nextDensity(grid: number[], density: number[], b: number, step: number, t: number): { grid: number[]; density: number[] } {
  const sd = Math.sqrt(step);
  const next = linspace(-8 * Math.sqrt(t), Math.min(b, 8 * Math.sqrt(t)));
  const h = grid.length > 1 ? grid[1]! - grid[0]! : 0;
  if (h > 0 && sd < 4 * h) {
    const mass = cellMasses(grid, density);
    return {
      grid: next,
      density: next.map((s) => {
        let sum = 0;
        for (let i = 0; i < grid.length; i++) {
          if (mass[i] === 0) continue;
          const d = s - grid[i]!;
          sum += mass[i]! * (normalCdf((d + h / 2) / sd) - normalCdf((d - h / 2) / sd));
        }
        return sum / h;
      }),
    };
  }
  return {
    grid: next,
    density: next.map((s) =>
      trapezoid(
        grid,
        grid.map((u, i) => (density[i]! * normalPdf((s - u) / sd)) / sd),
      ),
    ),
  };
}

/** Each grid point's share of ∫ f (trapezoid weights: half a cell at each end). */
function cellMasses(grid: number[], density: number[]): number[] {
  const h = grid[1]! - grid[0]!;
  return density.map((f, i) => f * h * (i === 0 || i === grid.length - 1 ? 0.5 : 1));
}

function linspace(from: number, to: number): number[] {
  if (!(to > from)) return [from, from];
  const h = (to - from) / (GRID - 1);
  return Array.from({ length: GRID }, (_, i) => from + i * h);
}

function trapezoid(x: number[], y: number[]): number {
  let sum = 0;
  for (let i = 1; i < x.length; i++) sum += ((x[i]! - x[i - 1]!) * (y[i]! + y[i - 1]!)) / 2;
  return sum;
}
