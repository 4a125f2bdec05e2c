import { describe, expect, it } from 'vitest';
import { InvalidAdapterError } from '../errors.js';
import { checkAdapter, parsePeftConfig, targetedModules, type BaseModel } from './peft.js';
import type { Float32TensorData } from './safetensors.js';

const base: BaseModel = {
  name: 'tiny-t2v',
  lora: {
    scale: 'lora_scale',
    modules: [
      { module: 'attn.to_q', a: 'attn.to_q.lora_A', b: 'attn.to_q.lora_B', in: 8, out: 8 },
      { module: 'attn.to_v', a: 'attn.to_v.lora_A', b: 'attn.to_v.lora_B', in: 32, out: 8 },
    ],
  },
};

const config = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  peft_type: 'LORA',
  r: 4,
  lora_alpha: 8,
  target_modules: ['to_q', 'to_v'],
  base_model_name_or_path: 'tiny-t2v',
  bias: 'none',
  use_dora: false,
  ...over,
});
const t = (rows: number, cols: number): Float32TensorData => ({ shape: [rows, cols], data: new Float32Array(rows * cols).fill(0.1) });
const tensors = (over: Record<string, Float32TensorData | undefined> = {}): Map<string, Float32TensorData> => {
  const all: Record<string, Float32TensorData | undefined> = {
    'base_model.model.attn.to_q.lora_A.weight': t(4, 8),
    'base_model.model.attn.to_q.lora_B.weight': t(8, 4),
    'base_model.model.attn.to_v.lora_A.weight': t(4, 32),
    'base_model.model.attn.to_v.lora_B.weight': t(8, 4),
    ...over,
  };
  return new Map(Object.entries(all).filter((e): e is [string, Float32TensorData] => e[1] !== undefined));
};
const check = (c: Record<string, unknown>, ts = tensors()) => checkAdapter(parsePeftConfig(c, 'ink-wash@v2'), ts, base, 'ink-wash@v2');

describe('PEFT LoRA adapters against the base model', () => {
  it('accepts the standard layout: rank, scale alpha/r, one (A, B) per targeted module', () => {
    const w = check(config());
    expect(w.rank).toBe(4);
    expect(w.scale).toBe(2);
    expect([...w.modules.keys()]).toEqual(['attn.to_q', 'attn.to_v']);
    expect(check(config({ use_rslora: true })).scale).toBe(4);
    expect(check(config({ base_model_name_or_path: 'acme/tiny-t2v' })).rank).toBe(4);
  });

  it('matches target_modules as PEFT does: a suffix at a dot, or a full-match regex', () => {
    expect(targetedModules(['to_q'], ['attn.to_q', 'attn.to_qk'])).toEqual(new Map([['to_q', ['attn.to_q']]]));
    expect(targetedModules('.*\\.to_(q|v)', ['attn.to_q', 'attn.to_v', 'attn.to_k'])).toEqual(new Map([['.*\\.to_(q|v)', ['attn.to_q', 'attn.to_v']]]));
    const onlyQ = tensors({ 'base_model.model.attn.to_v.lora_A.weight': undefined, 'base_model.model.attn.to_v.lora_B.weight': undefined });
    expect([...check(config({ target_modules: ['to_q'] }), onlyQ).modules.keys()]).toEqual(['attn.to_q']);
  });

  const bad: Array<[string, Record<string, unknown>, Map<string, Float32TensorData>, string, RegExp]> = [
    ['a rank that is not a positive integer', config({ r: 0 }), tensors(), 'adapter_config.json r', /0 must be an integer in \[1, 1024\]/],
    ['another PEFT method', config({ peft_type: 'IA3' }), tensors(), 'adapter_config.json peft_type', /"IA3" is not supported \(allowed: LORA\)/],
    ['DoRA', config({ use_dora: true }), tensors(), 'adapter_config.json use_dora', /not supported/],
    ['per-module ranks', config({ rank_pattern: { to_q: 8 } }), tensors(), 'adapter_config.json rank_pattern', /not supported \(allowed: \{\}\)/],
    ['no target modules', config({ target_modules: [] }), tensors(), 'adapter_config.json target_modules', /must be a non-empty list/],
    [
      'another base model',
      config({ base_model_name_or_path: 'Wan-AI/Wan2.1-T2V-1.3B' }),
      tensors(),
      'base_model_name_or_path',
      /"Wan-AI\/Wan2.1-T2V-1.3B" is not this model \(expected "tiny-t2v"\)/,
    ],
    [
      'a module the model cannot adapt',
      config({ target_modules: ['to_q', 'to_k'] }),
      tensors(),
      'target_modules',
      /"to_k" matches no LoRA-able module of tiny-t2v \(LoRA-able: attn\.to_q, attn\.to_v\)/,
    ],
    [
      'lora_A with a rank other than r',
      config(),
      tensors({ 'base_model.model.attn.to_q.lora_A.weight': t(5, 8) }),
      'adapter_model.safetensors base_model.model.attn.to_q.lora_A.weight',
      /shape \[5, 8\] does not fit: expected \[r = 4, in = 8\]/,
    ],
    [
      'lora_B of the wrong width',
      config(),
      tensors({ 'base_model.model.attn.to_v.lora_B.weight': t(16, 4) }),
      'adapter_model.safetensors base_model.model.attn.to_v.lora_B.weight',
      /expected \[out = 8, r = 4\]/,
    ],
    [
      'a missing tensor',
      config(),
      tensors({ 'base_model.model.attn.to_v.lora_B.weight': undefined }),
      'adapter_model.safetensors base_model.model.attn.to_v.lora_B.weight',
      /missing/,
    ],
    [
      'a tensor of an untargeted module',
      config({ target_modules: ['to_q'] }),
      tensors(),
      'adapter_model.safetensors base_model.model.attn.to_v.lora_A.weight',
      /is not a LoRA weight of a targeted module/,
    ],
    [
      'a NaN weight',
      config(),
      tensors({ 'base_model.model.attn.to_q.lora_B.weight': { shape: [8, 4], data: new Float32Array(32).fill(Number.NaN) } }),
      'adapter_model.safetensors base_model.model.attn.to_q.lora_B.weight',
      /NaN/,
    ],
  ];
  for (const [name, c, ts, field, message] of bad) {
    it(`refuses ${name}, naming ${field}`, () => {
      let err: unknown;
      try {
        check(c, ts);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InvalidAdapterError);
      expect(err).toMatchObject({ code: 'InvalidAdapter', adapter: 'ink-wash@v2', field });
      expect((err as Error).message).toMatch(message);
    });
  }
});
