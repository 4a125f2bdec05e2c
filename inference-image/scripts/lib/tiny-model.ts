// Builds a small text-to-video model with the exact layout of a real one: model.json, a WordPiece vocab,
// and three ONNX graphs (text encoder, spatio-temporal denoiser, VAE decoder) with seeded weights.
// The runtime loads it through the same code path as an exported model.
import fs from 'node:fs';
import path from 'node:path';
import { gaussian } from '../../src/pipeline/noise.js';
import type { ModelManifest } from '../../src/model/manifest.js';
import { encodeModel, floatTensor, int64Tensor, node, valueInfo, type Dim, type GraphSpec } from './onnx-graph.js';

export interface TinyModelOptions {
  name: string;
  version: string;
  seed: number;
  /** Text embedding width D. */
  textDim: number;
  /** Denoiser hidden channels. */
  hiddenChannels: number;
  latentChannels: number;
  maxTokens: number;
  width: number;
  height: number;
  frames: number;
  fps: number;
  steps: number;
  scheduler: 'flow-euler' | 'ddim';
  maxWidth: number;
  maxHeight: number;
  maxFrames: number;
  /**
   * 'dynamic': symbolic batch/length/size dims, project input names.
   * 'pinned': like a typical fixed-shape export — batch 1, fixed token length and latent size,
   * diffusers input names (`sample`, int64 `timestep`), so guidance runs as two passes.
   */
  exportStyle: 'dynamic' | 'pinned';
  /**
   * Give the denoiser's LoRA-able projections (attention query and value) low-rank inputs
   * `<module>.lora_A` [r, in], `<module>.lora_B` [out, r] and `lora_scale` [1], fed per request (rank 0 = no adapter).
   * false: the same graph without them (the bench's baseline for the adapter path's overhead).
   */
  adapterInputs: boolean;
}

export const defaultTinyModelOptions: TinyModelOptions = {
  name: 'tiny-t2v',
  version: 'v1',
  seed: 42,
  textDim: 32,
  hiddenChannels: 8,
  latentChannels: 4,
  maxTokens: 16,
  width: 64,
  height: 64,
  frames: 8,
  fps: 8,
  steps: 4,
  scheduler: 'flow-euler',
  maxWidth: 256,
  maxHeight: 256,
  maxFrames: 48,
  exportStyle: 'dynamic',
  adapterInputs: true,
};

const TEMPORAL = 4;
const SPATIAL = 8;

/** BERT-style special tokens, then characters, continuation pieces and a few whole words. */
export function tinyVocab(): string[] {
  const chars = [...'abcdefghijklmnopqrstuvwxyz0123456789', ...'!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~', '猫', '犬', '海'];
  const words = ['the', 'a', 'cat', 'dog', 'video', 'of', 'in', 'on', 'with', 'sunset', 'ocean', 'city', 'night', 'run', 'play', 'red', 'blue'];
  const pieces = ['##ing', '##s', '##ed', '##er', ...[...'abcdefghijklmnopqrstuvwxyz0123456789'].map((c) => `##${c}`)];
  return ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...chars, ...words, ...pieces];
}

/** Weights ~ N(0, gain²/fanIn), from one seed but a distinct stream per tensor. */
export function weights(seed: number, stream: number, count: number, fanIn: number, gain = 1): Float32Array {
  const w = gaussian(count, (seed * 1000 + stream) >>> 0);
  const scale = gain / Math.sqrt(fanIn);
  for (let i = 0; i < w.length; i++) w[i] = (w[i] ?? 0) * scale;
  return w;
}

function textEncoderGraph(o: TinyModelOptions, vocabSize: number): GraphSpec {
  const D = o.textDim;
  const [batch, seq]: [Dim, Dim] = o.exportStyle === 'pinned' ? [1, o.maxTokens] : ['batch', 'sequence'];
  return {
    name: 'text_encoder',
    docString: 'Embedding lookup, masked, one dense layer with tanh: [B,L] ids -> [B,L,D] hidden states.',
    inputs: [valueInfo('input_ids', 'int64', [batch, seq]), valueInfo('attention_mask', 'int64', [batch, seq])],
    outputs: [valueInfo('last_hidden_state', 'float32', [batch, seq, D])],
    initializers: [
      floatTensor('embedding', [vocabSize, D], weights(o.seed, 1, vocabSize * D, 1)),
      floatTensor('dense_w', [D, D], weights(o.seed, 2, D * D, D)),
      floatTensor('dense_b', [D], new Float32Array(D)),
      int64Tensor('axis_2', [2]),
    ],
    nodes: [
      node('Gather', ['embedding', 'input_ids'], ['tok_emb'], { axis: 0 }),
      node('Cast', ['attention_mask'], ['mask_f'], { to: 1 }),
      node('Unsqueeze', ['mask_f', 'axis_2'], ['mask_3d']),
      node('Mul', ['tok_emb', 'mask_3d'], ['masked']),
      node('MatMul', ['masked', 'dense_w'], ['dense']),
      node('Add', ['dense', 'dense_b'], ['dense_biased']),
      node('Tanh', ['dense_biased'], ['last_hidden_state']),
    ],
  };
}

