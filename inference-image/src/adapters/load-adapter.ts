// One adapter version from the library into memory: read both files, check them against the base model,
// build the denoiser feeds.
import fs from 'node:fs/promises';
import path from 'node:path';
import { InvalidAdapterError } from '../errors.js';
import type { LoadedAdapter } from './adapter-cache.js';
import type { AdapterLibrary } from './library.js';
import { loraFeeds } from './lora-feeds.js';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, checkAdapter, parsePeftConfig, type BaseModel } from './peft.js';
import { parseSafetensors } from './safetensors.js';
import { refText, type AdapterRef } from './style.js';

export async function loadAdapter(library: AdapterLibrary, ref: AdapterRef, base: BaseModel): Promise<LoadedAdapter> {
  const name = refText(ref);
  const dir = library.dirOf(ref);
  if (!dir) throw new InvalidAdapterError(name, 'directory', `not in the library at ${library.dir}`);
  const read = async (file: string): Promise<Buffer> => {
    try {
      return await fs.readFile(path.join(dir, file));
    } catch (cause) {
      throw new InvalidAdapterError(name, file, `cannot be read (${(cause as Error).message})`, { cause });
    }
  };
  const [configText, weights] = await Promise.all([read(ADAPTER_CONFIG_FILE), read(ADAPTER_WEIGHTS_FILE)]);
  let json: unknown;
  try {
    json = JSON.parse(configText.toString('utf8'));
  } catch (cause) {
    throw new InvalidAdapterError(name, ADAPTER_CONFIG_FILE, 'is not valid JSON', { cause });
  }
  const config = parsePeftConfig(json, name);
  const lora = checkAdapter(config, parseSafetensors(weights, name).tensors, base, name);
  return { ref, rank: lora.rank, scale: lora.scale, feeds: loraFeeds(base.lora, lora) };
}
