// Real inference processes (inference-image/src/main.ts, the small model on CPU) on 127.0.0.1, one per
// model version. They stand in for the GPU pods: kwok pods run no process.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { repoRoot } from '../../test/env/paths.js';
import { freePort } from '../../test/env/ports.js';
import { ProcessGroup } from '../../test/env/process-group.js';

export interface InferenceProcess {
  version: string;
  url: string;
  target: string;
}

export class InferenceFleet {
  readonly processes = new Map<string, InferenceProcess>();
  private readonly group: ProcessGroup;

  constructor(private readonly dir: string, readonly modelName: string) {
    this.group = new ProcessGroup(path.join(dir, 'logs'));
    this.group.armWatchdog(process.pid);
  }

  /** Builds the small model for `version` (seeded: same version, same weights). */
  buildModel(version: string, seed: number): string {
    const out = path.join(this.dir, 'models', version);
    if (!fs.existsSync(path.join(out, 'model.json'))) {
      execFileSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'inference-image/scripts/build-model.ts'), out, '--version', version, '--seed', String(seed), '--name', this.modelName], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] });
    }
    return out;
  }

  /**
   * Starts the runtime for `version`; `faults` are the runtime's own drill switches (T2V_FAULT_*); `identity`
   * is what the operator would pass a pod through the downward API (MODELROLLOUT_*), for the metric labels.
   */
  async start(version: string, seed: number, faults: { errorRate?: number; latencyMs?: number } = {}, identity: { namespace: string; name: string; revision: string } | undefined = undefined): Promise<InferenceProcess> {
    const modelDir = this.buildModel(version, seed);
    const port = await freePort();
    this.group.start(`inference-${version}`, process.execPath, ['--import', 'tsx', path.join(repoRoot, 'inference-image/src/main.ts')], {
      cwd: repoRoot,
      env: {
        ...process.env, T2V_MODEL_DIR: modelDir, T2V_HOST: '127.0.0.1', T2V_PORT: String(port), T2V_EXECUTION_PROVIDER: 'cpu',
        T2V_MAX_CONCURRENCY: '1', T2V_MAX_QUEUE: '4',
        ...(faults.errorRate ? { T2V_FAULT_ERROR_RATE: String(faults.errorRate) } : {}),
        ...(faults.latencyMs ? { T2V_FAULT_LATENCY_MS: String(faults.latencyMs) } : {}),
        ...(identity ? { MODELROLLOUT_NAMESPACE: identity.namespace, MODELROLLOUT_NAME: identity.name, MODELROLLOUT_REVISION: identity.revision } : {}),
      },
    });
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 120_000;
    while (!(await fetch(`${url}/readyz`).then((r) => r.ok, () => false))) {
      this.group.assertAlive();
      if (Date.now() > deadline) throw new Error(`inference ${version} not ready after 120 s (logs in ${this.group.logDir})`);
      await sleep(200);
    }
    const proc = { version, url, target: `127.0.0.1:${port}` };
    this.processes.set(version, proc);
    return proc;
  }

  targets(): string[] {
    return [...this.processes.values()].map((p) => p.target);
  }

  async stop(): Promise<void> {
    await this.group.stopAll();
  }
}
