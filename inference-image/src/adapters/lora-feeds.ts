// An adapter as denoiser inputs: one tensor per `<module>.lora_A` / `.lora_B` input and the scale.
// Built once per loaded adapter and reused by every run (onnxruntime only reads its inputs).
import ort from 'onnxruntime-node';
import type { Tensor } from 'onnxruntime-node';
import type { LoraIo } from '../model/graph-io.js';
import type { LoraWeights } from './peft.js';

export type LoraFeeds = Record<string, Tensor>;

/**
 * No adapter: rank 0 (empty A and B), so the low-rank path is an empty MatMul adding zeros. A module the
 * adapter does not target gets zero matrices of the adapter's rank.
 */
export function loraFeeds(io: LoraIo, weights?: LoraWeights): LoraFeeds {
  const r = weights?.rank ?? 0;
  const feeds: LoraFeeds = { [io.scale]: new ort.Tensor('float32', Float32Array.of(weights?.scale ?? 0), [1]) };
  for (const m of io.modules) {
    const w = weights?.modules.get(m.module);
    feeds[m.a] = new ort.Tensor('float32', w?.a ?? new Float32Array(r * m.in), [r, m.in]);
    feeds[m.b] = new ort.Tensor('float32', w?.b ?? new Float32Array(m.out * r), [m.out, r]);
  }
  return feeds;
}
