import { describe, expect, it } from 'vitest';
import type { DdimSchedulerConfig } from '../model/manifest.js';
import { mulberry32 } from './noise.js';
import { alphasCumprod, applyGuidance, betaSchedule, createScheduler, ddimTimesteps, DdimScheduler, FlowEulerScheduler, shiftSigma } from './scheduler.js';

const ddim = (over: Partial<DdimSchedulerConfig> = {}): DdimSchedulerConfig => ({
  type: 'ddim',
  numTrainTimesteps: 1000,
  betaStart: 0.00085,
  betaEnd: 0.012,
  betaSchedule: 'scaled_linear',
  predictionType: 'epsilon',
  timestepSpacing: 'leading',
  stepsOffset: 1,
  setAlphaToOne: true,
  ...over,
});

/** A deterministic "clean video" and "noise" to check that samplers land where the math says. */
function fixture(n: number): { x0: Float32Array; noise: Float32Array } {
  const x0 = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7) * 0.8);
  const noise = Float32Array.from({ length: n }, (_, i) => Math.cos(i * 1.3) * 1.1);
  return { x0, noise };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

describe('flow-matching Euler', () => {
  it('uses linear sigmas from 1 down to 0 when shift is 1', () => {
    const s = new FlowEulerScheduler({ type: 'flow-euler', numTrainTimesteps: 1000, shift: 1 }, 4);
    expect(Array.from(s.sigmas)).toEqual([1, 0.75, 0.5, 0.25, 0]);
    expect(Array.from(s.timesteps)).toEqual([1000, 750, 500, 250]);
  });

  it('shifts sigmas towards high noise (SD3/Wan time shift)', () => {
    expect(shiftSigma(0.5, 3)).toBeCloseTo(0.75, 12);
    expect(shiftSigma(1, 3)).toBe(1);
    expect(shiftSigma(0, 3)).toBe(0);
    const s = new FlowEulerScheduler({ type: 'flow-euler', numTrainTimesteps: 1000, shift: 3 }, 2);
    expect(Array.from(s.sigmas)).toEqual([1, 0.75, 0]);
    expect(s.timesteps[1]).toBeCloseTo(750, 9);
  });

  it('lands exactly on x0 when the model predicts the true velocity (noise − x0)', () => {
    const { x0, noise } = fixture(64);
    for (const steps of [1, 3, 8]) {
      const s = new FlowEulerScheduler({ type: 'flow-euler', numTrainTimesteps: 1000, shift: 5 }, steps);
      let x: Float32Array = Float32Array.from(noise);
      for (let i = 0; i < steps; i++) {
        const v = Float32Array.from(x0, (x0k, k) => (noise[k] as number) - x0k);
        x = s.step(v, i, x);
      }
      expect(maxAbsDiff(x, x0)).toBeLessThan(1e-5);
    }
  });

  it('steps x by (σ_next − σ)·v', () => {
    const s = new FlowEulerScheduler({ type: 'flow-euler', numTrainTimesteps: 1000, shift: 1 }, 4);
    const out = s.step(Float32Array.from([2, -4]), 1, Float32Array.from([1, 1]));
    expect(Array.from(out)).toEqual([0.5, 2]);
  });
});

