// Golden-prompt probes, the I/O half: while a candidate is shadowed or stepped, every interval each prompt of
// the rollout's ConfigMap goes with its fixed seed to one ready stable pod and one ready candidate pod
// (directly, from the Services' EndpointSlices: the route's weights and users' traffic are untouched), and the
// two clips are compared frame by frame (analysis/golden.ts). The scores go to the operator's /metrics,
// labelled with the candidate's revision like the runtime's own series, so the golden-* templates judge them
// through Prometheus with the same windows, NoData rules and history as every other metric.
// A loop per rollout, started and kept alive by the reconciles that see the rollout active; it stops itself
// when they stop coming (rollout finished, deleted, or this replica no longer the leader).
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Counter, Histogram, type Registry } from 'prom-client';
import { compareClips, parseGoldenPrompts, type GoldenPrompt, type RawClip } from '../analysis/golden.js';
import { GOLDEN_METRICS, IDENTITY_LABELS, type GoldenProbesConfig } from '../analysis/spec.js';
import type { GoldenReport } from '../analysis/types.js';
import { realClock, type Clock } from '../kube/clock.js';
import { isNotFound } from '../kube/errors.js';

/** What to probe for one rollout now. */
export interface GoldenTarget {
  namespace: string;
  name: string;
  stableService: string;
  candidateService: string;
  candidateRevision: string;
  config: GoldenProbesConfig;
}

/** The cluster reads a round needs (narrow, so tests can give plain functions). */
export interface GoldenSources {
  /** The ConfigMap's data, or undefined when it does not exist. */
  configMapData(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  /** Ready endpoints (address and the port named http, else the first) of a Service. */
  readyEndpoints(namespace: string, service: string): Promise<{ address: string; port: number }[]>;
}

export interface GoldenProberDeps {
  sources: GoldenSources;
  registry: Registry;
  log: Logger;
  fetch?: typeof fetch;
  /** Leader fencing: a replica that lost the lease sends no more probes. */
  canProbe?: () => boolean;
  /** A loop with no sync for this long stops (its rollout ended or went away). */
  idleStopMs?: number;
  /** Before the first round (default: the interval, at most 1 min), so a scrape sees the zeroed series first. */
  firstRoundDelayMs?: number;
  /** Rounds' timers, idle checks and report times (tests give a manual clock). */
  clock?: Clock;
}

const LABELS = [IDENTITY_LABELS.namespace, IDENTITY_LABELS.name, IDENTITY_LABELS.revision] as const;
type Label = (typeof LABELS)[number];

interface Loop {
  target: GoldenTarget;
  /** Cancels the next round's timer. */
  cancel?: () => void;
  running: boolean;
  lastSync: number;
  round: number;
  report?: GoldenReport;
  /** Aborted when the loop stops: its generation in flight is cancelled, not left holding a slot. */
  abort: AbortController;
}

export const RGB24_FRAMES = 'application/x-t2v-rgb24';

/**
 * Largest raw answer the operator reads (one side of one prompt): 48 MiB holds 512² × 64 frames of rgb24. The
 * chart gives the operator 384 MiB; a 720p prompt of several seconds (hundreds of MiB) would OOM-kill the leader.
 */
export const MAX_RAW_CLIP_BYTES = 48 * 1024 * 1024;

export class GoldenProber {
  private readonly loops = new Map<string, Loop>();
  private readonly ssim: Histogram<Label>;
  private readonly psnr: Histogram<Label>;
  private readonly failures: Counter<'namespace' | 'name' | 'reason'>;
  private readonly clock: Clock;

  constructor(private readonly deps: GoldenProberDeps) {
    this.clock = deps.clock ?? realClock;
    const registers = [deps.registry];
    this.ssim = new Histogram({
      name: GOLDEN_METRICS.ssim,
      help: "Mean SSIM (0..1) of the candidate's clip against stable's for one golden prompt and seed.",
      labelNames: LABELS,
      buckets: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99, 1],
      registers,
    });
    this.psnr = new Histogram({
      name: GOLDEN_METRICS.psnr,
      help: "PSNR (dB, 100 for identical) of the candidate's clip against stable's for one golden prompt and seed.",
      labelNames: LABELS,
      buckets: [10, 15, 20, 25, 30, 35, 40, 50, 100],
      registers,
    });
    this.failures = new Counter({
      name: 'modelrollout_golden_probe_failures_total',
      help: 'Golden-prompt probes that gave no comparison, by reason.',
      labelNames: ['namespace', 'name', 'reason'],
      registers,
    });
  }

