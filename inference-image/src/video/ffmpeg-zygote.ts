// Starts each clip's ffmpeg by fork() from one ffmpeg that was linked once ("zygote"; native/ffmpeg-zygote.c,
// loaded with LD_PRELOAD). Debian's ffmpeg binds symbols across 215 shared libraries at every start: ~65 ms of
// CPU per clip (Python, 20 encodes of 16 frames at 256²: 112 ms of CPU each spawned, 46 ms forked from the
// zygote). On a CPU replica that CPU is taken from onnxruntime's threads while the denoiser runs. The saving
// is the same at every load (the zygote starts once, with the replica), so no arm of an experiment gets faster
// clips for having less traffic.
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KILL_ANSWER_MS, orphansKilled, STDERR_KEEP, type LaunchExit, type LaunchedProcess, type ProcessLauncher } from './process-launcher.js';

/** Where `npm run build:native` (run by hack/setup.sh, and by the image's build) puts the library. */
export const DEFAULT_ZYGOTE_LIBRARY = fileURLToPath(new URL('../../native/build/libt2v-ffmpeg-zygote.so', import.meta.url));

/** The zygote's cap on one request's arguments (MAX_REQUEST in ffmpeg-zygote.c): a larger one would end the zygote. */
const MAX_REQUEST_BYTES = 1 << 20;

/** How long the zygote may take to report ready (ffmpeg's own start-up is ~0.1 s) before it is given up. */
const READY_TIMEOUT_MS = 10_000;

const signalNames = new Map<number, string>(Object.entries(osConstants.signals).map(([name, n]) => [n, name]));

/**
 * Why the zygote cannot serve `ffmpegPath` with `library`, or undefined when it can be tried: the library must
 * exist, and ffmpegPath (a path, or a name looked up on PATH) must be an ELF executable. A wrapper script is
 * refused: the zygote would run the script once and then skip it for every clip.
 */
export function zygoteUnusable(ffmpegPath: string, library: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (!fs.existsSync(library)) return `${library} not found (npm run build:native)`;
  // ld.so ignores a preload it cannot load (its complaint goes to the zygote's ignored stderr): say why here.
  if (/[\s:]/.test(library)) return `${library}: LD_PRELOAD cannot name a path with a space or a colon`;
  const notElf = notElfBecause(library);
  if (notElf !== undefined) return `${library} ${notElf} (npm run build:native)`;
  const file = resolveOnPath(ffmpegPath, env);
  if (!file) return `${ffmpegPath} not found on PATH`;
  const why = notElfBecause(file);
  if (why === undefined) return undefined;
  return why.startsWith('is not') ? `${file} is not an ELF executable (a script is run per clip instead)` : `${file} ${why}`;
}

/** Why `file` is not an ELF file ("is not an ELF file", "cannot be read: …"), or undefined when it is one. */
function notElfBecause(file: string): string | undefined {
  const head = Buffer.alloc(4);
  try {
    const fd = fs.openSync(file, 'r');
    try {
      fs.readSync(fd, head, 0, 4, 0);
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    return `cannot be read: ${(err as Error).message}`;
  }
  return head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46])) ? undefined : 'is not an ELF file';
}

function resolveOnPath(file: string, env: NodeJS.ProcessEnv): string | undefined {
  if (file.includes('/')) return fs.existsSync(file) ? fs.realpathSync(file) : undefined;
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, file);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return fs.realpathSync(candidate);
    } catch {
      /* not here */
    }
  }
  return undefined;
}

export interface FfmpegZygote extends ProcessLauncher {
  /** The ffmpeg it forks; launch() of any other file ends at once with an error. */
  readonly file: string;
  /** Settles true once the zygote reported ready, false if it ended or timed out first. */
  readonly ready: Promise<boolean>;
}

/**
 * Spawns `ffmpegPath` as a zygote (call while the runtime is small: the spawn forks the runtime once). `alive` is
 * false until it reported ready and after it ended; callers then start ffmpeg another way. The zygote exits,
 * SIGKILLing its children, when its stdin closes: at close(), or when the runtime dies however it dies; its
 * children also die with it (PR_SET_PDEATHSIG).
 */
