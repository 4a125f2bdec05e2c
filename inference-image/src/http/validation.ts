// Request body → GenerationRequest, or a ValidationError naming each bad field, its value and what is
// allowed. Pure: limits, defaults and the random seed source are passed in.
import { parseStyle, STYLE_SYNTAX } from '../adapters/style.js';
import { ValidationError, type FieldProblem } from '../errors.js';
import type { GenerationRequest } from '../jobs/types.js';
import type { Range, RequestDefaults, RequestLimits } from './request-limits.js';

export const REQUEST_FIELDS = ['prompt', 'negative_prompt', 'seconds', 'fps', 'width', 'height', 'steps', 'guidance', 'seed', 'style', 'webhook_url'] as const;

export interface ValidateOptions {
  limits: RequestLimits;
  defaults: RequestDefaults;
  /** A fresh seed when the request gives none. */
  randomSeed: () => number;
  /** Extra duration cap (the sync route takes short clips only) and the hint shown with it. */
  maxSeconds?: { value: number; hint: string };
}

const rangeText = (r: Range): string => `in [${r.min}, ${r.max}]`;

export function validateRequest(body: unknown, o: ValidateOptions): GenerationRequest {
  const problems: FieldProblem[] = [];
  const fail = (p: FieldProblem): undefined => {
    problems.push(p);
    return undefined;
  };
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ValidationError([{ field: 'body', message: 'body must be a JSON object', allowed: { type: 'object', fields: [...REQUEST_FIELDS] } }]);
  }
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b)) {
    if (!(REQUEST_FIELDS as readonly string[]).includes(key)) fail({ field: key, message: `unknown field ${key}`, allowed: { fields: [...REQUEST_FIELDS] } });
  }
  const L = o.limits;
  const prompt = text(b, 'prompt', true, L.promptMaxChars, fail);
  const negativePrompt = text(b, 'negative_prompt', false, L.promptMaxChars, fail);
  const width = integer(b, 'width', o.defaults.width, L.width, fail, L.width.multipleOf);
  const height = integer(b, 'height', o.defaults.height, L.height, fail, L.height.multipleOf);
  const fps = integer(b, 'fps', o.defaults.fps, L.fps, fail);
  const steps = integer(b, 'steps', o.defaults.steps, L.steps, fail);
  const guidance = number(b, 'guidance', o.defaults.guidance, L.guidance, fail);
  const seed = b.seed === undefined || b.seed === null ? o.randomSeed() : integer(b, 'seed', 0, L.seed, fail);
  const seconds = duration(b, o, fps, fail);
  const style = styleOf(b, fail);
  const webhookUrl = webhookUrlOf(b, fail);

  const [first, ...rest] = problems;
  if (first) throw new ValidationError([first, ...rest]);
  const frames = Math.round((seconds as number) * (fps as number));
  const used = frames / (fps as number);
  // 0.3 s at 8 fps is 2.4 frames: the clip has 2 (0.25 s); said, not done silently.
  const adjustments =
    Math.abs(used - (seconds as number)) > 1e-9
      ? [{ field: 'seconds', asked: seconds as number, used, unit: 'seconds', reason: `seconds × fps is rounded to whole frames: ${frames} at ${fps} fps` }]
      : [];
  return {
    prompt: prompt as string,
    negativePrompt: negativePrompt ?? '',
    width: width as number,
    height: height as number,
    fps: fps as number,
    seconds: seconds as number,
    frames,
    steps: steps as number,
    guidance: guidance as number,
    seed: seed as number,
    ...(style === undefined ? {} : { style }),
    ...(webhookUrl === undefined ? {} : { webhookUrl }),
    adjustments,
  };
}

/** Syntax only: whether the library has it is the runtime's to say (it may rescan). */
function styleOf(b: Record<string, unknown>, fail: Fail): string | undefined {
  const v = b.style;
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || !parseStyle(v))
    return fail({
      field: 'style',
      message: `style must be ${STYLE_SYNTAX} (got ${JSON.stringify(v)})`,
      allowed: { type: 'string', syntax: STYLE_SYNTAX },
      value: v,
    });
  return v;
}

type Fail = (p: FieldProblem) => undefined;

const WEBHOOK_URL_MAX = 2048;

