// The process launcher (forked by process-launcher.ts): spawns what the runtime asks for, reports each exit with
// its stderr's tail, kills on request. When the runtime goes (IPC channel closed), it SIGKILLs what it started
// and exits. Tracked by PID: only the processes it started are ever signalled.
import { spawn, type ChildProcess } from 'node:child_process';
import type { FromLauncher, ToLauncher } from './process-launcher.js';

const STDERR_KEEP = 4096;
const EXIT_GRACE_MS = 200;
const running = new Map<number, ChildProcess>();

function report(m: FromLauncher): void {
  if (process.connected) process.send?.(m);
}

function start(id: number, file: string, args: string[]): void {
  let child: ChildProcess;
  try {
    child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    report({ kind: 'error', id, message: (err as Error).message });
    return;
  }
  running.set(id, child);
  if (child.pid !== undefined) report({ kind: 'started', id, pid: child.pid });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_KEEP);
  });
  let done = false;
  child.once('error', (err) => {
    if (done) return;
    done = true;
    running.delete(id);
    report({ kind: 'error', id, message: err.message });
  });
  const ended = (code: number | null, signal: string | null): void => {
    if (done) return;
    done = true;
    running.delete(id);
    report({ kind: 'close', id, code, signal, stderr });
  };
  child.once('close', ended);
  // 'close' waits for stderr to close, which a child of the process's own (a wrapper script's) may hold long after
  // the process ended, killed or not: reported EXIT_GRACE_MS after the exit at the latest, with the stderr read by then.
  child.once('exit', (code, signal) => setTimeout(() => ended(code, signal), EXIT_GRACE_MS));
}

process.on('message', (m: ToLauncher) => {
  if (m.kind === 'spawn') start(m.id, m.file, m.args);
  else if (m.kind === 'kill') running.get(m.id)?.kill('SIGKILL');
});

process.once('disconnect', () => {
  for (const child of running.values()) child.kill('SIGKILL');
  process.exit(0);
});
