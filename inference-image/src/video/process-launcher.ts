// Starts the per-clip ffmpeg from a small long-lived child process instead of from the runtime itself (the
// "fork server" of Python's multiprocessing). Node's spawn() forks the caller, and fork() copies the caller's
// page tables on the event loop: ~45 ms per GB of resident memory on this machine (8 ms at 250 MB, 40 ms at
// 900 MB, 75 ms at 1.7 GB: `node` spawning /usr/bin/true), every clip, and a model runtime's memory only grows
// with the model. From the launcher (~40 MB) a spawn costs ~1 ms. The launcher only starts processes, reports
// their exit and stderr tail, and kills them on request; the runtime talks to each process over a Unix socket
// (mp4-encoder.ts), so no video passes through the launcher.
import { spawn, type ChildProcess } from 'node:child_process';

/** Messages to the launcher: start a process, kill one. */
export type ToLauncher = { kind: 'spawn'; id: number; file: string; args: string[] } | { kind: 'kill'; id: number };
/** The launcher's reports: a process started (its PID), could not be started, or ended (exit code or signal, stderr's tail). */
export type FromLauncher =
  | { kind: 'started'; id: number; pid: number }
  | { kind: 'error'; id: number; message: string }
  | { kind: 'close'; id: number; code: number | null; signal: string | null; stderr: string };

/** How a launched process ended. `error`: it could not be started (ENOENT, EACCES) or the launcher died. */
export interface LaunchExit {
  code: number | null;
  signal: string | null;
  stderr: string;
  error?: string;
  /** With `error`: nothing was started (the launcher refused or could not fork), so another launcher may run it. */
  notStarted?: true;
}

export interface LaunchedProcess {
  /** Settles once, when the process ended or could not be started (never rejects). */
  readonly exited: Promise<LaunchExit>;
  /** SIGKILL; a no-op after the exit. */
  kill(): void;
}

export interface ProcessLauncher {
  /** Starts `file args` with stdin and stdout on /dev/null and stderr collected (last 4 KiB). */
  launch(file: string, args: readonly string[]): LaunchedProcess;
  /** False once the launcher process is gone; callers then spawn themselves. */
  readonly alive: boolean;
  /** Stops the launcher, which SIGKILLs what it started. */
  close(): Promise<void>;
}

/**
 * A launcher that died: SIGKILLs the processes it started and had not reported ended (by the PIDs it reported)
 * and settles their waiters with `error`. Empties both maps.
 */