/** An absolute http(s) URL; whether webhooks are on is the route's to say. */
function webhookUrlOf(b: Record<string, unknown>, fail: Fail): string | undefined {
  const v = b.webhook_url;
  if (v === undefined || v === null) return undefined;
  const allowed = { type: 'string', format: 'uri', schemes: ['http', 'https'], maxLength: WEBHOOK_URL_MAX };
  let url: URL | undefined;
  try {
    url = typeof v === 'string' && v.length <= WEBHOOK_URL_MAX ? new URL(v) : undefined;
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:'))
    return fail({
      field: 'webhook_url',
      message: `webhook_url must be an absolute http(s) URL of at most ${WEBHOOK_URL_MAX} characters (got ${JSON.stringify(v)})`,
      allowed,
      value: v,
    });
  return v as string;
}

function text(b: Record<string, unknown>, field: string, required: boolean, maxChars: number, fail: Fail): string | undefined {
  const v = b[field];
  const minLength = required ? 1 : 0;
  const allowed = { type: 'string', minLength, maxLength: maxChars };
  if (v === undefined || v === null) return required ? fail({ field, message: `${field} is required`, allowed }) : undefined;
  if (typeof v !== 'string') return fail({ field, message: `${field} must be a string`, allowed, value: v });
  // Characters, not UTF-16 units: a CJK or emoji prompt is not cut short.
  const length = [...v].length;
  if (length > maxChars)
    return fail({ field, message: `${field} must be at most ${maxChars} characters (got ${length})`, allowed, value: `${v.slice(0, 32)}…` });
  // A lone surrogate (a JSON escape such as \ud800) is not Unicode: the tokenizer would see U+FFFD in its place.
  if (/\p{Cs}/u.test(v)) return fail({ field, message: `${field} is not valid Unicode (it has a lone surrogate)`, allowed, value: v });
  // Control characters (NUL, ESC sequences, DEL, C1) other than tab and line breaks carry nothing a model reads.
  if (/[^\P{Cc}\t\n\r]/u.test(v))
    return fail({ field, message: `${field} must not contain control characters (other than tab and line breaks)`, allowed, value: v });
  // Whitespace and invisible format characters (zero-width spaces, joiners, BOMs) give the model nothing to follow.
  if (required && v.replace(/[\p{White_Space}\p{Cf}]/gu, '') === '')
    return fail({ field, message: `${field} must not be empty (it has no visible characters)`, allowed, value: v });
  return v;
}

function integer(b: Record<string, unknown>, field: string, fallback: number, r: Range, fail: Fail, multipleOf?: number): number | undefined {
  const v = b[field] ?? fallback;
  const allowed = { type: 'integer', min: r.min, max: r.max, ...(multipleOf ? { multipleOf } : {}) };
  const what = multipleOf ? `an integer multiple of ${multipleOf} ${rangeText(r)}` : `an integer ${rangeText(r)}`;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < r.min || v > r.max || (multipleOf !== undefined && v % multipleOf !== 0)) {
    return fail({ field, message: `${field} must be ${what} (got ${JSON.stringify(v)})`, allowed, value: v });
  }
  return v;
}

function number(b: Record<string, unknown>, field: string, fallback: number, r: Range, fail: Fail): number | undefined {
  const v = b[field] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < r.min || v > r.max) {
    return fail({
      field,
      message: `${field} must be a number ${rangeText(r)} (got ${JSON.stringify(v)})`,
      allowed: { type: 'number', min: r.min, max: r.max },
      value: v,
    });
  }
  return v;
}

/** seconds > 0, under the duration cap, and giving a frame count the model can make at this fps. */
function duration(b: Record<string, unknown>, o: ValidateOptions, fps: number | undefined, fail: Fail): number | undefined {
  const v = b.seconds ?? o.defaults.seconds;
  const cap = Math.min(o.limits.maxSeconds, o.maxSeconds?.value ?? Number.POSITIVE_INFINITY);
  const hint = o.maxSeconds && o.maxSeconds.value < o.limits.maxSeconds ? ` ${o.maxSeconds.hint}` : '';
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > cap) {
    return fail({
      field: 'seconds',
      message: `seconds must be a number in (0, ${cap}] (got ${JSON.stringify(v)})${hint}`,
      allowed: { type: 'number', exclusiveMin: 0, max: cap },
      value: v,
    });
  }
  if (fps === undefined) return v;
  const frames = Math.round(v * fps);
  const { min, max } = o.limits.frames;
  if (frames < min || frames > max) {
    const lo = (min - 0.5) / fps;
    const hi = Math.min(cap, (max + 0.5) / fps);
    return fail({
      field: 'seconds',
      message: `seconds × fps must give ${min === max ? min : `${min}–${max}`} frames, got ${frames} at ${fps} fps: seconds must be in [${round3(lo)}, ${round3(hi)}) at this fps`,
      allowed: { minFrames: min, maxFrames: max, fps },
      value: v,
    });
  }
  return v;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
