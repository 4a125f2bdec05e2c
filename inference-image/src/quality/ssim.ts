// Mean SSIM of two 8-bit luma frames with a uniform square window, on typed arrays:
// the formula of ssim.js's default ('weber') method, which the tests use as the reference. The runtime does
// not call ssim.js itself for cost: it takes ~17 ms per 256×256 pair on this machine (closures and a JS
// array per pixel), which is half of the small model's generation time for a 32-frame clip. Window sums come from
// column sums slid down and across the frame (integers in a few KB of scratch, reused), not from whole-frame
// integral images: those took three new 0.5 MB Float64Arrays per pair (~50 MB per 32-frame 256² clip for the GC)
// and five divisions per window; this does one. About a third less CPU per clip (see `npm run bench:inference`).

/** Wang et al. 2004's constants: C1 = (0.01·L)², C2 = (0.03·L)² for L = 255; ssim.js's default 11 px window. */
export const SSIM_WINDOW = 11;
const L = 255;
const C1 = (0.01 * L) ** 2;
const C2 = (0.03 * L) ** 2;

/**
 * Frames over 256 px on the short side are compared after averaging f×f blocks, f = round(short side ÷ 256),
 * as ssim.js (after Wang's reference code) does: SSIM is meant for a picture seen at about that scale, and it
 * bounds the cost. ssim.js filters before subsampling, so above 256 px the two agree closely, not exactly.
 */
export function ssimScale(width: number, height: number): number {
  return Math.max(1, Math.round(Math.min(width, height) / 256));
}

/** Mean of each f×f block (rounded), dropping a partial block at the right and bottom edge. */
export function blockAverage(luma: Uint8Array, width: number, height: number, f: number): { luma: Uint8Array; width: number; height: number } {
  if (f <= 1) return { luma, width, height };
  const w = Math.floor(width / f);
  const h = Math.floor(height / f);
  const out = new Uint8Array(w * h);
  const area = f * f;
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      let sum = 0;
      for (let dr = 0; dr < f; dr++) for (let dc = 0; dc < f; dc++) sum += luma[(r * f + dr) * width + c * f + dc] as number;
      out[r * w + c] = Math.round(sum / area);
    }
  }
  return { luma: out, width: w, height: h };
}

/**
 * Scratch space for meanSsim, reusable across pairs of one width: the column sums of the window's rows (luma,
 * luma², cross term) for both frames. Exact integers: at most 11 rows of 255² = 715,275 per column.
 */
export class SsimScratch {
  readonly x: Int32Array;
  readonly y: Int32Array;
  readonly xx: Int32Array;
  readonly yy: Int32Array;
  readonly xy: Int32Array;

  constructor(readonly width: number) {
    this.x = new Int32Array(width);
    this.y = new Int32Array(width);
    this.xx = new Int32Array(width);
    this.yy = new Int32Array(width);
    this.xy = new Int32Array(width);
  }

  reset(): void {
    for (const a of [this.x, this.y, this.xx, this.yy, this.xy]) a.fill(0);
  }
}

/**
 * Mean of SSIM(x, y) = (2μxμy + C1)(2σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2)) over every window
 * position fully inside the frame (population variances), window = min(SSIM_WINDOW, width, height), for two
 * 8-bit luma frames of width × height. 1 for identical frames; ≤ 1. Throws RangeError when an array holds
 * another count. Window sums slide down the rows (column sums) and across them, in exact integers (≤ 121 · 255²),
 * so the result does not depend on the order of the additions; `scratch` (of this width) saves the allocation.
 */
export function meanSsim(x: Uint8Array, y: Uint8Array, width: number, height: number, scratch = new SsimScratch(width)): number {
  for (const [name, a] of [
    ['x', x],
    ['y', y],
  ] as const)
    if (a.length !== width * height) throw new RangeError(`meanSsim: ${name} has ${a.length} values, expected ${width}x${height} = ${width * height}`);
  if (scratch.width !== width) throw new RangeError(`meanSsim: scratch for width ${scratch.width}, frames are ${width} wide`);
  scratch.reset();
  const win = Math.min(SSIM_WINDOW, width, height);
  const area = win * win;
  const consts = { win, area, c1: C1 * area * area, c2: C2 * area * area };
  let total = 0;
  for (let r = 0; r < height; r++) {
    if (r < win) addRow(scratch, x, y, r * width);
    else slideRow(scratch, x, y, r * width, (r - win) * width);
    if (r >= win - 1) total += rowOfWindows(scratch, consts);
  }
  return total / ((height - win + 1) * (width - win + 1));
}

/**
 * Σ SSIM over the windows of one band of rows, from its column sums: the formula above multiplied through by
 * area² (exact integer sums, one division a window). Kept apart from meanSsim so V8 optimises it as a whole.
 */
function rowOfWindows(s: SsimScratch, k: { win: number; area: number; c1: number; c2: number }): number {
  const { x: cx, y: cy, xx: cxx, yy: cyy, xy: cxy, width } = s;
  const { win, area, c1, c2 } = k;
  let sx = 0;
  let sy = 0;
  let sxx = 0;
  let syy = 0;
  let sxy = 0;
  for (let c = 0; c < win; c++) {
    sx += cx[c] as number;
    sy += cy[c] as number;
    sxx += cxx[c] as number;
    syy += cyy[c] as number;
    sxy += cxy[c] as number;
  }
  let total = 0;
  for (let left = 0; ; left++) {
    const sxsy = sx * sy;
    const sq = sx * sx + sy * sy;
    total += ((2 * sxsy + c1) * (2 * (area * sxy - sxsy) + c2)) / ((sq + c1) * (area * (sxx + syy) - sq + c2));
    const inn = left + win;
    if (inn >= width) return total;
    sx += (cx[inn] as number) - (cx[left] as number);
    sy += (cy[inn] as number) - (cy[left] as number);
    sxx += (cxx[inn] as number) - (cxx[left] as number);
    syy += (cyy[inn] as number) - (cyy[left] as number);
    sxy += (cxy[inn] as number) - (cxy[left] as number);
  }
}

/** Adds the row starting at `offset` to the column sums. */
function addRow(s: SsimScratch, x: Uint8Array, y: Uint8Array, offset: number): void {
  const { x: cx, y: cy, xx: cxx, yy: cyy, xy: cxy } = s;
  for (let c = 0; c < s.width; c++) {
    const a = x[offset + c] as number;
    const b = y[offset + c] as number;
    cx[c] = (cx[c] as number) + a;
    cy[c] = (cy[c] as number) + b;
    cxx[c] = (cxx[c] as number) + a * a;
    cyy[c] = (cyy[c] as number) + b * b;
    cxy[c] = (cxy[c] as number) + a * b;
  }
}

/** Moves the column sums down one row: adds the row at `add`, removes the row at `remove` (one pass). */
function slideRow(s: SsimScratch, x: Uint8Array, y: Uint8Array, add: number, remove: number): void {
  const { x: cx, y: cy, xx: cxx, yy: cyy, xy: cxy } = s;
  for (let c = 0; c < s.width; c++) {
    const a = x[add + c] as number;
    const b = y[add + c] as number;
    const a0 = x[remove + c] as number;
    const b0 = y[remove + c] as number;
    cx[c] = (cx[c] as number) + a - a0;
    cy[c] = (cy[c] as number) + b - b0;
    cxx[c] = (cxx[c] as number) + a * a - a0 * a0;
    cyy[c] = (cyy[c] as number) + b * b - b0 * b0;
    cxy[c] = (cxy[c] as number) + a * b - a0 * b0;
  }
}
