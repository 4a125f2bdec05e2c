// Stand-in for the inference runtime's /metrics in analysis tests. It follows the pods the operator
// creates (kwok runs no containers) and, for each, exposes what the real runtime would: the same metric
// names and labels (t2v_requests_total by outcome, t2v_request_duration_seconds), zero samples for every
// outcome from the start, and the pod's rollout identity read the way the kubelet would resolve it —
// through the downward-API env the operator put on the serving container. A pod whose template lacks that
// env reports no identity labels, as the real runtime would. Each test says how a pod behaves.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type * as k8s from '@kubernetes/client-node';
import { Counter, Histogram, Registry } from 'prom-client';
import { LABEL_MODEL_NAME, LABEL_NAME } from '../../operator/src/api/index.js';

export interface Behaviour {
  requestsPerSecond: number;
  /** Share of requests that end as server errors (500). */
  errorRate: number;
  /** Latency of each request in seconds (a little jitter is added). */
  latencySeconds: number;
  /** Share of requests refused with 429 (load shedding). */
  overloadRate?: number;
  /** When set, failures land first: the n-th request (1-based) fails iff n ≤ failFirst (deterministic low-rate cases). */
  failFirst?: number;
}

/** What a test may read of a pod to decide its behaviour. */
export interface PodView {
  name: string;
  labels: Record<string, string>;
  /** The serving container's literal env (fault injection settings live here, as in the real runtime). */
  env: Record<string, string>;
  image: string;
}

const OUTCOME_STATUS = { ok: 200, client_error: 400, overloaded: 429, server_error: 500, timeout: 504, cancelled: 499, draining: 503 } as const;
export type Outcome = keyof typeof OUTCOME_STATUS;
/** The env the operator sets through the downward API, and the series labels the runtime turns it into. */
const IDENTITY = {
  MODELROLLOUT_NAMESPACE: 'modelrollout_namespace',
  MODELROLLOUT_NAME: 'modelrollout_name',
  MODELROLLOUT_REVISION: 'modelrollout_revision',
} as const;

interface Source {
  labels: Record<string, string>;
  behaviour: () => Behaviour | undefined;
  carry: number;
  served: number;
  page: Page;
  /**
   * The source's series, their label sets built once. tick() adds to each counter once per outcome, not once per
   * request: prom-client hashes the labels on every call, and at 2,000 pods × 40 req/s per-request calls took most of a core.
   */
  counters: Record<Outcome, Counter.Internal>;
  duration: Histogram.Internal<string> | undefined;
}

/** How the stand-in serves; every field defaults to the behaviour the integration tests rely on. */
export interface StandInOptions {
  /**
   * Metrics pages, each on its own 127.0.0.1 port (`targets`); a followed pod's series live on the page
   * `shardOf(its key, shards)`, static series on the first. Prometheus scrapes targets apart, so N small pages
   * answer inside a scrape timeout that one page of every pod cannot. Default 1 (`target` is the only page).
   */
  shards?: number;
  /** Serve t2v_request_duration_seconds (26 of a pod's 33 series). Default true. */
  latencyHistogram?: boolean;
  /** Keep every served request for served() (at 2,000 pods: 80,000 entries a second, never freed). Default true. */
  keepLog?: boolean;
  /** Take a gone pod's series off the page, as a target that went away, instead of serving their last values. Default false. */
  dropGoneSeries?: boolean;
  /** How often the followed namespaces' pods are listed (ms): a new pod's series appear at most this late. Default 500. */
  podRefreshMs?: number;
}

/** One metrics page: its own registry and server, so it renders only its own pods. */
class Page {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 't2v_requests_total',
    help: 'requests',
    labelNames: ['model_name', 'model_version', 'route', 'outcome', 'status', 'pod', ...Object.values(IDENTITY)],
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 't2v_request_duration_seconds',
    help: 'request duration',
    labelNames: ['model_name', 'model_version', 'route', 'pod', ...Object.values(IDENTITY)],
    buckets: [
      0.05, 0.0625, 0.078, 0.098, 0.122, 0.153, 0.191, 0.238, 0.298, 0.373, 0.466, 0.582, 0.728, 0.909, 1.137, 1.421, 1.776, 2.22, 2.776, 3.47, 5, 10, 30, 60,
    ],
    registers: [this.registry],
  });
  readonly server = http.createServer((req, res) => {
    void this.registry.metrics().then((text) => res.writeHead(200, { 'Content-Type': this.registry.contentType }).end(text));
  });
  target = '';

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()));
    this.target = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    return new Promise<void>((resolve) => (this.server.listening ? this.server.close(() => resolve()) : resolve()));
  }
}

