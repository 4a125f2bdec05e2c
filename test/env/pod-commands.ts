// Commands the pod runner (pod-runner.ts) can start for a pod.
import path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { repoRoot } from './paths.js';
import type { PodCommand, PodCommandContext } from './pod-runner.js';

export interface InferenceRuntimeOptions {
  /** The model directory for a pod (the pod's own T2V_MODEL_DIR names a path inside an image). */
  modelDir: string | ((pod: k8s.V1Pod) => string);
  /** Env set on top of the pod's (e.g. T2V_FAULT_* drills); the bind address and port always win. */
  env?: Record<string, string>;
}

/**
 * The real inference runtime (inference-image/src/main.ts through tsx) on CPU with one ONNX thread,
 * with the pod's env, listening on the pod's IP and container port.
 */
export function inferenceRuntimeCommand(opts: InferenceRuntimeOptions): (pod: k8s.V1Pod, ctx: PodCommandContext) => PodCommand {
  return (pod, { ip, port, env }) => ({
    command: process.execPath,
    args: ['--import', 'tsx', path.join(repoRoot, 'inference-image/src/main.ts')],
    cwd: repoRoot,
    env: {
      ...env,
      T2V_EXECUTION_PROVIDER: 'cpu',
      T2V_CPU_THREADS: '1',
      ...opts.env,
      T2V_MODEL_DIR: typeof opts.modelDir === 'string' ? opts.modelDir : opts.modelDir(pod),
      T2V_HOST: ip,
      T2V_PORT: String(port),
    },
  });
}
