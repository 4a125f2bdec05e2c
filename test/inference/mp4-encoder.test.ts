// The ffmpeg bridge on its own: frame layout in, a valid H.264 MP4 out, clean failures.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncodeError } from '../../inference-image/src/errors.js';
import type { FrameSource } from '../../inference-image/src/pipeline/frames.js';
import { startMp4Encoder } from '../../inference-image/src/video/mp4-encoder.js';
import { startProcessLauncher, type ProcessLauncher } from '../../inference-image/src/video/process-launcher.js';
import { ffprobe, tempDir } from './support.js';

const tmp = tempDir('t2v-mp4-');
afterAll(() => tmp.remove());

function gradient(frames: number, w: number, h: number): FrameSource {
  return {
    frames,
    width: w,
    height: h,
    frame(f) {
      const rgb = new Uint8Array(w * h * 3);
      for (let p = 0; p < w * h; p++) rgb.set([(p * 7 + f * 30) % 256, (f * 50) % 256, p % 256], p * 3);
      return rgb;
    },
  };
}

const scratch = path.join(tmp.dir, 'scratch');
fs.mkdirSync(scratch);
/** What the encoder left behind in its temp parent. */
const leftovers = (): string[] => fs.readdirSync(scratch);

describe('startMp4Encoder', () => {
  it('encodes rgb24 frames to an H.264 MP4 with the right frames, size and fps, and cleans up', async () => {
    const enc = await startMp4Encoder({ width: 48, height: 32, fps: 5, ffmpegPath: 'ffmpeg', comment: 'tiny-t2v v1 seed=1', tmpDir: scratch });
    const mp4 = await enc.encode(gradient(10, 48, 32));
    expect(mp4.subarray(4, 8).toString('latin1')).toBe('ftyp');
    expect(await ffprobe(mp4, tmp.dir)).toMatchObject({ codec: 'h264', pixFmt: 'yuv420p', width: 48, height: 32, frames: 10, fps: '5/1', duration: 2 });
    expect(leftovers()).toEqual([]);
    await expect(enc.encode(gradient(1, 48, 32))).rejects.toThrow(/already used/);
  });

  it('fails with EncodeFailed when ffmpeg cannot be run', async () => {
    const enc = await startMp4Encoder({ width: 16, height: 16, fps: 1, ffmpegPath: '/nonexistent/ffmpeg' });
    const p = enc.encode(gradient(1, 16, 16));
    await expect(p).rejects.toBeInstanceOf(EncodeError);
    await expect(p).rejects.toMatchObject({ code: 'EncodeFailed', message: expect.stringContaining('/nonexistent/ffmpeg') });
  });

  it('fails with EncodeFailed naming the temp dir when its clip dir cannot be made there', async () => {
    const file = path.join(tmp.dir, 'not-a-dir');
    fs.writeFileSync(file, '');
    await expect(startMp4Encoder({ width: 16, height: 16, fps: 1, ffmpegPath: 'ffmpeg', tmpDir: file })).rejects.toMatchObject({
      code: 'EncodeFailed',
      message: expect.stringContaining(`temp dir in ${file}`),
    });
  });

  it('rejects frames of another size', async () => {
    const enc = await startMp4Encoder({ width: 16, height: 16, fps: 1, ffmpegPath: 'ffmpeg', tmpDir: scratch });
    await expect(enc.encode(gradient(1, 32, 16))).rejects.toThrow(/frames are 32x16, encoder expects 16x16/);
    expect(leftovers()).toEqual([]);
  });

  it('abort stops ffmpeg and removes its files', async () => {
    const enc = await startMp4Encoder({ width: 16, height: 16, fps: 1, ffmpegPath: 'ffmpeg', tmpDir: scratch });
    expect(leftovers()).toHaveLength(1);
    await enc.abort();
    expect(leftovers()).toEqual([]);
  });
});

