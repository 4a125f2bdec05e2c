// Fault injection FOR ROLLOUT DRILLS ONLY (T2V_FAULT_ERROR_RATE, T2V_FAULT_LATENCY_MS,
// T2V_FAULT_FREEZE_FRAMES; off by default): lets a platform team prove that a slow, failing or
// worse-looking candidate is rolled back.
import { setTimeout as sleep } from 'node:timers/promises';
import type { FaultInjectionConfig } from '../config.js';
import { FaultInjectedError } from '../errors.js';
import type { FrameSource } from '../pipeline/frames.js';

export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

const abortableSleep: Sleep = async (ms, signal) => {
  try {
    await sleep(ms, undefined, { signal });
  } catch (err) {
    // timers/promises rejects with a generic AbortError; surface why we were aborted instead.
    if (signal.aborted) throw signal.reason;
    throw err;
  }
};

export class FaultInjector {
  constructor(
    private readonly config: FaultInjectionConfig,
    private readonly random: () => number = Math.random,
    private readonly sleepFor: Sleep = abortableSleep,
  ) {}

  get enabled(): boolean {
    return this.config.errorRate > 0 || this.config.latencyMs > 0 || (this.config.freezeFrames ?? 0) > 0;
  }

  /**
   * T2V_FAULT_FREEZE_FRAMES: the clip with its last round(share × (frames − 1)) frames replaced by the frame
   * before them, so that share of its consecutive frame pairs stands still (the first frame always stays);
   * the source itself when the fault is off.
   */
  freeze(source: FrameSource): FrameSource {
    const share = this.config.freezeFrames ?? 0;
    if (share <= 0 || source.frames < 2) return source;
    const last = Math.max(0, source.frames - 1 - Math.round(share * (source.frames - 1)));
    const frozen: FrameSource = {
      frames: source.frames,
      width: source.width,
      height: source.height,
      frame: (f, into) => source.frame(Math.min(f, last), into),
    };
    const withLuma = source.frameWithLuma?.bind(source);
    if (withLuma) frozen.frameWithLuma = (f, luma, into) => withLuma(Math.min(f, last), luma, into);
    return frozen;
  }

  /** Called at the start of each generation: adds the latency, then maybe throws. */
  async apply(signal: AbortSignal): Promise<void> {
    if (this.config.latencyMs > 0) await this.sleepFor(this.config.latencyMs, signal);
    if (this.config.errorRate > 0 && this.random() < this.config.errorRate) {
      throw new FaultInjectedError(`injected fault (T2V_FAULT_ERROR_RATE=${this.config.errorRate})`);
    }
  }
}
