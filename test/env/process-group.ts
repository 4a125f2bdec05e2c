import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ManagedProcess {
  name: string;
  pid: number;
  logFile: string;
  child: ChildProcess | undefined;
  /** How it ended, once it has (its code, or the signal that ended it). */
  exit?: { code: number | null; signal: NodeJS.Signals | null };
}

/**
 * Processes one harness started, tracked by PID (never by name: other people's processes share the
 * machine). A detached watchdog stops them if the owner dies without cleaning up (kill -9, crash).
 */
export class ProcessGroup {
  readonly processes: ManagedProcess[] = [];
  private watchdogPid: number | undefined;

  private readonly pidFile: string;

  constructor(readonly logDir: string) {
    fs.mkdirSync(logDir, { recursive: true });
    this.pidFile = path.join(logDir, 'pids');
  }

  start(name: string, command: string, args: string[], opts: { env?: NodeJS.ProcessEnv; detached?: boolean; cwd?: string } = {}): ManagedProcess {
    const logFile = path.join(this.logDir, `${name}.log`);
    const fd = fs.openSync(logFile, 'a');
    const child = spawn(command, args, {
      stdio: ['ignore', fd, fd],
      env: { ...process.env, ...opts.env },
      detached: opts.detached ?? false,
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
    });
    fs.closeSync(fd);
    if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`);
    if (opts.detached) child.unref();
    const managed: ManagedProcess = { name, pid: child.pid, logFile, child };
    child.on('exit', (code, signal) => {
      managed.child = undefined;
      managed.exit = { code, signal };
    });
    this.processes.push(managed);
    // The watchdog reads this file, so processes started after it was armed are covered too.
    fs.appendFileSync(this.pidFile, `${child.pid}\n`);
    return managed;
  }

  /** Throws with the log tail when a process has already exited (start-up failures). */
  assertAlive(): void {
    for (const p of this.processes) {
      if (!isAlive(p.pid)) throw new Error(`${p.name} (pid ${p.pid}) exited during start-up:\n${tail(p.logFile, 40)}`);
    }
  }

  /** Starts a shell that polls `ownerPid` and stops every tracked PID once it is gone. */
  armWatchdog(ownerPid: number): void {
    const pids = `$(cat '${this.pidFile}' 2>/dev/null)`;
    const script = `while kill -0 ${ownerPid} 2>/dev/null; do sleep 1; done; kill -TERM ${pids} 2>/dev/null; sleep 3; kill -KILL ${pids} 2>/dev/null; exit 0`;
    const child = spawn('bash', ['-c', script], { stdio: 'ignore', detached: true });
    child.unref();
    this.watchdogPid = child.pid;
  }

  /** SIGTERM in reverse start order, SIGKILL what is left after `graceMs`. */
  async stopAll(graceMs = 5000): Promise<void> {
    const live = [...this.processes].reverse().filter((p) => isAlive(p.pid));
    for (const p of live) signal(p.pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (live.some((p) => isAlive(p.pid)) && Date.now() < deadline) await sleep(50);
    for (const p of live) if (isAlive(p.pid)) signal(p.pid, 'SIGKILL');
    while (live.some((p) => isAlive(p.pid))) await sleep(20);
    if (this.watchdogPid !== undefined) signal(this.watchdogPid, 'SIGKILL');
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers kill(0); read its state so exited-but-unreaped children count as dead.
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

export function tail(file: string, lines: number): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return `(no log at ${file})`;
  }
}
