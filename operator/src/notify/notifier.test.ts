import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { StyleHistoryEntry } from '../rollout/style-types.js';
import type { HistoryEntry } from '../rollout/types.js';
import { eventOf, eventOfStyle, Notifier, slackText, verdictReached, type RolloutNotification } from './notifier.js';

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A real HTTP receiver on 127.0.0.1 that answers each request with the next status of `statuses` (then 200). */
async function receiver(statuses: number[] = [], delayMs = 0): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body });
      setTimeout(() => res.writeHead(statuses.shift() ?? 200).end(), delayMs);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const quiet = { warn: () => undefined, debug: () => undefined };
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

const entry = (phase: HistoryEntry['phase'], reason: string, extra: Partial<HistoryEntry> = {}): HistoryEntry => ({
  time: '2026-12-01T03:30:00Z',
  phase,
  reason,
  message: `${reason} happened`,
  ...extra,
});

describe('notifications', () => {
  it('tells started, step passed, paused, promoted, rolled back, aborted and a gate hold apart, and nothing else', () => {
    expect(eventOf(entry('Progressing', 'RolloutStarted'))).toBe('started');
    expect(eventOf(entry('Shadowing', 'ShadowStarted'))).toBe('shadow-started');
    expect(eventOf(entry('Progressing', 'StepPassed'))).toBe('step-passed');
    expect(eventOf(entry('Paused', 'ManualGate'))).toBe('paused');
    expect(eventOf(entry('Paused', 'AnalysisPaused'))).toBe('paused');
    expect(eventOf(entry('Healthy', 'Promoted'))).toBe('promoted');
    expect(eventOf(entry('RolledBack', 'error-rate'))).toBe('rolled-back');
    expect(eventOf(entry('Aborted', 'AbortRequested'))).toBe('aborted');
    expect(eventOf(entry('Healthy', 'Settled'))).toBeUndefined();
    expect(eventOf(entry('Invalid', 'InvalidSpec'))).toBeUndefined();
    expect(eventOf(entry('Progressing', 'Step2'))).toBeUndefined();
    expect(eventOf(entry('Progressing', 'WebhookGateHeld'))).toBe('gate-held');
    expect(eventOf(entry('Progressing', 'WebhookGateOpened'))).toBeUndefined();
  });

  it('posts the JSON body and a Slack text, signed with HMAC-SHA256 of the body', async () => {
    const hook = await receiver();
    const slack = await receiver();
    closers.push(hook.close, slack.close);
    const n = new Notifier({ webhookUrl: `${hook.url}/hook`, slackUrl: `${slack.url}/services/T/B/x`, secret: 's3cret', log: quiet });
    n.notifyHistory({ namespace: 'ml', name: 't2v', stableRevision: 'r1', candidateRevision: 'r2' }, [
      entry('Healthy', 'Settled'),
      entry('RolledBack', 'error-rate', { weight: 5, message: 'error-rate 0.2 > 0.05' }),
    ]);
    await n.idle();
    expect(hook.received).toHaveLength(1);
    const body = JSON.parse(hook.received[0]!.body) as RolloutNotification;
    expect(body).toEqual({
      apiVersion: 'modelrollout.dev/notification/v1',
      kind: 'ModelRollout',
      event: 'rolled-back',
      namespace: 'ml',
      name: 't2v',
      phase: 'RolledBack',
      reason: 'error-rate',
      message: 'error-rate 0.2 > 0.05',
      time: '2026-12-01T03:30:00Z',
      weight: 5,
      stableRevision: 'r1',
      candidateRevision: 'r2',
    });
    const expected = `sha256=${crypto.createHmac('sha256', 's3cret').update(hook.received[0]!.body).digest('hex')}`;
    expect(hook.received[0]!.headers['x-modelrollout-signature']).toBe(expected);
    expect(JSON.parse(slack.received[0]!.body)).toEqual({ text: slackText(body) });
    expect(slackText(body)).toBe(':rotating_light: ModelRollout ml/t2v rolled-back at 5 %: error-rate — error-rate 0.2 > 0.05');
  });

  it("tells a StyleRollout's started, paused, promoted and rolled back (not a rollback kept after a spec fix), with its versions as pins", async () => {
    const hook = await receiver();
    closers.push(hook.close);
    const n = new Notifier({ webhookUrl: hook.url, log: quiet });
    const style = (phase: StyleHistoryEntry['phase'], reason: string, weight?: number): StyleHistoryEntry => ({
      time: '2026-12-01T06:30:00Z',
      phase,
      reason,
      message: `${reason} happened`,
      ...(weight === undefined ? {} : { weight }),
    });
    expect(eventOfStyle(style('Initializing', 'Initializing'))).toBeUndefined();
    expect(eventOfStyle(style('Healthy', 'Initialized'))).toBeUndefined();
    expect(eventOfStyle(style('RolledBack', 'SpecFixed'))).toBeUndefined();
    expect(eventOfStyle(style('Progressing', 'SpecFixed'))).toBeUndefined();
    n.notifyStyleHistory({ namespace: 'ml', name: 'ink-wash', style: 'ink-wash', stableVersion: 'v1', candidateVersion: 'v2' }, [
      style('Progressing', 'RolloutStarted'),
      style('Paused', 'AnalysisPaused', 10),
      style('RolledBack', 'AdapterLoadFailed'),
    ]);
    n.notifyStyleHistory({ namespace: 'ml', name: 'ink-wash', style: 'ink-wash', stableVersion: 'v2' }, [style('Healthy', 'Promoted')]);
    await n.idle();
    // Two are delivered at a time: the order they arrive in is not the order they were sent in.
    const order = ['RolloutStarted', 'AnalysisPaused', 'AdapterLoadFailed', 'Promoted'];
    const bodies = hook.received.map((r) => JSON.parse(r.body) as RolloutNotification).sort((a, b) => order.indexOf(a.reason) - order.indexOf(b.reason));
    expect(bodies.map((b) => [b.kind, b.event, b.reason, b.stableVersion, b.candidateVersion])).toEqual([
      ['StyleRollout', 'started', 'RolloutStarted', 'ink-wash@v1', 'ink-wash@v2'],
      ['StyleRollout', 'paused', 'AnalysisPaused', 'ink-wash@v1', 'ink-wash@v2'],
      ['StyleRollout', 'rolled-back', 'AdapterLoadFailed', 'ink-wash@v1', 'ink-wash@v2'],
      ['StyleRollout', 'promoted', 'Promoted', 'ink-wash@v2', undefined],
    ]);
    expect(bodies[1]!.weight).toBe(10);
    expect(slackText(bodies[3]!)).toBe(':tada: StyleRollout ml/ink-wash promoted: Promoted — Promoted happened');
  });

  it('retries a 5xx and a timeout, gives up on a 4xx at once, and never makes the caller wait', async () => {
    const flaky = await receiver([503, 503]);
    const refusing = await receiver([400]);
    const slow = await receiver([], 400);
    closers.push(flaky.close, refusing.close, slow.close);
    const warnings: string[] = [];
    const log = { warn: (_o: unknown, m: string) => void warnings.push(m), debug: () => undefined };
    const started = performance.now();
    const a = new Notifier({ webhookUrl: flaky.url, log, minRetryMs: 10, attempts: 3 });
    const b = new Notifier({ webhookUrl: refusing.url, log, minRetryMs: 10, attempts: 3 });
    const c = new Notifier({ webhookUrl: slow.url, log, minRetryMs: 10, attempts: 2, timeoutMs: 100 });
    for (const x of [a, b, c]) x.notifyHistory({ namespace: 'ml', name: 't2v' }, [entry('Healthy', 'Promoted')]);
    expect(performance.now() - started).toBeLessThan(50); // queued, not sent inline
    await Promise.all([a.idle(), b.idle(), c.idle()]);
    expect(flaky.received).toHaveLength(3); // 503, 503, 200
    expect(refusing.received).toHaveLength(1); // 400: not tried again
    expect(slow.received).toHaveLength(2); // both tries timed out
    expect(warnings.filter((w) => w === 'notification not delivered')).toHaveLength(2);
  });

  it('does not follow a redirect: a 3xx is not delivery, said once and not tried again', async () => {
    const paths: string[] = [];
    const server = http.createServer((req, res) => {
      paths.push(req.url ?? '');
      req.resume();
      if (req.url === '/hook') res.writeHead(302, { location: '/login' }).end();
      else res.writeHead(200).end('<html>Sign in</html>');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => server.close(() => r())));
    const errors: string[] = [];
    const log = { warn: (o: { err?: string }) => void errors.push(o.err ?? ''), debug: () => undefined };
    const n = new Notifier({ webhookUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, log, minRetryMs: 10, attempts: 3 });
    n.notifyHistory({ namespace: 'ml', name: 't2v' }, [entry('Healthy', 'Promoted')]);
    await n.idle();
    expect(paths).toEqual(['/hook']);
    expect(errors).toEqual([expect.stringContaining('HTTP 302 (redirect to /login not followed)')]);
  });

  it('drops, says so and counts per receiver, beyond the queue cap while a receiver hangs', async () => {
    const hung = await receiver([], 2000);
    closers.push(hung.close);
    const warnings: string[] = [];
    const dropped: string[] = [];
    const n = new Notifier({
      webhookUrl: hung.url,
      log: { warn: (_o: unknown, m: string) => void warnings.push(m), debug: () => undefined },
      maxQueued: 3,
      onDropped: (receiver) => dropped.push(receiver),
      timeoutMs: 50,
      attempts: 1,
    });
    n.notifyHistory(
      { namespace: 'ml', name: 't2v' },
      Array.from({ length: 10 }, () => entry('Progressing', 'StepPassed')),
    );
    expect(warnings.filter((w) => w.startsWith('notification queue full'))).toHaveLength(6); // 1 running (in order), 3 queued
    expect(dropped).toEqual(Array.from({ length: 6 }, () => hung.url));
    await n.idle();
  });

  it('sends nothing when no receiver is configured', async () => {
    const n = new Notifier({ log: quiet });
    expect(n.enabled).toBe(false);
    n.notifyHistory({ namespace: 'ml', name: 't2v' }, [entry('Healthy', 'Promoted')]);
    await n.idle();
  });
});