/**
 * The page (0 ≤ i < shards) that serves the series of the source `key` ("pod/<namespace>/<name>"): a stable
 * string hash (FNV-1a), so a pod keeps its page for its whole life and pods spread evenly over the pages.
 */
export function shardOf(key: string, shards: number): number {
  if (!Number.isInteger(shards) || shards < 1) throw new RangeError(`shards ${shards}: a whole number ≥ 1`);
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) % shards;
}

/** One request a followed pod served: when (epoch ms), how it ended, and the pod's revision. */
export interface Served {
  at: number;
  outcome: Outcome;
  revision: string;
}

export class ModelMetricsStandIn {
  private readonly pages: Page[];
  private readonly options: Required<StandInOptions>;
  private readonly sources = new Map<string, Source>();
  private readonly followed = new Map<string, { core: k8s.CoreV1Api; behaviourOf: (pod: PodView) => Behaviour | undefined }>();
  private timer: NodeJS.Timeout | undefined;
  private podTimer: NodeJS.Timeout | undefined;
  private refreshing = false;
  private readonly log = new Map<string, Served[]>();
  /** The first page: with the default single page, the only target. */
  target = '';

  constructor(options: StandInOptions = {}) {
    this.options = { shards: 1, latencyHistogram: true, keepLog: true, dropGoneSeries: false, podRefreshMs: 500, ...options };
    shardOf('', this.options.shards);
    this.pages = Array.from({ length: this.options.shards }, () => new Page());
  }

  /** Every page's host:port, for Prometheus to scrape: one per shard. */
  get targets(): string[] {
    return this.pages.map((p) => p.target);
  }

  /** Requests served by the followed pods of `namespace`, in order (empty with `keepLog: false`). */
  served(namespace: string): Served[] {
    return [...(this.log.get(namespace) ?? [])];
  }

  async start(): Promise<void> {
    for (const page of this.pages) await page.listen();
    this.target = this.pages[0]!.target;
    this.timer = setInterval(() => this.tick(0.1), 100);
    this.podTimer = setInterval(() => void this.refreshPods(), this.options.podRefreshMs);
  }

  /** A source that is no pod (e.g. a warm-up series): fixed labels, no rollout identity; served on the first page. */
  set(model: string, version: string, behaviour: Behaviour): void {
    const key = `static/${model}/${version}`;
    const existing = this.sources.get(key);
    if (existing) existing.behaviour = () => behaviour;
    else this.add(key, this.pages[0]!, { model_name: model, model_version: version, pod: '' }, () => behaviour);
  }

  /**
   * Serve metrics for every running pod of a ModelRollout in `namespace`, as the runtime in it would.
   * `behaviourOf` is asked on every tick, so a test can change a pod's behaviour while it runs.
   */
  follow(core: k8s.CoreV1Api, namespace: string, behaviourOf: (pod: PodView) => Behaviour | undefined): void {
    this.followed.set(namespace, { core, behaviourOf });
  }

  unfollow(namespace: string): void {
    this.followed.delete(namespace);
    this.log.delete(namespace);
    for (const key of [...this.sources.keys()]) if (key.startsWith(`pod/${namespace}/`)) this.drop(key);
  }

  private add(key: string, page: Page, labels: Record<string, string>, behaviour: () => Behaviour | undefined): void {
    const counters = Object.fromEntries(
      Object.entries(OUTCOME_STATUS).map(([outcome, status]) => [
        outcome,
        page.requests.labels({ ...labels, route: 'generate', outcome, status: String(status) }),
      ]),
    ) as Record<Outcome, Counter.Internal>;
    // Every outcome's series exists from the start at 0, as the runtime's do.
    for (const counter of Object.values(counters)) counter.inc(0);
    let duration: Histogram.Internal<string> | undefined;
    if (this.options.latencyHistogram) {
      page.duration.zero({ ...labels, route: 'generate' });
      duration = page.duration.labels({ ...labels, route: 'generate' });
    }
    this.sources.set(key, { labels, behaviour, carry: 0, served: 0, page, counters, duration });
  }

