import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { FrameSource } from '../pipeline/frames.js';
import { SpareEncoder } from './encoder-spare.js';
import type { Mp4Encoder, Mp4Options } from './mp4-encoder.js';

const clip = (width: number): Mp4Options => ({ width, height: 32, fps: 8, ffmpegPath: 'ffmpeg', comment: 'tiny v1' });
const frames: FrameSource = { frames: 1, width: 48, height: 32, frame: () => new Uint8Array(48 * 32 * 3) };

/** Fake encoders that record what happens to them; `fail` makes the next start reject. */
function starter(): {
  start: (o: Mp4Options) => Promise<Mp4Encoder>;
  started: Mp4Options[];
  aborted: number[];
  kill: (i: number) => void;
  failNext: () => void;
} {
  const started: Mp4Options[] = [];
  const aborted: number[] = [];
  const ended: boolean[] = [];
  let fail = false;
  return {
    started,
    aborted,
    kill: (i) => void (ended[i] = true),
    failNext: () => void (fail = true),
    start: async (o) => {
      if (fail) {
        fail = false;
        throw new Error('cannot start ffmpeg');
      }
      const i = started.push(o) - 1;
      ended[i] = false;
      return {
        encode: async () => Buffer.from(`mp4 from encoder ${i}`),
        abort: async () => void aborted.push(i),
        get ended() {
          return ended[i] as boolean;
        },
      };
    },
  };
}

describe('SpareEncoder', () => {
  it('starts the next clip’s encoder when one is done and the replica idles, and hands it to the next take', async () => {
    const s = starter();
    const spare = new SpareEncoder({ start: s.start, idle: () => true });
    expect((await (await spare.take(clip(48))).encode(frames)).toString()).toBe('mp4 from encoder 0');
    await nextTurn();
    expect(spare.held).toBe(true);
    expect(s.started).toHaveLength(2);
    // Taken, not started again: the second clip is encoded by the encoder started ahead.
    expect((await (await spare.take(clip(48))).encode(frames)).toString()).toBe('mp4 from encoder 1');
    expect(s.started).toHaveLength(2);
    await nextTurn();
    expect(s.started).toHaveLength(3);
  });

  it('starts none ahead while a job is waiting (under load each job starts its own beside its denoiser)', async () => {
    const s = starter();
    let waiting = 1;
    const spare = new SpareEncoder({ start: s.start, idle: () => waiting === 0 });
    await (await spare.take(clip(48))).encode(frames);
    await nextTurn();
    expect(spare.held).toBe(false);
    expect(s.started).toHaveLength(1);
    waiting = 0;
    await (await spare.take(clip(48))).abort();
    await nextTurn();
    expect(spare.held).toBe(true);
  });

  it('stops a spare started for other options, and one whose ffmpeg died while idle, and starts a new one', async () => {
    const s = starter();
    const spare = new SpareEncoder({ start: s.start, idle: () => true });
    await (await spare.take(clip(48))).encode(frames);
    await nextTurn();
    const other = await spare.take(clip(64));
    expect(s.aborted).toEqual([1]);
    expect(s.started.map((o) => o.width)).toEqual([48, 48, 64]);
    await other.encode(frames);
    await nextTurn();
    s.kill(3);
    const fresh = await spare.take(clip(64));
    expect(s.aborted).toEqual([1, 3]);
    expect((await fresh.encode(frames)).toString()).toBe('mp4 from encoder 4');
  });

  it('meets a spare that failed to start with a start of its own, and fails the take only when that fails too', async () => {
    const s = starter();
    const spare = new SpareEncoder({ start: s.start, idle: () => true });
    await (await spare.take(clip(48))).encode(frames);
    s.failNext();
    await nextTurn();
    expect(spare.held).toBe(true);
    expect((await (await spare.take(clip(48))).encode(frames)).toString()).toBe('mp4 from encoder 1');
    s.failNext();
    await nextTurn();
    await expect(spare.take(clip(48))).resolves.toBeDefined();
    s.failNext();
    const spareless = new SpareEncoder({ start: s.start, idle: () => false });
    await expect(spareless.take(clip(48))).rejects.toThrow(/cannot start ffmpeg/);
  });

  it('close() stops the spare and starts no more', async () => {
    const s = starter();
    const spare = new SpareEncoder({ start: s.start, idle: () => true });
    const first = await spare.take(clip(48));
    await first.encode(frames);
    await nextTurn();
    const inFlight = await spare.take(clip(48));
    await nextTurn();
    await spare.close();
    expect(s.aborted).toEqual([]);
    await inFlight.encode(frames);
    await nextTurn();
    expect(spare.held).toBe(false);
    expect(s.started).toHaveLength(2);
    // Closed while one was held: that one is stopped.
    const s2 = starter();
    const held = new SpareEncoder({ start: s2.start, idle: () => true });
    await (await held.take(clip(48))).encode(frames);
    await nextTurn();
    await held.close();
    expect(s2.aborted).toEqual([1]);
  });
});
