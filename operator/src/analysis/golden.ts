// Golden-prompt probes, the pure half: the prompt list a team keeps in a ConfigMap, and how alike two clips
// made from the same prompt and seed are. The operator's prober (controller/golden-prober.ts) does the I/O.
import { ssim } from 'ssim.js';
import { parse as parseYaml } from 'yaml';

/** One golden prompt: the runtime's request fields (inference-image/README.md), with the seed required. */
export interface GoldenPrompt {
  /** Names the prompt in logs and status; `prompt-<index>` when not given. */
  id: string;
  /** The request body sent to both sides, seed included. */
  body: Record<string, string | number>;
}

export const MAX_GOLDEN_PROMPTS = 20;
const NUMBER_FIELDS = ['seconds', 'fps', 'width', 'height', 'steps', 'guidance'] as const;
const FIELDS = ['id', 'prompt', 'seed', 'negative_prompt', ...NUMBER_FIELDS];

/**
 * Parses the ConfigMap value (YAML or JSON): a list of `{prompt, seed}` with optional id, negative_prompt and
 * the runtime's numeric request fields. Errors name `<where>[i].<field>`, the value and what is allowed; the
 * runtime checks the ranges itself (a 400 from it is reported with its message).
 */
export function parseGoldenPrompts(text: string, where: string): { prompts: GoldenPrompt[]; errors: string[] } {
  const errors: string[] = [];
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    return { prompts: [], errors: [`${where}: not YAML or JSON (${(err as Error).message.split('\n')[0]})`] };
  }
  if (!Array.isArray(doc) || doc.length === 0)
    return {
      prompts: [],
      errors: [`${where}: must be a non-empty list of {prompt, seed} (got ${doc === null || doc === undefined ? 'nothing' : typeof doc})`],
    };
  if (doc.length > MAX_GOLDEN_PROMPTS) errors.push(`${where}: ${doc.length} prompts, at most ${MAX_GOLDEN_PROMPTS} (each is generated twice per interval)`);
  const ids = new Set<string>();
  const prompts = doc.slice(0, MAX_GOLDEN_PROMPTS).flatMap((item: unknown, i): GoldenPrompt[] => {
    const at = `${where}[${i}]`;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      errors.push(`${at}: must be a mapping {prompt, seed} (got ${shown(item)})`);
      return [];
    }
    const p = item as Record<string, unknown>;
    const before = errors.length;
    for (const key of Object.keys(p)) if (!FIELDS.includes(key)) errors.push(`${at}.${key}: unknown field (allowed: ${FIELDS.join(', ')})`);
    if (typeof p.prompt !== 'string' || p.prompt.trim() === '') errors.push(`${at}.prompt: required, a non-empty string (got ${shown(p.prompt)})`);
    if (!Number.isSafeInteger(p.seed) || (p.seed as number) < 0)
      errors.push(`${at}.seed: required, an integer ≥ 0 (got ${shown(p.seed)}): the same seed on both sides is what makes the clips comparable`);
    if (p.negative_prompt !== undefined && typeof p.negative_prompt !== 'string')
      errors.push(`${at}.negative_prompt: must be a string (got ${shown(p.negative_prompt)})`);
    for (const f of NUMBER_FIELDS) {
      if (p[f] !== undefined && (typeof p[f] !== 'number' || !Number.isFinite(p[f]) || (p[f] as number) <= 0))
        errors.push(`${at}.${f}: must be a number above 0 (got ${shown(p[f])})`);
    }
    const id = p.id === undefined ? `prompt-${i}` : typeof p.id === 'string' || typeof p.id === 'number' ? String(p.id) : '';
    if (!/^[-._a-zA-Z0-9]{1,63}$/.test(id)) errors.push(`${at}.id: ${shown(p.id)} must be 1 to 63 letters, digits, -, _ or .`);
    if (ids.has(id)) errors.push(`${at}.id: "${id}" is used twice`);
    ids.add(id);
    if (errors.length > before) return [];
    const body: Record<string, string | number> = { prompt: p.prompt as string, seed: p.seed as number };
    if (typeof p.negative_prompt === 'string') body.negative_prompt = p.negative_prompt;
    for (const f of NUMBER_FIELDS) if (typeof p[f] === 'number') body[f] = p[f];
    return [{ id, body }];
  });
  // Status and logs carry these: a few lines, not a copy of a large ConfigMap.
  const shownErrors = errors.length > MAX_ERRORS ? [...errors.slice(0, MAX_ERRORS), `… and ${errors.length - MAX_ERRORS} more`] : errors;
  return { prompts: errors.length > 0 ? [] : prompts, errors: shownErrors };
}

const MAX_ERRORS = 10;

