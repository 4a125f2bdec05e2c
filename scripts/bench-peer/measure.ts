// One tool through one scenario: create N rollouts at v1, wait until they are settled, change the template to
// v2 and measure what the scenario asks, from the API server (audit log), Prometheus, the route objects and /proc.
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import * as k8s from '@kubernetes/client-node';
import { TEST_READY_DELAY_ANNOTATION, TEST_READY_DELAY_MAX_ANNOTATION } from '../../test/env/kwok-stages.js';
import { auditMark, procStats, requestsBetween, type BenchCluster, type ProcStats } from './cluster.js';
import { gpuSampleMs, listPollMs } from './scale.js';
import { MAX_ERROR_RATIO, STEPS, errorRatioQuery, type BenchSettings, type RolloutRef, type Tool } from './tools.js';

export interface RunContext {
  cluster: BenchCluster;
  tool: Tool;
  pid: number;
  /** The controller's own /metrics, where it serves one. */
  metricsUrl: string | undefined;
  user: string;
  settings: BenchSettings;
  rollouts: RolloutRef[];
  /** Aborted when the controller exits: every wait of the run then stops at once instead of running to its timeout. */
  signal: AbortSignal;
  /** How long settling the rollouts on the stable version, and then promoting them, may each take (ms): scenario 4's per-tool cap. */
  capMs: number;
}

/** The tool did not settle or promote every rollout before the run's deadline; `message` says how far it got. */
export class DidNotHoldUp extends Error {
  readonly code = 'DID_NOT_HOLD_UP';
}

export interface Usage {
  requests: number;
  /** Requests kube-controller-manager's Deployment controller made in the run's namespace: ReplicaSet work for the tools that write Deployments. */
  deploymentControllerRequests: number;
  byVerb: Record<string, number>;
  cpuSeconds: number;
  peakRssBytes: number;
}

/** Polls until `probe` returns a value; throws naming `what` after `timeoutMs`, or at once when `signal` is aborted. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 200, signal?: AbortSignal): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(intervalMs);
  }
}

export async function pool<T>(items: T[], width: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/**
 * Every rollout created at the stable version and settled there (100 % on it), before anything is measured.
 * Throws DidNotHoldUp, naming how many settled, when the run's deadline passes first.
 */
export async function settleOnV1(ctx: RunContext): Promise<void> {
  const { kc } = ctx.cluster;
  const started = Date.now();
  await pool(ctx.rollouts, 8, (r) => ctx.tool.create(kc, r, ctx.settings, ctx.settings.stableVersion));
  const settled = await waitAllSettled(ctx, ctx.settings.stableVersion, started + ctx.capMs);
  if (settled < ctx.rollouts.length)
    throw new DidNotHoldUp(
      `did not hold up: ${settled} of ${ctx.rollouts.length} settled on ${ctx.settings.stableVersion} after ${((Date.now() - started) / 1000).toFixed(0)} s (creating them included; before the change); ${await howFar(ctx)}`,
    );
}

/**
 * How many of the rollouts are settled on `version` once all are, or once `deadline` (epoch ms) passes. One
 * listing of the run's namespace per round (settledIn), every listPollMs(N); a rollout seen settled once
 * counts as settled, as before. A failed listing (the API server busy) is a round with no news.
 */
async function waitAllSettled(ctx: RunContext, version: string, deadline: number): Promise<number> {
  const { kc } = ctx.cluster;
  const pending = new Set(ctx.rollouts);
  const ns = ctx.rollouts[0]!.ns;
  await waitFor(
    `${ctx.tool.label}: ${ctx.rollouts.length} rollouts settled on ${version}`,
    async () => {
      const settled = await ctx.tool.settledIn(kc, ns, version).catch(() => new Set<string>());
      for (const r of pending) if (settled.has(r.name)) pending.delete(r);
      return pending.size === 0 || Date.now() > deadline ? true : undefined;
    },
    Math.max(0, deadline - Date.now()) + 60_000,
    listPollMs(ctx.rollouts.length),
    ctx.signal,
  );
  return ctx.rollouts.length - pending.size;
}

