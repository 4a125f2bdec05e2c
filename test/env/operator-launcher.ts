// The real operator (operator/src/main.ts) as child processes of a ProcessGroup, for code that runs
// outside a vitest test (the chaos script) or needs several replicas it kills and replaces. Tracked by
// PID; the group's watchdog stops them if this process dies.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { repoRoot } from './paths.js';
import { isAlive, tail, type ManagedProcess, type ProcessGroup } from './process-group.js';

export interface OperatorReplica {
  /** Leader election identity (POD_NAME). */
  identity: string;
  pid: number;
  port: number;
  logFile: string;
  /** SIGKILL, like a crashed pod or a lost node: no lease release, no clean-up. */
  kill(): Promise<void>;
  /** SIGTERM: the replica releases its lease and exits. SIGKILL after 10 s. */
  stop(): Promise<void>;
  alive(): boolean;
}

export interface LaunchOptions {
  kubeconfigPath: string;
  /** Namespace watched; also where the leader Lease lives. */
  namespace: string;
  identity: string;
  env?: Record<string, string>;
  /** How long to wait for /readyz. Default 90 s (tsx start-up on a busy 2-core machine). */
  readyTimeoutMs?: number;
  /**
   * `dist`: the compiled operator (operator/dist/main.js, built by the caller) with the image's heap ceiling, as it runs
   * in its image (operator/Dockerfile), for measuring its CPU and memory; `source` (default): through tsx.
   */
  entry?: 'source' | 'dist';
}

/** Starts one operator replica and waits until its /readyz answers (caches synced; leader or standby). */
export async function launchOperator(group: ProcessGroup, opts: LaunchOptions): Promise<OperatorReplica> {
  const args =
    opts.entry === 'dist'
      ? ['--max-old-space-size=256', path.join(repoRoot, 'operator', 'dist', 'main.js')]
      : ['--import', 'tsx', path.join(repoRoot, 'operator', 'src', 'main.ts')];
  const proc = group.start(`operator-${opts.identity}`, process.execPath, args, {
    cwd: repoRoot,
    env: {
      KUBECONFIG: opts.kubeconfigPath,
      MODELROLLOUT_WATCH_NAMESPACE: opts.namespace,
      MODELROLLOUT_PORT: '0',
      MODELROLLOUT_HOST: '127.0.0.1',
      MODELROLLOUT_LOG_LEVEL: 'debug',
      POD_NAME: opts.identity,
      // Short leases so a killed leader is replaced within seconds, as in high-availability.test.ts.
      MODELROLLOUT_LEASE_NAMESPACE: opts.namespace,
      MODELROLLOUT_LEASE_DURATION_SECONDS: '6',
      MODELROLLOUT_RENEW_DEADLINE_SECONDS: '4',
      MODELROLLOUT_RETRY_PERIOD_SECONDS: '1',
      ...opts.env,
    },
  });
  const port = await readyPort(proc, opts.readyTimeoutMs ?? 90_000);
  const stopWith = async (sig: NodeJS.Signals, graceMs: number) => {
    if (!isAlive(proc.pid)) return;
    proc.child?.kill(sig);
    const deadline = Date.now() + graceMs;
    while (isAlive(proc.pid) && Date.now() < deadline) await sleep(50);
    if (isAlive(proc.pid)) proc.child?.kill('SIGKILL');
    while (isAlive(proc.pid)) await sleep(20);
  };
  return {
    identity: opts.identity,
    pid: proc.pid,
    port,
    logFile: proc.logFile,
    kill: () => stopWith('SIGKILL', 5_000),
    stop: () => stopWith('SIGTERM', 10_000),
    alive: () => isAlive(proc.pid),
  };
}

/** Waits for the "listening" log line, then for /readyz. */
async function readyPort(proc: ManagedProcess, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let port: number | undefined;
  while (Date.now() < deadline) {
    if (!isAlive(proc.pid)) throw new Error(`operator ${proc.name} exited during start-up:\n${tail(proc.logFile, 30)}`);
    if (port === undefined) {
      const line = fs
        .readFileSync(proc.logFile, 'utf8')
        .split('\n')
        .find((l) => l.includes('"modelrollout operator listening"'));
      if (line) port = (JSON.parse(line) as { port: number }).port;
    } else if (
      await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.ok,
        () => false,
      )
    ) {
      return port;
    }
    await sleep(100);
  }
  throw new Error(`operator ${proc.name} not ready after ${timeoutMs} ms:\n${tail(proc.logFile, 30)}`);
}
