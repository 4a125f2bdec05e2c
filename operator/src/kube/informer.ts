// A self-healing informer: client-node's ListWatch relists on 410 but stops for good on any other
// watch error, so this wrapper restarts it with capped backoff and reports whether it is synced.
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { realClock, type Clock } from './clock.js';
import { isNotFound } from './errors.js';

export interface InformerOptions<T extends k8s.KubernetesObject> {
  kind: string;
  path: string;
  list: () => Promise<k8s.KubernetesListObject<T>>;
  labelSelector?: string;
  log: Logger;
  /** Called on add, update and delete with the object concerned. */
  onChange: (obj: T, verb: 'add' | 'update' | 'delete') => void;
  maxBackoffMs?: number;
  /** The resource may not exist in this cluster (a CRD not installed): count as synced and keep trying. */
  optional?: boolean;
  /**
   * A watch can die without a word (a half-open TCP connection). With no event and no reconnect for this
   * long the informer is restarted, which relists. Default 10 minutes; the API server itself ends
   * watches every 30–60 minutes, so a live quiet watch costs at most a few relists an hour.
   */
  maxQuietMs?: number;
  /** Default: the real clock. */
  clock?: Clock;
  /** For tests: how to build the underlying informer. */
  makeInformer?: (
    kc: k8s.KubeConfig,
    path: string,
    list: () => Promise<k8s.KubernetesListObject<T>>,
    labelSelector?: string,
  ) => k8s.Informer<T> & k8s.ObjectCache<T>;
}

export class ResilientInformer<T extends k8s.KubernetesObject> {
  private readonly informer: k8s.Informer<T> & k8s.ObjectCache<T>;
  private stopped = false;
  private failures = 0;
  private readonly clock: Clock;
  private cancelRetry: (() => void) | undefined;
  private cancelQuietCheck: (() => void) | undefined;
  private lastActivity: number;
  synced = false;
  /** How many times the quiet-watch check restarted this informer. */
  quietRestarts = 0;

  constructor(
    kc: k8s.KubeConfig,
    private readonly opts: InformerOptions<T>,
  ) {
    this.clock = opts.clock ?? realClock;
    this.lastActivity = this.clock.now();
    this.informer = (opts.makeInformer ?? k8s.makeInformer)(kc, opts.path, opts.list, opts.labelSelector);
    const seen = () => {
      this.lastActivity = this.clock.now();
    };
    this.informer.on('add', (o) => (seen(), opts.onChange(o, 'add')));
    this.informer.on('update', (o) => (seen(), opts.onChange(o, 'update')));
    this.informer.on('delete', (o) => (seen(), opts.onChange(o, 'delete')));
    this.informer.on('connect', () => {
      seen();
      this.failures = 0;
    });
    this.informer.on('error', (err) => (seen(), this.restartLater(err)));
  }

  /** Every quarter of maxQuietMs (10 ms to 30 s): a watch with no event or reconnect for maxQuietMs is restarted. */
  private watchForSilence(): void {
    const maxQuiet = this.opts.maxQuietMs ?? 600_000;
    const every = Math.max(10, Math.min(maxQuiet / 4, 30_000));
    const check = () => {
      if (this.stopped) return;
      if (this.clock.now() - this.lastActivity >= maxQuiet) {
        this.quietRestarts++;
        this.lastActivity = this.clock.now();
        this.opts.log.warn({ kind: this.opts.kind, quietMs: maxQuiet }, 'watch silent too long; restarting informer');
        void this.informer
          .stop()
          .then(() => this.informer.start())
          .catch((e: unknown) => this.restartLater(e));
      }
      this.cancelQuietCheck = this.clock.schedule(check, every);
    };
    this.cancelQuietCheck = this.clock.schedule(check, every);
  }

  get kind(): string {
    return this.opts.kind;
  }

  /** Resolves after the first list (the cache is complete); failures before that are retried too. */
  async start(): Promise<void> {
    for (;;) {
      try {
        await this.informer.start();
        this.synced = true;
        this.lastActivity = this.clock.now();
        this.watchForSilence();
        return;
      } catch (err) {
        if (this.stopped) return;
        if (this.opts.optional && isNotFound(err)) {
          this.synced = true;
          this.opts.log.info({ kind: this.opts.kind }, 'resource not served by this cluster; will look again');
          this.restartLater(err);
          return;
        }
        const delay = this.backoff();
        this.opts.log.warn({ kind: this.opts.kind, err: String(err), retryInMs: delay }, 'informer list failed; retrying');
        await new Promise<void>((r) => this.clock.schedule(r, delay));
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelRetry?.();
    this.cancelQuietCheck?.();
    await this.informer.stop();
  }

  list(namespace?: string): readonly T[] {
    return this.informer.list(namespace);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.informer.get(name, namespace);
  }

  private restartLater(err: unknown): void {
    if (this.stopped || (err as Error | undefined)?.name === 'AbortError') return;
    const delay = this.backoff();
    this.opts.log.warn({ kind: this.opts.kind, err: String(err), retryInMs: delay }, 'watch failed; restarting informer');
    this.cancelRetry = this.clock.schedule(() => {
      if (this.stopped) return;
      this.informer.start().then(
        () => this.opts.log.info({ kind: this.opts.kind }, 'informer restarted'),
        (e: unknown) => this.restartLater(e),
      );
    }, delay);
  }

  private backoff(): number {
    this.failures++;
    return Math.min(this.opts.maxBackoffMs ?? 30_000, 250 * 2 ** (this.failures - 1));
  }
}