/** The denoiser's LoRA-able linear projections, by PEFT module name (target_modules match their last part). */
export const LORA_MODULES = ['attn.to_q', 'attn.to_v'] as const;
export const LORA_SCALE_INPUT = 'lora_scale';

/**
 * y = x·W + scale·(x·Aᵀ)·Bᵀ when the graph takes adapters, computed as y = x·(W + scale·Aᵀ·Bᵀ): the same
 * function, but the low-rank update is merged into the [in, out] weight on every run, so its cost does not
 * grow with the tokens (the activation form adds an x-sized MatMul and Add even at rank 0: 4.8 % of the
 * bench denoiser's kernel time). A and B come in PEFT's layout (lora_A [r, in], lora_B [out, r]); at r = 0
 * the update is an empty MatMul giving zeros and W + 0 = W exactly.
 */
function linear(module: string, x: string, w: string, adapters: boolean): { nodes: GraphSpec['nodes']; out: string } {
  const out = `${module}.out`;
  if (!adapters) return { nodes: [node('MatMul', [x, w], [out])], out };
  return {
    nodes: [
      node('Transpose', [`${module}.lora_A`], [`${module}.lora_At`], { perm: [1, 0] }),
      node('Transpose', [`${module}.lora_B`], [`${module}.lora_Bt`], { perm: [1, 0] }),
      // Scaled on the narrow side: in × r values (none at rank 0).
      node('Mul', [`${module}.lora_At`, LORA_SCALE_INPUT], [`${module}.lora_At_scaled`]),
      node('MatMul', [`${module}.lora_At_scaled`, `${module}.lora_Bt`], [`${module}.delta`]),
      node('Add', [w, `${module}.delta`], [`${module}.merged`]),
      node('MatMul', [x, `${module}.merged`], [out]),
    ],
    out,
  };
}

/** Each LoRA-able module's input and output width, as the adapter tensors must have them. */
export function loraModuleDims(o: Pick<TinyModelOptions, 'hiddenChannels' | 'textDim'>): Record<(typeof LORA_MODULES)[number], { in: number; out: number }> {
  return { 'attn.to_q': { in: o.hiddenChannels, out: o.hiddenChannels }, 'attn.to_v': { in: o.textDim, out: o.hiddenChannels } };
}

function loraInputs(o: TinyModelOptions): GraphSpec['inputs'] {
  if (!o.adapterInputs) return [];
  const dims = loraModuleDims(o);
  return [
    ...LORA_MODULES.flatMap((m) => [
      valueInfo(`${m}.lora_A`, 'float32', ['lora_rank', dims[m].in]),
      valueInfo(`${m}.lora_B`, 'float32', [dims[m].out, 'lora_rank']),
    ]),
    valueInfo(LORA_SCALE_INPUT, 'float32', [1]),
  ];
}

/**
 * Cross-attention of every latent voxel (query) over the text tokens (key, value), added back as a
 * residual: the block real video transformers fine-tune with LoRA.
 */
function crossAttention(o: TinyModelOptions, h: string, context: string, out: string): GraphSpec['nodes'] {
  const q = linear('attn.to_q', 'attn.tokens', 'attn.to_q.weight', o.adapterInputs);
  const v = linear('attn.to_v', context, 'attn.to_v.weight', o.adapterInputs);
  return [
    node('Shape', [h], ['attn.h_shape']),
    node('Reshape', [h, 'attn.tokens_shape'], ['attn.tokens_cf']),
    node('Transpose', ['attn.tokens_cf'], ['attn.tokens'], { perm: [0, 2, 1] }),
    ...q.nodes,
    node('MatMul', [context, 'attn.to_k.weight'], ['attn.k']),
    ...v.nodes,
    node('Transpose', ['attn.k'], ['attn.kt'], { perm: [0, 2, 1] }),
    node('MatMul', [q.out, 'attn.kt'], ['attn.scores']),
    node('Mul', ['attn.scores', 'attn.inv_sqrt_h'], ['attn.scaled']),
    node('Softmax', ['attn.scaled'], ['attn.probs'], { axis: -1 }),
    node('MatMul', ['attn.probs', v.out], ['attn.mixed']),
    node('MatMul', ['attn.mixed', 'attn.to_out.weight'], ['attn.projected']),
    node('Transpose', ['attn.projected'], ['attn.projected_cf'], { perm: [0, 2, 1] }),
    node('Reshape', ['attn.projected_cf', 'attn.h_shape'], ['attn.residual']),
    node('Add', [h, 'attn.residual'], [out]),
  ];
}

