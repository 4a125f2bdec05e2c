// A self-healing informer: client-node's ListWatch relists on 410 but stops for good on any other
// watch error, so this wrapper restarts it with capped backoff and reports whether it is synced.
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';

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
}

export class ResilientInformer<T extends k8s.KubernetesObject> {
  private readonly informer: k8s.Informer<T> & k8s.ObjectCache<T>;
  private stopped = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  synced = false;

  constructor(kc: k8s.KubeConfig, private readonly opts: InformerOptions<T>) {
    this.informer = k8s.makeInformer<T>(kc, opts.path, opts.list, opts.labelSelector);
    this.informer.on('add', (o) => opts.onChange(o, 'add'));
    this.informer.on('update', (o) => opts.onChange(o, 'update'));
    this.informer.on('delete', (o) => opts.onChange(o, 'delete'));
    this.informer.on('connect', () => {
      this.failures = 0;
    });
    this.informer.on('error', (err) => this.restartLater(err));
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
        return;
      } catch (err) {
        if (this.stopped) return;
        if (this.opts.optional && (err as { code?: number }).code === 404) {
          this.synced = true;
          this.opts.log.info({ kind: this.opts.kind }, 'resource not served by this cluster; will look again');
          this.restartLater(err);
          return;
        }
        const delay = this.backoff();
        this.opts.log.warn({ kind: this.opts.kind, err: String(err), retryInMs: delay }, 'informer list failed; retrying');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
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
    this.retryTimer = setTimeout(() => {
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
