import { describe, expect, it } from 'vitest';
import { ValidationError } from '../errors.js';
import type { ModelManifest } from '../model/manifest.js';
import { requestDefaults, requestLimits } from './request-limits.js';
import { validateRequest, type ValidateOptions } from './validation.js';

const manifest: ModelManifest = {
  schemaVersion: 1,
  name: 'm',
  version: 'v1',
  latent: { channels: 4 },
  vae: { temporalCompression: 4, spatialCompression: 8, causal: false, scalingFactor: 1, shiftFactor: 0, outputRange: [-1, 1] },
  video: { width: 64, height: 64, frames: 8, fps: 8 },
  limits: { minWidth: 32, maxWidth: 256, minHeight: 32, maxHeight: 256, maxFrames: 48, maxSeconds: 6, minFps: 1, maxFps: 30, maxSteps: 50, maxGuidance: 20 },
  sampling: { steps: 4, guidance: 5 },
  scheduler: { type: 'flow-euler', numTrainTimesteps: 1000, shift: 3 },
  tokenizer: { type: 'byte', maxLength: 16 },
  graphs: { textEncoder: 't', denoiser: 'd', vaeDecoder: 'v' },
};

const opts: ValidateOptions = {
  limits: requestLimits(manifest, [undefined, undefined, undefined, undefined], { maxPromptChars: 20 }),
  defaults: requestDefaults(manifest),
  randomSeed: () => 1234,
};

function problem(body: unknown, o: ValidateOptions = opts): { field: string; message: string; allowed: Record<string, unknown> } {
  try {
    validateRequest(body, o);
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    const e = err as ValidationError;
    expect(e.code).toBe('InvalidRequest');
    expect(e.httpStatus).toBe(400);
    return e.problems[0];
  }
  throw new Error('expected a ValidationError');
}

describe('validateRequest', () => {
  it('fills defaults from the manifest and draws a seed', () => {
    expect(validateRequest({ prompt: 'a cat' }, opts)).toEqual({
      prompt: 'a cat',
      negativePrompt: '',
      width: 64,
      height: 64,
      fps: 8,
      seconds: 1,
      frames: 8,
      steps: 4,
      guidance: 5,
      seed: 1234,
      adjustments: [],
    });
  });

  it('reports seconds rounded to whole frames as an adjustment (asked, used, why)', () => {
    const r = validateRequest({ prompt: 'a', seconds: 0.3 }, opts);
    expect(r).toMatchObject({ seconds: 0.3, frames: 2 });
    expect(r.adjustments).toEqual([
      { field: 'seconds', asked: 0.3, used: 0.25, unit: 'seconds', reason: 'seconds × fps is rounded to whole frames: 2 at 8 fps' },
    ]);
    expect(validateRequest({ prompt: 'a', seconds: 0.25 }, opts).adjustments).toEqual([]);
  });

  it('takes an http(s) webhook_url and names a bad one', () => {
    expect(validateRequest({ prompt: 'a', webhook_url: 'https://hooks.example/t2v' }, opts).webhookUrl).toBe('https://hooks.example/t2v');
    for (const webhook_url of ['ftp://x/y', 'not a url', 5, `https://x/${'a'.repeat(2050)}`])
      expect(problem({ prompt: 'a', webhook_url })).toMatchObject({ field: 'webhook_url', allowed: { schemes: ['http', 'https'], maxLength: 2048 } });
  });

  it('refuses a prompt of zero-width and format characters only as empty, naming prompt', () => {
    for (const prompt of ['\u200b\u200b', ' \u2060\ufeff\t', '\u200d\n']) {
      expect(problem({ prompt })).toMatchObject({ field: 'prompt', message: 'prompt must not be empty (it has no visible characters)' });
    }
  });

  it('accepts every field and derives frames = round(seconds × fps)', () => {
    const r = validateRequest({ prompt: 'p', negative_prompt: 'n', seconds: 1.5, fps: 10, width: 128, height: 96, steps: 7, guidance: 1, seed: 0 }, opts);
    expect(r).toMatchObject({ negativePrompt: 'n', frames: 15, width: 128, height: 96, steps: 7, guidance: 1, seed: 0 });
  });

  const cases: Array<[string, unknown, string, RegExp, Record<string, unknown>]> = [
    ['missing prompt', {}, 'prompt', /required/, { maxLength: 20 }],
    ['non-string prompt', { prompt: 5 }, 'prompt', /string/, { type: 'string' }],
    ['blank prompt', { prompt: '   ' }, 'prompt', /empty/, { minLength: 1 }],
    ['prompt too long', { prompt: 'x'.repeat(21) }, 'prompt', /at most 20 characters \(got 21\)/, { maxLength: 20 }],
    ['negative prompt too long', { prompt: 'a', negative_prompt: 'y'.repeat(30) }, 'negative_prompt', /at most 20/, { maxLength: 20 }],
    ['width not a multiple of 16', { prompt: 'a', width: 100 }, 'width', /multiple of 16 in \[32, 256\] \(got 100\)/, { multipleOf: 16, min: 32, max: 256 }],
    ['width too large', { prompt: 'a', width: 512 }, 'width', /in \[32, 256\]/, { max: 256 }],
    ['height too small', { prompt: 'a', height: 16 }, 'height', /in \[32, 256\]/, { min: 32 }],
    ['height not an integer', { prompt: 'a', height: '64' }, 'height', /integer/, { type: 'integer' }],
    ['seconds over the cap', { prompt: 'a', seconds: 7 }, 'seconds', /\(0, 6\]/, { max: 6 }],
    ['seconds zero', { prompt: 'a', seconds: 0 }, 'seconds', /\(0, 6\]/, { exclusiveMin: 0 }],
    ['too few frames', { prompt: 'a', seconds: 0.01, fps: 8 }, 'seconds', /1–48 frames, got 0/, { minFrames: 1, maxFrames: 48 }],
    ['too many frames', { prompt: 'a', seconds: 6, fps: 10 }, 'seconds', /got 60 at 10 fps/, { maxFrames: 48, fps: 10 }],
    ['fps out of range', { prompt: 'a', fps: 60 }, 'fps', /in \[1, 30\]/, { max: 30 }],
    ['steps zero', { prompt: 'a', steps: 0 }, 'steps', /in \[1, 50\]/, { min: 1 }],
    ['guidance too high', { prompt: 'a', guidance: 25 }, 'guidance', /in \[1, 20\]/, { max: 20 }],
    ['guidance not a number', { prompt: 'a', guidance: '7' }, 'guidance', /number/, { type: 'number' }],
    ['negative seed', { prompt: 'a', seed: -1 }, 'seed', /in \[0, 4294967295\]/, { min: 0 }],
    ['fractional seed', { prompt: 'a', seed: 1.5 }, 'seed', /integer/, { type: 'integer' }],
    ['unknown field', { prompt: 'a', size: '64x64' }, 'size', /unknown field size/, { fields: expect.arrayContaining(['prompt', 'seed']) }],
    ['array body', [], 'body', /JSON object/, { type: 'object' }],
    ['null body', null, 'body', /JSON object/, { type: 'object' }],
  ];
  for (const [name, body, field, message, allowed] of cases) {
    it(`rejects ${name}, naming ${field} and what is allowed`, () => {
      const p = problem(body);
      expect(p.field).toBe(field);
      expect(p.message).toMatch(message);
      expect(p.allowed).toMatchObject(allowed);
    });
  }

  it('reports every bad field, the first one on top', () => {
    try {
      validateRequest({ width: 7, steps: 99 }, opts);
      expect.unreachable();
    } catch (err) {
      expect((err as ValidationError).problems.map((p) => p.field)).toEqual(['prompt', 'width', 'steps']);
      expect((err as ValidationError).field).toBe('prompt');
    }
  });

  it('counts prompt length in characters, not UTF-16 units', () => {
    expect(validateRequest({ prompt: '🎬'.repeat(20) }, opts).prompt).toHaveLength(40);
    expect(problem({ prompt: '🎬'.repeat(21) }).message).toMatch(/got 21/);
  });

  it('applies the sync-route duration cap with its hint', () => {
    const p = problem({ prompt: 'a', seconds: 3 }, { ...opts, maxSeconds: { value: 2, hint: 'POST /v1/videos takes longer clips' } });
    expect(p.field).toBe('seconds');
    expect(p.message).toMatch(/\(0, 2\].*POST \/v1\/videos/);
    expect(p.allowed).toMatchObject({ max: 2 });
  });
});