function attentionWeights(o: TinyModelOptions): GraphSpec['initializers'] {
  const { hiddenChannels: H, textDim: D } = o;
  return [
    floatTensor('attn.to_q.weight', [H, H], weights(o.seed, 14, H * H, H)),
    floatTensor('attn.to_k.weight', [D, H], weights(o.seed, 15, D * H, D)),
    floatTensor('attn.to_v.weight', [D, H], weights(o.seed, 16, D * H, D)),
    floatTensor('attn.to_out.weight', [H, H], weights(o.seed, 17, H * H, H, 0.5)),
    floatTensor('attn.inv_sqrt_h', [1], Float32Array.from([1 / Math.sqrt(H)])),
    int64Tensor('attn.tokens_shape', [0, H, -1]),
  ];
}

function denoiserGraph(o: TinyModelOptions): GraphSpec {
  const { latentChannels: C, hiddenChannels: H, textDim: D } = o;
  const pinned = o.exportStyle === 'pinned';
  const latentShape: Dim[] = pinned
    ? [1, C, Math.ceil(o.frames / TEMPORAL), o.height / SPATIAL, o.width / SPATIAL]
    : ['batch', C, 'latent_frames', 'latent_height', 'latent_width'];
  const latentName = pinned ? 'sample' : 'latent';
  // A pinned export takes an int64 timestep (as many exporters emit) and casts it inside the graph.
  const timestepIn = pinned ? [valueInfo('timestep', 'int64', [1])] : [valueInfo('timestep', 'float32', ['batch'])];
  const timestepNodes = pinned ? [node('Cast', ['timestep'], ['timestep_f'], { to: 1 })] : [];
  return {
    name: 'denoiser',
    docString:
      'Conv3d -> +(timestep, text) conditioning -> SiLU -> text cross-attention (LoRA-able q, v) -> Conv3d: predicts the flow velocity / noise over video latents.',
    inputs: [
      valueInfo(latentName, 'float32', latentShape),
      ...timestepIn,
      valueInfo('encoder_hidden_states', 'float32', pinned ? [1, o.maxTokens, D] : ['batch', 'sequence', D]),
      ...loraInputs(o),
    ],
    outputs: [valueInfo('noise_pred', 'float32', latentShape)],
    initializers: [
      floatTensor('conv_in_w', [H, C, 3, 3, 3], weights(o.seed, 10, H * C * 27, C * 27)),
      floatTensor('conv_in_b', [H], new Float32Array(H)),
      floatTensor('conv_out_w', [C, H, 3, 3, 3], weights(o.seed, 11, C * H * 27, H * 27, 0.5)),
      floatTensor('conv_out_b', [C], new Float32Array(C)),
      // Timesteps run 0..1000: small frequencies keep sin() informative across that range.
      floatTensor('time_freq', [1, H], weights(o.seed, 12, H, 1e4)),
      floatTensor('text_proj_w', [D, H], weights(o.seed, 13, D * H, D)),
      int64Tensor('axis_1', [1]),
      int64Tensor('cond_shape', [-1, H, 1, 1, 1]),
      ...attentionWeights(o),
    ],
    nodes: [
      ...timestepNodes,
      node('Unsqueeze', [pinned ? 'timestep_f' : 'timestep', 'axis_1'], ['t_col']),
      node('Mul', ['t_col', 'time_freq'], ['t_phase']),
      node('Sin', ['t_phase'], ['t_emb']),
      node('ReduceMean', ['encoder_hidden_states'], ['text_pooled'], { axes: [1], keepdims: 0 }),
      node('MatMul', ['text_pooled', 'text_proj_w'], ['text_emb']),
      node('Add', ['t_emb', 'text_emb'], ['cond']),
      node('Reshape', ['cond', 'cond_shape'], ['cond_5d']),
      node('Conv', [latentName, 'conv_in_w', 'conv_in_b'], ['h0'], { pads: [1, 1, 1, 1, 1, 1] }),
      node('Add', ['h0', 'cond_5d'], ['h1']),
      node('Sigmoid', ['h1'], ['h1_gate']),
      node('Mul', ['h1', 'h1_gate'], ['h2']),
      ...crossAttention(o, 'h2', 'encoder_hidden_states', 'h3'),
      node('Conv', ['h3', 'conv_out_w', 'conv_out_b'], ['noise_pred'], { pads: [1, 1, 1, 1, 1, 1] }),
    ],
  };
}

