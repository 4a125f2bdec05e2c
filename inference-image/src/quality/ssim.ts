// Mean SSIM of two 8-bit luma frames over non-overlapping square windows: the formula of ssim.js's 'bezkrovny'
// method (Igor Bezkrovny's port of rhys-e/structural-similarity; ssim.js documents it within ~1 % of Wang's
// ssim.m), which the tests use as the reference. Windows tile the frame (11 px, the last row and column of
// windows cut short at the edges), each window's SSIM from its exact integer sums, the mean over windows.
// Why not a window at every pixel (ssim.js's default 'weber', which this file computed until Dec 2026): that
// is ~121× the window arithmetic — 40–60 ms of CPU per 32-frame 256² clip against ~4 ms here, the largest
// share of the runtime's per-clip overhead (`npm run bench:inference`) — for a temporal-stability signal that
// compares a clip's consecutive frames with themselves, where the tiling is the same for every clip and arm.
// The runtime does not call ssim.js itself: it allocates an array per window (~10× slower).
// The window sums come from WebAssembly SIMD (ssim-columns.wat: each band's column sums, 16 columns at a time)
// where the engine has it; the JavaScript loop below is the reference and the fallback. The sums are exact
// integers either way, so both give the same SSIM to the last bit.
import { ensureMemory, lazySimdModule } from '../wasm/simd-module.js';
import { SSIM_COLUMNS_WASM_BASE64 } from './ssim-columns-wasm.js';

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
 * Scratch space for meanSsim, reusable across pairs of one width: one band of windows' sums (luma, luma²,
 * cross term, for both frames). Exact integers: at most 121 pixels of 255² = 7,868,025 per window. It also
 * says how the sums are made (`js` forces the JavaScript loop: tests, benchmarks; default WebAssembly SIMD).
 */
export class SsimScratch {
  readonly x: Int32Array;
  readonly y: Int32Array;
  readonly xx: Int32Array;
  readonly yy: Int32Array;
  readonly xy: Int32Array;

  constructor(
    readonly width: number,
    readonly implementation: SsimImplementation = ssimImplementation(),
  ) {
    const windows = Math.ceil(width / SSIM_WINDOW);
    this.x = new Int32Array(windows);
    this.y = new Int32Array(windows);
    this.xx = new Int32Array(windows);
    this.yy = new Int32Array(windows);
    this.xy = new Int32Array(windows);
  }

  reset(): void {
    for (const a of [this.x, this.y, this.xx, this.yy, this.xy]) a.fill(0);
  }
}

/** What one pass over a pair of frames yields (pairStatistics). */
export interface PairStatistics {
  /** meanSsim(x, y). */
  ssim: number;
  /** Σ |x − y| over the pixels. */
  absDiffSum: number;
  /** Σ y and Σ y² over the pixels (y's mean and spread, without a pass of their own). */
  ySum: number;
  ySumSq: number;
}

/**
 * Mean over the SSIM_WINDOW-px windows tiling the frame (those at the right and bottom edges narrower or shorter
 * when the size is not a multiple) of SSIM(x, y) = (2μxμy + C1)(2σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2)),
 * population variances, for two 8-bit luma frames of width × height; each window counts once whatever its size,
 * as in ssim.js's 'bezkrovny'. 1 for identical frames; ≤ 1. Throws RangeError when an array holds another count.
 * Window sums are exact integers, so the result does not depend on the order of the additions; `scratch` (of
 * this width) saves the allocation.
 */
export function meanSsim(x: Uint8Array, y: Uint8Array, width: number, height: number, scratch = new SsimScratch(width)): number {
  return pairStatistics(x, y, width, height, scratch).ssim;
}

/** How window sums are computed: `wasm-simd` (ssim-columns.wat) or `js` (addRow in this file). */
export type SsimImplementation = 'wasm-simd' | 'js';