export function startFfmpegZygote(o: {
  ffmpegPath: string;
  library: string;
  onExit?: (code: number | null, signal: string | null, why: string) => void;
  /** KILL_ANSWER_MS by default: a zygote that reports no exit this long after a kill is SIGKILLed (hung). */
  killAnswerMs?: number;
}): FfmpegZygote {
  const killAnswerMs = o.killAnswerMs ?? KILL_ANSWER_MS;
  const preload = [o.library, process.env.LD_PRELOAD].filter(Boolean).join(':');
  const child: ChildProcess = spawn(o.ffmpegPath, [], {
    stdio: ['pipe', 'pipe', 'ignore'],
    env: { ...process.env, LD_PRELOAD: preload, T2V_ZYGOTE_SERVE: '1' },
  });
  let ready = false;
  let alive = true;
  let nextId = 1;
  let why = 'exited';
  const pending = new Map<number, (e: LaunchExit) => void>();
  const pids = new Map<number, number>();
  let markReady: (ok: boolean) => void = () => undefined;
  const readyPromise = new Promise<boolean>((resolve) => (markReady = resolve));
  const readyTimer = setTimeout(() => {
    why = `not ready within ${READY_TIMEOUT_MS} ms`;
    child.kill('SIGKILL');
  }, READY_TIMEOUT_MS);
  readyTimer.unref();

  // Held (ref'd) while a forked ffmpeg runs; an idle zygote must not keep the runtime alive on its own.
  const hold = (): void => {
    const streams = [child.stdout, child.stdin] as unknown as ({ ref?(): void; unref?(): void } | null)[];
    if (pending.size > 0 || !ready) {
      child.ref();
      for (const s of streams) s?.ref?.();
    } else {
      child.unref();
      for (const s of streams) s?.unref?.();
    }
  };

  let buffered: Buffer = Buffer.alloc(0);
  const onReport = (line: string, tail: Buffer): void => {
    const [kind, a, b, c] = line.split(' ');
    if (kind === 'R') {
      ready = true;
      clearTimeout(readyTimer);
      markReady(true);
      hold();
      return;
    }
    const id = Number(a);
    const settle = pending.get(id);
    if (!settle) return;
    if (kind === 'P') return void pids.set(id, Number(b));
    pending.delete(id);
    pids.delete(id);
    hold();
    if (kind === 'E') settle({ code: null, signal: null, stderr: '', error: `fork failed: errno ${b}`, notStarted: true });
    else {
      const code = Number(b);
      const signal = Number(c);
      settle({ code: code >= 0 ? code : null, signal: signal > 0 ? (signalNames.get(signal) ?? String(signal)) : null, stderr: utf8Tail(tail) });
    }
  };
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    for (;;) {
      const nl = buffered.indexOf(0x0a);
      if (nl < 0) return;
      const line = buffered.subarray(0, nl).toString('latin1');
      // An exit report is followed by its stderr tail: wait for all of it.
      const tailBytes = line.startsWith('X ') ? Math.min(Number(line.split(' ')[4]) || 0, STDERR_KEEP) : 0;
      if (buffered.length < nl + 1 + tailBytes) return;
      const tail = buffered.subarray(nl + 1, nl + 1 + tailBytes);
      buffered = buffered.subarray(nl + 1 + tailBytes);
      onReport(line, tail);
    }
  });
  child.stdin?.on('error', () => undefined);

  const gone = (code: number | null, signal: string | null): void => {
    if (!alive) return;
    alive = false;
    ready = false;
    clearTimeout(readyTimer);
    markReady(false);
    // Its children die with it (PR_SET_PDEATHSIG); killed here too, by the PIDs it reported and had not reaped.
    orphansKilled(pids, pending, 'the ffmpeg zygote exited');
    o.onExit?.(code, signal, why);
  };
  child.once('exit', gone);
  child.once('error', (err) => {
    why = err.message;
    gone(null, null);
  });
  hold();

  const send = (data: string | Buffer): boolean => {
    if (!alive || !child.stdin?.writable) return false;
    child.stdin.write(data);
    return true;
  };
  return {
    file: o.ffmpegPath,
    ready: readyPromise,
    get alive() {
      return alive && ready;
    },
    launch(file, args): LaunchedProcess {
      const id = nextId++;
      const exited = new Promise<LaunchExit>((resolve) => pending.set(id, resolve));
      const fail = (error: string): void => {
        pending.get(id)?.({ code: null, signal: null, stderr: '', error, notStarted: true });
        pending.delete(id);
      };
      const payload = Buffer.from(args.map((a) => `${a}\0`).join(''), 'utf8');
      if (file !== o.ffmpegPath) fail(`the ffmpeg zygote forks ${o.ffmpegPath}, not ${file}`);
      else if (args.some((a) => a.includes('\0'))) fail('an argument holds a NUL byte');
      else if (!ready) fail('the ffmpeg zygote is not ready');
      // Over the zygote's cap the request would be malformed to it: it would exit, killing every clip it runs.
      else if (payload.length > MAX_REQUEST_BYTES) fail(`the arguments are ${payload.length} bytes, over the zygote's ${MAX_REQUEST_BYTES}`);
      else if (send(Buffer.concat([Buffer.from(`S ${id} ${payload.length}\n`), payload]))) hold();
      else fail('the ffmpeg zygote is not running');
      return {
        exited,
        kill: () => {
          if (!pending.has(id)) return;
          send(`K ${id}\n`);
          setTimeout(() => {
            if (!pending.has(id)) return;
            why = `no exit report within ${killAnswerMs} ms of a kill (hung)`;
            child.kill('SIGKILL');
          }, killAnswerMs).unref();
        },
      };
    },
    async close() {
      if (!alive) return;
      why = 'closed';
      child.ref();
      const exit = new Promise((r) => child.once('exit', r));
      child.stdin?.end();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exit, new Promise((r) => (timer = setTimeout(r, 2000)))]);
      clearTimeout(timer);
      if (alive) child.kill('SIGKILL');
    },
  };
}

