// A clock that moves only when the test says: advance(ms) runs what falls due, in time order, letting the
// promise chains each callback starts settle before the next one.
import type { Clock } from './clock.js';

export class ManualClock implements Clock {
  private t = 0;
  private pending: { at: number; fn: () => void; cancelled: boolean }[] = [];

  now(): number {
    return this.t;
  }

  schedule(fn: () => void, ms: number): () => void {
    const entry = { at: this.t + ms, fn, cancelled: false };
    this.pending.push(entry);
    return () => void (entry.cancelled = true);
  }

  /** Delays scheduled and not yet run or cancelled, counted from now. */
  get delays(): number[] {
    return this.pending.filter((p) => !p.cancelled).map((p) => p.at - this.t);
  }

  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    await settle();
    for (;;) {
      const next = this.pending.filter((p) => !p.cancelled && p.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.pending.splice(this.pending.indexOf(next), 1);
      this.t = next.at;
      next.fn();
      await settle();
    }
    this.t = end;
  }
}

/** Lets callbacks' promise chains run to their end (they await nothing slow in these tests). */
export const settle = (): Promise<void> => new Promise<void>((r) => setImmediate(r));

/** Advances `ms` in steps of `stepMs`, letting the async work each step starts (fetches, streams) settle. */
export async function advanceInSteps(clock: ManualClock, ms: number, stepMs = 1): Promise<void> {
  for (let done = 0; done < ms; done += stepMs) await clock.advance(Math.min(stepMs, ms - done));
}

/**
 * Advances the clock `stepMs` at a time until `probe` gives a value (async work settles between steps);
 * fails once `maxMs` of clock time has passed without one.
 */
export async function advanceUntil<T>(clock: ManualClock, probe: () => T | undefined, { stepMs = 1, maxMs = 60_000 } = {}): Promise<T> {
  for (let waited = 0; ; waited += stepMs) {
    const v = probe();
    if (v !== undefined) return v;
    if (waited > maxMs) throw new Error(`not reached within ${maxMs} ms of clock time`);
    await clock.advance(stepMs);
  }
}
