// model.json: what a model directory declares about itself. Parsed strictly so a bad model fails at
// start-up (pod never becomes ready) instead of on the first user request.
import fs from 'node:fs';
import path from 'node:path';
import { InvalidModelError } from '../errors.js';

export interface FlowEulerSchedulerConfig {
  type: 'flow-euler';
  numTrainTimesteps: number;
  /** Timestep shift (SD3 / Wan "flow shift"); 1 = plain linear sigmas. */
  shift: number;
}

export interface DdimSchedulerConfig {
  type: 'ddim';
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: 'linear' | 'scaled_linear';
  predictionType: 'epsilon' | 'v_prediction';
  timestepSpacing: 'leading' | 'trailing' | 'linspace';
  stepsOffset: number;
  setAlphaToOne: boolean;
}

export type SchedulerConfig = FlowEulerSchedulerConfig | DdimSchedulerConfig;

export interface WordPieceTokenizerConfig {
  type: 'wordpiece';
  vocabFile: string;
  maxLength: number;
  lowercase: boolean;
}

export interface ByteTokenizerConfig {
  type: 'byte';
  maxLength: number;
}

export type TokenizerConfig = WordPieceTokenizerConfig | ByteTokenizerConfig;

export interface ModelManifest {
  schemaVersion: 1;
  name: string;
  version: string;
  latent: {
    channels: number;
    /** Latent shape [C, T, H, W] of the default clip (documentation; checked against video + vae). */
    shape?: [number, number, number, number];
  };
  vae: {
    temporalCompression: number;
    spatialCompression: number;
    /** Causal video VAEs decode T latents to 1 + c·(T−1) frames; non-causal ones to c·T. */
    causal: boolean;
    /** Decoder input = latent / scalingFactor + shiftFactor. */
    scalingFactor: number;
    shiftFactor: number;
    /** Range of the decoder's pixel output, mapped to 0..255. */
    outputRange: [number, number];
  };
  video: { width: number; height: number; frames: number; fps: number };
  limits: {
    minWidth: number;
    maxWidth: number;
    minHeight: number;
    maxHeight: number;
    maxFrames: number;
    maxSeconds: number;
    minFps: number;
    maxFps: number;
    maxSteps: number;
    maxGuidance: number;
  };
  sampling: { steps: number; guidance: number };
  scheduler: SchedulerConfig;
  tokenizer: TokenizerConfig;
  graphs: { textEncoder: string; denoiser: string; vaeDecoder: string };
}

export const MANIFEST_FILE = 'model.json';