  /** Called by every reconcile of an active rollout with probes (target), or of one without (undefined). */
  sync(key: string, target: GoldenTarget | undefined, now = this.clock.now()): void {
    const loop = this.loops.get(key);
    if (!target) {
      if (loop) this.stop(key);
      return;
    }
    if (loop && loop.target.candidateRevision !== target.candidateRevision) this.stop(key);
    const current = this.loops.get(key);
    if (current) {
      const shorter = target.config.intervalMs < current.target.config.intervalMs;
      current.target = target;
      current.lastSync = now;
      // A shorter interval applies from now, not after the old (maybe hour-long) timer runs out.
      if (shorter && !current.running) {
        current.cancel?.();
        this.schedule(key, current, target.config.intervalMs);
      }
      return;
    }
    // Zero series first: Prometheus' increase() needs a sample before the first observation to count it.
    const labels = labelsOf(target);
    this.ssim.zero(labels);
    this.psnr.zero(labels);
    const fresh: Loop = { target, running: false, lastSync: now, round: 0, abort: new AbortController() };
    this.loops.set(key, fresh);
    // The first round waits an interval (at most a minute): Prometheus must scrape the zeroed series before the
    // first score, or increase() misses it (the chart's ServiceMonitor scrapes every 30 s).
    this.schedule(key, fresh, this.deps.firstRoundDelayMs ?? Math.min(60_000, target.config.intervalMs));
  }

  report(key: string): GoldenReport | undefined {
    return this.loops.get(key)?.report;
  }

  stopAll(): void {
    for (const key of [...this.loops.keys()]) this.stop(key);
  }

  private stop(key: string): void {
    const loop = this.loops.get(key);
    if (!loop) return;
    loop.cancel?.();
    loop.abort.abort();
    this.loops.delete(key);
    const labels = labelsOf(loop.target);
    this.ssim.remove(labels);
    this.psnr.remove(labels);
  }

  private queue: Promise<unknown> = Promise.resolve();

  /** Runs `task` after every task queued before it (a mutex shared by all loops). */
  private exclusively<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private schedule(key: string, loop: Loop, delayMs: number): void {
    loop.cancel = this.clock.schedule(() => void this.tick(key, loop), delayMs);
  }

  private async tick(key: string, loop: Loop): Promise<void> {
    if (this.loops.get(key) !== loop) return;
    if (this.clock.now() - loop.lastSync > (this.deps.idleStopMs ?? Math.max(5 * 60_000, 3 * loop.target.config.intervalMs))) {
      this.stop(key);
      return;
    }
    if (this.deps.canProbe?.() !== false) {
      loop.running = true;
      try {
        // Still this loop's round: not stopped, and this replica still leads (a new leader probes now).
        loop.report = await this.round(loop, () => this.loops.get(key) === loop && this.deps.canProbe?.() !== false);
      } catch (err) {
        loop.report = { lastRoundTime: new Date(this.clock.now()).toISOString(), compared: 0, error: `probe round failed: ${String(err)}` };
      } finally {
        loop.running = false;
      }
      if (loop.report.error) this.deps.log.warn({ rollout: key, error: loop.report.error }, 'golden-prompt probes');
    }
    if (this.loops.get(key) === loop) this.schedule(key, loop, loop.target.config.intervalMs);
  }

