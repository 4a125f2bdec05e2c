// H.264 MP4 through ffmpeg (Debian's, with libx264): raw rgb24 frames on stdin, a faststart MP4 in a
// private temp dir. Pure-JS muxers cannot encode on Node (no WebCodecs), so spawning ffmpeg is the way.
// ffmpeg is started before the denoiser runs so its start-up (~50–100 ms) overlaps the generation. With a
// process launcher (process-launcher.ts) ffmpeg is started by that small process and reads the frames from a
// Unix socket the runtime listens on in the clip's temp dir: the runtime's own spawn() costs a fork of all its
// memory on the event loop, every clip. With the ffmpeg zygote (ffmpeg-zygote.ts) the launcher forks ffmpeg from
// one already linked: no dynamic linking per clip.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { EncodeError } from '../errors.js';
import type { FrameSource } from '../pipeline/frames.js';
import { EXIT_GRACE_MS, STDERR_KEEP, type LaunchExit, type ProcessLauncher } from './process-launcher.js';

export interface Mp4Options {
  width: number;
  height: number;
  fps: number;
  ffmpegPath: string;
  /** libx264 preset and CRF; veryfast / 18 by default. */
  preset?: string;
  crf?: number;
  /** Written into the MP4 (e.g. model name/version and seed, for provenance). */
  comment?: string;
  /** Parent of the per-clip temp dir; the OS temp dir by default. */
  tmpDir?: string;
  /** Starts ffmpeg from this launcher when it is alive (the runtime's); otherwise the runtime spawns it itself. */
  launcher?: ProcessLauncher;
}

export interface Mp4Encoder {
  /**
   * Streams every frame to ffmpeg, waits for it, returns the MP4 bytes. Call once. `signal` (the job's: timeout,
   * DELETE, client gone) stops ffmpeg and rejects with its reason: an ffmpeg that hangs holds no slot past it.
   */
  encode(video: FrameSource, signal?: AbortSignal): Promise<Buffer>;
  /** Stops ffmpeg and removes its files (generation failed or was cancelled). */
  abort(): Promise<void>;
}

export async function startMp4Encoder(o: Mp4Options): Promise<Mp4Encoder> {
  const parent = o.tmpDir ?? os.tmpdir();
  const dir = await fs.mkdtemp(path.join(parent, 't2v-')).catch((cause: unknown) => {
    throw new EncodeError(`cannot make the clip's temp dir in ${parent} (tmpDir, else TMPDIR): ${(cause as Error).message}`, { cause });
  });
  const out = path.join(dir, 'video.mp4');
  const socketPath = path.join(dir, 'frames.sock');
  // Unix socket paths are limited to 107 bytes on Linux; a longer temp dir spawns directly.
  const viaLauncher = o.launcher?.alive === true && Buffer.byteLength(socketPath) <= 100;
  const args = [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-f',
    'rawvideo',
    '-pix_fmt',
    'rgb24',
    '-s',
    `${o.width}x${o.height}`,
    '-r',
    String(o.fps),
    '-i',
    viaLauncher ? `unix:${socketPath}` : 'pipe:0',
    '-an',
    '-c:v',
    'libx264',
    '-preset',
    o.preset ?? 'veryfast',
    '-crf',
    String(o.crf ?? 18),
    '-pix_fmt',
    'yuv420p',
    '-movflags',
    '+faststart',
    ...(o.comment ? ['-metadata', `comment=${o.comment}`] : []),
    out,
  ];
  const cleanup = (): Promise<void> => fs.rm(dir, { recursive: true, force: true });
  let ffmpeg: RunningFfmpeg;
  try {
    ffmpeg = viaLauncher ? await launchedFfmpeg(o.launcher as ProcessLauncher, o.ffmpegPath, args, socketPath) : spawnedFfmpeg(o.ffmpegPath, args);
  } catch (cause) {
    await cleanup();
    throw new EncodeError(`cannot start ${o.ffmpegPath}`, { cause });
  }
  let used = false;

  return {
    async encode(video, signal) {
      if (used) throw new EncodeError('encoder already used');
      used = true;
      const stop = (): void => ffmpeg.kill();
      signal?.addEventListener('abort', stop, { once: true });
      try {
        signal?.throwIfAborted();
        if (video.width !== o.width || video.height !== o.height)
          throw new EncodeError(`frames are ${video.width}x${video.height}, encoder expects ${o.width}x${o.height}`);
        const stdin = await Promise.race([ffmpeg.input, ffmpeg.exited.then(() => undefined)]);
        if (stdin) {
          // EPIPE when ffmpeg dies early surfaces via the exit code below; do not crash on it.
          stdin.on('error', () => undefined);
          // ffmpeg encodes frame f while the next one is converted here, into the buffer whose write has
          // completed (two in turn): no new 192 KiB array per 256² frame for the GC to collect.
          const buffers = new FrameBuffers(video.width * video.height * 3);
          try {
            for (let f = 0; f < video.frames && stdin.writable && !ffmpeg.ended; f++) {
              const into = await Promise.race([buffers.free(), ffmpeg.exited.then(() => undefined)]);
              if (!into) break;
              const frame = video.frame(f, into);
              if (frame !== into) buffers.release(into);
              const flushed = stdin.write(frame, () => buffers.release(frame));
              if (!flushed) await Promise.race([once(stdin, 'drain'), ffmpeg.exited]);
            }
          } finally {
            buffers.retire();
          }
          stdin.end();
        }
        const exit = await ffmpeg.exited;
        signal?.throwIfAborted();
        if (exit.error !== undefined) throw new EncodeError(`cannot run ${o.ffmpegPath}: ${exit.error}`);
        if (exit.code !== 0) throw new EncodeError(`ffmpeg exited with ${exit.code ?? exit.signal}: ${exit.stderr.trim().slice(-500)}`);
        return await fs.readFile(out);
      } finally {
        signal?.removeEventListener('abort', stop);
        ffmpeg.kill();
        await ffmpeg.exited;
        await cleanup();
      }
    },
    async abort() {
      used = true;
      ffmpeg.kill();
      await ffmpeg.exited;
      await cleanup();
    },
  };
}

