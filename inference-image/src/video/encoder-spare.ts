// One encoder started ahead, while the replica is idle, for the next clip. Starting ffmpeg costs ~80 ms of CPU here
// (perf: 69 % of it the dynamic linker resolving symbols across Debian ffmpeg's 215 shared libraries). Started beside
// the denoiser (mp4-encoder.ts), that CPU is taken from onnxruntime's threads: on 2 vCPUs the request's session.run()
// calls ran ~5 % slower than without it. Started when the clip before ended and no other job was waiting or running,
// it is spent while the replica has nothing else to do. Under load none is started ahead: the next job starts its
// own beside its denoiser, as before, and no ffmpeg is started for a clip that may never come.
import type { Mp4Encoder, Mp4Options } from './mp4-encoder.js';

export interface SpareEncoderOptions {
  /** Starts an encoder (startMp4Encoder with the runtime's launcher). */
  start: (o: Mp4Options) => Promise<Mp4Encoder>;
  /** Whether to start the next clip's encoder now: true when no job is waiting or running (the replica idles). */
  idle: () => boolean;
}

/**
 * Hands out encoders; when one is done (encoded or aborted) and the replica is idle, starts the next for the same
 * options and keeps it (one at most). An encoder is reused only for the very same options (size, fps, x264,
 * comment), and only while its ffmpeg is still running.
 */
export class SpareEncoder {
  private spare: { key: string; encoder: Promise<Mp4Encoder> } | undefined;
  private closed = false;

  constructor(private readonly o: SpareEncoderOptions) {}

  /**
   * An encoder for `options`: the spare when it was started for the same options and its ffmpeg is still up, else a
   * new one (a spare for other options is stopped and its files removed).
   * @throws EncodeError as startMp4Encoder does when a new one cannot be started
   */
  async take(options: Mp4Options): Promise<Mp4Encoder> {
    const key = keyOf(options);
    const spare = this.spare;
    this.spare = undefined;
    if (spare) {
      const encoder = await spare.encoder.catch(() => undefined);
      if (encoder && spare.key === key && !encoder.ended) return this.refilling(encoder, options);
      // Not awaited (this request starts its own meanwhile), so handled here: a failed removal of a stale spare's
      // temp dir is not this request's error, and left unhandled it would end the process (main.ts).
      encoder?.abort().catch(() => undefined);
    }
    return this.refilling(await this.o.start(options), options);
  }

  /** Stops the spare's ffmpeg, removes its files, and starts no more (shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    const spare = this.spare;
    this.spare = undefined;
    const encoder = await spare?.encoder.catch(() => undefined);
    await encoder?.abort();
  }

  /** Whether an encoder is held ready (tests, metrics). */
  get held(): boolean {
    return this.spare !== undefined;
  }

  /** `encoder`, which starts the next spare once its encode or abort has settled. */
  private refilling(encoder: Mp4Encoder, options: Mp4Options): Mp4Encoder {
    // After the answer went out: the clip's continuation (the response) runs first.
    const next = (): void => void setImmediate(() => this.refill(options));
    return {
      encode: (video, signal) => encoder.encode(video, signal).finally(next),
      abort: () => encoder.abort().finally(next),
      get ended() {
        return encoder.ended;
      },
    };
  }

  private refill(options: Mp4Options): void {
    if (this.closed || this.spare !== undefined || !this.o.idle()) return;
    const encoder = this.o.start(options);
    // A failed start is met by the next take(), which then starts one itself; never an unhandled rejection.
    encoder.catch(() => undefined);
    this.spare = { key: keyOf(options), encoder };
  }
}

/** Every option but the launcher (how ffmpeg is started, not what it makes): an option added later is compared too. */
function keyOf(o: Mp4Options): string {
  const { launcher: _launcher, ...made } = o;
  return JSON.stringify(Object.entries(made).sort(([a], [b]) => (a < b ? -1 : 1)));
}