  /**
   * One round: every prompt to both sides, compared; a failed prompt is reported and the others still count.
   * `current` says whether the loop still stands: a rollout that ended mid-round gets no more generations and
   * no more observations (its series were removed and must stay so).
   */
  async round(loop: Loop, current: () => boolean = () => true): Promise<GoldenReport> {
    const t = loop.target;
    const at = new Date(this.clock.now()).toISOString();
    const fail = (reason: string, error: string): GoldenReport => {
      this.failures.inc({ namespace: t.namespace, name: t.name, reason });
      return { lastRoundTime: at, compared: 0, error };
    };
    const where = `ConfigMap ${t.namespace}/${t.config.configMap} key ${t.config.key}`;
    const data = await this.deps.sources.configMapData(t.namespace, t.config.configMap);
    if (!data) return fail('ConfigMapMissing', `spec.analysis.goldenProbes.configMap: ${where.split(' key')[0]} does not exist`);
    const text = data[t.config.key];
    if (text === undefined)
      return fail('ConfigMapInvalid', `spec.analysis.goldenProbes.key: ${where} does not exist (keys: ${Object.keys(data).join(', ') || 'none'})`);
    const { prompts, errors } = parseGoldenPrompts(text, where);
    if (errors.length > 0) return fail('ConfigMapInvalid', errors.join('; '));
    const [stable, candidate] = await Promise.all([
      this.pick(t.namespace, t.stableService, loop.round),
      this.pick(t.namespace, t.candidateService, loop.round),
    ]);
    loop.round += 1;
    if (!stable || !candidate)
      return fail(
        'NoReadyPod',
        `no ready ${!stable ? `stable pod behind Service ${t.stableService}` : `candidate pod behind Service ${t.candidateService}`} to probe`,
      );
    const problems: string[] = [];
    const scores: { ssim: number; psnrDb: number }[] = [];
    for (const prompt of prompts) {
      if (!current()) return { lastRoundTime: at, compared: scores.length, error: 'stopped: the rollout is no longer probed' };
      // One prompt at a time across all rollouts: at most two raw clips (≤ 2 × MAX_RAW_CLIP_BYTES) in memory.
      const result = await this.exclusively(() => this.comparePrompt(t, prompt, stable, candidate, { current, signal: loop.abort.signal }));
      if ('problem' in result) {
        problems.push(result.problem);
        this.failures.inc({ namespace: t.namespace, name: t.name, reason: result.reason });
      } else scores.push(result);
    }
    const mean = (f: (s: { ssim: number; psnrDb: number }) => number) => scores.reduce((a, s) => a + f(s), 0) / scores.length;
    return {
      lastRoundTime: at,
      compared: scores.length,
      ...(scores.length > 0 ? { ssim: mean((s) => s.ssim), psnrDb: mean((s) => s.psnrDb) } : {}),
      ...(problems.length > 0 ? { error: problems.join('; ') } : {}),
    };
  }

  private async comparePrompt(
    t: GoldenTarget,
    prompt: GoldenPrompt,
    stable: Endpoint,
    candidate: Endpoint,
    round: { current: () => boolean; signal: AbortSignal },
  ): Promise<{ ssim: number; psnrDb: number } | { problem: string; reason: string }> {
    const { current, signal } = round;
    const stopped = { problem: `prompt ${prompt.id}: stopped (the rollout is no longer probed)`, reason: 'Stopped' };
    // One side at a time: a probe must not double the load on a small replica set.
    const a = await this.generate(stable, prompt, t.config.timeoutMs, signal);
    if ('error' in a) return { problem: `prompt ${prompt.id}: stable ${a.error}`, reason: 'StableFailed' };
    if (!current()) return stopped;
    const b = await this.generate(candidate, prompt, t.config.timeoutMs, signal);
    if ('error' in b) return { problem: `prompt ${prompt.id}: candidate ${b.error}`, reason: 'CandidateFailed' };
    const c = await compareClips(a, b);
    if (!current()) return stopped;
    const labels = labelsOf(t);
    // A clip of another size or length for the same request is as different as a clip can be.
    const scores = 'mismatch' in c ? { ssim: 0, psnrDb: 0 } : c;
    this.ssim.observe(labels, scores.ssim);
    this.psnr.observe(labels, scores.psnrDb);
    return 'mismatch' in c ? { problem: `prompt ${prompt.id}: ${c.mismatch} (scored 0)`, reason: 'Mismatch' } : scores;
  }

