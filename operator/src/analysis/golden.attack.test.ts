// Attack on issue #17's golden-prompt parsing and comparison (analysis/golden.ts).
import { describe, expect, it } from 'vitest';
import { compareClips, parseGoldenPrompts } from './golden.js';

const WHERE = 'ConfigMap ml/golden key prompts.yaml';

describe('attack-17: parseGoldenPrompts', () => {
  it('errors stay small enough for status and logs when a ConfigMap holds long values (they are echoed whole)', () => {
    // Prompts written as plain strings (no seed): each is echoed in full into the error, which goes to
    // status.analysis.goldenProbes.error on every round. A 1 MiB ConfigMap gives a ~1 MiB status field.
    const text = JSON.stringify(Array.from({ length: 20 }, (_, i) => `${i} ${'a very long prompt '.repeat(2500)}`));
    const { errors } = parseGoldenPrompts(text, WHERE);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.join('; ').length).toBeLessThan(16 * 1024);
  });

  it('id: null is an error (it becomes the id "null"), not a prompt named "null"', () => {
    const { prompts, errors } = parseGoldenPrompts('- {id: null, prompt: a cat, seed: 1}', WHERE);
    expect(errors.join('\n') || JSON.stringify(prompts)).toMatch(/\[0\]\.id/);
  });

  it("held up: unicode prompts, JSON, defaults, and the runtime's numeric fields pass through", () => {
    const { prompts, errors } = parseGoldenPrompts('[{"prompt": "猫が海で泳ぐ 🌊", "seed": 0, "width": 64}]', WHERE);
    expect(errors).toEqual([]);
    expect(prompts).toEqual([{ id: 'prompt-0', body: { prompt: '猫が海で泳ぐ 🌊', seed: 0, width: 64 } }]);
  });
});

describe('attack-17: compareClips', () => {
  it('a clip with zero frames on both sides gives finite scores (PSNR is NaN today: 0/0 MSE)', async () => {
    const empty = { width: 32, height: 32, frames: 0, data: new Uint8Array(0) };
    const c = await compareClips(empty, empty);
    if ('mismatch' in c) return; // refusing it is fine too
    expect(Number.isFinite(c.psnrDb), `psnrDb ${c.psnrDb}`).toBe(true);
  });
});
