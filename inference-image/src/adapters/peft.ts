// A PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors, as `save_pretrained` writes
// them), checked against the base model's LoRA-able projections. Pure: the files' contents come in.
// Key layout and scale follow peft/tuners/lora: `base_model.model.<module>.lora_A.weight` [r, in],
// `...lora_B.weight` [out, r], scale = lora_alpha / r (lora_alpha / √r with use_rslora).
import { InvalidAdapterError } from '../errors.js';
import type { LoraIo } from '../model/graph-io.js';
import type { Float32TensorData } from './safetensors.js';

export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';
const KEY_PREFIX = 'base_model.model.';
/** Ranks above this are no longer "low" for any model this runtime serves. */
export const MAX_RANK = 1024;

export interface PeftConfig {
  r: number;
  loraAlpha: number;
  targetModules: string[] | string;
  baseModel: string;
  useRslora: boolean;
}

/** An adapter checked against the base model: one (A, B) pair per LoRA-able module it targets. */
export interface LoraWeights {
  rank: number;
  scale: number;
  /** By module name; the modules it does not target get a zero delta. */
  modules: Map<string, { a: Float32Array; b: Float32Array }>;
}

export interface BaseModel {
  name: string;
  lora: LoraIo;
}

/** Reads the fields this runtime uses; refuses PEFT features it does not implement rather than ignore them. */
export function parsePeftConfig(json: unknown, adapter: string): PeftConfig {
  const fail = (field: string, message: string): never => {
    throw new InvalidAdapterError(adapter, `${ADAPTER_CONFIG_FILE} ${field}`, message);
  };
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return fail('(root)', 'must be a JSON object');
  const c = json as Record<string, unknown>;
  if (c.peft_type !== undefined && c.peft_type !== 'LORA') fail('peft_type', `${JSON.stringify(c.peft_type)} is not supported (allowed: LORA)`);
  const r = c.r;
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 1 || r > MAX_RANK) fail('r', `${JSON.stringify(r)} must be an integer in [1, ${MAX_RANK}]`);
  const alpha = c.lora_alpha ?? r;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha <= 0) fail('lora_alpha', `${JSON.stringify(alpha)} must be a positive number`);
  const targets = c.target_modules;
  const validTargets =
    typeof targets === 'string' ? targets !== '' : Array.isArray(targets) && targets.length > 0 && targets.every((t) => typeof t === 'string' && t !== '');
  if (!validTargets) fail('target_modules', `${JSON.stringify(targets)} must be a non-empty list of module names or a regular expression`);
  if (typeof c.base_model_name_or_path !== 'string' || c.base_model_name_or_path === '') fail('base_model_name_or_path', 'must name the base model');
  for (const [field, off] of [
    ['use_dora', false],
    ['fan_in_fan_out', false],
  ] as const) {
    if (c[field] !== undefined && c[field] !== off) fail(field, `${JSON.stringify(c[field])} is not supported (allowed: ${off})`);
  }
  if (c.bias !== undefined && c.bias !== 'none') fail('bias', `${JSON.stringify(c.bias)} is not supported (allowed: "none")`);
  for (const field of ['rank_pattern', 'alpha_pattern']) {
    const v = c[field];
    if (v !== undefined && v !== null && (typeof v !== 'object' || Object.keys(v).length > 0))
      fail(field, 'per-module ranks and alphas are not supported (allowed: {})');
  }
  return {
    r: r as number,
    loraAlpha: alpha as number,
    targetModules: targets as string[] | string,
    baseModel: c.base_model_name_or_path as string,
    useRslora: c.use_rslora === true,
  };
}

/** PEFT's rule: a list entry matches a module whose name is it or ends with `.<entry>`; a string is a full-match regex. */
export function targetedModules(targets: string[] | string, modules: readonly string[]): Map<string, string[]> {
  if (typeof targets === 'string') {
    const re = new RegExp(`^(?:${targets})$`);
    return new Map([[targets, modules.filter((m) => re.test(m))]]);
  }
  return new Map(targets.map((t) => [t, modules.filter((m) => m === t || m.endsWith(`.${t}`))]));
}

/** Checks the adapter against the base model and returns its weights; every mismatch names the field, the value and what was expected. */
export function checkAdapter(config: PeftConfig, tensors: Map<string, Float32TensorData>, base: BaseModel, adapter: string): LoraWeights {
  const fail = (field: string, message: string): never => {
    throw new InvalidAdapterError(adapter, field, message);
  };
  const baseName = config.baseModel;
  if (baseName !== base.name && !baseName.endsWith(`/${base.name}`))
    fail('base_model_name_or_path', `${JSON.stringify(baseName)} is not this model (expected ${JSON.stringify(base.name)})`);
  const loraAble = base.lora.modules.map((m) => m.module);
  const targeted = new Set<string>();
  for (const [target, matched] of targetedModules(config.targetModules, loraAble)) {
    if (matched.length === 0)
      fail('target_modules', `${JSON.stringify(target)} matches no LoRA-able module of ${base.name} (LoRA-able: ${loraAble.join(', ')})`);
    for (const m of matched) targeted.add(m);
  }
  const modules = new Map<string, { a: Float32Array; b: Float32Array }>();
  const r = config.r;
  for (const m of base.lora.modules.filter((x) => targeted.has(x.module))) {
    const a = tensor(tensors, `${KEY_PREFIX}${m.module}.lora_A.weight`, [r, m.in], `[r = ${r}, in = ${m.in}]`, fail);
    const b = tensor(tensors, `${KEY_PREFIX}${m.module}.lora_B.weight`, [m.out, r], `[out = ${m.out}, r = ${r}]`, fail);
    modules.set(m.module, { a, b });
  }
  const expected = new Set([...targeted].flatMap((m) => [`${KEY_PREFIX}${m}.lora_A.weight`, `${KEY_PREFIX}${m}.lora_B.weight`]));
  const extra = [...tensors.keys()].filter((k) => !expected.has(k));
  if (extra.length > 0) fail(`adapter_model.safetensors ${extra[0]}`, `is not a LoRA weight of a targeted module (expected keys: ${[...expected].join(', ')})`);
  return { rank: r, scale: config.loraAlpha / (config.useRslora ? Math.sqrt(r) : r), modules };
}

/** `expected` spells the shape out: r from adapter_config.json, in and out from the base model. */
function tensor(
  tensors: Map<string, Float32TensorData>,
  key: string,
  shape: [number, number],
  expected: string,
  fail: (field: string, message: string) => never,
): Float32Array {
  const t = tensors.get(key);
  if (!t) return fail(`adapter_model.safetensors ${key}`, `missing (target_modules names its module; expected shape ${expected})`);
  if (t.shape.length !== 2 || t.shape[0] !== shape[0] || t.shape[1] !== shape[1])
    fail(`adapter_model.safetensors ${key}`, `shape [${t.shape.join(', ')}] does not fit: expected ${expected}`);
  for (const v of t.data) if (!Number.isFinite(v)) fail(`adapter_model.safetensors ${key}`, 'holds a NaN or infinite value');
  return t.data;
}
