// Wires the caches, the work queue and the reconciler together.
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { EventRecorder } from '../kube/events.js';
import { WorkQueue } from '../kube/work-queue.js';
import { createMetrics, type OperatorMetrics } from '../telemetry/metrics.js';
import { ClusterCache } from './cluster-cache.js';
import type { AnalysisDefaults } from '../analysis/spec.js';
import { AnalysisRunner } from './analysis-runner.js';
import { GoldenProber, kubeGoldenSources } from './golden-prober.js';
import { Reconciler } from './reconciler.js';
import { StyleController } from './style-controller.js';
import type { Notifier } from '../notify/notifier.js';
import { GateCaller } from '../webhooks/gate-caller.js';

export interface ManagerOptions {
  kc: k8s.KubeConfig;
  log: Logger;
  workers: number;
  namespace?: string;
  now?: () => Date;
  analysisDefaults?: AnalysisDefaults;
  /** Leader fencing (LeaderElector.canWrite); absent when leader election is off. */
  canWrite?: () => boolean;
  notifier?: Notifier;
}

export class Manager {
  readonly cache: ClusterCache;
  readonly queue: WorkQueue;
  readonly metrics: OperatorMetrics;
  private readonly golden: GoldenProber;
  /** StyleRollouts (ADR 0005): their own informer and queue, the same analysis runner and HTTPRoute cache. */
  readonly styles: StyleController;
  private running = false;

  constructor(opts: ManagerOptions) {
    const { kc, log } = opts;
    this.cache = new ClusterCache(kc, log, (key) => this.queue.add(key), opts.namespace);
    this.metrics = createMetrics({
      queueDepth: () => this.queue.depth,
      phases: () => {
        const counts: Record<string, number> = {};
        for (const ro of this.cache.rollouts.list()) {
          const phase = (ro as { status?: { phase?: string } }).status?.phase ?? 'Unknown';
          counts[phase] = (counts[phase] ?? 0) + 1;
        }
        return counts;
      },
    });
    const core = kc.makeApiClient(k8s.CoreV1Api);
    this.golden = new GoldenProber({
      sources: kubeGoldenSources(core, kc.makeApiClient(k8s.DiscoveryV1Api)),
      registry: this.metrics.registry,
      log,
      canProbe: opts.canWrite,
    });
    const events = new EventRecorder(core, 'modelrollout-operator', opts.now ?? (() => new Date()));
    const analysis = new AnalysisRunner({ core, cache: this.cache, defaults: opts.analysisDefaults, golden: this.golden });
    this.styles = new StyleController({
      kc,
      log,
      workers: opts.workers,
      namespace: opts.namespace,
      now: opts.now ?? (() => new Date()),
      analysis,
      analysisDefaults: opts.analysisDefaults,
      events,
      routes: this.cache.routes.get('gatewayAPI'),
      canWrite: opts.canWrite,
      notifier: opts.notifier,
    });
    const reconciler = new Reconciler({
      apps: kc.makeApiClient(k8s.AppsV1Api),
      core,
      custom: kc.makeApiClient(k8s.CustomObjectsApi),
      cache: this.cache,
      events,
      metrics: this.metrics,
      log,
      now: opts.now ?? (() => new Date()),
      analysis,
      analysisDefaults: opts.analysisDefaults,
      canWrite: opts.canWrite,
      notifier: opts.notifier,
      gates: new GateCaller({ onAnswer: (key) => this.queue.add(key), now: opts.now }),
    });
    this.queue = new WorkQueue((key) => reconciler.reconcile(key), {
      workers: opts.workers,
      onError: (key, err, retryInMs) =>
        log.error(
          { rollout: key, err: errorDetail(err), retryInMs },
          retryInMs === undefined ? 'reconcile failed; waiting for the next change' : 'reconcile failed; retrying',
        ),
    });
  }

  /** Fills the caches (a standby replica keeps them warm for a quick takeover). */
  async startCaches(): Promise<void> {
    await Promise.all([this.cache.start(), this.styles.informer.start()]);
    this.running = true;
  }

  /** Starts reconciling; only the leader does. */
  startWorkers(): void {
    this.queue.start();
    this.styles.queue.start();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.golden.stopAll();
    await Promise.all([this.queue.stop(), this.styles.queue.stop()]);
    await Promise.all([this.cache.stop(), this.styles.informer.stop()]);
  }

  get ready(): boolean {
    return this.running && this.cache.synced && this.styles.informer.synced;
  }
}

function errorDetail(err: unknown): unknown {
  const e = err as k8s.ApiException<unknown> & Error;
  return e?.code !== undefined
    ? { code: e.code, body: typeof e.body === 'string' ? e.body.slice(0, 500) : e.body, message: e.message?.slice(0, 300) }
    : String(err);
}
