// Works out how to feed each graph from its own metadata, so exported models whose inputs are named
// `sample` / `encoder_hidden_states` / `timestep` (diffusers) or carry fixed shapes load without edits.
import { InvalidModelError } from '../errors.js';

/** The slice of onnxruntime's ValueMetadata this module reads (fakes in tests provide just this). */
export interface ValueMeta {
  name: string;
  isTensor: boolean;
  type?: string;
  shape?: ReadonlyArray<number | string>;
}

export interface GraphMeta {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata: readonly ValueMeta[];
}

export type IdsType = 'int64' | 'int32';

export interface TextEncoderIo {
  ids: string;
  idsType: IdsType;
  mask: string | undefined;
  maskType: IdsType;
  output: string;
  /** Largest batch the graph accepts (a fixed batch dim, else unbounded). */
  maxBatch: number;
  fixedLength: number | undefined;
}

/** One LoRA-able projection of the denoiser: its module name (PEFT's) and the inputs taking A and B. */
export interface LoraModuleIo {
  module: string;
  /** Input taking lora_A [r, in]. */
  a: string;
  /** Input taking lora_B [out, r]. */
  b: string;
  in: number;
  out: number;
}

/** Present when the denoiser takes adapters as inputs (`<module>.lora_A`, `<module>.lora_B`, `lora_scale`). */
export interface LoraIo {
  modules: LoraModuleIo[];
  scale: string;
}

export interface DenoiserIo {
  /** How to feed a LoRA adapter; undefined when the graph takes none. */
  lora?: LoraIo | undefined;
  latent: string;
  timestep: string;
  timestepType: 'float32' | 'int64';
  context: string;
  output: string;
  maxBatch: number;
  /** Fixed latent dims [C, T, H, W] where the export pinned them; undefined where symbolic. */
  fixed: [number | undefined, number | undefined, number | undefined, number | undefined];
}

export interface VaeIo {
  latent: string;
  output: string;
  maxBatch: number;
}

export interface GraphIo {
  textEncoder: TextEncoderIo;
  denoiser: DenoiserIo;
  vaeDecoder: VaeIo;
}

const aliases = {
  ids: ['input_ids', 'ids', 'tokens', 'text_input_ids'],
  mask: ['attention_mask', 'mask', 'text_attention_mask'],
  latent: ['latent', 'latents', 'sample', 'hidden_states', 'x', 'z', 'latent_sample'],
  timestep: ['timestep', 'timesteps', 't'],
  context: ['encoder_hidden_states', 'context', 'text_embeddings', 'text_emb', 'encoder_hidden_state'],
} as const;

function pick(graph: string, meta: GraphMeta, role: keyof typeof aliases, required: true): ValueMeta;
function pick(graph: string, meta: GraphMeta, role: keyof typeof aliases, required: false): ValueMeta | undefined;
function pick(graph: string, meta: GraphMeta, role: keyof typeof aliases, required: boolean): ValueMeta | undefined {
  const names: readonly string[] = aliases[role];
  const found = meta.inputMetadata.find((m) => names.includes(m.name));
  if (!found && required) {
    throw new InvalidModelError(`${graph}: no ${role} input (looked for ${names.join(', ')}; graph has ${meta.inputNames.join(', ')})`);
  }
  return found;
}

function fixedDim(m: ValueMeta, axis: number): number | undefined {
  const d = m.shape?.[axis];
  return typeof d === 'number' && d > 0 ? d : undefined;
}

function rank(graph: string, m: ValueMeta, expected: number): void {
  if (m.shape && m.shape.length > 0 && m.shape.length !== expected) {
    throw new InvalidModelError(`${graph}: input ${m.name} has rank ${m.shape.length}, expected ${expected}`);
  }
}

function firstOutput(graph: string, meta: GraphMeta): string {
  const out = meta.outputNames[0];
  if (out === undefined) throw new InvalidModelError(`${graph}: graph has no outputs`);
  return out;
}