export function readManifest(modelDir: string): ModelManifest {
  const file = path.join(modelDir, MANIFEST_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (cause) {
    throw new InvalidModelError(`cannot read ${file} (is the model volume mounted? set T2V_MODEL_DIR)`, { cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new InvalidModelError(`${file} is not valid JSON`, { cause });
  }
  const manifest = parseManifest(json);
  for (const [graph, rel] of Object.entries(manifest.graphs)) {
    if (!fs.existsSync(path.join(modelDir, rel))) throw new InvalidModelError(`graphs.${graph}: ${rel} not found in ${modelDir}`);
  }
  return manifest;
}

/** A small reader that records the path of each field, so errors say exactly what is wrong. */
class Reader {
  constructor(
    private readonly value: Record<string, unknown>,
    private readonly at: string,
  ) {}

  static root(json: unknown): Reader {
    if (!isObject(json)) throw new InvalidModelError('model.json must be a JSON object');
    return new Reader(json, '');
  }

  private where(key: string): string {
    return this.at ? `${this.at}.${key}` : key;
  }

  obj(key: string): Reader {
    const v = this.value[key];
    if (!isObject(v)) throw new InvalidModelError(`${this.where(key)} must be an object`);
    return new Reader(v, this.where(key));
  }

  has(key: string): boolean {
    return this.value[key] !== undefined;
  }

  str(key: string, fallback?: string): string {
    const v = this.value[key] ?? fallback;
    if (typeof v !== 'string' || v === '') throw new InvalidModelError(`${this.where(key)} must be a non-empty string`);
    return v;
  }

  num(key: string, opts: { min: number; max: number; int?: boolean; fallback?: number }): number {
    const v = this.value[key] ?? opts.fallback;
    const ok = typeof v === 'number' && Number.isFinite(v) && v >= opts.min && v <= opts.max && (!opts.int || Number.isInteger(v));
    if (!ok)
      throw new InvalidModelError(
        `${this.where(key)} must be ${opts.int ? 'an integer' : 'a number'} in [${opts.min}, ${opts.max}] (got ${JSON.stringify(v)})`,
      );
    return v as number;
  }

  int(key: string, min: number, max: number, fallback?: number): number {
    return this.num(key, { min, max, int: true, ...(fallback === undefined ? {} : { fallback }) });
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.value[key] ?? fallback;
    if (typeof v !== 'boolean') throw new InvalidModelError(`${this.where(key)} must be true or false`);
    return v;
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], fallback?: T): T {
    const v = this.value[key] ?? fallback;
    if (typeof v !== 'string' || !allowed.includes(v as T))
      throw new InvalidModelError(`${this.where(key)} must be one of ${allowed.join(', ')} (got ${JSON.stringify(v)})`);
    return v as T;
  }

  ints(key: string, length: number): number[] | undefined {
    const v = this.value[key];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.length !== length || !v.every((x) => Number.isInteger(x) && x > 0)) {
      throw new InvalidModelError(`${this.where(key)} must be ${length} positive integers`);
    }
    return v as number[];
  }

  pair(key: string, fallback: [number, number]): [number, number] {
    const v = this.value[key] ?? fallback;
    if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== 'number' || typeof v[1] !== 'number' || !(v[0] < v[1])) {
      throw new InvalidModelError(`${this.where(key)} must be [low, high] with low < high`);
    }
    return [v[0], v[1]];
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseScheduler(r: Reader): SchedulerConfig {
  const type = r.oneOf('type', ['flow-euler', 'ddim'] as const);
  const numTrainTimesteps = r.int('numTrainTimesteps', 1, 100_000, 1000);
  if (type === 'flow-euler') return { type, numTrainTimesteps, shift: r.num('shift', { min: 0.01, max: 100, fallback: 1 }) };
  return {
    type,
    numTrainTimesteps,
    betaStart: r.num('betaStart', { min: 0, max: 1, fallback: 0.00085 }),
    betaEnd: r.num('betaEnd', { min: 0, max: 1, fallback: 0.012 }),
    betaSchedule: r.oneOf('betaSchedule', ['linear', 'scaled_linear'] as const, 'scaled_linear'),
    predictionType: r.oneOf('predictionType', ['epsilon', 'v_prediction'] as const, 'epsilon'),
    timestepSpacing: r.oneOf('timestepSpacing', ['leading', 'trailing', 'linspace'] as const, 'leading'),
    stepsOffset: r.int('stepsOffset', 0, 1000, 0),
    setAlphaToOne: r.bool('setAlphaToOne', true),
  };
}

function parseTokenizer(r: Reader): TokenizerConfig {
  const type = r.oneOf('type', ['wordpiece', 'byte'] as const);
  const maxLength = r.int('maxLength', 2, 4096);
  if (type === 'byte') return { type, maxLength };
  return { type, maxLength, vocabFile: r.str('vocabFile', 'vocab.txt'), lowercase: r.bool('lowercase', true) };
}

export function parseManifest(json: unknown): ModelManifest {
  const r = Reader.root(json);
  const schemaVersion = r.int('schemaVersion', 1, 1);
  const latent = r.obj('latent');
  const vae = r.obj('vae');
  const video = r.obj('video');
  const limits = r.obj('limits');
  const sampling = r.obj('sampling');
  const graphs = r.obj('graphs');
  const shape = latent.ints('shape', 4);
  const manifest: ModelManifest = {
    schemaVersion: schemaVersion as 1,
    name: r.str('name'),
    version: r.str('version'),
    latent: { channels: latent.int('channels', 1, 1024), ...(shape ? { shape: shape as [number, number, number, number] } : {}) },
    vae: {
      temporalCompression: vae.int('temporalCompression', 1, 64),
      spatialCompression: vae.int('spatialCompression', 1, 64),
      causal: vae.bool('causal', false),
      scalingFactor: vae.num('scalingFactor', { min: 1e-6, max: 1e6, fallback: 1 }),
      shiftFactor: vae.num('shiftFactor', { min: -1e6, max: 1e6, fallback: 0 }),
      outputRange: vae.pair('outputRange', [-1, 1]),
    },
    video: {
      width: video.int('width', 1, 16384),
      height: video.int('height', 1, 16384),
      frames: video.int('frames', 1, 100_000),
      fps: video.int('fps', 1, 240),
    },
    limits: {
      minWidth: limits.int('minWidth', 16, 16384),
      maxWidth: limits.int('maxWidth', 16, 16384),
      minHeight: limits.int('minHeight', 16, 16384),
      maxHeight: limits.int('maxHeight', 16, 16384),
      maxFrames: limits.int('maxFrames', 1, 100_000),
      maxSeconds: limits.num('maxSeconds', { min: 0.01, max: 3600 }),
      minFps: limits.int('minFps', 1, 240, 1),
      maxFps: limits.int('maxFps', 1, 240),
      maxSteps: limits.int('maxSteps', 1, 1000),
      maxGuidance: limits.num('maxGuidance', { min: 1, max: 100, fallback: 20 }),
    },
    sampling: { steps: sampling.int('steps', 1, 1000), guidance: sampling.num('guidance', { min: 1, max: 100 }) },
    scheduler: parseScheduler(r.obj('scheduler')),
    tokenizer: parseTokenizer(r.obj('tokenizer')),
    graphs: { textEncoder: graphs.str('textEncoder'), denoiser: graphs.str('denoiser'), vaeDecoder: graphs.str('vaeDecoder') },
  };
  checkConsistency(manifest);
  return manifest;
}

/** Cross-field rules: defaults must lie inside the limits, and the declared latent shape must match. */
function checkConsistency(m: ModelManifest): void {
  const { limits: l, video: v, vae } = m;
  const fail = (msg: string): never => {
    throw new InvalidModelError(msg);
  };
  if (l.minWidth > l.maxWidth || l.minHeight > l.maxHeight || l.minFps > l.maxFps) fail('limits: a min is above its max');
  if (v.width < l.minWidth || v.width > l.maxWidth || v.height < l.minHeight || v.height > l.maxHeight) fail('video: default size is outside limits');
  if (v.frames > l.maxFrames || v.fps < l.minFps || v.fps > l.maxFps) fail('video: default frames/fps outside limits');
  if (v.width % dimensionMultiple(m) !== 0 || v.height % dimensionMultiple(m) !== 0) fail(`video: default size must be a multiple of ${dimensionMultiple(m)}`);
  if (m.sampling.steps > l.maxSteps || m.sampling.guidance > l.maxGuidance) fail('sampling: defaults outside limits');
  if (m.latent.shape) {
    const expected = [m.latent.channels, latentFrames(m, v.frames), v.height / vae.spatialCompression, v.width / vae.spatialCompression];
    if (expected.some((d, i) => d !== m.latent.shape?.[i]))
      fail(`latent.shape ${JSON.stringify(m.latent.shape)} does not match video + vae (expected ${JSON.stringify(expected)})`);
  }
}

/** Width and height must be multiples of 16 (codec macroblocks) and of the VAE's spatial factor. */
export function dimensionMultiple(m: Pick<ModelManifest, 'vae'>): number {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const s = m.vae.spatialCompression;
  return (16 * s) / gcd(16, s);
}

/** Smallest latent frame count whose decoded clip has at least `frames` frames. */
export function latentFrames(m: Pick<ModelManifest, 'vae'>, frames: number): number {
  const c = m.vae.temporalCompression;
  return m.vae.causal ? 1 + Math.ceil(Math.max(0, frames - 1) / c) : Math.ceil(frames / c);
}

/** Frames the VAE decodes from `t` latent frames. */
export function decodedFrames(m: Pick<ModelManifest, 'vae'>, t: number): number {
  const c = m.vae.temporalCompression;
  return m.vae.causal ? 1 + c * (t - 1) : c * t;
}
