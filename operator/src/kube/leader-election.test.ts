import type * as k8s from '@kubernetes/client-node';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { LeaderElector } from './leader-election.js';
import { ManualClock } from './manual-clock.test-support.js';

/** A Lease store with the API server's compare-and-swap on resourceVersion; `hang` makes calls never answer. */
class FakeLeases {
  lease: k8s.V1Lease | undefined;
  rv = 0;
  hang = false;
  private check(): Promise<void> {
    return this.hang ? new Promise(() => {}) : Promise.resolve();
  }
  async readNamespacedLease(): Promise<k8s.V1Lease> {
    await this.check();
    if (!this.lease) throw Object.assign(new Error('not found'), { code: 404 });
    return structuredClone(this.lease);
  }
  async createNamespacedLease({ body }: { body: k8s.V1Lease }): Promise<k8s.V1Lease> {
    await this.check();
    this.lease = { ...structuredClone(body), metadata: { ...body.metadata, resourceVersion: String(++this.rv) } };
    return this.lease;
  }
  async replaceNamespacedLease({ body }: { body: k8s.V1Lease }): Promise<k8s.V1Lease> {
    await this.check();
    if (body.metadata?.resourceVersion !== this.lease?.metadata?.resourceVersion) throw Object.assign(new Error('conflict'), { code: 409 });
    this.lease = { ...structuredClone(body), metadata: { ...body.metadata, resourceVersion: String(++this.rv) } };
    return this.lease;
  }
}

const log = pino({ level: 'silent' });
const opts = { namespace: 'ns', name: 'lease', leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, log };

describe('LeaderElector', () => {
  it('judges expiry on its own clock: a renewTime far in the past (clock skew) is not expiry until the record stays unchanged for leaseDuration', async () => {
    const api = new FakeLeases();
    // The holder's clock is an hour behind ours: its renewTime looks ancient.
    api.lease = {
      metadata: { name: 'lease', resourceVersion: '1' },
      spec: { holderIdentity: 'a', leaseDurationSeconds: 15, renewTime: new Date(Date.now() - 3_600_000) as never },
    };
    const clock = new ManualClock();
    const b = new LeaderElector(api as never, { ...opts, identity: 'b', clock });
    expect(await b.tryAcquireOrRenew()).toBe(false);
    await clock.advance(14_000);
    expect(await b.tryAcquireOrRenew()).toBe(false);
    // The holder renews (a new record): b's clock starts again.
    api.lease.spec!.renewTime = new Date(Date.now() - 3_590_000) as never;
    api.lease.metadata!.resourceVersion = '2';
    await clock.advance(5_000);
    expect(await b.tryAcquireOrRenew()).toBe(false);
    await clock.advance(14_000);
    expect(await b.tryAcquireOrRenew()).toBe(false);
    await clock.advance(1_000);
    expect(await b.tryAcquireOrRenew()).toBe(true);
    expect(api.lease.spec?.holderIdentity).toBe('b');
  });

  it('a leader whose renewals hang stops writing at renewDeadline, before anyone else may acquire', async () => {
    const clock = new ManualClock();
    const api = new FakeLeases();
    const a = new LeaderElector(api as never, { ...opts, identity: 'a', clock });
    let lost = 0;
    await a.run(
      () => {},
      () => lost++,
    );
    expect(a.canWrite()).toBe(true);
    api.hang = true;
    await clock.advance(9_000);
    expect(a.canWrite()).toBe(true);
    await clock.advance(1_100);
    expect(a.canWrite()).toBe(false);
    expect(a.isLeader).toBe(false);
    expect(lost).toBe(1);
    // Another replica, watching the same record on its own clock, may take over only after leaseDuration (15 s > 10 s).
    api.hang = false;
    const b = new LeaderElector(api as never, { ...opts, identity: 'b', clock });
    expect(await b.tryAcquireOrRenew()).toBe(false);
    await clock.advance(15_000);
    expect(await b.tryAcquireOrRenew()).toBe(true);
  });
});