/**
 * The stderr tail as text: the zygote cuts it at a byte count, possibly inside a UTF-8 sequence; the cut sequence's
 * leftover continuation bytes (10xxxxxx) are dropped rather than decoded as U+FFFD.
 */
function utf8Tail(tail: Buffer): string {
  let from = 0;
  while (from < Math.min(3, tail.length) && (tail[from]! & 0xc0) === 0x80) from++;
  return tail.subarray(from).toString('utf8');
}

/**
 * One launcher over several: each launch goes to the first that is alive and `serves` the file (a zygote serves
 * only its own ffmpeg), and on to the next such one when it started nothing (`notStarted`: a zygote's full table,
 * a failed fork, arguments over its cap). `alive` while any is. close() closes them all.
 */
export function firstAlive(launchers: { launcher: ProcessLauncher; serves: (file: string) => boolean }[]): ProcessLauncher {
  const pick = (file: string, from: number): number => launchers.findIndex((l, i) => i >= from && l.launcher.alive && l.serves(file));
  return {
    get alive() {
      return launchers.some((l) => l.launcher.alive);
    },
    launch(file, args) {
      let current: LaunchedProcess | undefined;
      let killed = false;
      const from = (i: number, previous: LaunchExit): Promise<LaunchExit> => {
        const at = pick(file, i);
        if (at < 0) return Promise.resolve(previous);
        current = launchers[at]!.launcher.launch(file, args);
        return current.exited.then((e) => (e.notStarted && !killed ? from(at + 1, e) : e));
      };
      const exited = from(0, { code: null, signal: null, stderr: '', error: 'no process launcher is running' });
      return {
        exited,
        kill: () => {
          killed = true;
          current?.kill();
        },
      };
    },
    async close() {
      await Promise.all(launchers.map((l) => l.launcher.close()));
    },
  };
}
