// Quality signals of a generated clip, computed on the rgb24 frames the encoder reads (no model, no
// reference video): how much the picture changes from frame to frame, how many frames stand still, how many
// are blank, and how alike consecutive frames are in structure. Cheap enough to run on every clip; the
// per-clip cost is in `npm run bench:inference`.
import { blockAverage, meanSsim, pairStatistics, SsimScratch, ssimScale } from './ssim.js';

/**
 * Frames whose mean absolute luma difference from the frame before is below this many levels (of 0–255)
 * count as frozen: under half a level means at most a few pixels moved by the smallest step 8-bit video
 * can show, which the VAE's output noise alone exceeds in a moving clip.
 */
export const FROZEN_MAX_MEAN_ABS_DIFF = 0.5;
/**
 * Frames whose luma standard deviation is below this many levels (of 0–255) count as blank: a flat black,
 * grey, white or single-colour frame (< 1 % of the range; a frame with any visible content is far above).
 */
export const BLANK_MAX_LUMA_STD = 2;

export interface ClipQuality {
  /** Frames measured. */
  frames: number;
  /**
   * Temporal flicker: mean over consecutive frame pairs of the mean absolute luma difference, in luma levels
   * (0–255; ITU-R BT.601 luma, the integer weights ssim.js uses). 0 for a still clip. Undefined with < 2 frames.
   */
  flicker?: number;
  /** Share of consecutive pairs whose mean absolute luma difference is below FROZEN_MAX_MEAN_ABS_DIFF (0–1). Undefined with < 2 frames. */
  frozenRatio?: number;
  /** Share of frames whose luma standard deviation is below BLANK_MAX_LUMA_STD (0–1). Undefined with 0 frames. */
  blankRatio?: number;
  /**
   * Mean SSIM between consecutive frames' luma (Wang et al. 2004 over non-overlapping 11×11 windows, ssim.js's
   * 'bezkrovny' method, K1 0.01, K2 0.03; frames over 256 px on the short side block-averaged first; see
   * ssim.ts). 1 = identical. Undefined with < 2 frames.
   */
  temporalSsim?: number;
}

/**
 * Measures a clip frame by frame (push each rgb24 frame as it is produced, then `result()`), keeping only
 * the previous frame's luma. Throws RangeError when a frame's size does not match width × height × 3.
 * Its buffers (two frames of luma, the SSIM scratch) are allocated once per clip, not per frame.
 */
