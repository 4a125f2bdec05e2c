// The ffmpeg bridge on its own: frame layout in, a valid H.264 MP4 out, clean failures.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EncodeError } from '../../inference-image/src/errors.js';
import type { FrameSource } from '../../inference-image/src/pipeline/frames.js';
import { startMp4Encoder } from '../../inference-image/src/video/mp4-encoder.js';
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
