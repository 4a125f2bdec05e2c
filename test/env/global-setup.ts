import type {} from 'vitest';
import fs from 'node:fs';
import type { TestProject } from 'vitest/node';
import { startControlPlane, type ControlPlane } from './control-plane.js';

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfigPath: string;
    controlPlaneDir: string;
    podCidr: string;
  }
}

let controlPlane: ControlPlane | undefined;

// One control plane per test run, shared by every integration test file (each test uses its own namespace).
export async function setup(project: TestProject): Promise<() => Promise<void>> {
  controlPlane = await startControlPlane({ log: (line) => console.log(`[control-plane] ${line}`) });
  project.provide('kubeconfigPath', controlPlane.kubeconfigPath);
  project.provide('controlPlaneDir', controlPlane.dir);
  project.provide('podCidr', controlPlane.podCidr);
  const stop = async () => {
    const cp = controlPlane;
    controlPlane = undefined;
    if (!cp) return;
    await cp.stop();
    // Logs stay for a post-mortem only when asked to; a normal run leaves no temp files behind.
    if (process.env.MODELROLLOUT_KEEP_CLUSTER_LOGS) console.log(`[control-plane] logs kept in ${cp.dir}/logs`);
    else fs.rmSync(cp.dir, { recursive: true, force: true });
  };
  // Ctrl-C during a run: stop what we started before vitest exits.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void stop().finally(() => process.exit(130)));
  return stop;
}
