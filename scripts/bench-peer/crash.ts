// A controller that exits in the middle of a run used to leave the bench polling for up to 600 s in silence.
// Each controller's process is watched: when it exits, its tool's run stops at once with one line (tool, exit
// code or signal, the last lines of its log) and its figures print as "crashed"; the other tools carry on.
import { isAlive, tail, type ManagedProcess } from '../../test/env/process-group.js';

export interface ControllerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Resolves when `proc` exits, at once if it already has (code and signal null when they are not known). Never rejects. */
export function watchExit(proc: ManagedProcess): Promise<ControllerExit> {
  if (proc.exit) return Promise.resolve(proc.exit);
  const child = proc.child;
  if (!child || !isAlive(proc.pid)) return Promise.resolve({ code: null, signal: null });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** The line the bench prints when a controller exits during its run: tool, exit code or signal, log path and its last `lines` lines. */
export function crashLine(toolLabel: string, exit: ControllerExit, logFile: string, lines = 10): string {
  const how = exit.code !== null ? `exit code ${exit.code}` : exit.signal ? `signal ${exit.signal}` : 'exit code unknown';
  const last = tail(logFile, lines + 1).trimEnd();
  return `${toolLabel}: controller exited during the run (${how}); its run stopped, figures marked "crashed"; last lines of ${logFile}:\n${last.replace(/^/gm, '    ')}`;
}
