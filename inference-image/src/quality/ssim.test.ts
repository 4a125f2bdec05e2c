import { ssim as referenceSsim } from 'ssim.js';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../pipeline/noise.js';
import { compileWat, WAT_MODULES } from '../../scripts/lib/wat-modules.js';
import { SSIM_COLUMNS_WASM_BASE64 } from './ssim-columns-wasm.js';
import { blockAverage, meanSsim, pairStatistics, SsimScratch, ssimImplementation, ssimScale } from './ssim.js';

/** ssim.js (the reference) takes RGBA; a grey RGBA reads back the same luma with its integer weights. */
function reference(a: Uint8Array, b: Uint8Array, width: number, height: number): number {
  const rgba = (l: Uint8Array) => {
    const data = new Uint8ClampedArray(l.length * 4);
    l.forEach((v, i) => data.set([v, v, v, 255], i * 4));
    return { data, width, height };
  };
  return referenceSsim(rgba(a), rgba(b), { ssim: 'bezkrovny' }).mssim;
}

function noise(n: number, seed: number): Uint8Array {
  const rand = mulberry32(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
}

describe('meanSsim', () => {
  it("equals ssim.js ('bezkrovny') on random, smooth and related frames up to 256 px", () => {
    for (const [w, h, seed] of [
      [16, 16, 1],
      [64, 48, 2],
      [256, 256, 3],
    ] as const) {
      const n = w * h;
      const a = noise(n, seed);
      const ramp = Uint8Array.from({ length: n }, (_, i) => ((i % w) * 3 + Math.floor(i / w) * 2) % 256);
      const nearRamp = ramp.map((v, i) => Math.min(255, v + ((a[i] as number) >> 5)));
      for (const [x, y] of [
        [a, noise(n, seed + 10)],
        [ramp, nearRamp],
        [ramp, a],
      ] as const) {
        // Same sums, different order of the floating-point arithmetic: agreement to 1e-9.
        expect(meanSsim(x, y, w, h)).toBeCloseTo(reference(x, y, w, h), 9);
      }
    }
  });

  it('is 1 for identical frames and for two flat frames of one level; lower as they differ', () => {
    const a = noise(32 * 32, 9);
    expect(meanSsim(a, a, 32, 32)).toBeCloseTo(1, 12);
    const flat = new Uint8Array(32 * 32).fill(80);
    expect(meanSsim(flat, flat, 32, 32)).toBe(1);
    expect(meanSsim(flat, new Uint8Array(32 * 32).fill(120), 32, 32)).toBeLessThan(1);
  });

  it('gives the same with a scratch reused across pairs as with a fresh one, and refuses one of another width', () => {
    const scratch = new SsimScratch(40);
    const frames = [1, 2, 3, 4].map((seed) => noise(40 * 30, seed));
    for (let i = 1; i < frames.length; i++) {
      const [x, y] = [frames[i - 1] as Uint8Array, frames[i] as Uint8Array];
      expect(meanSsim(x, y, 40, 30, scratch)).toBe(meanSsim(x, y, 40, 30));
    }
    expect(() => meanSsim(frames[0] as Uint8Array, frames[1] as Uint8Array, 40, 30, new SsimScratch(41))).toThrow(/scratch for width 41, frames are 40 wide/);
  });

  it('uses a smaller window on frames under 11 px, and refuses arrays of the wrong size', () => {
    expect(Number.isFinite(meanSsim(noise(8 * 6, 1), noise(8 * 6, 2), 8, 6))).toBe(true);
    expect(() => meanSsim(new Uint8Array(5), new Uint8Array(6), 2, 3)).toThrow(/5 values, expected 2x3 = 6/);
  });
});

describe('pairStatistics', () => {
  it('gives meanSsim and, from the same pass, Σ|x − y|, Σy and Σy² exactly, edge windows included', () => {
    for (const [w, h] of [
      [256, 256],
      [37, 23],
    ] as const) {
      const x = noise(w * h, w);
      const y = noise(w * h, h);
      const p = pairStatistics(x, y, w, h);
      expect(p.ssim).toBe(meanSsim(x, y, w, h));
      let absDiffSum = 0;
      let ySum = 0;
      let ySumSq = 0;
      for (let i = 0; i < w * h; i++) {
        absDiffSum += Math.abs((x[i] as number) - (y[i] as number));
        ySum += y[i] as number;
        ySumSq += (y[i] as number) ** 2;
      }
      expect([p.absDiffSum, p.ySum, p.ySumSq]).toEqual([absDiffSum, ySum, ySumSq]);
    }
  });
});

describe('pairStatistics in WebAssembly SIMD (ssim-columns.wat)', () => {
  it('is what ssim-columns.wat compiles to today (npm run build:wasm after an edit), and loads here', async () => {
    expect(Buffer.from(await compileWat(WAT_MODULES.ssimColumns)).toString('base64')).toBe(SSIM_COLUMNS_WASM_BASE64);
    expect(ssimImplementation()).toBe('wasm-simd');
  });

  it("gives the JavaScript loop's exact statistics: whole and partial 16-column blocks, partial windows and bands, related, equal and extreme frames", () => {
    const rand = mulberry32(7);
    for (const [w, h] of [
      [256, 256],
      [1, 1],
      [7, 3],
      [16, 11],
      [17, 12],
      [33, 25],
      [300, 40],
      [15, 130],
    ] as const) {
      const x = noise(w * h, w * 31 + h);
      const related = x.map((v) => Math.max(0, Math.min(255, v + Math.floor(rand() * 9) - 4)));
      const cases: [string, Uint8Array, Uint8Array][] = [
        ['noise', x, noise(w * h, h * 17 + w)],
        ['related', x, related],
        ['equal', x, x.slice()],
        ['black and white', new Uint8Array(w * h), new Uint8Array(w * h).fill(255)],
      ];
      const scratch = new SsimScratch(w, 'wasm-simd');
      for (const [what, a, b] of cases) {
        const js = pairStatistics(a, b, w, h, new SsimScratch(w, 'js'));
        expect(pairStatistics(a, b, w, h, scratch), `${w}x${h} ${what}`).toEqual(js);
      }
    }
  });
});

describe('downsampling above 256 px', () => {
  it('scales by round(short side / 256), block means rounded', () => {
    expect([ssimScale(256, 256), ssimScale(640, 360), ssimScale(1280, 720), ssimScale(1920, 1080)]).toEqual([1, 1, 3, 4]);
    const luma = Uint8Array.from([0, 2, 10, 20, 4, 6, 30, 40, 9, 9, 9, 9]);
    expect(blockAverage(luma, 4, 3, 2)).toEqual({ luma: Uint8Array.from([3, 25]), width: 2, height: 1 });
    expect(blockAverage(luma, 4, 3, 1).luma).toBe(luma);
  });

  it('agrees with ssim.js (which filters before subsampling) to about 1e-3 on 512×512 and 768×432 frames', () => {
    for (const [w, h] of [
      [512, 512],
      [768, 432],
    ] as const) {
      const rand = mulberry32(w);
      const a = Uint8Array.from({ length: w * h }, (_, i) => ((i % w) * 3 + Math.floor(i / w) * 2) % 256);
      const b = a.map((v) => Math.min(255, v + Math.floor(rand() * 40)));
      const f = ssimScale(w, h);
      const [x, y] = [blockAverage(a, w, h, f), blockAverage(b, w, h, f)];
      expect(Math.abs(meanSsim(x.luma, y.luma, x.width, x.height) - reference(a, b, w, h))).toBeLessThan(2e-3);
    }
  });
});

describe('ssim-columns.wat where the engine compiles SIMD another way', () => {
  it("gives the JavaScript loop's statistics in a Node whose SIMD code has no SSE4.1 (V8's SSSE3 path, x64)", () => {
    // V8's SSSE3-only code generation (a CPU without SSE4.1, with --wasm-simd-ssse3-codegen) read lane 0 for
    // i32x4.extract_lane 3: Σ|x − y| came out wrong. Elsewhere the flags do not exist; the same run checks the default.
    const flags = process.arch === 'x64' ? ['--no-enable-sse4-1', '--wasm-simd-ssse3-codegen'] : [];
    const script = `
      import { pairStatistics, SsimScratch } from './inference-image/src/quality/ssim.ts';
      const x = Uint8Array.from({ length: 64 * 30 }, (_, i) => (i * 151 + 7) % 256);
      const y = Uint8Array.from({ length: 64 * 30 }, (_, i) => (i * 97) % 256);
      console.log(JSON.stringify([pairStatistics(x, y, 64, 30), pairStatistics(x, y, 64, 30, new SsimScratch(64, 'js'))]));`;
    const out = execFileSync(process.execPath, [...flags, '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    const [simd, js] = JSON.parse(out) as [unknown, unknown];
    expect(simd).toEqual(js);
  });
});
