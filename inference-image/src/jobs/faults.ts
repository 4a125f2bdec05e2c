// Fault injection FOR ROLLOUT DRILLS ONLY (T2V_FAULT_ERROR_RATE, T2V_FAULT_LATENCY_MS; off by default):
// lets a platform team prove that a slow or failing candidate is rolled back.
import { setTimeout as sleep } from 'node:timers/promises';
import type { FaultInjectionConfig } from '../config.js';
import { FaultInjectedError } from '../errors.js';

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
    return this.config.errorRate > 0 || this.config.latencyMs > 0;
  }

  /** Called at the start of each generation: adds the latency, then maybe throws. */
  async apply(signal: AbortSignal): Promise<void> {
    if (this.config.latencyMs > 0) await this.sleepFor(this.config.latencyMs, signal);
    if (this.config.errorRate > 0 && this.random() < this.config.errorRate) {
      throw new FaultInjectedError(`injected fault (T2V_FAULT_ERROR_RATE=${this.config.errorRate})`);
    }
  }
}
