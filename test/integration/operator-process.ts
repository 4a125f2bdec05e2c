// Runs the real operator (operator/src/main.ts) as a child process against the test control plane,
// watching one namespace. Tracked by PID and killed when the test ends.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { onTestFinished } from 'vitest';
import { repoRoot } from '../env/paths.js';

export interface OperatorProcess {
  pid: number;
  port: number;
  logFile: string;
  /** SIGKILL: no chance to clean up, like a crashed pod. */
  kill(): Promise<void>;
  stop(): Promise<void>;
  metrics(): Promise<string>;
  log(): string;
}

export async function startOperator(kubeconfigPath: string, namespace: string, env: Record<string, string> = {}): Promise<OperatorProcess> {
  const logFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'modelrollout-op-')), 'operator.log');
  const out = fs.openSync(logFile, 'a');
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'operator', 'src', 'main.ts')], {
    cwd: repoRoot,
    env: {
      ...process.env,
      KUBECONFIG: kubeconfigPath,
      MODELROLLOUT_WATCH_NAMESPACE: namespace,
      MODELROLLOUT_PORT: '0',
      MODELROLLOUT_HOST: '127.0.0.1',
      MODELROLLOUT_LOG_LEVEL: 'debug',
      // One lease per test namespace, short enough that a takeover test does not wait long.
      MODELROLLOUT_LEASE_NAMESPACE: namespace,
      MODELROLLOUT_LEASE_DURATION_SECONDS: '6',
      MODELROLLOUT_RENEW_DEADLINE_SECONDS: '4',
      MODELROLLOUT_RETRY_PERIOD_SECONDS: '1',
      ...env,
    },
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let alive = true;
  void exited.then(() => (alive = false));
  const stopWith = async (signal: NodeJS.Signals) => {
    if (!alive) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  onTestFinished(async (ctx) => {
    await stopWith('SIGTERM');
    if (ctx.task.result?.state === 'fail')
      console.log(`--- operator log (${logFile}), last lines:\n${fs.readFileSync(logFile, 'utf8').split('\n').slice(-40).join('\n')}`);
    else fs.rmSync(path.dirname(logFile), { recursive: true, force: true });
  });
  const port = await readyPort(logFile, () => alive);
  return {
    pid: child.pid!,
    port,
    logFile,
    kill: () => stopWith('SIGKILL'),
    stop: () => stopWith('SIGTERM'),
    metrics: async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text(),
    log: () => fs.readFileSync(logFile, 'utf8'),
  };
}

/** Waits for the "listening" log line, then for /readyz (caches synced). */
async function readyPort(logFile: string, alive: () => boolean): Promise<number> {
  const deadline = Date.now() + 60_000;
  let port: number | undefined;
  while (Date.now() < deadline) {
    if (!alive()) throw new Error(`operator exited during start-up:\n${fs.readFileSync(logFile, 'utf8').slice(-3000)}`);
    if (port === undefined) {
      const line = fs
        .readFileSync(logFile, 'utf8')
        .split('\n')
        .find((l) => l.includes('"modelrollout operator listening"'));
      if (line) port = (JSON.parse(line) as { port: number }).port;
    } else {
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return port;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`operator not ready after 60 s:\n${fs.readFileSync(logFile, 'utf8').slice(-3000)}`);
}
