// Mean SSIM of two 8-bit luma frames with a uniform square window, on typed arrays and integral images:
// the formula of ssim.js's default ('weber') method, which the tests use as the reference. The runtime does
// not call ssim.js itself for cost: it takes ~17 ms per 256×256 pair on this machine (closures and a JS
// array per pixel), which is half of the small model's generation time for a 32-frame clip; this takes ~1 ms.

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
 * One frame's integral images of luma and luma² (stride width + 1): each frame is in two consecutive pairs,
 * so these are built once per frame and only the cross term once per pair.
 */
export class SsimFrame {
  readonly sum: Float64Array;
  readonly sumSq: Float64Array;

  constructor(
    readonly luma: Uint8Array,
    readonly width: number,
    readonly height: number,
  ) {
    if (luma.length !== width * height) throw new RangeError(`SsimFrame: ${luma.length} values, expected ${width}x${height} = ${width * height}`);
    this.sum = integral(width, height, luma);
    this.sumSq = integral(width, height, luma, luma);
  }
}

/**
 * Integral image of a·b pixel by pixel: out[(r + 1)(w + 1) + c + 1] = Σ a·b over rows ≤ r, columns ≤ c
 * (a = b gives luma², b undefined gives luma). Plain loops: a callback per pixel costs ~3×.
 */
function integral(width: number, height: number, a: Uint8Array, b?: Uint8Array): Float64Array {
  const stride = width + 1;
  const out = new Float64Array(stride * (height + 1));
  for (let r = 0; r < height; r++) {
    let row = 0;
    const src = r * width;
    const above = r * stride + 1;
    const here = above + stride;
    for (let c = 0; c < width; c++) {
      const v = a[src + c] as number;
      row += b ? v * (b[src + c] as number) : v;
      out[here + c] = (out[above + c] as number) + row;
    }
  }
  return out;
}

/**
 * Mean of SSIM(x, y) = (2μxμy + C1)(2σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2)) over every window
 * position fully inside the frame (population variances), window = min(SSIM_WINDOW, width, height).
 * 1 for identical frames; ≤ 1. Throws RangeError when the frames differ in size.
 */
export function ssimOf(x: SsimFrame, y: SsimFrame): number {
  const { width, height } = x;
  if (y.width !== width || y.height !== height) throw new RangeError(`ssimOf: frames of ${width}x${height} and ${y.width}x${y.height}`);
  const sxy = integral(width, height, x.luma, y.luma);
  const { sum: sx, sumSq: sxx } = x;
  const { sum: sy, sumSq: syy } = y;
  const win = Math.min(SSIM_WINDOW, width, height);
  const stride = width + 1;
  const area = win * win;
  let total = 0;
  let count = 0;
  for (let top = 0; top + win <= height; top++) {
    for (let left = 0; left + win <= width; left++) {
      // Window sums from four corners of each integral image.
      const a = top * stride + left;
      const b = a + win;
      const c = a + win * stride;
      const d = c + win;
      const mx = ((sx[d] as number) - (sx[b] as number) - (sx[c] as number) + (sx[a] as number)) / area;
      const my = ((sy[d] as number) - (sy[b] as number) - (sy[c] as number) + (sy[a] as number)) / area;
      const vx = ((sxx[d] as number) - (sxx[b] as number) - (sxx[c] as number) + (sxx[a] as number)) / area - mx * mx;
      const vy = ((syy[d] as number) - (syy[b] as number) - (syy[c] as number) + (syy[a] as number)) / area - my * my;
      const cov = ((sxy[d] as number) - (sxy[b] as number) - (sxy[c] as number) + (sxy[a] as number)) / area - mx * my;
      total += ((2 * mx * my + C1) * (2 * cov + C2)) / ((mx * mx + my * my + C1) * (vx + vy + C2));
      count++;
    }
  }
  return total / count;
}

/** ssimOf two luma frames of width × height (throws RangeError when an array holds another count). */
export function meanSsim(x: Uint8Array, y: Uint8Array, width: number, height: number): number {
  return ssimOf(new SsimFrame(x, width, height), new SsimFrame(y, width, height));
}
