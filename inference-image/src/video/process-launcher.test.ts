// The process launcher with real processes: what it starts, how their ends are reported, kill, its own end, and
// that it takes its processes with it when the runtime dies (SIGKILL, no clean-up code runs).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startProcessLauncher, type ProcessLauncher } from './process-launcher.js';

const node = process.execPath;
let launcher: ProcessLauncher | undefined;
afterEach(async () => {
  await launcher?.close();
  launcher = undefined;
});

/** True while a process with this PID exists (signal 0 checks without signalling). */
function exists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Exists and has not ended (an ended orphan may stay a zombie a while where PID 1 reaps late). */
function running(pid: number): boolean {
  if (!exists(pid)) return false;
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function until(check: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

describe('startProcessLauncher', () => {
  it('starts a process and reports its exit code and the tail of its stderr', async () => {
    launcher = startProcessLauncher();
    const p = launcher.launch(node, ['-e', 'process.stderr.write("x".repeat(5000) + "END"); process.exit(3)']);
    const exit = await p.exited;
    expect(exit).toMatchObject({ code: 3, signal: null });
    expect(exit.error).toBeUndefined();
    // The last 4 KiB is kept.
    expect(exit.stderr).toHaveLength(4096);
    expect(exit.stderr.endsWith('END')).toBe(true);
  });

  it('runs several at once and tells them apart', async () => {
    const l = (launcher = startProcessLauncher());
    const exits = await Promise.all([1, 2, 3].map((c) => l.launch(node, ['-e', `setTimeout(() => process.exit(${c}), ${40 * (4 - c)})`]).exited));
    expect(exits.map((e) => e.code)).toEqual([1, 2, 3]);
  });

  it('starts a process whose request is queued behind a backlog on the channel (send() answered false)', async () => {
    launcher = startProcessLauncher();
    // ~360 KB of arguments: more than the IPC channel takes at once, so Node queues the message.
    const long = 'x'.repeat(120_000);
    const exit = await launcher.launch('/bin/sh', ['-c', 'exit 3', long, long, long]).exited;
    expect(exit).toMatchObject({ code: 3, signal: null });
    expect(exit.error).toBeUndefined();
  });

  /** Launches a process that writes its PID and its parent's (the launcher's), then runs until killed. */
  async function sleeper(l: ProcessLauncher, dir: string): Promise<{ p: ReturnType<ProcessLauncher['launch']>; pid: number; launcherPid: number }> {
    const ids = path.join(dir, 'pids');
    const p = l.launch(node, ['-e', `require('fs').writeFileSync(${JSON.stringify(ids)}, process.pid + ' ' + process.ppid); setInterval(() => {}, 1000)`]);
    expect(await until(() => existsSync(ids) && readFileSync(ids, 'utf8').includes(' '))).toBe(true);
    const [pid, launcherPid] = readFileSync(ids, 'utf8').split(' ').map(Number) as [number, number];
    return { p, pid, launcherPid };
  }

  it('when the launcher itself is SIGKILLed, what it started is killed too and reported as ended by its exit', async () => {
    launcher = startProcessLauncher();
    const dir = mkdtempSync(path.join(os.tmpdir(), 't2v-launcher-'));
    try {
      const { p, pid, launcherPid } = await sleeper(launcher, dir);
      process.kill(launcherPid, 'SIGKILL');
      expect(await p.exited).toMatchObject({ error: 'the process launcher exited' });
      expect(launcher.alive).toBe(false);
      expect(await until(() => !running(pid), 3000)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a launcher that stops answering (SIGSTOP) is SIGKILLed when a kill gets no exit report; its process goes too', async () => {
    launcher = startProcessLauncher({ killAnswerMs: 300 });
    const dir = mkdtempSync(path.join(os.tmpdir(), 't2v-launcher-'));
    try {
      const { p, pid, launcherPid } = await sleeper(launcher, dir);
      process.kill(launcherPid, 'SIGSTOP');
      p.kill();
      expect(await p.exited).toMatchObject({ error: 'the process launcher exited' });
      expect(launcher.alive).toBe(false);
      expect(await until(() => !running(pid) && !running(launcherPid), 3000)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('kills on request (SIGKILL) and a kill after the exit does nothing', async () => {
    launcher = startProcessLauncher();
    const p = launcher.launch(node, ['-e', 'setInterval(() => {}, 1000)']);
    await new Promise((r) => setTimeout(r, 300));
    p.kill();
    expect(await p.exited).toMatchObject({ code: null, signal: 'SIGKILL' });
    p.kill();
  });

  it("reports a killed process's end though a child of its own still holds its stderr (a wrapper script)", async () => {
    launcher = startProcessLauncher();
    const dir = mkdtempSync(path.join(os.tmpdir(), 't2v-launcher-'));
    try {
      const ready = path.join(dir, 'ready');
      const late = path.join(dir, 'late');
      // The shell's background child inherits its stderr and outlives it by 1 s.
      const p = launcher.launch('/bin/sh', ['-c', `(sleep 1; touch ${late}) & touch ${ready}; exec sleep 30`]);
      expect(await until(() => existsSync(ready))).toBe(true);
      p.kill();
      expect(await p.exited).toMatchObject({ code: null, signal: 'SIGKILL' });
      // Reported before the stderr closed (when the background child ends).
      expect(existsSync(late)).toBe(false);
      await until(() => existsSync(late), 5000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a file that cannot be started as an error, not an exit', async () => {
    launcher = startProcessLauncher();
    const exit = await launcher.launch('/nonexistent/ffmpeg', ['-version']).exited;
    expect(exit.error).toMatch(/ENOENT/);
    expect(exit.code).toBeNull();
  });

  it('after close it is not alive, a process still running ends with an error, and a new launch says it is not running', async () => {
    const l = startProcessLauncher();
    const p = l.launch(node, ['-e', 'setInterval(() => {}, 1000)']);
    await new Promise((r) => setTimeout(r, 300));
    await l.close();
    expect(l.alive).toBe(false);
    expect((await p.exited).error).toMatch(/launcher exited/);
    expect((await l.launch(node, ['-e', '0']).exited).error).toMatch(/not running/);
  });

  it('does not keep its process alive when idle, but holds it while a launched process runs and until close() is done', async () => {
    const script = `
      const { startProcessLauncher } = await import(${JSON.stringify(new URL('./process-launcher.ts', import.meta.url).href)});
      const l = startProcessLauncher();
      if (process.argv[1] === 'close') {
        await new Promise((r) => setTimeout(r, 300));
        await l.close();
        console.log('closed; alive:', l.alive);
      }
      if (process.argv[1] === 'wait') {
        // Nothing else holds this process while it waits for the launched one's end.
        const exit = await l.launch(process.execPath, ['-e', 'setTimeout(() => process.exit(7), 500)']).exited;
        console.log('exit', exit.code);
      }
    `;
    const expected: Record<string, string> = { idle: '', close: 'closed; alive: false', wait: 'exit 7' };
    for (const mode of ['idle', 'close', 'wait']) {
      const child = spawn(node, ['--import', 'tsx', '--input-type=module', '-e', script, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const [code] = (await Promise.race([once(child, 'exit'), new Promise((r) => setTimeout(() => r(['still running']), 15_000))])) as [unknown];
      if (child.exitCode === null) child.kill('SIGKILL');
      expect(code, mode).toBe(0);
      expect(out.trim(), mode).toBe(expected[mode]);
    }
  });

  it('when the process that started it is SIGKILLed, the launcher exits and kills what it started', async () => {
    // A stand-in runtime: starts a launcher, launches a long sleep, prints both PIDs, waits to be killed.
    const script = `
      const { startProcessLauncher } = await import(${JSON.stringify(new URL('./process-launcher.ts', import.meta.url).href)});
      const l = startProcessLauncher();
      l.launch(${JSON.stringify(node)}, ['-e', 'console.error(process.pid); setInterval(() => {}, 1000)']);
      setInterval(() => {}, 1000);
    `;
    const runtime = spawn(node, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      // The launcher is the runtime's only child; the sleeper is the launcher's.
      const childrenOf = async (pid: number): Promise<number[]> => {
        const { readFile } = await import('node:fs/promises');
        const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
        return text.trim() === '' ? [] : text.trim().split(/\s+/).map(Number);
      };
      let launcherPid = 0;
      let sleeperPid = 0;
      for (let i = 0; i < 200 && sleeperPid === 0; i++) {
        const [l] = await childrenOf(runtime.pid as number);
        if (l) {
          launcherPid = l;
          sleeperPid = (await childrenOf(l))[0] ?? 0;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(launcherPid).toBeGreaterThan(0);
      expect(sleeperPid).toBeGreaterThan(0);
      runtime.kill('SIGKILL');
      await once(runtime, 'exit');
      expect(await until(() => !exists(launcherPid) && !exists(sleeperPid))).toBe(true);
    } finally {
      if (runtime.exitCode === null && runtime.signalCode === null) runtime.kill('SIGKILL');
    }
  });
});
