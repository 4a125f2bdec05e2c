import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidModelError } from '../errors.js';
import { decodedFrames, dimensionMultiple, latentFrames, parseManifest, readManifest } from './manifest.js';

function valid(): Record<string, any> {
  return {
    schemaVersion: 1,
    name: 'wan-mini',
    version: '2.1.0',
    latent: { channels: 16, shape: [16, 21, 60, 104] },
    vae: { temporalCompression: 4, spatialCompression: 8, causal: true, scalingFactor: 1 },
    video: { width: 832, height: 480, frames: 81, fps: 16 },
    limits: { minWidth: 256, maxWidth: 1280, minHeight: 256, maxHeight: 720, maxFrames: 121, maxSeconds: 8, maxFps: 30, maxSteps: 100 },
    sampling: { steps: 30, guidance: 5 },
    scheduler: { type: 'flow-euler', shift: 5 },
    tokenizer: { type: 'byte', maxLength: 512 },
    graphs: { textEncoder: 'te.onnx', denoiser: 'dn.onnx', vaeDecoder: 'vae.onnx' },
  };
}

describe('parseManifest', () => {
  it('parses a Wan-like manifest and fills documented defaults', () => {
    const m = parseManifest(valid());
    expect(m.scheduler).toEqual({ type: 'flow-euler', numTrainTimesteps: 1000, shift: 5 });
    expect(m.vae).toMatchObject({ causal: true, shiftFactor: 0, outputRange: [-1, 1] });
    expect(m.limits).toMatchObject({ minFps: 1, maxGuidance: 20 });
  });

  it('fills DDIM defaults like diffusers', () => {
    const m = parseManifest({ ...valid(), scheduler: { type: 'ddim' } });
    expect(m.scheduler).toEqual({
      type: 'ddim',
      numTrainTimesteps: 1000,
      betaStart: 0.00085,
      betaEnd: 0.012,
      betaSchedule: 'scaled_linear',
      predictionType: 'epsilon',
      timestepSpacing: 'leading',
      stepsOffset: 0,
      setAlphaToOne: true,
    });
  });

  const bad: Array<[string, (j: Record<string, any>) => void, RegExp]> = [
    ['a missing version', (j) => delete j.version, /^version must be a non-empty string/],
    ['an unknown scheduler', (j) => (j.scheduler.type = 'euler-a'), /scheduler.type must be one of flow-euler, ddim/],
    ['a fractional channel count', (j) => (j.latent.channels = 1.5), /latent.channels must be an integer/],
    ['a latent shape that does not match video + vae', (j) => (j.latent.shape = [16, 20, 60, 104]), /expected \[16,21,60,104\]/],
    ['a default size outside the limits', (j) => (j.video.width = 1920), /outside limits/],
    ['a default size off the 16 grid', (j) => (j.video.height = 488), /multiple of 16/],
    ['an inverted output range', (j) => (j.vae.outputRange = [1, -1]), /outputRange/],
    ['default steps over the limit', (j) => (j.sampling.steps = 101), /sampling/],
  ];
  for (const [name, mutate, message] of bad) {
    it(`rejects ${name}`, () => {
      const j = valid();
      mutate(j);
      expect(() => parseManifest(j)).toThrow(InvalidModelError);
      expect(() => parseManifest(j)).toThrow(message);
    });
  }
});

describe('latent frame arithmetic', () => {
  const causal = {
    vae: { temporalCompression: 4, spatialCompression: 8, causal: true, scalingFactor: 1, shiftFactor: 0, outputRange: [-1, 1] as [number, number] },
  };
  const plain = { vae: { ...causal.vae, causal: false } };

  it('maps frames to latent frames and back (causal: 1 + 4(T − 1))', () => {
    expect(latentFrames(causal, 81)).toBe(21);
    expect(decodedFrames(causal, 21)).toBe(81);
    expect(latentFrames(causal, 1)).toBe(1);
    expect(latentFrames(causal, 82)).toBe(22);
  });

  it('maps frames to latent frames and back (non-causal: 4T)', () => {
    expect(latentFrames(plain, 8)).toBe(2);
    expect(latentFrames(plain, 9)).toBe(3);
    expect(decodedFrames(plain, 3)).toBe(12);
  });

  it('needs sizes on both the codec grid and the VAE grid', () => {
    expect(dimensionMultiple(causal)).toBe(16);
    expect(dimensionMultiple({ vae: { ...causal.vae, spatialCompression: 12 } })).toBe(48);
  });
});

describe('readManifest', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 't2v-manifest-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('explains a missing model volume', () => {
    expect(() => readManifest(path.join(dir, 'absent'))).toThrow(/T2V_MODEL_DIR/);
  });

  it('requires the graph files to exist', () => {
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(valid()));
    expect(() => readManifest(dir)).toThrow(/graphs.textEncoder: te.onnx not found/);
    for (const f of ['te.onnx', 'dn.onnx', 'vae.onnx']) fs.writeFileSync(path.join(dir, f), '');
    expect(readManifest(dir).name).toBe('wan-mini');
  });

  it('rejects invalid JSON', () => {
    fs.writeFileSync(path.join(dir, 'model.json'), '{');
    expect(() => readManifest(dir)).toThrow(/not valid JSON/);
  });
});
