// Samplers for the denoising loop. Pure math over Float32Arrays: no ONNX, no I/O.
//  - flow-euler: rectified-flow / flow-matching Euler (SD3, Wan, HunyuanVideo). x_σ = (1−σ)·x0 + σ·ε,
//    the model predicts the velocity v = ε − x0, and x ← x + (σ_next − σ)·v.
//  - ddim: deterministic DDIM (η = 0) over a discrete beta schedule (Song et al. 2020, eq. 12), with the
//    timestep spacings of diffusers' DDIMScheduler.
import type { DdimSchedulerConfig, FlowEulerSchedulerConfig, SchedulerConfig } from '../model/manifest.js';

export interface Scheduler {
  /** Timestep fed to the denoiser at each step, in the model's training scale (0…numTrainTimesteps). */
  readonly timesteps: Float64Array;
  /** Multiplier for the initial Gaussian noise. */
  readonly initNoiseSigma: number;
  /** One sampler step: returns the sample for step i + 1 (writes into `out` when given). */
  step(modelOutput: Float32Array, i: number, sample: Float32Array, out?: Float32Array): Float32Array;
  /**
   * step(applyGuidance(cond, uncond, guidance), i, sample, out) in one pass, where a sampler has it: the same
   * values to the bit (the guided output is rounded to float32 as applyGuidance stores it), one pass over the
   * latent a step fewer.
   */
  stepGuided?(prediction: GuidedPrediction, i: number, sample: Float32Array, out: Float32Array): Float32Array;
}

/** The denoiser's two predictions and the guidance scale that combines them (applyGuidance). */
export interface GuidedPrediction {
  cond: Float32Array;
  uncond: Float32Array;
  guidance: number;
}