function idsType(graph: string, m: ValueMeta): IdsType {
  if (m.type === undefined || m.type === 'int64') return 'int64';
  if (m.type === 'int32') return 'int32';
  throw new InvalidModelError(`${graph}: input ${m.name} must be int64 or int32 (is ${m.type})`);
}

export function resolveTextEncoderIo(meta: GraphMeta): TextEncoderIo {
  const g = 'textEncoder';
  const ids = pick(g, meta, 'ids', true);
  const mask = pick(g, meta, 'mask', false);
  rank(g, ids, 2);
  return {
    ids: ids.name,
    idsType: idsType(g, ids),
    mask: mask?.name,
    maskType: mask ? idsType(g, mask) : 'int64',
    output: firstOutput(g, meta),
    maxBatch: fixedDim(ids, 0) ?? Number.POSITIVE_INFINITY,
    fixedLength: fixedDim(ids, 1),
  };
}

export function resolveDenoiserIo(meta: GraphMeta): DenoiserIo {
  const g = 'denoiser';
  const latent = pick(g, meta, 'latent', true);
  const timestep = pick(g, meta, 'timestep', true);
  const context = pick(g, meta, 'context', true);
  rank(g, latent, 5);
  rank(g, context, 3);
  if (timestep.type !== undefined && timestep.type !== 'float32' && timestep.type !== 'int64') {
    throw new InvalidModelError(`${g}: input ${timestep.name} must be float32 or int64 (is ${timestep.type})`);
  }
  return {
    latent: latent.name,
    timestep: timestep.name,
    timestepType: timestep.type === 'int64' ? 'int64' : 'float32',
    context: context.name,
    output: firstOutput(g, meta),
    maxBatch: fixedDim(latent, 0) ?? Number.POSITIVE_INFINITY,
    fixed: [fixedDim(latent, 1), fixedDim(latent, 2), fixedDim(latent, 3), fixedDim(latent, 4)],
    lora: resolveLoraIo(meta),
  };
}

const LORA_A = '.lora_A';
const LORA_B = '.lora_B';
const LORA_SCALE = 'lora_scale';

/** The adapter inputs, each with fixed in/out widths (they are checked against every adapter loaded). */
export function resolveLoraIo(meta: GraphMeta): LoraIo | undefined {
  const g = 'denoiser';
  const byName = new Map(meta.inputMetadata.map((m) => [m.name, m]));
  const modules: LoraModuleIo[] = [];
  for (const a of meta.inputMetadata.filter((m) => m.name.endsWith(LORA_A))) {
    const module = a.name.slice(0, -LORA_A.length);
    const b = byName.get(`${module}${LORA_B}`);
    if (!b) throw new InvalidModelError(`${g}: input ${a.name} has no matching ${module}${LORA_B}`);
    rank(g, a, 2);
    rank(g, b, 2);
    const width = fixedDim(a, 1);
    const height = fixedDim(b, 0);
    if (width === undefined || height === undefined) throw new InvalidModelError(`${g}: ${a.name} [r, in] and ${b.name} [out, r] need fixed in and out dims`);
    modules.push({ module, a: a.name, b: b.name, in: width, out: height });
  }
  if (modules.length === 0) return undefined;
  if (!byName.has(LORA_SCALE)) throw new InvalidModelError(`${g}: takes LoRA inputs (${modules.map((m) => m.module).join(', ')}) but no ${LORA_SCALE} input`);
  return { modules, scale: LORA_SCALE };
}

export function resolveVaeIo(meta: GraphMeta): VaeIo {
  const g = 'vaeDecoder';
  const latent = pick(g, meta, 'latent', true);
  rank(g, latent, 5);
  return { latent: latent.name, output: firstOutput(g, meta), maxBatch: fixedDim(latent, 0) ?? Number.POSITIVE_INFINITY };
}
