// Usage: tsx inference-image/scripts/build-model.ts <outDir> [--version v] [--seed n] [--name s]
//        [--scheduler flow-euler|ddim] [--hidden n] [--width n] [--height n] [--frames n] [--fps n] [--steps n]
//        [--adapters <libraryDir>] [--no-adapter-inputs]
// Writes a small text-to-video model (model.json, vocab.txt, three ONNX graphs) with seeded weights; with
// --adapters also a library of seeded LoRA adapters for it (ink-wash@v1, ink-wash@v2, neon@v1).
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildTinyAdapters } from './lib/tiny-adapters.js';
import { buildTinyModel, defaultTinyModelOptions, type TinyModelOptions } from './lib/tiny-model.js';

function usage(message: string): never {
  process.stderr.write(
    `${message}\nusage: build-model.ts <outDir> [--version v] [--seed n] [--name s] [--scheduler flow-euler|ddim] [--hidden n] [--width n] [--height n] [--frames n] [--fps n] [--steps n] [--adapters <libraryDir>] [--no-adapter-inputs]\n`,
  );
  process.exit(2);
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    version: { type: 'string' },
    seed: { type: 'string' },
    name: { type: 'string' },
    scheduler: { type: 'string' },
    hidden: { type: 'string' },
    width: { type: 'string' },
    height: { type: 'string' },
    frames: { type: 'string' },
    fps: { type: 'string' },
    steps: { type: 'string' },
    adapters: { type: 'string' },
    'no-adapter-inputs': { type: 'boolean', default: false },
  },
});
const outDir = positionals[0];
if (!outDir) usage('missing <outDir>');

const int = (name: keyof typeof values, fallback: number): number => {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) usage(`--${name} must be a non-negative integer`);
  return n;
};
const scheduler = values.scheduler ?? defaultTinyModelOptions.scheduler;
if (scheduler !== 'flow-euler' && scheduler !== 'ddim') usage('--scheduler must be flow-euler or ddim');

const options: Partial<TinyModelOptions> = {
  name: values.name ?? defaultTinyModelOptions.name,
  version: values.version ?? defaultTinyModelOptions.version,
  seed: int('seed', defaultTinyModelOptions.seed),
  scheduler,
  hiddenChannels: int('hidden', defaultTinyModelOptions.hiddenChannels),
  width: int('width', defaultTinyModelOptions.width),
  height: int('height', defaultTinyModelOptions.height),
  frames: int('frames', defaultTinyModelOptions.frames),
  fps: int('fps', defaultTinyModelOptions.fps),
  steps: int('steps', defaultTinyModelOptions.steps),
  adapterInputs: !values['no-adapter-inputs'],
};
if (values.adapters !== undefined && !options.adapterInputs) usage('--adapters needs a model with adapter inputs (drop --no-adapter-inputs)');
const manifest = buildTinyModel(path.resolve(outDir), options);
const adapters = values.adapters === undefined ? [] : buildTinyAdapters(path.resolve(values.adapters), undefined, options);
process.stdout.write(
  `${JSON.stringify({ outDir: path.resolve(outDir), name: manifest.name, version: manifest.version, latentShape: manifest.latent.shape, scheduler: manifest.scheduler.type, adapters })}\n`,
);