/**
 * meanSsim(x, y) and, from the same pass over the pixels, the sum of absolute differences and y's sum and sum of
 * squares (exact integers). Same errors as meanSsim.
 */
export function pairStatistics(x: Uint8Array, y: Uint8Array, width: number, height: number, scratch = new SsimScratch(width)): PairStatistics {
  for (const [name, a] of [
    ['x', x],
    ['y', y],
  ] as const)
    if (a.length !== width * height) throw new RangeError(`meanSsim: ${name} has ${a.length} values, expected ${width}x${height} = ${width * height}`);
  if (scratch.width !== width) throw new RangeError(`meanSsim: scratch for width ${scratch.width}, frames are ${width} wide`);
  // Each band's window sums into scratch, from WebAssembly's column sums or from the JavaScript loop.
  const simd = scratch.implementation === 'wasm-simd' ? columnsModule() : null;
  return bandsOver(height, scratch, simd ? simd.bands(x, y, width, scratch) : jsBands(x, y, scratch));
}

/** pairStatistics over the bands `fillBand` sums. */
function bandsOver(height: number, scratch: SsimScratch, fillBand: BandFiller): PairStatistics {
  let total = 0;
  let windows = 0;
  let absDiffSum = 0;
  let ySum = 0;
  let ySumSq = 0;
  for (let top = 0; top < height; top += SSIM_WINDOW) {
    const rows = Math.min(height, top + SSIM_WINDOW) - top;
    absDiffSum += fillBand(top, rows);
    for (let w = 0; w < scratch.y.length; w++) {
      ySum += scratch.y[w] as number;
      ySumSq += scratch.yy[w] as number;
    }
    total += bandOfWindows(scratch, rows);
    windows += scratch.x.length;
  }
  return { ssim: total / windows, absDiffSum, ySum, ySumSq };
}

/** Puts the window sums of the band of `rows` rows from row `top` into the scratch; returns the band's Σ |x − y|. */
type BandFiller = (top: number, rows: number) => number;

function jsBands(x: Uint8Array, y: Uint8Array, s: SsimScratch): BandFiller {
  return (top, rows) => {
    s.reset();
    let sad = 0;
    for (let r = top; r < top + rows; r++) sad += addRow(s, x, y, r * s.width);
    return sad;
  };
}

/** Adds one row (starting at `offset`) to its band's window sums, window by window; returns the row's Σ |x − y|. */
function addRow(s: SsimScratch, x: Uint8Array, y: Uint8Array, offset: number): number {
  const { x: wx, y: wy, xx: wxx, yy: wyy, xy: wxy, width } = s;
  let sad = 0;
  for (let w = 0, left = 0; left < width; w++, left += SSIM_WINDOW) {
    const end = offset + Math.min(width, left + SSIM_WINDOW);
    let sx = 0;
    let sy = 0;
    let sxx = 0;
    let syy = 0;
    let sxy = 0;
    for (let i = offset + left; i < end; i++) {
      const a = x[i] as number;
      const b = y[i] as number;
      sx += a;
      sy += b;
      sxx += a * a;
      syy += b * b;
      sxy += a * b;
      // |a − b| without a branch the frame's content would make unpredictable.
      const d = a - b;
      const sign = d >> 31;
      sad += (d ^ sign) - sign;
    }
    wx[w] = (wx[w] as number) + sx;
    wy[w] = (wy[w] as number) + sy;
    wxx[w] = (wxx[w] as number) + sxx;
    wyy[w] = (wyy[w] as number) + syy;
    wxy[w] = (wxy[w] as number) + sxy;
  }
  return sad;
}