function vaeDecoderGraph(o: TinyModelOptions): GraphSpec {
  const C = o.latentChannels;
  return {
    name: 'vae_decoder',
    docString: `1x1x1 Conv to RGB, trilinear upsampling x${TEMPORAL} in time and x${SPATIAL} in space, tanh: latents -> video in [-1, 1].`,
    inputs: [valueInfo('latent', 'float32', ['batch', C, 'latent_frames', 'latent_height', 'latent_width'])],
    outputs: [valueInfo('video', 'float32', ['batch', 3, 'frames', 'height', 'width'])],
    initializers: [
      floatTensor('to_rgb_w', [3, C, 1, 1, 1], weights(o.seed, 20, 3 * C, C, 1.5)),
      floatTensor('to_rgb_b', [3], new Float32Array(3)),
      floatTensor('scales', [5], Float32Array.from([1, 1, TEMPORAL, SPATIAL, SPATIAL])),
    ],
    nodes: [
      node('Conv', ['latent', 'to_rgb_w', 'to_rgb_b'], ['rgb_small']),
      node('Resize', ['rgb_small', '', 'scales'], ['rgb_big'], { mode: 'linear' }),
      node('Tanh', ['rgb_big'], ['video']),
    ],
  };
}

export function tinyManifest(o: TinyModelOptions): ModelManifest {
  const scheduler: ModelManifest['scheduler'] =
    o.scheduler === 'flow-euler'
      ? { type: 'flow-euler', numTrainTimesteps: 1000, shift: 3 }
      : {
          type: 'ddim',
          numTrainTimesteps: 1000,
          betaStart: 0.00085,
          betaEnd: 0.012,
          betaSchedule: 'scaled_linear',
          predictionType: 'epsilon',
          timestepSpacing: 'leading',
          stepsOffset: 1,
          setAlphaToOne: false,
        };
  return {
    schemaVersion: 1,
    name: o.name,
    version: o.version,
    latent: { channels: o.latentChannels, shape: [o.latentChannels, Math.ceil(o.frames / TEMPORAL), o.height / SPATIAL, o.width / SPATIAL] },
    vae: { temporalCompression: TEMPORAL, spatialCompression: SPATIAL, causal: false, scalingFactor: 1, shiftFactor: 0, outputRange: [-1, 1] },
    video: { width: o.width, height: o.height, frames: o.frames, fps: o.fps },
    limits: {
      minWidth: 32,
      maxWidth: o.maxWidth,
      minHeight: 32,
      maxHeight: o.maxHeight,
      maxFrames: o.maxFrames,
      maxSeconds: o.maxFrames / o.fps,
      minFps: 1,
      maxFps: 30,
      maxSteps: 50,
      maxGuidance: 20,
    },
    sampling: { steps: o.steps, guidance: 5 },
    scheduler,
    tokenizer: { type: 'wordpiece', vocabFile: 'vocab.txt', maxLength: o.maxTokens, lowercase: true },
    graphs: { textEncoder: 'text_encoder.onnx', denoiser: 'denoiser.onnx', vaeDecoder: 'vae_decoder.onnx' },
  };
}

/** Writes the model directory; returns the manifest written. */
export function buildTinyModel(outDir: string, options: Partial<TinyModelOptions> = {}): ModelManifest {
  const o: TinyModelOptions = { ...defaultTinyModelOptions, ...options };
  if (o.width % 16 !== 0 || o.height % 16 !== 0) throw new Error('width and height must be multiples of 16');
  const vocab = tinyVocab();
  const manifest = tinyManifest(o);
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'vocab.txt'), `${vocab.join('\n')}\n`);
  fs.writeFileSync(path.join(outDir, manifest.graphs.textEncoder), encodeModel(textEncoderGraph(o, vocab.length)));
  fs.writeFileSync(path.join(outDir, manifest.graphs.denoiser), encodeModel(denoiserGraph(o)));
  fs.writeFileSync(path.join(outDir, manifest.graphs.vaeDecoder), encodeModel(vaeDecoderGraph(o)));
  fs.writeFileSync(path.join(outDir, 'model.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}