describe("a rollout's own receivers and the experiment verdict", () => {
  it("tells the global and the rollout's receivers, each signed with its own key, the rollout's filtered by its events", async () => {
    const global = await receiver();
    const own = await receiver();
    closers.push(global.close, own.close);
    const n = new Notifier({ webhookUrl: global.url, secret: 'global-key', log: quiet });
    n.notifyHistory({ namespace: 'ml', name: 't2v' }, [entry('Progressing', 'RolloutStarted'), entry('Healthy', 'Promoted')], {
      webhookUrl: own.url,
      secret: 'own-key',
      events: ['promoted'],
    });
    await n.idle();
    expect(global.received.map((r) => (JSON.parse(r.body) as RolloutNotification).event).sort()).toEqual(['promoted', 'started']);
    expect(own.received.map((r) => (JSON.parse(r.body) as RolloutNotification).event)).toEqual(['promoted']);
    const sig = (key: string, body: string) => `sha256=${crypto.createHmac('sha256', key).update(body).digest('hex')}`;
    expect(own.received[0]!.headers['x-modelrollout-signature']).toBe(sig('own-key', own.received[0]!.body));
    expect(global.received[0]!.headers['x-modelrollout-signature']).toBe(sig('global-key', global.received[0]!.body));
  });

  it('sends experiment-verdict once, when the verdict becomes final, with the goal effect in the body', async () => {
    const hook = await receiver();
    closers.push(hook.close);
    const exp = (verdict: string) =>
      ({
        assignment: {},
        verdict,
        reason: 'goal clip-accept +0.04 (CS [0.01, 0.07])',
        lastLook: '2026-12-01T04:00:00Z',
        metrics: [{ name: 'clip-accept', role: 'goal', control: 0.5, treatment: 0.54, effect: 0.04, cs: [0.01, 0.07], p: 0.003 }],
      }) as never;
    const status = (verdict: string) => ({
      phase: 'Progressing' as const,
      candidate: { revision: 'r2', modelVersion: 'v2' },
      stable: { revision: 'r1', modelVersion: 'v1' },
      weights: { stable: 80, candidate: 20 },
      analysis: { experiment: exp(verdict) } as never,
    });
    expect(verdictReached(status('Inconclusive'), status('Inconclusive'))).toBeUndefined();
    expect(verdictReached(status('Win'), status('Win'))).toBeUndefined();
    const notice = verdictReached(status('Inconclusive'), status('Win'));
    expect(notice).toEqual({
      verdict: 'Win',
      reason: 'goal clip-accept +0.04 (CS [0.01, 0.07])',
      goal: { metric: 'clip-accept', effect: 0.04, cs: [0.01, 0.07], p: 0.003 },
    });
    const n = new Notifier({ webhookUrl: hook.url, log: quiet });
    n.notifyVerdict({ namespace: 'ml', name: 't2v', status: status('Win'), time: '2026-12-01T04:00:01Z' }, notice!);
    await n.idle();
    expect(JSON.parse(hook.received[0]!.body)).toEqual({
      apiVersion: 'modelrollout.dev/notification/v1',
      kind: 'ModelRollout',
      event: 'experiment-verdict',
      namespace: 'ml',
      name: 't2v',
      phase: 'Progressing',
      reason: 'Win',
      message: 'goal clip-accept +0.04 (CS [0.01, 0.07])',
      time: '2026-12-01T04:00:00Z',
      weight: 20,
      stableRevision: 'r1',
      candidateRevision: 'r2',
      experiment: notice,
    });
  });
});
