import { describe, expect, it } from 'vitest';
import { InvalidModelError } from '../errors.js';
import { resolveDenoiserIo, resolveTextEncoderIo, resolveVaeIo, type GraphMeta, type ValueMeta } from './graph-io.js';
import { checkIo } from './load-model.js';
import type { ModelManifest } from './manifest.js';

function graph(inputs: ValueMeta[], outputs = ['out']): GraphMeta {
  return { inputNames: inputs.map((i) => i.name), outputNames: outputs, inputMetadata: inputs };
}
const t = (name: string, type: string, shape: Array<number | string>): ValueMeta => ({ name, isTensor: true, type, shape });

describe('graph I/O resolution', () => {
  it('reads the names and symbolic dims of the project graphs', () => {
    const te = resolveTextEncoderIo(
      graph([t('input_ids', 'int64', ['batch', 'sequence']), t('attention_mask', 'int64', ['batch', 'sequence'])], ['last_hidden_state']),
    );
    expect(te).toEqual({
      ids: 'input_ids',
      idsType: 'int64',
      mask: 'attention_mask',
      maskType: 'int64',
      output: 'last_hidden_state',
      maxBatch: Infinity,
      fixedLength: undefined,
    });
    const dn = resolveDenoiserIo(
      graph([t('latent', 'float32', ['b', 4, 't', 'h', 'w']), t('timestep', 'float32', ['b']), t('encoder_hidden_states', 'float32', ['b', 's', 32])]),
    );
    expect(dn).toMatchObject({
      latent: 'latent',
      timestep: 'timestep',
      context: 'encoder_hidden_states',
      timestepType: 'float32',
      maxBatch: Infinity,
      fixed: [4, undefined, undefined, undefined],
    });
  });

  it('accepts diffusers-style names, int32 ids, int64 timesteps and pinned shapes', () => {
    const te = resolveTextEncoderIo(graph([t('input_ids', 'int32', [1, 512])]));
    expect(te).toMatchObject({ idsType: 'int32', mask: undefined, maxBatch: 1, fixedLength: 512 });
    const dn = resolveDenoiserIo(
      graph([t('sample', 'float32', [1, 16, 21, 60, 104]), t('timestep', 'int64', [1]), t('encoder_hidden_states', 'float32', [1, 512, 4096])], ['noise_pred']),
    );
    expect(dn).toMatchObject({ latent: 'sample', timestepType: 'int64', maxBatch: 1, fixed: [16, 21, 60, 104], output: 'noise_pred' });
    expect(resolveVaeIo(graph([t('latent_sample', 'float32', ['b', 16, 't', 'h', 'w'])], ['sample']))).toEqual({
      latent: 'latent_sample',
      output: 'sample',
      maxBatch: Infinity,
    });
  });

  it('names the missing input and lists what the graph has', () => {
    expect(() => resolveDenoiserIo(graph([t('latent', 'float32', [1, 4, 1, 1, 1]), t('timestep', 'float32', [1])]))).toThrow(
      /denoiser: no context input \(looked for encoder_hidden_states.*graph has latent, timestep\)/,
    );
  });

  it('rejects wrong ranks and dtypes', () => {
    expect(() => resolveVaeIo(graph([t('latent', 'float32', [1, 4, 8, 8])]))).toThrow(/rank 4, expected 5/);
    expect(() => resolveTextEncoderIo(graph([t('input_ids', 'float32', ['b', 's'])]))).toThrow(InvalidModelError);
    expect(() => resolveDenoiserIo(graph([t('latent', 'float32', []), t('timestep', 'float16', [1]), t('context', 'float32', [])]))).toThrow(
      /float32 or int64/,
    );
  });

  it('checks pinned shapes against the manifest', () => {
    const m = { latent: { channels: 4 } } as ModelManifest;
    const dn = resolveDenoiserIo(graph([t('latent', 'float32', [1, 16, 't', 'h', 'w']), t('timestep', 'float32', [1]), t('context', 'float32', [1, 8, 8])]));
    const te = resolveTextEncoderIo(graph([t('input_ids', 'int64', [1, 77])]));
    const vae = resolveVaeIo(graph([t('latent', 'float32', ['b', 4, 't', 'h', 'w'])]));
    expect(() => checkIo({ textEncoder: te, denoiser: dn, vaeDecoder: vae }, m, 77)).toThrow(/16 latent channels but latent.channels is 4/);
    expect(() => checkIo({ textEncoder: te, denoiser: { ...dn, fixed: [4, undefined, undefined, undefined] }, vaeDecoder: vae }, m, 64)).toThrow(
      /77 tokens but tokenizer.maxLength is 64/,
    );
  });
});
