// Text → video latents → RGB frames: tokenize, encode text, run the denoiser for N scheduler steps
// (with classifier-free guidance when a negative prompt is given), decode with the VAE.
import ort from 'onnxruntime-node';
import type { Tensor } from 'onnxruntime-node';
import { loraFeeds, type LoraFeeds } from '../adapters/lora-feeds.js';
import { GenerationError } from '../errors.js';
import type { GraphIo, IdsType } from '../model/graph-io.js';
import { decodedFrames, latentFrames, type ModelManifest } from '../model/manifest.js';
import { frameSource, type FrameSource } from './frames.js';
import { fillGaussian } from './noise.js';
import { applyGuidance, createScheduler } from './scheduler.js';
import type { Encoding, Tokenizer } from './tokenizer.js';

/** What the pipeline needs of an ONNX session (an InferenceSession fits; tests pass fakes). */
export interface GraphRunner {
  run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>>;
}

export interface PipelineModel {
  manifest: ModelManifest;
  tokenizer: Tokenizer;
  io: GraphIo;
  graphs: { textEncoder: GraphRunner; denoiser: GraphRunner; vaeDecoder: GraphRunner };
}

export interface GenerationParams {
  prompt: string;
  /** Empty or absent: no guidance pass. */
  negativePrompt?: string | undefined;
  width: number;
  height: number;
  frames: number;
  steps: number;
  guidance: number;
  seed: number;
  /** A loaded adapter's denoiser inputs; absent: none (rank 0). */
  lora?: LoraFeeds | undefined;
}

export type GenerationPhase = 'text' | 'denoise' | 'decode';

export interface GenerationHooks {
  signal?: AbortSignal;
  onProgress?(phase: GenerationPhase, step: number, steps: number): void;
  /** Wall seconds of one denoiser step (all its session runs and the scheduler update). */
  onDenoiseStep?(seconds: number): void;
}

export interface GenerationTimings {
  /** Sum of wall time inside session.run() over the whole request. */
  onnxSeconds: number;
  textSeconds: number;
  denoiseSeconds: number;
  decodeSeconds: number;
  /** The pipeline's own wall time (onnx included). */
  totalSeconds: number;
}

export interface GeneratedFrames {
  /** The decoded clip, converted to rgb24 frame by frame as the encoder reads it. */
  video: FrameSource;
  guided: boolean;
  promptTokens: number;
  promptTruncated: boolean;
  timings: GenerationTimings;
}

export class T2vPipeline {
  /** What a graph with adapter inputs is fed when the request names no adapter. */
  private readonly noAdapter: LoraFeeds;

  constructor(
    private readonly model: PipelineModel,
    private readonly now: () => number = () => performance.now(),
  ) {
    const lora = model.io.denoiser.lora;
    this.noAdapter = lora ? loraFeeds(lora) : {};
  }

  /** How the text encoder reads `text`: tokens kept (of maxLength) and tokens the whole text makes. */
  tokenize(text: string): { tokens: number; inputTokens: number; maxLength: number } {
    const e = this.model.tokenizer.encode(text);
    return { tokens: e.tokenCount, inputTokens: e.inputTokens, maxLength: this.model.tokenizer.maxLength };
  }

  /** Latent shape [1, C, T, h, w] for a clip. */
  latentShape(p: Pick<GenerationParams, 'width' | 'height' | 'frames'>): [number, number, number, number, number] {
    const { manifest: m } = this.model;
    const s = m.vae.spatialCompression;
    return [1, m.latent.channels, latentFrames(m, p.frames), p.height / s, p.width / s];
  }