describe('requestLimits', () => {
  it('pins sizes and clip lengths where the denoiser graph has fixed latent dims', () => {
    const limits = requestLimits(manifest, [4, 3, 6, 10], { maxPromptChars: 100 });
    expect(limits.width).toEqual({ min: 80, max: 80, multipleOf: 16 });
    expect(limits.height).toEqual({ min: 48, max: 48, multipleOf: 16 });
    // Non-causal ×4: 3 latent frames decode to 12 frames, so clips of 9–12 frames fit.
    expect(limits.frames).toEqual({ min: 9, max: 12 });
    const o = { ...opts, limits };
    expect(validateRequest({ prompt: 'a', width: 80, height: 48, seconds: 1.25, fps: 8 }, o).frames).toBe(10);
    expect(problem({ prompt: 'a', width: 80, height: 48, seconds: 2, fps: 8 }, o).message).toMatch(/9–12 frames, got 16/);
  });

  it('uses lcm(16, spatial factor) as the size multiple', () => {
    const m32 = { ...manifest, vae: { ...manifest.vae, spatialCompression: 32 } };
    expect(requestLimits(m32, [undefined, undefined, undefined, undefined], { maxPromptChars: 1 }).width.multipleOf).toBe(32);
  });
});

describe('null fields', () => {
  it('treat null as "not given" (defaults apply)', () => {
    expect(validateRequest({ prompt: 'a', guidance: null, seed: null, negative_prompt: null }, opts)).toMatchObject({
      guidance: 5,
      seed: 1234,
      negativePrompt: '',
    });
  });
});

describe('style', () => {
  it('passes a style name through (the library resolves it) and leaves it out when absent', () => {
    expect(validateRequest({ prompt: 'a', style: 'ink-wash@v2' }, opts).style).toBe('ink-wash@v2');
    expect(validateRequest({ prompt: 'a', style: null }, opts)).not.toHaveProperty('style');
  });

  it('refuses a style that is not <name> or <name>@v<N>, naming the field', () => {
    expect(problem({ prompt: 'a', style: 'Ink Wash' })).toMatchObject({
      field: 'style',
      message: expect.stringMatching(/style must be <name> or <name>@v<N>.*got "Ink Wash"/),
    });
    expect(problem({ prompt: 'a', style: 3 }).field).toBe('style');
  });
});
