// What a request may ask for: the manifest's limits, narrowed by shapes the ONNX graphs pin and by the
// runtime config. Computed once at start-up; validation is then a pure function of these numbers.
import type { DenoiserIo } from '../model/graph-io.js';
import { decodedFrames, dimensionMultiple, type ModelManifest } from '../model/manifest.js';

export interface Range {
  min: number;
  max: number;
}

export interface RequestLimits {
  promptMaxChars: number;
  width: Range & { multipleOf: number };
  height: Range & { multipleOf: number };
  fps: Range;
  /** Duration cap in seconds (the minimum is "at least one frame"). */
  maxSeconds: number;
  frames: Range;
  steps: Range;
  guidance: Range;
  seed: Range;
}

export interface RequestDefaults {
  width: number;
  height: number;
  fps: number;
  seconds: number;
  steps: number;
  guidance: number;
}

export const MAX_SEED = 0xffffffff;

export function requestLimits(m: ModelManifest, fixed: DenoiserIo['fixed'], opts: { maxPromptChars: number }): RequestLimits {
  const multipleOf = dimensionMultiple(m);
  const s = m.vae.spatialCompression;
  const [, t, h, w] = fixed;
  const pinned = (dim: number | undefined, range: Range): Range => (dim === undefined ? range : { min: dim * s, max: dim * s });
  // A pinned latent frame count T admits the clip lengths that decode from exactly T latent frames.
  const frames =
    t === undefined
      ? { min: 1, max: m.limits.maxFrames }
      : { min: t > 1 ? decodedFrames(m, t - 1) + 1 : 1, max: Math.min(m.limits.maxFrames, decodedFrames(m, t)) };
  return {
    promptMaxChars: opts.maxPromptChars,
    width: { ...pinned(w, { min: m.limits.minWidth, max: m.limits.maxWidth }), multipleOf },
    height: { ...pinned(h, { min: m.limits.minHeight, max: m.limits.maxHeight }), multipleOf },
    fps: { min: m.limits.minFps, max: m.limits.maxFps },
    maxSeconds: m.limits.maxSeconds,
    frames,
    steps: { min: 1, max: m.limits.maxSteps },
    guidance: { min: 1, max: m.limits.maxGuidance },
    seed: { min: 0, max: MAX_SEED },
  };
}

export function requestDefaults(m: ModelManifest): RequestDefaults {
  return {
    width: m.video.width,
    height: m.video.height,
    fps: m.video.fps,
    seconds: m.video.frames / m.video.fps,
    steps: m.sampling.steps,
    guidance: m.sampling.guidance,
  };
}
