// Usage: tsx inference-image/scripts/build-model.ts <outDir> [--version v] [--seed n] [--name s]
//        [--scheduler flow-euler|ddim] [--hidden n] [--width n] [--height n] [--frames n] [--fps n] [--steps n]
// Writes a small text-to-video model (model.json, vocab.txt, three ONNX graphs) with seeded weights.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildTinyModel, defaultTinyModelOptions, type TinyModelOptions } from './lib/tiny-model.js';

function usage(message: string): never {
  process.stderr.write(`${message}\nusage: build-model.ts <outDir> [--version v] [--seed n] [--name s] [--scheduler flow-euler|ddim] [--hidden n] [--width n] [--height n] [--frames n] [--fps n] [--steps n]\n`);
  process.exit(2);
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    version: { type: 'string' }, seed: { type: 'string' }, name: { type: 'string' }, scheduler: { type: 'string' },
    hidden: { type: 'string' }, width: { type: 'string' }, height: { type: 'string' }, frames: { type: 'string' },
    fps: { type: 'string' }, steps: { type: 'string' },
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
};
const manifest = buildTinyModel(path.resolve(outDir), options);
process.stdout.write(`${JSON.stringify({ outDir: path.resolve(outDir), name: manifest.name, version: manifest.version, latentShape: manifest.latent.shape, scheduler: manifest.scheduler.type })}\n`);
