// Watches one namespace (pods, Services, HTTPRoutes, VirtualServices, ModelRollouts) and feeds every
// change to the InvariantChecker in resourceVersion order, so the invariant is judged at each etcd
// revision instead of on polls that read the route and the pods at different moments.
//
// Why resourceVersion order is a total order here: the test control plane has one etcd and the
// kube-apiserver's watch cache hands out etcd's global revision (mod_revision) as resourceVersion, so
// the resourceVersions of different resources compare as the times of their writes. (Kubernetes calls
// resourceVersion opaque; this relies on the one-etcd setup, not on an API guarantee.)
// Events of different watches reach us with different delays. Live judging (waitUntilHolds,
// violationsSoFar) applies them after a short watermark, in order; one arriving later than that counts
// as outOfOrder. The final report does not depend on the watermark: stop() replays every event
// received, sorted by resourceVersion, through a fresh checker.
import * as k8s from '@kubernetes/client-node';
import { API_VERSION, GROUP, KIND, PLURAL, VERSION } from '../../operator/src/api/index.js';
import { InvariantChecker, countedViolations, type ClusterEvent, type Excuse, type KubeObject, type Violation, type WatchedKind } from './invariant.js';
import { isNotFound } from '../../operator/src/kube/errors.js';

export interface InvariantSamplerOptions {
  namespace: string;
  /** ModelRollout whose managed rule is checked. */
  rollout: string;
  /** How long an event waits for events of other watches with a lower resourceVersion. Default 2000 ms. */
  watermarkMs?: number;
  now?: () => number;
}

export interface InvariantReport {
  /** Every violation seen, excused or not, in start order. */
  violations: Violation[];
  /** The violations that count (not excused, or longer than their grace). */
  counted: Violation[];
  armedAt: number | undefined;
  eventsApplied: number;
  /** Events that reached live judging after a later revision (the watermark was short); the final replay is in order regardless. */
  outOfOrder: number;
  /** Watch failures that may have lost events (a 410 Gone on re-watch, ...). A report with errors proves nothing. */
  errors: string[];
}

interface Resource {
  kind: WatchedKind;
  path: (ns: string) => string;
  list: (kc: k8s.KubeConfig, ns: string) => Promise<ListResponse>;
}

const custom =
  (group: string, version: string, plural: string) =>
  async (kc: k8s.KubeConfig, namespace: string): Promise<ListResponse> =>
    (await kc
      .makeApiClient(k8s.CustomObjectsApi)
      .listNamespacedCustomObject({ group, version, plural, namespace })
      .catch((err: unknown) => {
        // A CRD that is not installed: nothing of that kind can carry traffic.
        if (isNotFound(err)) return { items: [] };
        throw err;
      })) as ListResponse;

const RESOURCES: Resource[] = [
  {
    kind: 'Pod',
    path: (ns) => `/api/v1/namespaces/${ns}/pods`,
    list: async (kc, namespace) => (await kc.makeApiClient(k8s.CoreV1Api).listNamespacedPod({ namespace })) as ListResponse,
  },
  {
    kind: 'Service',
    path: (ns) => `/api/v1/namespaces/${ns}/services`,
    list: async (kc, namespace) => (await kc.makeApiClient(k8s.CoreV1Api).listNamespacedService({ namespace })) as ListResponse,
  },
  {
    kind: 'HTTPRoute',
    path: (ns) => `/apis/gateway.networking.k8s.io/v1/namespaces/${ns}/httproutes`,
    list: custom('gateway.networking.k8s.io', 'v1', 'httproutes'),
  },
  {
    kind: 'VirtualService',
    path: (ns) => `/apis/networking.istio.io/v1/namespaces/${ns}/virtualservices`,
    list: custom('networking.istio.io', 'v1', 'virtualservices'),
  },
  { kind: KIND, path: (ns) => `/apis/${API_VERSION}/namespaces/${ns}/${PLURAL}`, list: custom(GROUP, VERSION, PLURAL) },
];