  private async generate(e: Endpoint, prompt: GoldenPrompt, timeoutMs: number, stopped: AbortSignal): Promise<RawClip | { error: string }> {
    const url = `http://${e.address.includes(':') ? `[${e.address}]` : e.address}:${e.port}/v1/generate`;
    // The timeout covers the answer's body too, on the injected clock.
    const timeout = new AbortController();
    const cancelTimeout = this.clock.schedule(() => timeout.abort(new DOMException(`no answer in ${timeoutMs} ms`, 'TimeoutError')), timeoutMs);
    try {
      const res = await (this.deps.fetch ?? fetch)(url, {
        // X-ModelRollout-Probe: the runtime counts these apart from users' requests, latency, quality and cost.
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: RGB24_FRAMES, 'user-agent': 'modelrollout-golden-probe', 'x-modelrollout-probe': 'golden' },
        body: JSON.stringify(prompt.body),
        signal: AbortSignal.any([timeout.signal, stopped]),
        // A pod's own address: a redirect (elsewhere) is an answer that is not a clip, never followed.
        redirect: 'manual',
      });
      const at = `${e.address}:${e.port}`;
      if (res.status !== 200) return { error: `${at} answered ${res.status}: ${(await readLimited(res, 4096)).toString('utf8').slice(0, 300)}` };
      if (res.headers.get('content-type') !== RGB24_FRAMES) {
        await res.body?.cancel();
        return { error: `${at} answered ${res.headers.get('content-type')}, not ${RGB24_FRAMES} (a runtime too old for golden probes?)` };
      }
      const [width, height, frames] = ['x-video-width', 'x-video-height', 'x-video-frames'].map((h) => Number(res.headers.get(h) ?? NaN)) as [
        number,
        number,
        number,
      ];
      if (![width, height, frames].every((x) => Number.isSafeInteger(x) && x > 0)) {
        await res.body?.cancel();
        return { error: `${at} answered raw frames without X-Video-Width/Height/Frames (a proxy between the operator and the pod dropping headers?)` };
      }
      const bytes = width * height * 3 * frames;
      if (bytes > MAX_RAW_CLIP_BYTES) {
        await res.body?.cancel();
        return {
          error: `${at} answered a ${width}x${height}×${frames} clip, ${mib(bytes)} of raw frames, over the golden-probe limit of ${mib(MAX_RAW_CLIP_BYTES)}: ask a smaller width, height or seconds in the prompt`,
        };
      }
      const data = await readLimited(res, bytes);
      if (data.length !== bytes) return { error: `${at} answered ${data.length} bytes of raw frames, not ${width}x${height}x3 × ${frames} = ${bytes}` };
      return { width, height, frames, data };
    } catch (err) {
      return { error: `${e.address}:${e.port}: ${(err as Error).name === 'TimeoutError' ? `no answer in ${timeoutMs / 1000} s` : String(err)}` };
    } finally {
      cancelTimeout();
    }
  }

  /** A ready endpoint, a different one each round where there are several. */
  private async pick(namespace: string, service: string, round: number): Promise<Endpoint | undefined> {
    const ready = await this.deps.sources.readyEndpoints(namespace, service);
    return ready.length === 0 ? undefined : ready[round % ready.length];
  }
}

interface Endpoint {
  address: string;
  port: number;
}

const mib = (bytes: number): string => `${+(bytes / 1024 / 1024).toPrecision(3)} MiB`;

/** The body, at most `limit` bytes (one more is read to tell "exactly" from "more"; the rest is dropped). */
async function readLimited(res: Response, limit: number): Promise<Buffer> {
  if (!res.body) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.length;
    if (size > limit) {
      await reader.cancel();
      break;
    }
  }
  return Buffer.concat(chunks, Math.min(size, limit + 1));
}

function labelsOf(t: GoldenTarget): Record<Label, string> {
  return { [IDENTITY_LABELS.namespace]: t.namespace, [IDENTITY_LABELS.name]: t.name, [IDENTITY_LABELS.revision]: t.candidateRevision } as Record<Label, string>;
}

/** GoldenSources on the Kubernetes API (ConfigMaps and discovery.k8s.io/v1 EndpointSlices). */
export function kubeGoldenSources(core: k8s.CoreV1Api, discovery: k8s.DiscoveryV1Api): GoldenSources {
  return {
    async configMapData(namespace, name) {
      try {
        return (await core.readNamespacedConfigMap({ namespace, name })).data ?? {};
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async readyEndpoints(namespace, service) {
      const slices = await discovery.listNamespacedEndpointSlice({ namespace, labelSelector: `kubernetes.io/service-name=${service}` });
      const out: Endpoint[] = [];
      for (const slice of slices.items) {
        const port = (slice.ports ?? []).find((p) => p.name === 'http') ?? slice.ports?.[0];
        if (!port?.port) continue;
        for (const e of slice.endpoints ?? []) {
          // Ready absent means ready (discovery.k8s.io/v1: "nil should be interpreted as true"); terminating ones are not.
          if (e.conditions?.ready === false || e.conditions?.terminating === true) continue;
          const address = e.addresses[0];
          if (address) out.push({ address, port: port.port });
        }
      }
      return out.sort((x, y) => x.address.localeCompare(y.address));
    },
  };
}