/**
 * Frame buffers of finished encodes for the next encode of their size (at most SPARE_BUFFERS), of one size only:
 * the last one kept. Kept per size, every size a client ever asked for would hold its buffers for the life of
 * the process (a model allowing 16..1280 × 16..720 in steps of 16 has 3,600 sizes: gigabytes).
 */
let spare: { bytes: number; buffers: Uint8Array[] } = { bytes: 0, buffers: [] };
const SPARE_BUFFERS = 4;

/**
 * Two frame buffers used in turn: a buffer is handed out again only after the write that carried it completed
 * (its callback ran). A returned frame that is not one of them (a source that makes its own) is ignored. After
 * retire(), each buffer goes back to the process's spares once its last write completed.
 */
class FrameBuffers {
  private readonly idle: Uint8Array[];
  private waiter: ((b: Uint8Array) => void) | undefined;
  private readonly own: Set<Uint8Array>;
  private retired = false;

  constructor(private readonly bytes: number) {
    const kept = spare.bytes === bytes ? spare.buffers : [];
    this.idle = [kept.pop() ?? new Uint8Array(bytes), kept.pop() ?? new Uint8Array(bytes)];
    this.own = new Set(this.idle);
  }

  free(): Promise<Uint8Array> {
    const b = this.idle.pop();
    if (b) return Promise.resolve(b);
    return new Promise((resolve) => (this.waiter = resolve));
  }

  /** Back into turn (a frame the source made itself, not one of these, is ignored). */
  release(b: Uint8Array): void {
    if (!this.own.has(b)) return;
    if (this.retired) return this.keep(b);
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter) waiter(b);
    else this.idle.push(b);
  }

  /** The encode is over: idle buffers become spares now, the others when their write completes. */
  retire(): void {
    this.retired = true;
    for (const b of this.idle.splice(0)) this.keep(b);
  }

  private keep(b: Uint8Array): void {
    if (spare.bytes !== this.bytes) spare = { bytes: this.bytes, buffers: [] };
    if (spare.buffers.length < SPARE_BUFFERS) spare.buffers.push(b);
  }
}

/** One ffmpeg, however it was started: where its frames go, how it ended. */
interface RunningFfmpeg {
  /** Its rawvideo input (stdin, or the accepted socket connection); never settles if ffmpeg ends first. */
  input: Promise<Writable>;
  exited: Promise<LaunchExit>;
  readonly ended: boolean;
  /** SIGKILL unless it has ended. */
  kill(): void;
}

function spawnedFfmpeg(file: string, args: string[]): RunningFfmpeg {
  const child = spawn(file, args, { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_KEEP);
  });
  let ended = false;
  // A failed spawn (ENOENT) emits 'error' and maybe never 'close': settle on either.
  const exited = new Promise<LaunchExit>((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal, stderr }));
    // A child of its own (a wrapper script's) may hold stderr open long after ffmpeg ended: as the launcher does.
    child.once('exit', (code, signal) => setTimeout(() => resolve({ code, signal, stderr }), EXIT_GRACE_MS));
    child.once('error', (err) => resolve({ code: null, signal: null, stderr, error: err.message }));
  }).finally(() => (ended = true));
  child.stdin?.on('error', () => undefined);
  return {
    input: child.stdin ? Promise.resolve(child.stdin) : new Promise(() => undefined),
    exited,
    get ended() {
      return ended;
    },
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** ffmpeg started by the launcher, reading `unix:socketPath`: the runtime listens there and takes one connection. */
async function launchedFfmpeg(launcher: ProcessLauncher, file: string, args: string[], socketPath: string): Promise<RunningFfmpeg> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  const input = new Promise<Writable>((resolve) =>
    server.once('connection', (socket) => {
      // One reader only: nothing else may connect to this clip's socket.
      server.close();
      resolve(socket);
    }),
  );
  const proc = launcher.launch(file, args);
  let ended = false;
  const exited = proc.exited.finally(() => {
    ended = true;
    server.close();
  });
  return {
    input,
    exited,
    get ended() {
      return ended;
    },
    kill: () => {
      if (!ended) proc.kill();
    },
  };
}
