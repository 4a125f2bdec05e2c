// H.264 MP4 through ffmpeg (Debian's, with libx264): raw rgb24 frames on stdin, a faststart MP4 in a
// private temp dir. Pure-JS muxers cannot encode on Node (no WebCodecs), so spawning ffmpeg is the way.
// ffmpeg is started before the denoiser runs so its start-up (~50–100 ms) overlaps the generation.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { EncodeError } from '../errors.js';
import type { FrameSource } from '../pipeline/frames.js';

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
}

export interface Mp4Encoder {
  /** Streams every frame to ffmpeg, waits for it, returns the MP4 bytes. Call once. */
  encode(video: FrameSource): Promise<Buffer>;
  /** Stops ffmpeg and removes its files (generation failed or was cancelled). */
  abort(): Promise<void>;
}

const STDERR_KEEP = 4096;

export async function startMp4Encoder(o: Mp4Options): Promise<Mp4Encoder> {
  const dir = await fs.mkdtemp(path.join(o.tmpDir ?? os.tmpdir(), 't2v-'));
  const out = path.join(dir, 'video.mp4');
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
    'pipe:0',
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
  let child: ChildProcess;
  try {
    child = spawn(o.ffmpegPath, args, { stdio: ['pipe', 'ignore', 'pipe'] });
  } catch (cause) {
    await fs.rm(dir, { recursive: true, force: true });
    throw new EncodeError(`cannot start ${o.ffmpegPath}`, { cause });
  }
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_KEEP);
  });
  let spawnError: Error | undefined;
  // A failed spawn (ENOENT) emits 'error' and maybe never 'close': settle on either.
  const exited = new Promise<number | null>((resolve) => {
    child.once('close', (code) => resolve(code));
    child.once('error', (err) => {
      spawnError = err;
      resolve(null);
    });
  });
  // EPIPE when ffmpeg dies early surfaces via the exit code below; do not crash on it.
  child.stdin?.on('error', () => undefined);
  let used = false;
  const cleanup = (): Promise<void> => fs.rm(dir, { recursive: true, force: true });

  return {
    async encode(video) {
      if (used) throw new EncodeError('encoder already used');
      used = true;
      try {
        if (video.width !== o.width || video.height !== o.height)
          throw new EncodeError(`frames are ${video.width}x${video.height}, encoder expects ${o.width}x${o.height}`);
        const stdin = child.stdin;
        if (!stdin) throw new EncodeError('ffmpeg has no stdin');
        // ffmpeg encodes frame f while the next one is converted here.
        for (let f = 0; f < video.frames && !spawnError && stdin.writable; f++) {
          if (!stdin.write(video.frame(f))) await Promise.race([once(stdin, 'drain'), exited]);
        }
        stdin.end();
        const code = await exited;
        if (spawnError) throw new EncodeError(`cannot run ${o.ffmpegPath}: ${spawnError.message}`, { cause: spawnError });
        if (code !== 0) throw new EncodeError(`ffmpeg exited with ${code}: ${stderr.trim().slice(-500)}`);
        return await fs.readFile(out);
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await cleanup();
      }
    },
    async abort() {
      used = true;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      await cleanup();
    },
  };
}