/** Where a run that did not hold up stood: the controller's memory and CPU, the pods, the API server's answer time, the machine's free memory. */
async function howFar(ctx: RunContext): Promise<string> {
  const core = ctx.cluster.kc.makeApiClient(k8s.CoreV1Api);
  const t = Date.now();
  const pods = (await core.listNamespacedPod({ namespace: ctx.rollouts[0]!.ns })).items;
  const listMs = Date.now() - t;
  const ready = pods.filter((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
  const stats = procStats(ctx.pid);
  return `controller peak RSS ${(stats.peakRssBytes / 2 ** 20).toFixed(0)} MiB, CPU ${stats.cpuSeconds.toFixed(0)} s since start; ${pods.length} pods (${ready} ready); listing them took the API server ${listMs} ms; ${machineMemory()}`;
}

function machineMemory(): string {
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(fs.readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? NaN);
  return `machine: ${(kb('MemAvailable') / 1024).toFixed(0)} of ${(kb('MemTotal') / 1024).toFixed(0)} MiB available, load ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`;
}

/** What the controller used between `start()` and `stop()`: API requests from the audit log, CPU from /proc; peak RSS since it started. */
export function usageMeter(ctx: RunContext): { stop(): Usage } {
  const mark = auditMark(ctx.cluster);
  const before: ProcStats = procStats(ctx.pid);
  return {
    stop() {
      const after = procStats(ctx.pid);
      const { total, byVerb, deploymentController } = requestsBetween(ctx.cluster, mark, auditMark(ctx.cluster), ctx.user, undefined, ctx.rollouts[0]!.ns);
      return {
        requests: total,
        deploymentControllerRequests: deploymentController,
        byVerb,
        cpuSeconds: after.cpuSeconds - before.cpuSeconds,
        peakRssBytes: after.peakRssBytes,
      };
    },
  };
}

/** Reconcile latency from the controller's own histogram: the buckets after minus before, summed over every label set. */
export async function reconcileBuckets(ctx: RunContext): Promise<Map<number, number> | undefined> {
  const name = ctx.tool.reconcileHistogram;
  if (!name || !ctx.metricsUrl) return undefined;
  const text = await (await fetch(ctx.metricsUrl)).text();
  const buckets = new Map<number, number>();
  const re = new RegExp(`^${name}_bucket\\{(?:.*,)?le="([^"]+)"[^}]*\\} (\\S+)`);
  for (const line of text.split('\n')) {
    const m = re.exec(line);
    if (!m) continue;
    const le = m[1] === '+Inf' ? Infinity : Number(m[1]);
    buckets.set(le, (buckets.get(le) ?? 0) + Number(m[2]));
  }
  return buckets;
}

/** A quantile of the reconciles between two bucket snapshots, interpolated linearly inside its bucket (seconds). */
export function quantileBetween(before: Map<number, number>, after: Map<number, number>, q: number): number {
  const les = [...after.keys()].sort((a, b) => a - b);
  const counts = les.map((le) => (after.get(le) ?? 0) - (before.get(le) ?? 0));
  const rank = q * (counts.at(-1) ?? 0);
  let prevLe = 0;
  let prevCount = 0;
  for (const [i, le] of les.entries()) {
    const count = counts[i]!;
    if (count >= rank) return le === Infinity ? prevLe : prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1, count - prevCount);
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

/**
 * Whether the q-quantile of the reconciles between two snapshots lies beyond the histogram's top finite bucket:
 * quantileBetween() then returns that bucket's bound, a floor, not a measure (Argo's rollout_reconcile tops at 1 s).
 */
export function quantileIsFloor(before: Map<number, number>, after: Map<number, number>, q: number): boolean {
  const finite = [...after.keys()].filter(Number.isFinite);
  if (finite.length === 0) return false;
  const top = Math.max(...finite);
  const delta = (le: number) => (after.get(le) ?? 0) - (before.get(le) ?? 0);
  return delta(top) < q * delta(Infinity);
}

/**
 * GPUs held by the rollout's pods (each pod holds one; every pod not yet deleted counts), integrated over time,
 * sampled every `everyMs`: gpuSampleMs(N), 0.5 s up to N = 100 (each sample lists every pod of the run).
 */
export function gpuMeter(
  ctx: RunContext,
  everyMs = gpuSampleMs(ctx.rollouts.length),
): { sofar(): number; stop(): Promise<{ gpuSeconds: number; peakGpus: number }> } {
  const core = ctx.cluster.kc.makeApiClient(k8s.CoreV1Api);
  const ns = ctx.rollouts[0]!.ns;
  let running = true;
  let gpuSeconds = 0;
  let peakGpus = 0;
  const loop = (async () => {
    let last = Date.now();
    while (running && !ctx.signal.aborted) {
      // A failed list (the API server busy at N = 1,000) skips a sample: the next one integrates over the gap.
      const pods = await core.listNamespacedPod({ namespace: ns }).catch(() => undefined);
      if (!pods) {
        await sleep(everyMs);
        continue;
      }
      const held = pods.items.filter((p) => p.spec?.nodeName && !['Succeeded', 'Failed'].includes(p.status?.phase ?? '')).length;
      const now = Date.now();
      gpuSeconds += (held * (now - last)) / 1000;
      peakGpus = Math.max(peakGpus, held);
      last = now;
      await sleep(everyMs);
    }
  })();
  return {
    sofar: () => gpuSeconds,
    async stop() {
      running = false;
      await loop;
      return { gpuSeconds, peakGpus };
    },
  };
}

/**
 * After the tool reports settled, waits until the rollout's pods are back to `replicas` per rollout (the old
 * version's, or an aborted candidate's, are gone) and returns how long that took. The tools differ here: Argo
 * Rollouts keeps the old ReplicaSet for scaleDownDelaySeconds (30 s by default) after it reports Healthy,
 * Flagger scales its canary down while Finalising, ModelRollout retires the old Deployment in the pass that
 * reports Healthy. GPU-seconds that stop at "settled" leave the peers' tail out. NaN when they are not gone
 * after `timeoutMs` (a figure to read, not a reason to lose the run). Lists the pods every listPollMs(N).
 */
export async function waitPodsReleased(ctx: RunContext, timeoutMs = 180_000): Promise<number> {
  ctx.signal.throwIfAborted();
  const core = ctx.cluster.kc.makeApiClient(k8s.CoreV1Api);
  const ns = ctx.rollouts[0]!.ns;
  const want = ctx.settings.replicas * ctx.rollouts.length;
  const started = Date.now();
  const released = await waitFor(
    `${ctx.tool.label}: ${want} pods left in ${ns}`,
    async () =>
      (await core.listNamespacedPod({ namespace: ns })).items.filter((p) => p.spec?.nodeName && !['Succeeded', 'Failed'].includes(p.status?.phase ?? ''))
        .length <= want
        ? true
        : undefined,
    timeoutMs,
    listPollMs(ctx.rollouts.length),
    ctx.signal,
  ).catch(() => false);
  return released ? (Date.now() - started) / 1000 : NaN;
}

export interface PromoteResult {
  /** Template change to 100 % on the candidate version, the slowest of the N rollouts. */
  seconds: number;
  usage: Usage;
  /** API requests per weight step (5 per rollout: 1, 5, 20, 50, 100). */
  requestsPerStep: number;
  /** The same from the change until the old version's pods are gone (the tool's clean-up after "settled" included). */
  usageToRelease: Usage;
  requestsPerStepToRelease: number;
  /** The Deployment controller's requests in the run's namespace per step, to the old pods gone (Argo's ReplicaSets are its own: near 0). */
  deploymentControllerPerStep: number;
  gpuSeconds: number;
  /** GPU-seconds until the old version's pods are gone (gpuSeconds stops at settled), and how long after settled that was. */
  gpuSecondsToRelease: number;
  releasedAfterSeconds: number;
  peakGpus: number;
  /** How Prometheus's scrapes of the metrics stand-in went from the change to promoted (scrapeHealth). */
  scrapes: string;
  /** p50 and p99 of the reconciles while progressing (seconds), where the tool exposes them; the quantiles that are only floors. */
  reconcile?: { p50: number; p99: number; count: number; floors: string[] };
}

/** Scenario 1 and 4: a healthy candidate, from the template change to 100 % on it. */
export async function promote(ctx: RunContext): Promise<PromoteResult> {
  await settleOnV1(ctx);
  const meter = usageMeter(ctx);
  const bucketsBefore = await reconcileBuckets(ctx);
  const gpus = gpuMeter(ctx);
  const started = Date.now();
  const { candidateVersion } = ctx.settings;
  await pool(ctx.rollouts, 8, (r) => ctx.tool.setVersion(ctx.cluster.kc, r, ctx.settings, candidateVersion));
  const promoted = await waitAllSettled(ctx, candidateVersion, started + ctx.capMs);
  const seconds = (Date.now() - started) / 1000;
  const usage = meter.stop();
  const scrapes = await scrapeHealth(ctx.settings.prometheus, seconds);
  if (promoted < ctx.rollouts.length) {
    await gpus.stop();
    throw new DidNotHoldUp(
      `did not hold up: ${promoted} of ${ctx.rollouts.length} promoted after ${seconds.toFixed(0)} s; ${usage.requests} API requests since the change; ${scrapes}; ${await howFar(ctx)}`,
    );
  }
  const gpuSeconds = gpus.sofar();
  const bucketsAfter = await reconcileBuckets(ctx);
  const releasedAfterSeconds = await waitPodsReleased(ctx);
  // The same window, to the old pods gone: Flagger counts as settled while Finalising and Argo scales its old
  // ReplicaSet down 30 s after Healthy, both outside `usage`; ModelRollout retires its old Deployment inside it.
  const usageToRelease = meter.stop();
  const { gpuSeconds: gpuSecondsToRelease, peakGpus } = await gpus.stop();
  const reconcile =
    bucketsBefore && bucketsAfter
      ? {
          p50: quantileBetween(bucketsBefore, bucketsAfter, 0.5),
          p99: quantileBetween(bucketsBefore, bucketsAfter, 0.99),
          count: (bucketsAfter.get(Infinity) ?? 0) - (bucketsBefore.get(Infinity) ?? 0),
          floors: (
            [
              ['p50', 0.5],
              ['p99', 0.99],
            ] as const
          )
            .filter(([, q]) => quantileIsFloor(bucketsBefore, bucketsAfter, q))
            .map(([name]) => name),
        }
      : undefined;
  return {
    seconds,
    usage,
    usageToRelease,
    requestsPerStepToRelease: usageToRelease.requests / (STEPS.length * ctx.rollouts.length),
    deploymentControllerPerStep: usageToRelease.deploymentControllerRequests / (STEPS.length * ctx.rollouts.length),
    gpuSeconds,
    gpuSecondsToRelease,
    releasedAfterSeconds,
    peakGpus,
    scrapes,
    requestsPerStep: usage.requests / (STEPS.length * ctx.rollouts.length),
    ...(reconcile ? { reconcile } : {}),
  };
}

export interface RollbackResult {
  /** Breach visible in Prometheus (the query above the rollback bound) to 0 % on the candidate. */
  seconds: number;
  /** When the breach was made, relative to it becoming visible (how long Prometheus took to show it). */
  visibleAfterSeconds: number;
  usage: Usage;
}

/**
 * Scenario 2: the candidate's error ratio jumps to 50 % once the tool has put it at `atWeight` %.
 * `breach(true)` makes the stand-in fail the candidate's requests.
 */
export async function rollbackAt(ctx: RunContext, atWeight: number, breach: () => void, prometheus: string): Promise<RollbackResult> {
  await settleOnV1(ctx);
  const r = ctx.rollouts[0]!;
  const { kc } = ctx.cluster;
  const meter = usageMeter(ctx);
  await ctx.tool.setVersion(kc, r, ctx.settings, ctx.settings.candidateVersion);
  await waitFor(
    `${ctx.tool.label}: candidate at ${atWeight} %`,
    async () => ((await ctx.tool.candidateWeight(kc, r)) >= atWeight ? true : undefined),
    600_000,
    100,
    ctx.signal,
  );
  const brokeAt = Date.now();
  breach();
  const query = errorRatioQuery(r.model, ctx.settings.candidateVersion, ctx.settings.windowSeconds);
  let visibleAt: number | undefined;
  const backAt = await waitFor(
    `${ctx.tool.label}: breach visible in Prometheus, then 0 % on the candidate`,
    async () => {
      if (visibleAt === undefined && (await promValue(prometheus, query)) > MAX_ERROR_RATIO) visibleAt = Date.now();
      if (visibleAt === undefined || (await ctx.tool.candidateWeight(kc, r)) !== 0) return undefined;
      const at = Date.now();
      await refusePromotion(ctx);
      return at;
    },
    600_000,
    50,
    ctx.signal,
  );
  return { seconds: (backAt - visibleAt!) / 1000, visibleAfterSeconds: (visibleAt! - brokeAt) / 1000, usage: meter.stop() };
}

/**
 * Whether every tool could see the pods' series: Prometheus's scrapes of the metrics stand-in over the last
 * `seconds` (its `up` and `scrape_duration_seconds`), as "N of M scrapes up, slowest S s". At N = 1,000 one page
 * of every pod took longer than the scrape timeout: target down, no series, every rollout paused on no data.
 */
export async function scrapeHealth(prometheus: string, seconds: number): Promise<string> {
  const range = `[${Math.max(1, Math.ceil(seconds))}s]`;
  const [total, up, slowest] = await Promise.all(
    [
      `sum(count_over_time(up{job="t2v"}${range}))`,
      `sum(sum_over_time(up{job="t2v"}${range}))`,
      `max(max_over_time(scrape_duration_seconds{job="t2v"}${range}))`,
    ].map((q) => promValue(prometheus, q).catch(() => NaN)),
  );
  return `Prometheus scrapes of the stand-in: ${up} of ${total} up, slowest ${slowest!.toFixed(2)} s`;
}

async function promValue(address: string, query: string): Promise<number> {
  const body = (await (await fetch(`${address}/api/v1/query?query=${encodeURIComponent(query)}`)).json()) as {
    data: { result: { value: [number, string] }[] };
  };
  const v = Number(body.data.result[0]?.value[1] ?? 0);
  return Number.isNaN(v) ? 0 : v;
}

/** The pod annotations that make kwok take 20–22 s to turn a pod ready (test/env/README.md). */
export const SLOW_READY = { [TEST_READY_DELAY_ANNOTATION]: '20s', [TEST_READY_DELAY_MAX_ANNOTATION]: '22s' };

export interface CapacityResult {
  /** ∫ max(0, w/100 − ready/replicas) dt over both sides, × the nominal load: requests sent beyond ready capacity, in request-seconds at 1 req/s per replica. */
  excessRequestSeconds: number;
  /** The worst moment: the largest w/100 − ready/replicas seen, as a share of all traffic. */
  worstShare: number;
  /** The route and the ready pods at that moment, and how long the tool sent traffic beyond ready capacity in all. */
  worstMoment: string;
  shortSeconds: number;
  seconds: number;
}

/**
 * Scenario 3: samples, every `everyMs`, the candidate's weight and the ready pods of each version (image tag),
 * until `done` resolves; integrates the traffic each side receives beyond what its ready replicas carry.
 */
export async function sampleCapacity(ctx: RunContext, done: Promise<unknown>, everyMs = 250): Promise<CapacityResult> {
  const r = ctx.rollouts[0]!;
  const core = ctx.cluster.kc.makeApiClient(k8s.CoreV1Api);
  let finished = false;
  const finish = () => (finished = true);
  void done.then(finish, finish);
  let excess = 0;
  let worst = 0;
  let worstMoment = 'never short';
  let shortMs = 0;
  const started = Date.now();
  let last = started;
  const { stableVersion: stable, candidateVersion: candidate } = ctx.settings;
  while (!finished && !ctx.signal.aborted) {
    const [w, ready] = await Promise.all([ctx.tool.candidateWeight(ctx.cluster.kc, r), readyByVersion(core, r.ns)]);
    const share = (weight: number, readyCount: number) => Math.max(0, weight / 100 - readyCount / ctx.settings.replicas);
    const short = share(w, ready.get(candidate) ?? 0) + share(100 - w, ready.get(stable) ?? 0);
    const now = Date.now();
    excess += (short * ctx.settings.replicas * (now - last)) / 1000;
    if (short > 0) shortMs += now - last;
    if (short > worst) {
      worst = short;
      worstMoment = `${(now - started) / 1000}s after the change: route ${100 - w}/${w} (stable/candidate), ready ${ready.get(stable) ?? 0} stable, ${ready.get(candidate) ?? 0} candidate pods`;
    }
    last = now;
    await sleep(everyMs);
  }
  return { excessRequestSeconds: excess, worstShare: worst, worstMoment, shortSeconds: shortMs / 1000, seconds: (Date.now() - started) / 1000 };
}

/** Ready, not terminating pods of a namespace by version (their image tag). */
async function readyByVersion(core: k8s.CoreV1Api, namespace: string): Promise<Map<string, number>> {
  const pods = await core.listNamespacedPod({ namespace });
  const counts = new Map<string, number>();
  for (const p of pods.items) {
    const version = p.spec?.containers[0]?.image?.split(':').at(-1) ?? '';
    const ready = !p.metadata?.deletionTimestamp && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    if (ready) counts.set(version, (counts.get(version) ?? 0) + 1);
  }
  return counts;
}

/**
 * Throws when the tool has promoted the broken candidate: its route then reads 0 % on the candidate too (the promoted
 * version is the new stable), which is not a rollback. Scenario 2 took it for one; scenario 3 waited 900 s for v1 pods.
 */
async function refusePromotion(ctx: RunContext): Promise<void> {
  const r = ctx.rollouts[0]!;
  if ((await ctx.tool.settledIn(ctx.cluster.kc, r.ns, ctx.settings.candidateVersion)).has(r.name))
    throw new Error(`${ctx.tool.label} promoted the broken candidate ${ctx.settings.candidateVersion} instead of rolling back`);
}

/** After a rollback: 0 % on the candidate and every stable replica ready again (each tool names this state differently). */
export async function waitBackOnStable(ctx: RunContext): Promise<void> {
  const r = ctx.rollouts[0]!;
  const core = ctx.cluster.kc.makeApiClient(k8s.CoreV1Api);
  await waitFor(
    `${ctx.tool.label}: 0 % on the candidate and ${ctx.settings.replicas} ready ${ctx.settings.stableVersion} pods`,
    async () => {
      if ((await ctx.tool.candidateWeight(ctx.cluster.kc, r)) !== 0) return undefined;
      await refusePromotion(ctx);
      return ((await readyByVersion(core, r.ns)).get(ctx.settings.stableVersion) ?? 0) >= ctx.settings.replicas ? true : undefined;
    },
    900_000,
    250,
    ctx.signal,
  );
}
