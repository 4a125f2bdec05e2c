// Seeded LoRA adapters for the small model, in the layout PEFT's save_pretrained writes
// (adapter_config.json + adapter_model.safetensors), as immutable versions `<name>@v<N>/` of a library.
import fs from 'node:fs';
import path from 'node:path';
import { encodeSafetensors, type Float32TensorData } from '../../src/adapters/safetensors.js';
import { defaultTinyModelOptions, LORA_MODULES, loraModuleDims, weights, type TinyModelOptions } from './tiny-model.js';

export interface TinyAdapterSpec {
  name: string;
  version: number;
  seed: number;
  /** Default 8, alpha default 16: the usual style-LoRA settings. */
  rank?: number;
  alpha?: number;
  /** PEFT target_modules; default the attention's query and value. */
  targets?: string[];
  /**
   * A version that must not serve: 'rank' writes lora_A with one row more than r (refused at load, so
   * every request for it fails), 'base' names another base model.
   */
  broken?: 'rank' | 'base';
}

/** Two versions of one style and a second style: enough for switching, rollout and eviction tests. */
export const defaultTinyAdapters: TinyAdapterSpec[] = [
  { name: 'ink-wash', version: 1, seed: 101 },
  { name: 'ink-wash', version: 2, seed: 102 },
  { name: 'neon', version: 1, seed: 103 },
];

/** Writes one version (to a temporary name, then renamed in: a library never shows a half-written one); returns its directory. */
export function buildTinyAdapter(libraryDir: string, spec: TinyAdapterSpec, model: Partial<TinyModelOptions> = {}): string {
  const o = { ...defaultTinyModelOptions, ...model };
  const r = spec.rank ?? 8;
  const alpha = spec.alpha ?? 16;
  const targets = spec.targets ?? ['to_q', 'to_v'];
  const dims = loraModuleDims(o);
  const tensors: Record<string, Float32TensorData> = {};
  LORA_MODULES.forEach((module, i) => {
    if (!targets.some((t) => module === t || module.endsWith(`.${t}`))) return;
    const { in: fanIn, out } = dims[module];
    const rowsA = spec.broken === 'rank' ? r + 1 : r;
    // A as PEFT initialises it; B as training leaves it (PEFT starts B at 0), large enough to change the clip.
    tensors[`base_model.model.${module}.lora_A.weight`] = { shape: [rowsA, fanIn], data: weights(spec.seed, 2 * i, rowsA * fanIn, fanIn) };
    tensors[`base_model.model.${module}.lora_B.weight`] = { shape: [out, r], data: weights(spec.seed, 2 * i + 1, out * r, r) };
  });
  const config = {
    peft_type: 'LORA',
    task_type: null,
    r,
    lora_alpha: alpha,
    lora_dropout: 0,
    bias: 'none',
    fan_in_fan_out: false,
    use_rslora: false,
    use_dora: false,
    target_modules: targets,
    base_model_name_or_path: spec.broken === 'base' ? 'someone/other-model' : o.name,
    inference_mode: true,
  };
  const dir = path.join(libraryDir, `${spec.name}@v${spec.version}`);
  if (fs.existsSync(dir)) throw new Error(`${dir} exists: adapter versions are immutable, publish a new version instead`);
  const tmp = path.join(libraryDir, `.tmp-${spec.name}@v${spec.version}-${process.pid}`);
  fs.mkdirSync(tmp, { recursive: true });
  fs.writeFileSync(path.join(tmp, 'adapter_config.json'), `${JSON.stringify(config, null, 2)}\n`);
  fs.writeFileSync(path.join(tmp, 'adapter_model.safetensors'), encodeSafetensors(tensors, { format: 'pt' }));
  fs.renameSync(tmp, dir);
  return dir;
}

export function buildTinyAdapters(libraryDir: string, specs: TinyAdapterSpec[] = defaultTinyAdapters, model: Partial<TinyModelOptions> = {}): string[] {
  fs.mkdirSync(libraryDir, { recursive: true });
  return specs.map((s) => buildTinyAdapter(libraryDir, s, model));
}
