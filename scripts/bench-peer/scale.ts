// How the bench's own machinery grows with N, scenario 4's --scale (rollouts at once, 2 pods each at the peak),
// so that at N = 1,000 it measures the controllers, not itself. Up to N = 100 every figure is what the earlier
// runs used (1 s scrape, one metrics page, 0.5 s samples); the printed settings say what a run used.

/** Rollouts up to which nothing changes (the default --scale). */
const BASE_N = 100;

/** Followed pods per metrics page: ~250 pods' request counters render in ~15 ms on this machine. */
const PODS_PER_PAGE = 250;

/**
 * Prometheus's scrape interval (ms; its timeout is the same, Prometheus's default when the interval is under
 * 10 s) for N rollouts: 1 s up to N = 100, proportionally longer above, but never so long that the tools' rate
 * windows (`windowSeconds`) hold fewer than 4 scrapes — with 2 or fewer, rate() often has no answer and every
 * tool would see no data. Whole milliseconds.
 */
export function scrapeIntervalMs(n: number, windowSeconds: number): number {
  const proportional = Math.max(1000, Math.round((1000 * n) / BASE_N));
  return Math.max(1000, Math.min(proportional, Math.floor((windowSeconds * 1000) / 4)));
}

/** Metrics pages (Prometheus targets) for N rollouts at 2 pods each: one up to N = 125, then one per 250 pods. */
export function metricsPages(n: number): number {
  return Math.max(1, Math.ceil((2 * n) / PODS_PER_PAGE));
}

/**
 * Whether the stand-in serves the latency histogram: up to N = 100 it does, as before; above, it is left out
 * (26 of a pod's 33 series, ~80 % of the page) because no tool's query in this bench reads it.
 */
export function servesLatencyHistogram(n: number): boolean {
  return n <= BASE_N;
}

/** How often the GPU meter lists the run's pods (ms): every 0.5 s, or every N / 200 s when that is longer (5 s at N = 1,000). */
export function gpuSampleMs(n: number): number {
  return Math.max(500, 5 * n);
}

/**
 * How often the bench lists a run's rollouts to see which are settled, and the metrics stand-in lists its pods to
 * follow them (ms): every 0.5 s, or every N ms when longer (1 s at N = 1,000).
 */
export function listPollMs(n: number): number {
  return Math.max(500, n);
}