export function orphansKilled(pids: Map<number, number>, pending: Map<number, (e: LaunchExit) => void>, error: string): void {
  for (const pid of pids.values()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  pids.clear();
  for (const settle of pending.values()) settle({ code: null, signal: null, stderr: '', error });
  pending.clear();
}

/**
 * How long a launcher may take to report the end of a process it was asked to kill before it is taken for hung
 * (stopped, wedged) and SIGKILLed itself; what it started goes with it. Without this, a launcher that no longer
 * answers would hold the job's slot for good, past the request timeout.
 */
export const KILL_ANSWER_MS = 5000;

/** Bytes of a process's stderr kept for its exit report (the tail: where ffmpeg says why it failed). */
export const STDERR_KEEP = 4096;
/** How long after a process's exit its stderr may still be read before its end is reported as final. */
export const EXIT_GRACE_MS = 200;

/**
 * The launcher's whole program, run as `node -e` (plain JavaScript, CommonJS): no module file to locate and no
 * loader, so it starts in ~70 ms and ~40 MB from the compiled runtime and from the TypeScript sources under tsx alike
 * (a .ts module under tsx took ~0.3 s of CPU and ~76 MB for every runtime the tests start). Messages: ToLauncher in,
 * FromLauncher out. It spawns what it is asked to (stdin and stdout on /dev/null), reports the PID, then the exit
 * with the last STDERR_KEEP bytes of stderr — at 'close', or EXIT_GRACE_MS after 'exit' at the latest (a wrapper
 * script's own child may hold stderr open long after the process ended) — kills on request by the PID it started,
 * and when the runtime goes (IPC channel closed) SIGKILLs what it started and exits. Exercised whole by
 * process-launcher.test.ts.
 */
const LAUNCHER_PROGRAM = `'use strict';
const { spawn } = require('node:child_process');
const STDERR_KEEP = ${STDERR_KEEP};
const EXIT_GRACE_MS = ${EXIT_GRACE_MS};
const running = new Map();
const report = (m) => { if (process.connected) process.send(m); };
const start = (id, file, args) => {
  let child;
  try {
    child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    report({ kind: 'error', id, message: err.message });
    return;
  }
  running.set(id, child);
  if (child.pid !== undefined) report({ kind: 'started', id, pid: child.pid });
  let stderr = '';
  let done = false;
  child.stderr.on('data', (chunk) => { stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_KEEP); });
  child.once('error', (err) => {
    if (done) return;
    done = true;
    running.delete(id);
    report({ kind: 'error', id, message: err.message });
  });
  const ended = (code, signal) => {
    if (done) return;
    done = true;
    running.delete(id);
    report({ kind: 'close', id, code, signal, stderr });
  };
  child.once('close', ended);
  child.once('exit', (code, signal) => setTimeout(() => ended(code, signal), EXIT_GRACE_MS));
};
process.on('message', (m) => {
  if (m.kind === 'spawn') start(m.id, m.file, m.args);
  else if (m.kind === 'kill') { const child = running.get(m.id); if (child) child.kill('SIGKILL'); }
});
process.once('disconnect', () => {
  for (const child of running.values()) child.kill('SIGKILL');
  process.exit(0);
});
`;

/**
 * Forks the launcher (call while the runtime is still small: before the model loads). The launcher exits when
 * the runtime does (its IPC channel closes), SIGKILLing the processes it started, so a SIGKILLed runtime leaves
 * no ffmpeg behind.
 */
export function startProcessLauncher(o: { onExit?: (code: number | null, signal: string | null) => void; killAnswerMs?: number } = {}): ProcessLauncher {
  const child: ChildProcess = spawn(process.execPath, ['--max-old-space-size=64', '-e', LAUNCHER_PROGRAM], {
    // No stderr: the runtime's log is JSON lines; how the launcher ended is logged by the runtime (onExit).
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    serialization: 'json',
  });
  let alive = true;
  let nextId = 1;
  const pending = new Map<number, (e: LaunchExit) => void>();
  const channel = (child as unknown as { channel?: { ref(): void; unref(): void } }).channel;
  // Held (ref'd) while a launched process runs, so that waiting for its end keeps this process alive; let go
  // otherwise: an idle launcher must not keep the runtime alive on its own.
  const hold = (): void => {
    if (pending.size > 0) {
      child.ref();
      channel?.ref();
    } else {
      child.unref();
      channel?.unref();
    }
  };
  /** PIDs of the launched processes still running, by id: what a launcher that dies would leave behind. */
  const pids = new Map<number, number>();
  child.on('message', (m: FromLauncher) => {
    const settle = pending.get(m.id);
    if (!settle) return;
    if (m.kind === 'started') return void pids.set(m.id, m.pid);
    pending.delete(m.id);
    pids.delete(m.id);
    hold();
    settle(m.kind === 'error' ? { code: null, signal: null, stderr: '', error: m.message } : { code: m.code, signal: m.signal, stderr: m.stderr });
  });
  const gone = (code: number | null, signal: string | null): void => {
    if (!alive) return;
    alive = false;
    // A launcher killed outright (SIGKILL, OOM) cannot take its processes with it: they would run on unwatched,
    // writing into temp dirs that are being removed. Killed here, by the PIDs it reported whose exit it had not
    // reported (one that ended in the last moments before is at worst an unused PID: Linux does not reuse at once).
    orphansKilled(pids, pending, 'the process launcher exited');
    o.onExit?.(code, signal);
  };
  child.once('exit', gone);
  child.once('error', () => gone(null, null));
  hold();
  const send = (m: ToLauncher): boolean => {
    if (!alive || !child.connected) return false;
    try {
      // send()'s false means "queued behind a backlog", not "not sent": the message still goes (Node docs,
      // subprocess.send), so only a closed channel or a throw is a failure.
      child.send(m);
      return true;
    } catch {
      return false;
    }
  };
  return {
    get alive() {
      return alive && child.connected;
    },
    launch(file, args) {
      const id = nextId++;
      const exited = new Promise<LaunchExit>((resolve) => pending.set(id, resolve));
      if (send({ kind: 'spawn', id, file, args: [...args] })) hold();
      else {
        pending.get(id)?.({ code: null, signal: null, stderr: '', error: 'the process launcher is not running' });
        pending.delete(id);
      }
      return {
        exited,
        kill: () => {
          if (!pending.has(id)) return;
          send({ kind: 'kill', id });
          setTimeout(() => pending.has(id) && child.kill('SIGKILL'), o.killAnswerMs ?? KILL_ANSWER_MS).unref();
        },
      };
    },
    async close() {
      if (!alive) return;
      // Held (ref'd) while it winds down: an unref'd child and timer alone would let a process that is shutting
      // down exit in the middle of its shutdown, with code 0.
      child.ref();
      const exit = new Promise((r) => child.once('exit', r));
      child.disconnect?.();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exit, new Promise((r) => (timer = setTimeout(r, 2000)))]);
      clearTimeout(timer);
      if (alive) child.kill('SIGKILL');
    },
  };
}
