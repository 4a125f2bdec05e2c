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
  /** From now on abort() rejects (its temp dir could not be removed). */
  failAborts: () => void;
} {
  const started: Mp4Options[] = [];
  const aborted: number[] = [];
  const ended: boolean[] = [];
  let fail = false;
  let abortFails = false;
  return {
    started,
    aborted,
    kill: (i) => void (ended[i] = true),
    failNext: () => void (fail = true),
    failAborts: () => void (abortFails = true),
    start: async (o) => {
      if (fail) {
        fail = false;
        throw new Error('cannot start ffmpeg');
      }
      const i = started.push(o) - 1;
      ended[i] = false;
      return {
        encode: async () => Buffer.from(`mp4 from encoder ${i}`),
        abort: async () => {
          aborted.push(i);
          if (abortFails) throw new Error(`EACCES: cannot remove encoder ${i}'s temp dir`);
        },
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

  it('starts a new encoder when any option differs from the spare’s, the options added to Mp4Options later included', async () => {
    // Required: an option added to Mp4Options fails to compile here until it is given a value below and checked.
    const base = { width: 48, height: 32, fps: 8, ffmpegPath: 'ffmpeg', preset: 'veryfast', crf: 18, comment: 'tiny v1', tmpDir: '/tmp' } satisfies Required<
      Omit<Mp4Options, 'launcher'>
    >;
    const other: { [K in keyof typeof base]: (typeof base)[K] } = {
      width: 64,
      height: 48,
      fps: 12,
      ffmpegPath: '/opt/ffmpeg',
      preset: 'slow',
      crf: 23,
      comment: 'tiny v2',
      tmpDir: '/var/tmp',
    };
    for (const key of Object.keys(base) as (keyof typeof base)[]) {
      const s = starter();
      const spare = new SpareEncoder({ start: s.start, idle: () => true });
      await (await spare.take(base)).encode(frames);
      await nextTurn();
      await spare.take({ ...base, [key]: other[key] });
      expect(s.aborted, key).toEqual([1]);
      expect(s.started[2], key).toEqual({ ...base, [key]: other[key] });
    }
    // The launcher is how ffmpeg is started, not what it makes: not compared.
    const s = starter();
    const spare = new SpareEncoder({ start: s.start, idle: () => true });
    await (await spare.take(base)).encode(frames);
    await nextTurn();
    await spare.take({ ...base, launcher: { alive: false, launch: () => undefined as never, close: async () => undefined } });
    expect(s.started).toHaveLength(2);
  });

  it('a stale spare whose removal fails does not fail the request nor end the process (no unhandled rejection)', async () => {
    const s = starter();
    const spare = new SpareEncoder({ start: s.start, idle: () => true });
    await (await spare.take(clip(48))).encode(frames);
    await nextTurn();
    s.failAborts();
    const fresh = await spare.take(clip(64));
    expect((await fresh.encode(frames)).toString()).toBe('mp4 from encoder 2');
    expect(s.aborted).toEqual([1]);
    // The rejected abort has settled by now; vitest fails the run on an unhandled rejection.
    await nextTurn();
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