interface ListResponse {
  metadata?: { resourceVersion?: string };
  items?: KubeObject[];
}

/**
 * Start with InvariantSampler.start() before the rollout is created (or at any time: the check arms
 * when the invariant first holds), tell it about world events with excuse(), and stop() for the report.
 */
export class InvariantSampler {
  readonly checker: InvariantChecker;
  private readonly buffer: ClusterEvent[] = [];
  /** Everything received, in arrival order: the initial lists, then the watch events. */
  private readonly received: ClusterEvent[] = [];
  private readonly excuses: Excuse[] = [];
  private readonly aborts = new Set<AbortController>();
  private readonly errors: string[] = [];
  private readonly watermarkMs: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Events at or below this revision were part of the initial lists: applied, not judged. */
  private seededUpTo = 0n;

  private constructor(
    private readonly kc: k8s.KubeConfig,
    private readonly opts: InvariantSamplerOptions,
  ) {
    this.checker = new InvariantChecker(opts.rollout);
    this.watermarkMs = opts.watermarkMs ?? 2000;
    this.now = opts.now ?? Date.now;
  }

  /** Lists the five resources, starts their watches from the lists' resourceVersions, and starts judging. */
  static async start(kc: k8s.KubeConfig, opts: InvariantSamplerOptions): Promise<InvariantSampler> {
    const s = new InvariantSampler(kc, opts);
    await s.begin();
    return s;
  }

  private async begin(): Promise<void> {
    const lists = await Promise.all(RESOURCES.map(async (r) => ({ r, list: await listWithRetry(() => r.list(this.kc, this.opts.namespace)) })));
    const seed: ClusterEvent[] = [];
    for (const { r, list } of lists) {
      const rv = BigInt(list.metadata?.resourceVersion ?? '0');
      if (rv > this.seededUpTo) this.seededUpTo = rv;
      for (const object of list.items ?? [])
        seed.push({ kind: r.kind, type: 'ADDED', object, resourceVersion: BigInt(object.metadata?.resourceVersion ?? '0'), at: this.now() });
    }
    seed.sort(byRevision);
    this.received.push(...seed);
    for (const e of seed) this.checker.seed(e);
    for (const { r, list } of lists) this.watch(r.kind, r.path(this.opts.namespace), list.metadata?.resourceVersion ?? '0');
    this.timer = setInterval(() => this.drain(this.now() - this.watermarkMs), 100);
  }

  private watch(kind: WatchedKind, path: string, fromRv: string): void {
    if (this.stopped) return;
    let lastRv = fromRv;
    const onEvent = (type: string, object: KubeObject) => {
      const rv = object.metadata?.resourceVersion;
      if (rv) lastRv = rv;
      if (type === 'BOOKMARK' || type === 'ERROR' || !rv) {
        if (type === 'ERROR') this.errors.push(`${kind} watch error: ${JSON.stringify(object).slice(0, 300)}`);
        return;
      }
      const e: ClusterEvent = { kind, type: type as ClusterEvent['type'], object, resourceVersion: BigInt(rv), at: this.now() };
      this.buffer.push(e);
      this.received.push(e);
    };
    const onDone = (err: unknown) => {
      if (this.stopped) return;
      if (err) this.errors.push(`${kind} watch ended: ${String(err)}; re-watching from ${lastRv}`);
      // A re-watch from the last revision seen loses nothing unless etcd compacted it (then ERROR 410 is recorded above).
      setTimeout(() => this.watch(kind, path, lastRv), 100);
    };
    void new k8s.Watch(this.kc).watch(path, { resourceVersion: lastRv, allowWatchBookmarks: true }, onEvent, onDone).then(
      (ac) => {
        if (this.stopped) ac.abort();
        else this.aborts.add(ac);
      },
      (err: unknown) => onDone(err),
    );
  }

