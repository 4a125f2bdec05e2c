// Loads a model directory: manifest → tokenizer → three ONNX sessions → how to feed them.
import path from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';
import { InvalidModelError } from '../errors.js';
import type { PipelineModel } from '../pipeline/pipeline.js';
import { createTokenizer } from '../pipeline/tokenizer.js';
import { createSessions, type Provider, type ProviderOptions } from './execution-provider.js';
import { resolveDenoiserIo, resolveTextEncoderIo, resolveVaeIo, type GraphIo } from './graph-io.js';
import type { ModelManifest } from './manifest.js';

export interface LoadedModel extends PipelineModel {
  provider: Provider;
  loadSeconds: number;
  release(): Promise<void>;
}

export async function loadModel(modelDir: string, manifest: ModelManifest, o: ProviderOptions & { now?: () => number }): Promise<LoadedModel> {
  const now = o.now ?? (() => performance.now());
  const start = now();
  const tokenizer = createTokenizer(manifest.tokenizer, modelDir);
  const files = {
    textEncoder: path.join(modelDir, manifest.graphs.textEncoder),
    denoiser: path.join(modelDir, manifest.graphs.denoiser),
    vaeDecoder: path.join(modelDir, manifest.graphs.vaeDecoder),
  };
  const { sessions, provider } = await createSessions(files, o);
  try {
    const io = resolveIo(sessions);
    checkIo(io, manifest, tokenizer.maxLength);
    return {
      manifest,
      tokenizer,
      io,
      graphs: sessions,
      provider,
      loadSeconds: (now() - start) / 1000,
      release: async () => {
        await Promise.allSettled(Object.values<InferenceSession>(sessions).map((s) => s.release()));
      },
    };
  } catch (err) {
    await Promise.allSettled(Object.values<InferenceSession>(sessions).map((s) => s.release()));
    throw err;
  }
}

function resolveIo(s: Record<'textEncoder' | 'denoiser' | 'vaeDecoder', InferenceSession>): GraphIo {
  return { textEncoder: resolveTextEncoderIo(s.textEncoder), denoiser: resolveDenoiserIo(s.denoiser), vaeDecoder: resolveVaeIo(s.vaeDecoder) };
}

/** Shapes the graphs pin must agree with the manifest; say which one does not. */
export function checkIo(io: GraphIo, m: ModelManifest, maxLength: number): void {
  const { fixedLength } = io.textEncoder;
  if (fixedLength !== undefined && fixedLength !== maxLength) {
    throw new InvalidModelError(`textEncoder takes ${fixedLength} tokens but tokenizer.maxLength is ${maxLength}`);
  }
  const channels = io.denoiser.fixed[0];
  if (channels !== undefined && channels !== m.latent.channels) {
    throw new InvalidModelError(`denoiser takes ${channels} latent channels but latent.channels is ${m.latent.channels}`);
  }
}
