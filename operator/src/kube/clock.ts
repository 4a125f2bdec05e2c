// Time as the kube edge reads it (work queue delays, informer backoff and quiet-watch checks): injected, so
// tests drive delays with a manual clock instead of sleeping on the real one.

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
