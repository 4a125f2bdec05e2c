import { describe, expect, it } from 'vitest';
import { compareClips, parseGoldenPrompts, PSNR_IDENTICAL_DB, ssimFrames, type RawClip } from './golden.js';
import { BUILTIN_QUERIES, parseAnalysis, type StoredAnalysis } from './spec.js';
import { seededRandom } from './breaker-simulation.test-support.js';

const W = 32;
const H = 24;

/** A clip of `frames` frames: a gradient that moves one pixel a frame, plus seeded noise of amplitude `noise`. */
function clip(frames: number, noise = 0, seed = 1): RawClip {
  const random = seededRandom(seed);
  const data = new Uint8Array(W * H * 3 * frames);
  for (let f = 0; f < frames; f++) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const base = ((x + f) * 8 + y * 4) % 256;
        for (let c = 0; c < 3; c++) {
          const v = base + Math.round((random() - 0.5) * 2 * noise);
          data[((f * H + y) * W + x) * 3 + c] = Math.max(0, Math.min(255, v));
        }
      }
    }
  }
  return { width: W, height: H, frames, data };
}

describe('compareClips', () => {
  it('gives SSIM 1 and the identical-clip PSNR for the same clip', async () => {
    expect(await compareClips(clip(4), clip(4))).toEqual({ ssim: 1, psnrDb: PSNR_IDENTICAL_DB });
  });

  it('falls with the difference: a little noise stays alike, a lot does not', async () => {
    const slight = await compareClips(clip(4), clip(4, 4));
    const heavy = await compareClips(clip(4), clip(4, 80));
    if ('mismatch' in slight || 'mismatch' in heavy) throw new Error('unexpected mismatch');
    expect(slight.ssim).toBeGreaterThan(0.99);
    expect(slight.ssim).toBeLessThan(1);
    expect(heavy.ssim).toBeLessThan(0.85);
    // Uniform noise of amplitude a has MSE ≈ a²/3 (a bit less at the clamped ends): PSNR ≈ 10·log10(3·255²/a²),
    // 40.9 dB for a = 4.
    expect(slight.psnrDb).toBeGreaterThan(39.5);
    expect(slight.psnrDb).toBeLessThan(42);
    expect(heavy.psnrDb).toBeLessThan(slight.psnrDb - 20);
  });

  it('computes SSIM on at most 8 evenly spaced frames (both ends), PSNR on all', async () => {
    expect([...ssimFrames(5)]).toEqual([0, 1, 2, 3, 4]);
    expect([...ssimFrames(32)]).toEqual([0, 4, 9, 13, 18, 22, 27, 31]);
    // A clip that differs only in a frame SSIM skips: SSIM still 1, PSNR sees it.
    const a = clip(10);
    const b = { ...a, data: Uint8Array.from(a.data) };
    b.data.fill(0, 2 * W * H * 3, 3 * W * H * 3);
    expect([...ssimFrames(10)]).toEqual([0, 1, 3, 4, 5, 6, 8, 9]);
    const c = await compareClips(a, b);
    if ('mismatch' in c) throw new Error(c.mismatch);
    expect(c.ssim).toBe(1);
    expect(c.psnrDb).toBeLessThan(PSNR_IDENTICAL_DB);
  });

  it('reports clips of another size or length as a mismatch, never as a score', async () => {
    expect(await compareClips(clip(4), clip(5))).toEqual({ mismatch: expect.stringContaining("32x24×4 frames, the candidate's 32x24×5") });
    const short = { ...clip(2), data: new Uint8Array(10) };
    expect(await compareClips(clip(2), short)).toEqual({ mismatch: expect.stringContaining("candidate's clip has 10 bytes") });
    const tiny = { width: 10, height: 10, frames: 1, data: new Uint8Array(300) };
    expect(await compareClips(tiny, tiny)).toEqual({ mismatch: "clips of 10x10 are too small for SSIM's 11 px window: ask at least 11 px a side" });
  });
});