  /** Applies, in revision order, every buffered event that arrived at or before `until`. */
  private drain(until: number): void {
    const ready = this.buffer.filter((e) => e.at <= until).sort(byRevision);
    if (ready.length === 0) return;
    const keep = this.buffer.filter((e) => e.at > until);
    this.buffer.length = 0;
    this.buffer.push(...keep);
    for (const e of ready) {
      if (e.resourceVersion <= this.seededUpTo) this.checker.seed(e);
      else this.checker.apply(e);
    }
  }

  /**
   * Says the world (not the operator) took pods from `services` at `opts.from` (ms since epoch, default
   * now): a shortfall of theirs that starts within `opts.startWithinMs` (default graceMs) after it and
   * ends within `graceMs` after it is excused; one that lasts longer counts (outlastedGrace).
   */
  excuse(services: string[], graceMs: number, reason: string, opts: { from?: number; startWithinMs?: number } = {}): void {
    const x: Excuse = {
      services,
      graceMs,
      reason,
      from: opts.from ?? this.now(),
      ...(opts.startWithinMs !== undefined ? { startWithinMs: opts.startWithinMs } : {}),
    };
    this.checker.excuse(x);
    this.excuses.push(x);
  }

  /**
   * Resolves once the invariant has held for `holdMs` in a row (as of the events applied, one watermark
   * behind), or after `timeoutMs`; returns whether it held.
   */
  async waitUntilHolds(holdMs: number, timeoutMs: number): Promise<boolean> {
    const deadline = this.now() + timeoutMs;
    let since: number | undefined;
    while (this.now() < deadline) {
      if (!this.checker.holds()) since = undefined;
      else if ((since ??= this.now()) + holdMs <= this.now()) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  }

  /** Violations judged so far (events younger than the watermark not yet applied). */
  violationsSoFar(): Violation[] {
    return this.checker.violations();
  }

  private replay(): InvariantChecker {
    return replayInOrder(this.opts.rollout, this.received, this.seededUpTo, this.excuses);
  }

  /** Waits one watermark, applies what is left, stops the watches and returns the report. */
  async stop(): Promise<InvariantReport> {
    await new Promise((r) => setTimeout(r, this.watermarkMs + 200));
    this.stopped = true;
    clearInterval(this.timer);
    for (const ac of this.aborts) ac.abort();
    this.drain(Number.POSITIVE_INFINITY);
    const final = this.replay();
    const violations = final.finish(this.now());
    return {
      violations,
      counted: countedViolations(violations),
      armedAt: final.armedAt,
      eventsApplied: final.eventsApplied,
      outOfOrder: this.checker.outOfOrder,
      errors: [...this.errors],
    };
  }
}

/** A CRD's storage answers 429 "storage is (re)initializing" for a moment after it is installed; retry that for up to 30 s. */
async function listWithRetry(list: () => Promise<ListResponse>): Promise<ListResponse> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return await list();
    } catch (err) {
      const code = (err as k8s.ApiException<unknown>).code;
      if ((code !== 429 && code !== 503) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/**
 * Every event received, in resourceVersion order, through a fresh checker. An event's time is the
 * earliest arrival among it and all later revisions (an event that arrived late happened no later than
 * the first later one we saw), so times never run backwards.
 */
export function replayInOrder(rollout: string, received: ClusterEvent[], seededUpTo: bigint, excuses: Excuse[]): InvariantChecker {
  const ordered = [...received].sort(byRevision);
  let earliest = Number.POSITIVE_INFINITY;
  for (let i = ordered.length - 1; i >= 0; i--) {
    earliest = Math.min(earliest, ordered[i]!.at);
    ordered[i] = { ...ordered[i]!, at: earliest };
  }
  const checker = new InvariantChecker(rollout);
  for (const x of excuses) checker.excuse(x);
  for (const e of ordered) {
    if (e.resourceVersion <= seededUpTo) checker.seed(e);
    else checker.apply(e);
  }
  return checker;
}

function byRevision(a: ClusterEvent, b: ClusterEvent): number {
  return a.resourceVersion < b.resourceVersion ? -1 : a.resourceVersion > b.resourceVersion ? 1 : 0;
}