describe('startMp4Encoder with ffmpeg started by a process launcher (as the runtime does)', () => {
  let launcher: ProcessLauncher;
  beforeAll(() => {
    launcher = startProcessLauncher();
  });
  afterAll(() => launcher.close());

  /** Mean luma of each decoded frame. */
  function frameMeans(mp4: Buffer, w: number, h: number): number[] {
    const gray = execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-i', 'pipe:0', '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1'], { input: mp4 });
    const means: number[] = [];
    for (let f = 0; f < gray.length / (w * h); f++) means.push(gray.subarray(f * w * h, (f + 1) * w * h).reduce((a, v) => a + v, 0) / (w * h));
    return means;
  }

  it('encodes frames written into its reused buffers in order, each frame its own, and leaves nothing behind', async () => {
    // Flat frames of far-apart greys: a buffer overwritten before ffmpeg read it would show another frame's grey.
    const greys = [16, 200, 40, 235, 80, 160, 24, 220, 60, 180, 100, 140];
    const offered = new Set<Uint8Array>();
    const source: FrameSource = {
      frames: greys.length,
      width: 64,
      height: 48,
      frame(f, into) {
        if (!into) throw new Error('the encoder offers its own buffer');
        offered.add(into);
        return into.fill(greys[f] as number);
      },
    };
    // Twice: the second encode of this size takes the first one's buffers once their writes completed.
    for (const round of [1, 2]) {
      const enc = await startMp4Encoder({ width: 64, height: 48, fps: 4, ffmpegPath: 'ffmpeg', tmpDir: scratch, launcher });
      const mp4 = await enc.encode(source);
      expect(await ffprobe(mp4, tmp.dir)).toMatchObject({ codec: 'h264', width: 64, height: 48, frames: greys.length });
      // Full-range grey → limited-range luma and back: within a few levels.
      frameMeans(mp4, 64, 48).forEach((mean, f) => expect(Math.abs(mean - (greys[f] as number)), `round ${round} frame ${f}`).toBeLessThan(4));
      expect(offered.size).toBe(2);
      expect(leftovers()).toEqual([]);
    }
  });

  it('keeps spare frame buffers of the last size only: after a clip of another size, the first size gets new ones', async () => {
    const offered = (w: number, h: number, into: Set<Uint8Array>): FrameSource => ({
      frames: 2,
      width: w,
      height: h,
      frame: (_f, b) => (b && into.add(b), (b ?? new Uint8Array(w * h * 3)).fill(90)),
    });
    const encode = async (w: number, h: number, into: Set<Uint8Array>): Promise<Buffer> =>
      (await startMp4Encoder({ width: w, height: h, fps: 4, ffmpegPath: 'ffmpeg', tmpDir: scratch, launcher })).encode(offered(w, h, into));
    const [first, other, again] = [new Set<Uint8Array>(), new Set<Uint8Array>(), new Set<Uint8Array>()];
    await encode(80, 32, first);
    await encode(32, 80 + 16, other);
    await encode(80, 32, again);
    expect(first.size).toBe(2);
    expect([...again].filter((b) => first.has(b))).toEqual([]);
  });

  it('keeps two clips of one size encoded at once apart (their own frames, buffers and sockets)', async () => {
    const clip = (greys: number[]): FrameSource => ({
      frames: greys.length,
      width: 64,
      height: 48,
      frame: (f, into) => (into ?? new Uint8Array(64 * 48 * 3)).fill(greys[f] as number),
    });
    const a = [16, 200, 40, 235, 80, 160];
    const b = [235, 30, 180, 20, 220, 60];
    const encoders = await Promise.all([a, b].map(() => startMp4Encoder({ width: 64, height: 48, fps: 4, ffmpegPath: 'ffmpeg', tmpDir: scratch, launcher })));
    const [ma, mb] = await Promise.all([encoders[0]?.encode(clip(a)), encoders[1]?.encode(clip(b))]);
    frameMeans(ma as Buffer, 64, 48).forEach((mean, f) => expect(Math.abs(mean - (a[f] as number)), `a ${f}`).toBeLessThan(4));
    frameMeans(mb as Buffer, 64, 48).forEach((mean, f) => expect(Math.abs(mean - (b[f] as number)), `b ${f}`).toBeLessThan(4));
    expect(leftovers()).toEqual([]);
  });

  it('spawns ffmpeg itself when the temp dir is too long for a Unix socket path', async () => {
    const deep = path.join(scratch, 'd'.repeat(60), 'e'.repeat(60));
    fs.mkdirSync(deep, { recursive: true });
    const enc = await startMp4Encoder({ width: 48, height: 32, fps: 5, ffmpegPath: 'ffmpeg', tmpDir: deep, launcher });
    expect(await ffprobe(await enc.encode(gradient(3, 48, 32)), tmp.dir)).toMatchObject({ codec: 'h264', frames: 3 });
    expect(fs.readdirSync(deep)).toEqual([]);
    fs.rmSync(path.join(scratch, 'd'.repeat(60)), { recursive: true });
  });

  it("the job's abort signal stops an ffmpeg that hangs, with or without the launcher, and rejects with its reason", async () => {
    // An "ffmpeg" that never reads a frame nor exits, a wrapper whose own child holds its stderr 1 s longer.
    const late = path.join(tmp.dir, 'late');
    const hang = path.join(tmp.dir, 'hanging-ffmpeg');
    fs.writeFileSync(hang, `#!/bin/sh\n(sleep 1; touch "${late}") &\nexec sleep 60\n`, { mode: 0o755 });
    for (const via of [launcher, undefined]) {
      fs.rmSync(late, { force: true });
      const enc = await startMp4Encoder({ width: 16, height: 16, fps: 1, ffmpegPath: hang, tmpDir: scratch, ...(via ? { launcher: via } : {}) });
      const job = new AbortController();
      setTimeout(() => job.abort(new Error('generation did not finish within 300 ms')), 300);
      await expect(enc.encode(gradient(2, 16, 16), job.signal)).rejects.toThrow('generation did not finish within 300 ms');
      // Settled when the wrapper was killed, not when its child let go of stderr.
      expect(fs.existsSync(late), via ? 'launched' : 'spawned').toBe(false);
      expect(leftovers()).toEqual([]);
      while (!fs.existsSync(late)) await new Promise((r) => setTimeout(r, 50));
    }
  });

  it('abort stops that ffmpeg and removes its files (socket included)', async () => {
    const enc = await startMp4Encoder({ width: 16, height: 16, fps: 1, ffmpegPath: 'ffmpeg', tmpDir: scratch, launcher });
    expect(leftovers()).toHaveLength(1);
    await enc.abort();
    expect(leftovers()).toEqual([]);
  });

  it('an ffmpeg that cannot be started fails with EncodeFailed naming it', async () => {
    const enc = await startMp4Encoder({ width: 16, height: 16, fps: 1, ffmpegPath: '/nonexistent/ffmpeg', tmpDir: scratch, launcher });
    const p = enc.encode(gradient(1, 16, 16));
    await expect(p).rejects.toMatchObject({ code: 'EncodeFailed', message: expect.stringContaining('/nonexistent/ffmpeg') });
    expect(leftovers()).toEqual([]);
  });

  it('ffmpeg failing on its arguments reports its exit and stderr', async () => {
    const enc = await startMp4Encoder({ width: 16, height: 16, fps: 1, ffmpegPath: 'ffmpeg', tmpDir: scratch, launcher, preset: 'no-such-preset' });
    await expect(enc.encode(gradient(2, 16, 16))).rejects.toThrow(/ffmpeg exited with 1: .*/s);
    expect(leftovers()).toEqual([]);
  });

  it('spawns ffmpeg itself once the launcher is gone', async () => {
    const gone = startProcessLauncher();
    await gone.close();
    const enc = await startMp4Encoder({ width: 48, height: 32, fps: 5, ffmpegPath: 'ffmpeg', tmpDir: scratch, launcher: gone });
    expect(await ffprobe(await enc.encode(gradient(3, 48, 32)), tmp.dir)).toMatchObject({ codec: 'h264', frames: 3 });
  });
});