  /** A source stops: its series stay at their last values (stop growing), or leave the page with `dropGoneSeries`. */
  private drop(key: string): void {
    const source = this.sources.get(key);
    if (!source) return;
    this.sources.delete(key);
    if (!this.options.dropGoneSeries) return;
    for (const [outcome, status] of Object.entries(OUTCOME_STATUS))
      source.page.requests.remove({ ...source.labels, route: 'generate', outcome, status: String(status) });
    if (source.duration) source.page.duration.remove({ ...source.labels, route: 'generate' });
  }

  private async refreshPods(): Promise<void> {
    if (this.refreshing) return;
    this.refreshing = true;
    try {
      for (const [namespace, { core, behaviourOf }] of this.followed) {
        const pods = await core.listNamespacedPod({ namespace, labelSelector: LABEL_NAME }).catch(() => undefined);
        if (!pods) continue;
        const live = new Set<string>();
        for (const pod of pods.items) {
          if (pod.status?.phase !== 'Running' || pod.metadata?.deletionTimestamp) continue;
          const key = `pod/${namespace}/${pod.metadata!.name}`;
          live.add(key);
          if (this.sources.has(key)) continue;
          const view = viewOf(pod);
          this.add(
            key,
            this.pages[shardOf(key, this.pages.length)]!,
            { model_name: view.labels[LABEL_MODEL_NAME] ?? '', model_version: view.image.split(':').at(-1) ?? '', pod: view.name, ...identityOf(pod) },
            () => behaviourOf(view),
          );
        }
        // A deleted pod's series stop growing, as a scraped target that went away.
        for (const key of [...this.sources.keys()]) if (key.startsWith(`pod/${namespace}/`) && !live.has(key)) this.drop(key);
      }
    } finally {
      this.refreshing = false;
    }
  }

  private tick(seconds: number): void {
    for (const source of this.sources.values()) {
      const b = source.behaviour();
      if (!b) continue;
      source.carry += b.requestsPerSecond * seconds;
      const n = Math.floor(source.carry);
      source.carry -= n;
      const counts: Partial<Record<Outcome, number>> = {};
      for (let i = 0; i < n; i++) {
        source.served += 1;
        const outcome = outcomeOf(b, source.served);
        counts[outcome] = (counts[outcome] ?? 0) + 1;
        this.record(source, outcome);
        if (outcome !== 'overloaded') source.duration?.observe(b.latencySeconds * (0.9 + 0.2 * Math.random()));
      }
      for (const [outcome, count] of Object.entries(counts)) source.counters[outcome as Outcome].inc(count);
    }
  }

  /** Appends one served request to its namespace's log (keepLog). */
  private record(source: Source, outcome: Outcome): void {
    const namespace = source.labels.modelrollout_namespace;
    if (!this.options.keepLog || !namespace) return;
    let list = this.log.get(namespace);
    if (!list) this.log.set(namespace, (list = []));
    list.push({ at: Date.now(), outcome, revision: source.labels.modelrollout_revision ?? '' });
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.podTimer);
    for (const page of this.pages) await page.close();
  }
}

function outcomeOf(b: Behaviour, n: number): Outcome {
  if (b.failFirst !== undefined) return n <= b.failFirst ? 'server_error' : 'ok';
  const r = Math.random();
  if (r < (b.overloadRate ?? 0)) return 'overloaded';
  return r < (b.overloadRate ?? 0) + b.errorRate ? 'server_error' : 'ok';
}

function viewOf(pod: k8s.V1Pod): PodView {
  const container = pod.spec?.containers[0];
  const env = Object.fromEntries((container?.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
  return { name: pod.metadata!.name!, labels: pod.metadata?.labels ?? {}, env, image: container?.image ?? '' };
}

/** Resolves the identity env as the kubelet would: fieldRef paths into the pod's own labels and namespace. */
function identityOf(pod: k8s.V1Pod): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const e of pod.spec?.containers[0]?.env ?? []) {
    const label = IDENTITY[e.name as keyof typeof IDENTITY];
    const path = e.valueFrom?.fieldRef?.fieldPath;
    if (!label || !path) continue;
    const m = /^metadata\.labels\['(.+)'\]$/.exec(path);
    const value = m ? pod.metadata?.labels?.[m[1]!] : path === 'metadata.namespace' ? pod.metadata?.namespace : undefined;
    if (value) labels[label] = value;
  }
  return labels;
}
