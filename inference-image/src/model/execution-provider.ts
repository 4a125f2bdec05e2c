// CUDA first, CPU as fallback. onnxruntime does not fall back by itself: `['cuda', 'cpu']` throws
// ("Failed to load shared library") when the CUDA provider libraries or a GPU are missing, so we catch
// and retry with CPU — only in `auto`; an explicit `cuda` fails hard so a GPU pod never quietly runs on CPU.
import fs from 'node:fs';
import type { InferenceSession } from 'onnxruntime-node';
import type { Logger } from 'pino';
import { ExecutionProviderError } from '../errors.js';

export type ProviderPreference = 'auto' | 'cuda' | 'cpu';
export type Provider = 'cuda' | 'cpu';

export type SessionFactory = (file: string, options: InferenceSession.SessionOptions) => Promise<InferenceSession>;

export interface ProviderOptions {
  preference: ProviderPreference;
  cudaDeviceId: number;
  /** Intra-op threads on CPU; 0 = onnxruntime's default (one per core). */
  cpuThreads: number;
  create: SessionFactory;
  log: Pick<Logger, 'info' | 'warn'>;
  /** Whether an NVIDIA driver is present; absent: the files the driver creates are looked for. */
  hasGpuDriver?: () => boolean;
}

/**
 * The NVIDIA kernel driver's files (also in a container the NVIDIA runtime gave a GPU). Without them `auto` does
 * not try CUDA: onnxruntime would print a non-JSON error line to stderr on every CPU-only start.
 */
export const NVIDIA_DRIVER_FILES = ['/proc/driver/nvidia/version', '/dev/nvidiactl'];
const hasNvidiaDriver = (): boolean => NVIDIA_DRIVER_FILES.some((f) => fs.existsSync(f));

/**
 * onnxruntime's `session.force_spinning_stop` (onnxruntime_session_options_config_keys.h): the session's thread-pool
 * threads stop spinning as soon as a run() returns, instead of busy-waiting for the next one. They still spin inside
 * a run, between its parallel sections (what `allow_spinning = 0` would also stop: 6–7 % slower runs here). After the
 * last run of a clip they otherwise kept the cores busy while the encoder and the frame conversion needed them. Paired
 * runs of the bench clip on 2 vCPUs (16 requests each, alternating): time outside session.run() −14 %, the encode
 * −14 %, session.run() itself +0.5 % (noise), request wall −0.8 %.
 */
const SPIN_CONFIG = { session: { force_spinning_stop: '1' } } as const;

export function sessionOptions(provider: Provider, o: Pick<ProviderOptions, 'cudaDeviceId' | 'cpuThreads'>): InferenceSession.SessionOptions {
  return {
    executionProviders: provider === 'cuda' ? [{ name: 'cuda', deviceId: o.cudaDeviceId }] : ['cpu'],
    graphOptimizationLevel: 'all',
    ...(provider === 'cpu' && o.cpuThreads > 0 ? { intraOpNumThreads: o.cpuThreads } : {}),
    extra: SPIN_CONFIG,
  };
}

async function createAll<K extends string>(files: Record<K, string>, provider: Provider, o: ProviderOptions): Promise<Record<K, InferenceSession>> {
  const created: Partial<Record<K, InferenceSession>> = {};
  try {
    for (const key of Object.keys(files) as K[]) created[key] = await o.create(files[key], sessionOptions(provider, o));
    return created as Record<K, InferenceSession>;
  } catch (err) {
    // Free what was loaded (GPU memory) before the caller retries on another provider.
    await Promise.allSettled(Object.values<InferenceSession | undefined>(created).flatMap((s) => (s ? [s.release()] : [])));
    throw err;
  }
}

/**
 * Turns off onnxruntime's usage telemetry unless the operator chose otherwise (ORT_DISABLE_TELEMETRY=0). The Linux
 * build of onnxruntime-node 1.30 carries Microsoft's 1DS telemetry: every process that creates a session tries to
 * send usage events and leaves `.ses` and `mat-debug-<pid>.log` in TMPDIR (987 of them in this machine's /tmp after
 * two days of tests). A model server in a customer's cluster must not phone home. Read by onnxruntime when its
 * environment is created (the first session), so call it before any.
 */
export function disableOrtTelemetry(env: NodeJS.ProcessEnv = process.env): void {
  env.ORT_DISABLE_TELEMETRY ??= '1';
}

export async function createSessions<K extends string>(
  files: Record<K, string>,
  o: ProviderOptions,
): Promise<{ sessions: Record<K, InferenceSession>; provider: Provider }> {
  disableOrtTelemetry();
  if (o.preference === 'cpu') return { sessions: await createAll(files, 'cpu', o), provider: 'cpu' };
  if (o.preference === 'auto' && !(o.hasGpuDriver ?? hasNvidiaDriver)()) {
    o.log.warn(
      { looked_for: NVIDIA_DRIVER_FILES },
      'no NVIDIA driver on this machine; falling back to CPU without trying CUDA (generation will be much slower)',
    );
    return { sessions: await createAll(files, 'cpu', o), provider: 'cpu' };
  }
  try {
    const sessions = await createAll(files, 'cuda', o);
    o.log.info({ provider: 'cuda', deviceId: o.cudaDeviceId }, 'execution provider: CUDA');
    return { sessions, provider: 'cuda' };
  } catch (err) {
    if (o.preference === 'cuda') {
      throw new ExecutionProviderError(
        `CUDA execution provider failed on device ${o.cudaDeviceId} (T2V_EXECUTION_PROVIDER=cuda, no fallback): ${(err as Error).message}`,
        { cause: err },
      );
    }
    o.log.warn(
      { err: (err as Error).message, deviceId: o.cudaDeviceId },
      'CUDA execution provider unavailable; falling back to CPU (generation will be much slower)',
    );
  }
  return { sessions: await createAll(files, 'cpu', o), provider: 'cpu' };
}
