import * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ResilientInformer } from './informer.js';
import { ManualClock, settle } from './manual-clock.test-support.js';

type Handler = (arg?: unknown) => void;

/** A stand-in for client-node's ListWatch: records start/stop, lets the test fire its callbacks. */
class FakeInformer {
  starts = 0;
  stops = 0;
  failStarts = 0;
  handlers: Record<string, Handler[]> = {};
  on(verb: string, cb: Handler) {
    (this.handlers[verb] ??= []).push(cb);
  }
  off() {}
  fire(verb: string, arg?: unknown) {
    for (const h of this.handlers[verb] ?? []) h(arg);
  }
  async start() {
    this.starts++;
    if (this.failStarts-- > 0) throw Object.assign(new Error('boom'), { code: 500 });
    this.fire('connect');
  }
  async stop() {
    this.stops++;
  }
  get() {
    return undefined;
  }
  list() {
    return [];
  }
}

function make(fake: FakeInformer, extra: { maxQuietMs?: number; optional?: boolean; clock?: ManualClock } = {}) {
  return new ResilientInformer<k8s.KubernetesObject>(new k8s.KubeConfig(), {
    kind: 'Thing',
    path: '/x',
    list: async () => ({ items: [] }) as never,
    log: pino({ level: 'silent' }),
    onChange: () => undefined,
    makeInformer: () => fake as never,
    maxBackoffMs: 20,
    ...extra,
  });
}

describe('ResilientInformer', () => {
  it('retries the first list until it succeeds, with growing backoff', async () => {
    const clock = new ManualClock();
    const fake = new FakeInformer();
    fake.failStarts = 2;
    const inf = make(fake, { clock });
    const started = inf.start();
    await settle();
    expect(fake.starts).toBe(1);
    expect(clock.delays).toEqual([20]);
    await clock.advance(20);
    expect(fake.starts).toBe(2);
    await clock.advance(20);
    await started;
    expect(fake.starts).toBe(3);
    expect(inf.synced).toBe(true);
    await inf.stop();
  });

  it('restarts after a watch error (client-node stops for good on anything but 410)', async () => {
    const clock = new ManualClock();
    const fake = new FakeInformer();
    const inf = make(fake, { clock });
    await inf.start();
    fake.fire('error', Object.assign(new Error('connection reset'), { code: 'ECONNRESET' }));
    await clock.advance(19);
    expect(fake.starts).toBe(1);
    await clock.advance(1);
    expect(fake.starts).toBe(2);
    await inf.stop();
  });

  it('restarts a watch that went silent, and leaves a lively one alone', async () => {
    const clock = new ManualClock();
    const quiet = new FakeInformer();
    const q = make(quiet, { maxQuietMs: 60_000, clock });
    await q.start();
    // Checked every 15 s: not at 45 s of silence, restarted at 60 s (which relists), and again a minute later.
    await clock.advance(45_000);
    expect(q.quietRestarts).toBe(0);
    await clock.advance(15_000);
    expect(q.quietRestarts).toBe(1);
    expect(quiet.stops).toBe(1);
    expect(quiet.starts).toBe(2);
    await clock.advance(60_000);
    expect(q.quietRestarts).toBe(2);
    await q.stop();

    const lively = new FakeInformer();
    const l = make(lively, { maxQuietMs: 60_000, clock });
    await l.start();
    for (let i = 0; i < 40; i++) {
      lively.fire('update', { metadata: { name: 'a' } });
      await clock.advance(10_000);
    }
    expect(l.quietRestarts).toBe(0);
    await l.stop();
  });

  it('counts a resource the cluster does not serve as synced (optional CRDs)', async () => {
    const fake = new FakeInformer();
    fake.start = async () => {
      fake.starts++;
      throw Object.assign(new Error('not found'), { code: 404 });
    };
    const inf = make(fake, { optional: true });
    await inf.start();
    expect(inf.synced).toBe(true);
    await inf.stop();
  });
});
