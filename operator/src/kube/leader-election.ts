// Leader election on a coordination.k8s.io Lease (the client-go protocol): the holder renews
// renewTime; another replica takes over once it has seen the same lease record unchanged for
// leaseDuration on its *own* clock (client-go's observedTime rule: clocks of two machines are never
// compared). A leader that has not renewed within renewDeadline (< leaseDuration) stops writing at
// once — a timer, not the renew loop, fences it, so a hung API call cannot keep it writing — and then
// ends the process (as controller-runtime does). So no two replicas ever write at the same time.
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { realClock, type Clock } from './clock.js';
import { isConflict, isNotFound } from './errors.js';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  /** A leader that could not renew for this long steps down. */
  renewDeadlineMs: number;
  retryPeriodMs: number;
  log: Logger;
  /** The renew loop's and the fence's timers, and this replica's own time (tests give a manual clock). */
  clock?: Clock;
}

export class LeaderElector {
  private leading = false;
  private stopped = false;
  private lastRenew = 0;
  /** Cancel the next renewal and the fence. */
  private cancelTimer: (() => void) | undefined;
  private cancelFence: (() => void) | undefined;
  /** The lease record last seen (holder, renewTime, resourceVersion) and when, on this replica's clock. */
  private observed: { record: string; at: number } | undefined;
  private onLost: (() => void) | undefined;

  private readonly clock: Clock;

  constructor(
    private readonly api: k8s.CoordinationV1Api,
    private readonly opts: LeaderElectionOptions,
  ) {
    this.clock = opts.clock ?? realClock;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** True while this replica leads and renewed within renewDeadline: the fence every write checks. */
  canWrite(): boolean {
    return this.leading && this.now().getTime() - this.lastRenew < this.opts.renewDeadlineMs;
  }

  /** Campaigns until elected, then keeps renewing. `onLost` runs if leadership is lost. */
  async run(onElected: () => void, onLost: () => void): Promise<void> {
    this.onLost = onLost;
    const tick = async () => {
      if (this.stopped) return;
      // The deadline counts from when the renewal was sent: observers start their clock later than that.
      const attemptAt = this.now().getTime();
      let ok = false;
      try {
        ok = await this.tryAcquireOrRenew();
      } catch (err) {
        this.opts.log.warn({ err: String(err) }, 'lease update failed');
      }
      const now = this.now().getTime();
      if (ok) {
        this.lastRenew = attemptAt;
        this.armFence();
        if (!this.leading) {
          this.leading = true;
          this.opts.log.info({ lease: `${this.opts.namespace}/${this.opts.name}`, identity: this.opts.identity }, 'became leader');
          onElected();
        }
      } else if (this.leading && now - this.lastRenew >= this.opts.renewDeadlineMs) {
        this.stepDown();
        return;
      }
      if (!this.leading && this.stopped) return;
      this.cancelTimer = this.clock.schedule(() => void tick(), this.opts.retryPeriodMs);
    };
    await tick();
  }

  /** Steps down when renewDeadline passes without a renewal, whatever the renew loop is waiting on. */
  private armFence(): void {
    this.cancelFence?.();
    this.cancelFence = this.clock.schedule(
      () => {
        if (this.leading && !this.canWrite()) this.stepDown();
      },
      Math.max(0, this.lastRenew + this.opts.renewDeadlineMs - this.now().getTime()),
    );
  }

  private stepDown(): void {
    if (!this.leading) return;
    this.leading = false;
    this.stopped = true;
    this.cancelTimer?.();
    this.cancelFence?.();
    this.opts.log.error({ lease: `${this.opts.namespace}/${this.opts.name}` }, 'lost leadership: not renewed within the renew deadline; writes stopped');
    this.onLost?.();
  }

  /** Graceful shutdown: give the lease up so another replica takes over at once. */
  async release(): Promise<void> {
    this.stopped = true;
    this.cancelTimer?.();
    this.cancelFence?.();
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.api.readNamespacedLease({ name: this.opts.name, namespace: this.opts.namespace });
      if (lease.spec?.holderIdentity !== this.opts.identity) return;
      lease.spec = { ...lease.spec, holderIdentity: undefined, leaseDurationSeconds: 1, renewTime: new k8s.V1MicroTime(this.now().getTime()) };
      await this.api.replaceNamespacedLease({ name: this.opts.name, namespace: this.opts.namespace, body: lease });
      this.opts.log.info('released leadership');
    } catch (err) {
      this.opts.log.warn({ err: String(err) }, 'could not release the lease');
    }
  }

  private now(): Date {
    return new Date(this.clock.now());
  }

  async tryAcquireOrRenew(): Promise<boolean> {
    const { name, namespace, identity } = this.opts;
    const now = this.now();
    const micro = new k8s.V1MicroTime(now.getTime());
    const durationS = Math.ceil(this.opts.leaseDurationMs / 1000);
    let lease: k8s.V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.api.createNamespacedLease({
        namespace,
        body: {
          metadata: { name, namespace },
          spec: { holderIdentity: identity, leaseDurationSeconds: durationS, acquireTime: micro, renewTime: micro, leaseTransitions: 0 },
        },
      });
      return true;
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity;
    const record = `${holder ?? ''}|${spec.renewTime ? new Date(spec.renewTime).toISOString() : ''}|${lease.metadata?.resourceVersion ?? ''}`;
    if (this.observed?.record !== record) this.observed = { record, at: now.getTime() };
    const expired = !holder || now.getTime() - this.observed.at >= (spec.leaseDurationSeconds ?? durationS) * 1000;
    if (holder !== identity && !expired) return false;
    lease.spec = {
      ...spec,
      holderIdentity: identity,
      leaseDurationSeconds: durationS,
      renewTime: micro,
      ...(holder !== identity ? { acquireTime: micro, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 } : {}),
    };
    try {
      // resourceVersion in the body makes this a compare-and-swap: two candidates cannot both win.
      await this.api.replaceNamespacedLease({ name, namespace, body: lease });
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }
}