describe('parseGoldenPrompts', () => {
  it('reads a YAML list into request bodies, ids defaulted', () => {
    const { prompts, errors } = parseGoldenPrompts(
      '- {id: lighthouse, prompt: a lighthouse, seed: 7, seconds: 1, width: 64}\n- prompt: a cat\n  seed: 0\n  negative_prompt: blurry\n',
      'cm',
    );
    expect(errors).toEqual([]);
    expect(prompts).toEqual([
      { id: 'lighthouse', body: { prompt: 'a lighthouse', seed: 7, seconds: 1, width: 64 } },
      { id: 'prompt-1', body: { prompt: 'a cat', seed: 0, negative_prompt: 'blurry' } },
    ]);
    expect(parseGoldenPrompts('[{"prompt": "json works too", "seed": 3}]', 'cm').prompts).toHaveLength(1);
  });

  it('names every bad field and keeps no prompt from a bad list', () => {
    const { prompts, errors } = parseGoldenPrompts(
      '- {prompt: "", seed: 1.5, colour: red}\n- {prompt: ok, seed: 1, steps: -2, id: a}\n- {prompt: ok, seed: 2, id: a}\n- 42\n',
      'golden-prompts/prompts.yaml',
    );
    expect(prompts).toEqual([]);
    expect(errors).toEqual([
      'golden-prompts/prompts.yaml[0].colour: unknown field (allowed: id, prompt, seed, negative_prompt, seconds, fps, width, height, steps, guidance)',
      'golden-prompts/prompts.yaml[0].prompt: required, a non-empty string (got "")',
      expect.stringMatching(/^golden-prompts\/prompts\.yaml\[0\]\.seed: required, an integer ≥ 0 \(got 1\.5\)/),
      'golden-prompts/prompts.yaml[1].steps: must be a number above 0 (got -2)',
      'golden-prompts/prompts.yaml[2].id: "a" is used twice',
      'golden-prompts/prompts.yaml[3]: must be a mapping {prompt, seed} (got 42)',
    ]);
  });

  it('refuses what is not a list, is empty, or too long', () => {
    expect(parseGoldenPrompts('prompt: a cat', 'cm').errors).toEqual(['cm: must be a non-empty list of {prompt, seed} (got object)']);
    expect(parseGoldenPrompts('', 'cm').errors).toEqual(['cm: must be a non-empty list of {prompt, seed} (got nothing)']);
    expect(parseGoldenPrompts('- [unclosed', 'cm').errors[0]).toMatch(/^cm: not YAML or JSON/);
    const many = Array.from({ length: 21 }, (_, i) => `- {prompt: p${i}, seed: ${i}}`).join('\n');
    expect(parseGoldenPrompts(many, 'cm').errors).toEqual(['cm: 21 prompts, at most 20 (each is generated twice per interval)']);
  });
});

describe('golden templates in the spec', () => {
  const base: StoredAnalysis = { prometheus: { address: 'http://prom:9090' } };
  const parse = (a: Partial<StoredAnalysis>) => {
    const errors: string[] = [];
    const config = parseAnalysis({ ...base, ...a }, errors);
    return { config, errors };
  };

  it("judges golden-similarity on the operator's histogram of the candidate's revision, probes configured with defaults", () => {
    const { config, errors } = parse({
      goldenProbes: { configMap: 'golden-prompts' },
      metrics: [
        { template: 'golden-similarity', min: 0.8 },
        { template: 'golden-psnr', min: 25 },
      ],
    });
    expect(errors).toEqual([]);
    expect(config!.goldenProbes).toEqual({ configMap: 'golden-prompts', key: 'prompts.yaml', intervalMs: 60_000, timeoutMs: 120_000 });
    expect(config!.metrics[0]).toMatchObject({ name: 'golden-similarity', bounds: { min: 0.8 }, query: BUILTIN_QUERIES['golden-similarity'] });
    expect(config!.metrics[0]!.relative).toBeUndefined();
    expect(BUILTIN_QUERIES['golden-similarity']).toContain(
      'modelrollout_golden_ssim_sum{modelrollout_namespace="{{namespace}}",modelrollout_name="{{name}}",modelrollout_revision="{{revision}}"}',
    );
  });

  it('refuses a golden template without probes, without a min, or relative to stable, naming the field', () => {
    expect(parse({ metrics: [{ template: 'golden-similarity', min: 0.8 }] }).errors).toEqual([
      'spec.analysis.metrics[0].template: golden-similarity is measured by golden-prompt probes: set spec.analysis.goldenProbes.configMap (the prompts to send to both sides)',
    ]);
    expect(parse({ goldenProbes: { configMap: 'g' }, metrics: [{ template: 'golden-psnr' }] }).errors).toEqual([
      expect.stringMatching(/^spec\.analysis\.metrics\[0\]\.min: required for golden-psnr \(no default/),
    ]);
    expect(parse({ goldenProbes: { configMap: 'g' }, metrics: [{ template: 'golden-similarity', min: 0.5, relative: { min: 0.9 } }] }).errors).toEqual([
      expect.stringMatching(/^spec\.analysis\.metrics\[0\]\.relative: golden-similarity already compares the candidate with stable/),
    ]);
  });

  it('refuses bad probe settings, naming the field', () => {
    const { errors } = parse({
      goldenProbes: { configMap: 'Not_A_Name', key: 'a/b', interval: 'often', timeout: '0s' },
      metrics: [{ template: 'error-rate' }],
    });
    expect(errors).toEqual([
      'spec.analysis.goldenProbes.configMap: "Not_A_Name" is not a ConfigMap name (a DNS subdomain in the rollout\'s namespace, e.g. golden-prompts)',
      'spec.analysis.goldenProbes.key: "a/b" is not a ConfigMap key (letters, digits, -, _ and ., not "." or "..")',
      'spec.analysis.goldenProbes.interval: "often" is not a positive duration (e.g. 30s, 5m)',
      'spec.analysis.goldenProbes.timeout: "0s" is not a positive duration (e.g. 30s, 5m)',
    ]);
    expect(parse({ goldenProbes: {}, metrics: [{ template: 'error-rate' }] }).errors[0]).toMatch(/^spec\.analysis\.goldenProbes\.configMap: required/);
  });
});