  async generate(p: GenerationParams, hooks: GenerationHooks = {}): Promise<GeneratedFrames> {
    const start = this.now();
    const t: GenerationTimings = { onnxSeconds: 0, textSeconds: 0, denoiseSeconds: 0, decodeSeconds: 0, totalSeconds: 0 };
    const run = async (graph: GraphRunner, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> => {
      const t0 = this.now();
      try {
        return await graph.run(feeds);
      } finally {
        t.onnxSeconds += (this.now() - t0) / 1000;
      }
    };
    hooks.signal?.throwIfAborted();
    if (p.lora && !this.model.io.denoiser.lora) throw new GenerationError('an adapter was given but the denoiser takes no LoRA inputs');
    const guided = (p.negativePrompt ?? '') !== '' && p.guidance !== 1;

    hooks.onProgress?.('text', 0, p.steps);
    const textStart = this.now();
    const cond = this.model.tokenizer.encode(p.prompt);
    const uncond = guided ? this.model.tokenizer.encode(p.negativePrompt ?? '') : undefined;
    const context = await this.encodeText(run, uncond ? [uncond, cond] : [cond]);
    t.textSeconds = (this.now() - textStart) / 1000;
    hooks.signal?.throwIfAborted();

    const denoiseStart = this.now();
    const latents = await this.denoise(run, p, context, guided, hooks);
    t.denoiseSeconds = (this.now() - denoiseStart) / 1000;

    hooks.onProgress?.('decode', p.steps, p.steps);
    const decodeStart = this.now();
    const video = await this.decode(run, latents, p);
    t.decodeSeconds = (this.now() - decodeStart) / 1000;
    t.totalSeconds = (this.now() - start) / 1000;
    return { video, guided, promptTokens: cond.tokenCount, promptTruncated: cond.truncated, timings: t };
  }

  /** Returns one [L, D] context per encoding, batched into one run when the graph allows. */
  private async encodeText(run: Runner, encodings: Encoding[]): Promise<TextContext> {
    const io = this.model.io.textEncoder;
    const batches = io.maxBatch >= encodings.length ? [encodings] : encodings.map((e) => [e]);
    const contexts: Float32Array[] = [];
    let dims: number[] = [];
    for (const batch of batches) {
      const L = this.model.tokenizer.maxLength;
      const feeds: Record<string, Tensor> = {
        [io.ids]: idsTensor(
          batch.map((e) => e.ids),
          io.idsType,
          L,
        ),
      };
      if (io.mask)
        feeds[io.mask] = idsTensor(
          batch.map((e) => e.attentionMask),
          io.maskType,
          L,
        );
      const out = outputOf(await run(this.model.graphs.textEncoder, feeds), io.output, 'textEncoder');
      if (out.dims.length !== 3 || out.dims[0] !== batch.length)
        throw new GenerationError(`textEncoder returned ${out.dims.join('x')}, expected ${batch.length}xLxD`);
      dims = out.dims.slice(1);
      const data = out.data as Float32Array;
      const per = data.length / batch.length;
      // Copies: a context outlives this output and is fed to other runs.
      for (let b = 0; b < batch.length; b++) contexts.push(data.slice(b * per, (b + 1) * per));
    }
    return { contexts, dims };
  }

  private async denoise(run: Runner, p: GenerationParams, text: TextContext, guided: boolean, hooks: GenerationHooks): Promise<Float32Array> {
    const io = this.model.io.denoiser;
    const shape = this.latentShape(p);
    const n = shape.reduce((a, b) => a * b, 1);
    const scheduler = createScheduler(this.model.manifest.scheduler, p.steps);
    let x: Float32Array = fillGaussian(new Float32Array(n), p.seed);
    if (scheduler.initNoiseSigma !== 1) for (let k = 0; k < n; k++) x[k] = (x[k] as number) * scheduler.initNoiseSigma;
    const batched = guided && io.maxBatch >= 2;
    const lora = p.lora ?? this.noAdapter;
    // Inputs that do not change across steps are built once.
    const ctxBatch = batched ? { ...lora, [io.context]: new ort.Tensor('float32', concat(text.contexts), [2, ...text.dims]) } : {};
    const ctxSingle = text.contexts.map((c) => ({ ...lora, [io.context]: new ort.Tensor('float32', c, [1, ...text.dims]) }));
    // Batched: the sample lives in the first half of the denoiser's input and is stepped in place (every
    // sampler step is elementwise), so each step copies it once, into the second half, not twice.
    const latentIn = new Float32Array(batched ? 2 * n : n);
    if (batched) {
      latentIn.set(x, 0);
      x = latentIn.subarray(0, n);
    }
    const guidedOut = new Float32Array(n);
    let next: Float32Array = batched ? x : new Float32Array(n);

    for (let i = 0; i < p.steps; i++) {
      const stepStart = this.now();
      hooks.onProgress?.('denoise', i, p.steps);
      const ts = scheduler.timesteps[i] as number;
      let cond: Float32Array;
      let uncond: Float32Array | undefined;
      if (batched) {
        latentIn.copyWithin(n, 0, n);
        const out = await this.runDenoiser(run, latentIn, [2, ...shape.slice(1)], ts, 2, ctxBatch);
        [cond, uncond] = [out.subarray(n, 2 * n), out.subarray(0, n)];
      } else if (guided) {
        uncond = await this.runDenoiser(run, x, shape, ts, 1, ctxSingle[0] as Record<string, Tensor>);
        cond = await this.runDenoiser(run, x, shape, ts, 1, ctxSingle[1] as Record<string, Tensor>);
      } else {
        cond = await this.runDenoiser(run, x, shape, ts, 1, ctxSingle[0] as Record<string, Tensor>);
      }
      if (!uncond) next = scheduler.step(cond, i, x, next);
      else if (scheduler.stepGuided) next = scheduler.stepGuided({ cond, uncond, guidance: p.guidance }, i, x, next);
      else next = scheduler.step(applyGuidance(cond, uncond, p.guidance, guidedOut), i, x, next);
      if (!batched) [x, next] = [next, x];
      hooks.onDenoiseStep?.((this.now() - stepStart) / 1000);
      hooks.signal?.throwIfAborted();
    }
    return x;
  }

  /** `fixed`: the inputs that stay the same across steps (text context, adapter). */
  private async runDenoiser(
    run: Runner,
    latent: Float32Array,
    dims: number[],
    timestep: number,
    batch: number,
    fixed: Record<string, Tensor>,
  ): Promise<Float32Array> {
    const io = this.model.io.denoiser;
    const tsTensor =
      io.timestepType === 'int64'
        ? new ort.Tensor('int64', new BigInt64Array(batch).fill(BigInt(Math.round(timestep))), [batch])
        : new ort.Tensor('float32', new Float32Array(batch).fill(timestep), [batch]);
    const out = outputOf(
      await run(this.model.graphs.denoiser, { ...fixed, [io.latent]: new ort.Tensor('float32', latent, dims), [io.timestep]: tsTensor }),
      io.output,
      'denoiser',
    );
    const data = out.data as Float32Array;
    if (data.length !== latent.length) throw new GenerationError(`denoiser returned ${data.length} values for a ${dims.join('x')} latent`);
    return data;
  }

  private async decode(run: Runner, latents: Float32Array, p: GenerationParams): Promise<FrameSource> {
    const { manifest: m, io } = this.model;
    const z = new Float32Array(latents.length);
    for (let k = 0; k < z.length; k++) z[k] = (latents[k] as number) / m.vae.scalingFactor + m.vae.shiftFactor;
    const shape = this.latentShape(p);
    const video = outputOf(
      await run(this.model.graphs.vaeDecoder, { [io.vaeDecoder.latent]: new ort.Tensor('float32', z, shape) }),
      io.vaeDecoder.output,
      'vaeDecoder',
    );
    const [b, c, f, h, w] = video.dims;
    const expectedFrames = decodedFrames(m, shape[2]);
    if (b !== 1 || c !== 3 || h !== p.height || w !== p.width || f === undefined || f < p.frames) {
      throw new GenerationError(`vaeDecoder returned ${video.dims.join('x')}, expected 1x3x${expectedFrames}x${p.height}x${p.width}`);
    }
    return frameSource(video.data as Float32Array, { decodedFrames: f, frames: p.frames, height: p.height, width: p.width }, m.vae.outputRange);
  }
}

interface TextContext {
  contexts: Float32Array[];
  /** [L, D] of one context. */
  dims: number[];
}

type Runner = (graph: GraphRunner, feeds: Record<string, Tensor>) => Promise<Record<string, Tensor>>;

function outputOf(result: Record<string, Tensor>, name: string, graph: string): Tensor {
  const out = result[name];
  if (!out || out.type !== 'float32') throw new GenerationError(`${graph}: output ${name} missing or not float32`);
  return out;
}

function idsTensor(rows: number[][], type: IdsType, length: number): Tensor {
  const flat = rows.flat();
  const dims = [rows.length, length];
  return type === 'int64'
    ? new ort.Tensor(
        'int64',
        BigInt64Array.from(flat, (v) => BigInt(v)),
        dims,
      )
    : new ort.Tensor('int32', Int32Array.from(flat), dims);
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
