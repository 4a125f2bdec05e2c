// GPU memory via nvidia-smi (mounted into GPU containers by the NVIDIA container toolkit with the
// `utility` capability). onnxruntime-node exposes no allocator stats, so this is the portable reading.
import { execFile } from 'node:child_process';

export interface GpuMemory {
  usedBytes: number;
  totalBytes: number;
}

export type ExecFile = (file: string, args: string[], timeoutMs: number) => Promise<string>;

const execFileText: ExecFile = (file, args, timeoutMs) =>
  new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });

/** Parses `nvidia-smi --query-gpu=memory.used,memory.total --format=csv,noheader,nounits` (MiB). */
export function parseNvidiaSmi(text: string): GpuMemory | undefined {
  const [used, total] = (text.trim().split('\n')[0] ?? '').split(',').map((s) => Number(s.trim()));
  if (used === undefined || total === undefined || !Number.isFinite(used) || !Number.isFinite(total)) return undefined;
  return { usedBytes: used * 1024 * 1024, totalBytes: total * 1024 * 1024 };
}

/** A reader that caches for `maxAgeMs` (scrapes stay cheap) and returns undefined where no GPU can be read. */
export function createGpuMemoryReader(
  deviceId: number,
  opts: { exec?: ExecFile; now?: () => number; maxAgeMs?: number } = {},
): () => Promise<GpuMemory | undefined> {
  const exec = opts.exec ?? execFileText;
  const now = opts.now ?? Date.now;
  const maxAge = opts.maxAgeMs ?? 5000;
  let cached: { at: number; value: GpuMemory | undefined } | undefined;
  return async () => {
    if (cached && now() - cached.at < maxAge) return cached.value;
    let value: GpuMemory | undefined;
    try {
      value = parseNvidiaSmi(await exec('nvidia-smi', ['--query-gpu=memory.used,memory.total', '--format=csv,noheader,nounits', '-i', String(deviceId)], 2000));
    } catch {
      value = undefined;
    }
    cached = { at: now(), value };
    return value;
  };
}