/** Σ SSIM over one band's windows (`rows` tall), from their sums. */
function bandOfWindows(s: SsimScratch, rows: number): number {
  const { x: wx, y: wy, xx: wxx, yy: wyy, xy: wxy, width } = s;
  let total = 0;
  for (let w = 0; w < wx.length; w++) {
    const n = rows * (Math.min(width, (w + 1) * SSIM_WINDOW) - w * SSIM_WINDOW);
    const mx = (wx[w] as number) / n;
    const my = (wy[w] as number) / n;
    const vx = (wxx[w] as number) / n - mx * mx;
    const vy = (wyy[w] as number) / n - my * my;
    const cxy = (wxy[w] as number) / n - mx * my;
    total += ((2 * mx * my + C1) * (2 * cxy + C2)) / ((mx * mx + my * my + C1) * (vx + vy + C2));
  }
  return total;
}

/** ssim-columns.wat's instance: band fillers that sum columns in WebAssembly, then columns into windows here. */
interface ColumnsModule {
  /** Returns the filler for x and y; it copies each band's rows into the module's memory when called. */
  bands(x: Uint8Array, y: Uint8Array, width: number, scratch: SsimScratch): BandFiller;
}

/**
 * The ssim-columns.wat instance, or null where WebAssembly SIMD is not available (then the JS loop sums). Its memory
 * holds one band of each frame, not the frames (WebAssembly memory never shrinks: ~42 bytes × the widest frame).
 */
const columnsModule = lazySimdModule(
  'ssim-columns',
  SSIM_COLUMNS_WASM_BASE64,
  ({ memory, fn }): ColumnsModule => {
    const band = fn('band');
    return {
      bands(x, y, width, scratch) {
        // Memory: one band of x, then of y (a byte a pixel), then five int32 column sums (Σx, Σy, Σx², Σy², Σxy).
        const yAt = SSIM_WINDOW * width;
        const accAt = (2 * yAt + 15) & ~15;
        ensureMemory(memory, accAt + 5 * width * 4);
        const bytes = new Uint8Array(memory.buffer);
        const acc = new Int32Array(memory.buffer, accAt, 5 * width);
        const { x: wx, y: wy, xx: wxx, yy: wyy, xy: wxy } = scratch;
        return (top, rows) => {
          bytes.set(x.subarray(top * width, (top + rows) * width), 0);
          bytes.set(y.subarray(top * width, (top + rows) * width), yAt);
          const sad = band(0, yAt, width, rows, accAt);
          for (let w = 0, left = 0; left < width; w++, left += SSIM_WINDOW) {
            const end = Math.min(width, left + SSIM_WINDOW);
            let sx = 0;
            let sy = 0;
            let sxx = 0;
            let syy = 0;
            let sxy = 0;
            for (let c = left; c < end; c++) {
              sx += acc[c] as number;
              sy += acc[width + c] as number;
              sxx += acc[2 * width + c] as number;
              syy += acc[3 * width + c] as number;
              sxy += acc[4 * width + c] as number;
            }
            wx[w] = sx;
            wy[w] = sy;
            wxx[w] = sxx;
            wyy[w] = syy;
            wxy[w] = sxy;
          }
          return sad;
        };
      },
    };
  },
  (columns) => {
    // A known pair through both: 37 columns (two 16-column blocks and a tail), 13 rows (a short second band).
    const x = Uint8Array.from({ length: 37 * 13 }, (_, i) => (i * 151 + 7) % 256);
    const y = Uint8Array.from({ length: 37 * 13 }, (_, i) => (i * 97 + (i % 5) * 61) % 256);
    const simd = new SsimScratch(37, 'js');
    const js = new SsimScratch(37, 'js');
    const same = (a: PairStatistics, b: PairStatistics) => a.ssim === b.ssim && a.absDiffSum === b.absDiffSum && a.ySum === b.ySum && a.ySumSq === b.ySumSq;
    return same(bandsOver(13, simd, columns.bands(x, y, 37, simd)), bandsOver(13, js, jsBands(x, y, js)));
  },
);

/** The implementation pairStatistics uses by default here: `wasm-simd` when ssim-columns.wat loads, else `js`. */
export function ssimImplementation(): SsimImplementation {
  return columnsModule() ? 'wasm-simd' : 'js';
}