/** A value as JSON, cut to 60 characters (a prompt can be long). */
function shown(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

/** A clip as the runtime answers `Accept: application/x-t2v-rgb24`: frames of width × height × 3 bytes. */
export interface RawClip {
  width: number;
  height: number;
  frames: number;
  data: Uint8Array;
}

/** PSNR of identical clips (MSE 0) is infinite; this stands for it so a histogram can hold it. */
export const PSNR_IDENTICAL_DB = 100;

/** ssim.js's default window is 11 px: a smaller frame has no window to compute. */
export const SSIM_MIN_SIDE = 11;

export type ClipComparison = { ssim: number; psnrDb: number } | { mismatch: string };

/**
 * SSIM is computed on at most this many frames, evenly spaced (first and last included): ssim.js takes ~20 ms
 * a 256² frame, so a 32-frame pair would cost the operator 0.7 s of CPU; 8 frames cost ~0.18 s. PSNR, cheap,
 * covers every frame.
 */
export const SSIM_MAX_FRAMES = 8;

/**
 * How alike two clips are, frame by frame: the mean SSIM (Wang et al. 2004, ssim.js's default method and
 * 11 px window, on luma) over up to SSIM_MAX_FRAMES evenly spaced frames, and the PSNR over all bytes,
 * 10·log10(255² ÷ MSE) in dB (capped at PSNR_IDENTICAL_DB). Clips of different size or length are not
 * comparable: `mismatch` says how they differ (a candidate that changed its output format is a regression the
 * probe must show, not a crash). Yields to the event loop between frames.
 */
export async function compareClips(a: RawClip, b: RawClip): Promise<ClipComparison> {
  for (const [side, clip] of [
    ['stable', a],
    ['candidate', b],
  ] as const) {
    if (!(
      Number.isSafeInteger(clip.width) &&
      Number.isSafeInteger(clip.height) &&
      Number.isSafeInteger(clip.frames) &&
      clip.width > 0 &&
      clip.height > 0 &&
      clip.frames > 0
    )) {
      return { mismatch: `${side}'s clip is ${clip.width}x${clip.height}×${clip.frames} frames: no picture to compare` };
    }
  }
  if (a.width !== b.width || a.height !== b.height || a.frames !== b.frames) {
    return { mismatch: `stable's clip is ${a.width}x${a.height}×${a.frames} frames, the candidate's ${b.width}x${b.height}×${b.frames}` };
  }
  if (Math.min(a.width, a.height) < SSIM_MIN_SIDE)
    return { mismatch: `clips of ${a.width}x${a.height} are too small for SSIM's ${SSIM_MIN_SIDE} px window: ask at least ${SSIM_MIN_SIDE} px a side` };
  const frameBytes = a.width * a.height * 3;
  for (const [side, clip] of [
    ['stable', a],
    ['candidate', b],
  ] as const) {
    if (clip.data.length !== frameBytes * clip.frames)
      return { mismatch: `${side}'s clip has ${clip.data.length} bytes, not ${a.width}x${a.height}x3 × ${clip.frames} frames` };
  }
  const sampled = ssimFrames(a.frames);
  let ssimSum = 0;
  let squaredError = 0;
  for (let f = 0; f < a.frames; f++) {
    const fa = a.data.subarray(f * frameBytes, (f + 1) * frameBytes);
    const fb = b.data.subarray(f * frameBytes, (f + 1) * frameBytes);
    if (sampled.has(f)) ssimSum += ssim(rgba(fa, a.width, a.height), rgba(fb, a.width, a.height)).mssim;
    for (let i = 0; i < frameBytes; i++) {
      const d = (fa[i] as number) - (fb[i] as number);
      squaredError += d * d;
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  const mse = squaredError / (frameBytes * a.frames);
  const psnrDb = mse === 0 ? PSNR_IDENTICAL_DB : Math.min(PSNR_IDENTICAL_DB, 10 * Math.log10((255 * 255) / mse));
  return { ssim: a.frames === 0 ? 1 : ssimSum / sampled.size, psnrDb };
}

/** Indices of the frames SSIM is computed on: all, or SSIM_MAX_FRAMES evenly spaced with both ends. */
export function ssimFrames(frames: number): Set<number> {
  if (frames <= SSIM_MAX_FRAMES) return new Set(Array.from({ length: frames }, (_, i) => i));
  return new Set(Array.from({ length: SSIM_MAX_FRAMES }, (_, i) => Math.round((i * (frames - 1)) / (SSIM_MAX_FRAMES - 1))));
}

/** ssim.js takes ImageData (RGBA). */
function rgba(rgb: Uint8Array, width: number, height: number): { data: Uint8ClampedArray; width: number; height: number } {
  const out = new Uint8ClampedArray(width * height * 4);
  for (let p = 0, q = 0; p < rgb.length; p += 3, q += 4) {
    out[q] = rgb[p] as number;
    out[q + 1] = rgb[p + 1] as number;
    out[q + 2] = rgb[p + 2] as number;
    out[q + 3] = 255;
  }
  return { data: out, width, height };
}
