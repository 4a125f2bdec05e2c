// Time as the edge reads it (work queue delays, informer backoff and quiet-watch checks, the leader election's
// renewals and fence, the golden prober's rounds and timeouts): injected, so tests drive delays with a manual
// clock instead of sleeping on the real one. Lint keeps the real clock out of controller/ and kube/ but here
// and the composition root (controller/manager.ts).

export interface Clock {
  now(): number;
  /** Runs `fn` after `ms` (not keeping the process alive); the returned function cancels it. */
  schedule(fn: () => void, ms: number): () => void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  schedule(fn, ms) {
    const timer = setTimeout(fn, ms);
    timer.unref?.();
    return () => clearTimeout(timer);
  },
};