export class ClipQualityMeter {
  private previous: LumaFrame | undefined;
  /** The buffers the next frame's luma goes into: the ones the frame before the previous one used. */
  private spare: LumaFrame | undefined;
  private readonly scale: number;
  private scratch: SsimScratch | undefined;
  private frames = 0;
  private pairs = 0;
  private diffSum = 0;
  private frozen = 0;
  private blank = 0;
  private ssimSum = 0;

  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    if (!Number.isInteger(width) || width < 1 || !Number.isInteger(height) || height < 1)
      throw new RangeError(`frame size ${width}x${height}: must be positive integers`);
    this.scale = ssimScale(width, height);
  }

  push(rgb24: Uint8Array): void {
    const pixels = this.width * this.height;
    if (rgb24.length !== pixels * 3)
      throw new RangeError(`frame ${this.frames} has ${rgb24.length} bytes, expected ${pixels * 3} (${this.width}x${this.height} rgb24)`);
    lumaOf(rgb24, this.nextLuma());
    this.pushLuma();
  }

  /**
   * The buffer (width × height bytes) the next frame's BT.601 luma goes into: fill it (FrameSource.frameWithLuma
   * does, in the conversion's own pass), then pushLuma(). The same buffer until pushLuma().
   */
  nextLuma(): Uint8Array {
    this.spare ??= { luma: new Uint8Array(this.width * this.height), small: undefined };
    return this.spare.luma;
  }

  /** Measures the frame whose luma was written into nextLuma(). */
  pushLuma(): void {
    const frame = this.spare;
    if (!frame) throw new Error('pushLuma: no luma was written into nextLuma()');
    this.spare = undefined;
    frame.small = undefined;
    this.frames++;
    const prev = this.previous;
    if (!prev) {
      if (lumaStd(frame.luma) < BLANK_MAX_LUMA_STD) this.blank++;
    } else {
      const { mad, std, ssim } = this.compare(prev, frame);
      if (std < BLANK_MAX_LUMA_STD) this.blank++;
      this.pairs++;
      this.diffSum += mad;
      if (mad < FROZEN_MAX_MEAN_ABS_DIFF) this.frozen++;
      // Identical frames are SSIM 1 by definition.
      this.ssimSum += mad === 0 ? 1 : ssim;
    }
    this.spare = prev;
    this.previous = frame;
  }

  /**
   * The pair's mean absolute luma difference, the later frame's luma standard deviation and the pair's SSIM: one
   * pass over the pixels at SSIM's own scale (frames up to 383 px on the short side), three above it.
   */
  private compare(prev: LumaFrame, frame: LumaFrame): { mad: number; std: number; ssim: number } {
    const pixels = this.width * this.height;
    if (this.scale === 1) {
      this.scratch ??= new SsimScratch(this.width);
      const p = pairStatistics(prev.luma, frame.luma, this.width, this.height, this.scratch);
      const mean = p.ySum / pixels;
      return { mad: p.absDiffSum / pixels, std: Math.sqrt(Math.max(0, p.ySumSq / pixels - mean * mean)), ssim: p.ssim };
    }
    const mad = meanAbsDiff(prev.luma, frame.luma);
    return { mad, std: lumaStd(frame.luma), ssim: mad === 0 ? 1 : this.ssim(prev, frame) };
  }

  result(): ClipQuality {
    const out: ClipQuality = { frames: this.frames };
    if (this.frames > 0) out.blankRatio = this.blank / this.frames;
    if (this.pairs > 0) {
      out.flicker = this.diffSum / this.pairs;
      out.frozenRatio = this.frozen / this.pairs;
      out.temporalSsim = this.ssimSum / this.pairs;
    }
    return out;
  }

  /** SSIM of two frames' luma, block-averaged first above 256 px (each frame's small luma is kept for its next pair). */
  private ssim(a: LumaFrame, b: LumaFrame): number {
    const x = (a.small ??= blockAverage(a.luma, this.width, this.height, this.scale));
    const y = (b.small ??= blockAverage(b.luma, this.width, this.height, this.scale));
    this.scratch ??= new SsimScratch(x.width);
    return meanSsim(x.luma, y.luma, x.width, x.height, this.scratch);
  }
}

interface LumaFrame {
  luma: Uint8Array;
  /** The luma SSIM compares (block-averaged above 256 px); made when the frame is first compared. */
  small: { luma: Uint8Array; width: number; height: number } | undefined;
}

/** Writes rgb24's BT.601 luma into `luma` (of width × height). */
function lumaOf(rgb: Uint8Array, luma: Uint8Array): void {
  const n = luma.length;
  for (let p = 0, i = 0; p < n; p++, i += 3) {
    // BT.601 luma in integers, as ssim.js's rgb2grayInteger: (77 R + 150 G + 29 B + 128) >> 8.
    luma[p] = (77 * (rgb[i] as number) + 150 * (rgb[i + 1] as number) + 29 * (rgb[i + 2] as number) + 128) >> 8;
  }
}

/** Population standard deviation of a frame's luma, in levels. */
function lumaStd(luma: Uint8Array): number {
  const n = luma.length;
  let sum = 0;
  let sumSq = 0;
  for (let p = 0; p < n; p++) {
    const y = luma[p] as number;
    sum += y;
    sumSq += y * y;
  }
  const mean = sum / n;
  return Math.sqrt(Math.max(0, sumSq / n - mean * mean));
}

function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let sum = 0;
  for (let p = 0; p < a.length; p++) sum += Math.abs((a[p] as number) - (b[p] as number));
  return sum / a.length;
}