export function createScheduler(config: SchedulerConfig, steps: number): Scheduler {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps must be a positive integer (got ${steps})`);
  switch (config.type) {
    case 'flow-euler':
      return new FlowEulerScheduler(config, steps);
    case 'ddim':
      return new DdimScheduler(config, steps);
  }
}

/** σ' = s·σ / (1 + (s − 1)·σ): a shift > 1 spends more steps at high noise (needed at high resolution). */
export function shiftSigma(sigma: number, shift: number): number {
  return (shift * sigma) / (1 + (shift - 1) * sigma);
}

export class FlowEulerScheduler implements Scheduler {
  /** σ for each step plus a final 0: length steps + 1. */
  readonly sigmas: Float64Array;
  readonly timesteps: Float64Array;
  readonly initNoiseSigma = 1;

  constructor(config: FlowEulerSchedulerConfig, steps: number) {
    this.sigmas = new Float64Array(steps + 1);
    this.timesteps = new Float64Array(steps);
    for (let i = 0; i < steps; i++) {
      const sigma = shiftSigma(1 - i / steps, config.shift);
      this.sigmas[i] = sigma;
      this.timesteps[i] = sigma * config.numTrainTimesteps;
    }
    this.sigmas[steps] = 0;
  }

  step(velocity: Float32Array, i: number, sample: Float32Array, out = new Float32Array(sample.length)): Float32Array {
    const dt = (this.sigmas[i + 1] as number) - (this.sigmas[i] as number);
    for (let k = 0; k < sample.length; k++) out[k] = (sample[k] as number) + dt * (velocity[k] as number);
    return out;
  }

  stepGuided({ cond, uncond, guidance }: GuidedPrediction, i: number, sample: Float32Array, out: Float32Array): Float32Array {
    const dt = (this.sigmas[i + 1] as number) - (this.sigmas[i] as number);
    for (let k = 0; k < sample.length; k++) {
      const u = uncond[k] as number;
      out[k] = (sample[k] as number) + dt * Math.fround(u + guidance * ((cond[k] as number) - u));
    }
    return out;
  }
}

export function betaSchedule(config: Pick<DdimSchedulerConfig, 'betaStart' | 'betaEnd' | 'betaSchedule' | 'numTrainTimesteps'>): Float64Array {
  const n = config.numTrainTimesteps;
  const betas = new Float64Array(n);
  const at = (a: number, b: number, i: number): number => (n === 1 ? a : a + ((b - a) * i) / (n - 1));
  for (let i = 0; i < n; i++) {
    betas[i] = config.betaSchedule === 'linear' ? at(config.betaStart, config.betaEnd, i) : at(Math.sqrt(config.betaStart), Math.sqrt(config.betaEnd), i) ** 2;
  }
  return betas;
}

export function alphasCumprod(betas: Float64Array): Float64Array {
  const out = new Float64Array(betas.length);
  let acc = 1;
  for (let i = 0; i < betas.length; i++) {
    acc *= 1 - (betas[i] as number);
    out[i] = acc;
  }
  return out;
}

/** Integer timesteps, highest first, as diffusers' DDIMScheduler.set_timesteps computes them. */
export function ddimTimesteps(config: Pick<DdimSchedulerConfig, 'numTrainTimesteps' | 'timestepSpacing' | 'stepsOffset'>, steps: number): number[] {
  const T = config.numTrainTimesteps;
  if (steps > T) throw new RangeError(`steps (${steps}) cannot exceed numTrainTimesteps (${T})`);
  const out: number[] = [];
  for (let i = 0; i < steps; i++) {
    if (config.timestepSpacing === 'leading') {
      out.push((steps - 1 - i) * Math.floor(T / steps) + config.stepsOffset);
    } else if (config.timestepSpacing === 'trailing') {
      out.push(Math.round(T - (i * T) / steps) - 1);
    } else {
      out.push(Math.round(steps === 1 ? 0 : ((T - 1) * (steps - 1 - i)) / (steps - 1)));
    }
  }
  return out.map((t) => Math.min(T - 1, t));
}

export class DdimScheduler implements Scheduler {
  readonly timesteps: Float64Array;
  readonly initNoiseSigma = 1;
  private readonly alphas: Float64Array;
  private readonly finalAlpha: number;
  private readonly stride: number;

  constructor(
    private readonly config: DdimSchedulerConfig,
    steps: number,
  ) {
    this.alphas = alphasCumprod(betaSchedule(config));
    this.finalAlpha = config.setAlphaToOne ? 1 : (this.alphas[0] as number);
    this.timesteps = Float64Array.from(ddimTimesteps(config, steps));
    this.stride = Math.floor(config.numTrainTimesteps / steps);
  }

  /** ᾱ at step i and at the step after it (the final step lands on ᾱ_final). */
  alphaPair(i: number): [number, number] {
    const t = this.timesteps[i] as number;
    const prev = t - this.stride;
    return [this.alphas[t] as number, prev >= 0 ? (this.alphas[prev] as number) : this.finalAlpha];
  }

  step(modelOutput: Float32Array, i: number, sample: Float32Array, out = new Float32Array(sample.length)): Float32Array {
    const [a, aPrev] = this.alphaPair(i);
    const sa = Math.sqrt(a);
    const s1a = Math.sqrt(1 - a);
    const saPrev = Math.sqrt(aPrev);
    const s1aPrev = Math.sqrt(1 - aPrev);
    const v = this.config.predictionType === 'v_prediction';
    for (let k = 0; k < sample.length; k++) {
      const x = sample[k] as number;
      const m = modelOutput[k] as number;
      const x0 = v ? sa * x - s1a * m : (x - s1a * m) / sa;
      const eps = v ? sa * m + s1a * x : m;
      out[k] = saPrev * x0 + s1aPrev * eps;
    }
    return out;
  }
}

/** Classifier-free guidance: uncond + g·(cond − uncond), in place into `out`. */
export function applyGuidance(cond: Float32Array, uncond: Float32Array, guidance: number, out = new Float32Array(cond.length)): Float32Array {
  for (let k = 0; k < cond.length; k++) {
    const u = uncond[k] as number;
    out[k] = u + guidance * ((cond[k] as number) - u);
  }
  return out;
}