describe('DDIM', () => {
  it('computes timesteps like diffusers for each spacing', () => {
    expect(ddimTimesteps(ddim(), 10)).toEqual([901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
    expect(ddimTimesteps(ddim({ timestepSpacing: 'trailing', stepsOffset: 0 }), 4)).toEqual([999, 749, 499, 249]);
    expect(ddimTimesteps(ddim({ timestepSpacing: 'linspace', stepsOffset: 0 }), 4)).toEqual([999, 666, 333, 0]);
    expect(() => ddimTimesteps(ddim(), 1001)).toThrow(RangeError);
  });

  it('builds linear and scaled-linear betas with the configured end points', () => {
    const lin = betaSchedule({ numTrainTimesteps: 5, betaStart: 0.1, betaEnd: 0.5, betaSchedule: 'linear' });
    expect(Array.from(lin).map((b) => +b.toFixed(12))).toEqual([0.1, 0.2, 0.3, 0.4, 0.5]);
    const sl = betaSchedule({ numTrainTimesteps: 1000, betaStart: 0.00085, betaEnd: 0.012, betaSchedule: 'scaled_linear' });
    expect(sl[0]).toBeCloseTo(0.00085, 12);
    expect(sl[999]).toBeCloseTo(0.012, 12);
    const ac = alphasCumprod(Float64Array.from([0.1, 0.2]));
    expect(Array.from(ac)).toEqual([0.9, 0.9 * 0.8]);
  });

  it('ends on ᾱ = 1 with setAlphaToOne, else on ᾱ₀', () => {
    const one = new DdimScheduler(ddim(), 10);
    expect(one.alphaPair(9)[1]).toBe(1);
    const notOne = new DdimScheduler(ddim({ setAlphaToOne: false }), 10);
    expect(notOne.alphaPair(9)[1]).toBeCloseTo(1 - 0.00085, 12);
    // Mid-trajectory the previous ᾱ is the one a stride (T / steps) earlier.
    const ac = alphasCumprod(betaSchedule(ddim()));
    expect(one.alphaPair(0)).toEqual([ac[901], ac[801]]);
  });

  for (const predictionType of ['epsilon', 'v_prediction'] as const) {
    it(`recovers x0 exactly from an oracle model (${predictionType})`, () => {
      const { x0, noise } = fixture(48);
      const s = new DdimScheduler(ddim({ predictionType }), 12);
      const ac = alphasCumprod(betaSchedule(ddim()));
      let x: Float32Array = Float32Array.from(noise);
      for (let i = 0; i < s.timesteps.length; i++) {
        const a = ac[s.timesteps[i] as number] as number;
        // The noise consistent with x at this timestep, given the true x0.
        const eps = Float32Array.from(x, (xk, k) => (xk - Math.sqrt(a) * (x0[k] as number)) / Math.sqrt(1 - a));
        const out = predictionType === 'epsilon' ? eps : Float32Array.from(eps, (e, k) => Math.sqrt(a) * e - Math.sqrt(1 - a) * (x0[k] as number));
        x = s.step(out, i, x);
      }
      expect(maxAbsDiff(x, x0)).toBeLessThan(1e-4);
    });
  }
});

describe('createScheduler and guidance', () => {
  it('creates the configured scheduler and rejects bad step counts', () => {
    expect(createScheduler({ type: 'flow-euler', numTrainTimesteps: 1000, shift: 1 }, 3)).toBeInstanceOf(FlowEulerScheduler);
    expect(createScheduler(ddim(), 3)).toBeInstanceOf(DdimScheduler);
    expect(() => createScheduler(ddim(), 0)).toThrow(RangeError);
    expect(() => createScheduler(ddim(), 2.5)).toThrow(RangeError);
  });

  it('applies classifier-free guidance as uncond + g·(cond − uncond)', () => {
    const out = applyGuidance(Float32Array.from([1, 2]), Float32Array.from([0.5, 3]), 4);
    expect(Array.from(out)).toEqual([2.5, -1]);
    // g = 1 is the conditional prediction itself.
    expect(Array.from(applyGuidance(Float32Array.from([1, 2]), Float32Array.from([7, 7]), 1))).toEqual([1, 2]);
  });

  it('flow-euler stepGuided equals step(applyGuidance(…)) to the bit, also in place', () => {
    const rand = mulberry32(7);
    const n = 1000;
    const [cond, uncond, sample] = [0, 1, 2].map(() => Float32Array.from({ length: n }, () => rand() * 4 - 2)) as [Float32Array, Float32Array, Float32Array];
    const s = new FlowEulerScheduler({ type: 'flow-euler', numTrainTimesteps: 1000, shift: 3 }, 30);
    for (const i of [0, 13, 29]) {
      const reference = s.step(applyGuidance(cond, uncond, 5.5), i, sample);
      expect(Array.from(s.stepGuided({ cond, uncond, guidance: 5.5 }, i, sample, new Float32Array(n)))).toEqual(Array.from(reference));
      const inPlace = Float32Array.from(sample);
      expect(Array.from(s.stepGuided({ cond, uncond, guidance: 5.5 }, i, inPlace, inPlace))).toEqual(Array.from(reference));
    }
  });
});
