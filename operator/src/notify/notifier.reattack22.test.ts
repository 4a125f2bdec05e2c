// Re-attack on #22's notifications (docs/reattack-22.md): receiver URLs that carry a secret, and many receivers.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { HistoryEntry } from '../rollout/types.js';
import { Notifier } from './notifier.js';

const promoted: HistoryEntry = { time: '2026-12-01T10:00:00Z', phase: 'Healthy', reason: 'Promoted', message: 'promoted' };

/** A logger that keeps every line it is given, as JSON (what a log collector would store). */
function keptLog(): { lines: string[]; warn: (o: object, m: string) => void; debug: (o: object, m: string) => void } {
  const lines: string[] = [];
  const keep = (o: object, m: string) => void lines.push(`${m} ${JSON.stringify(o)}`);
  return { lines, warn: keep, debug: keep };
}

let server: http.Server | undefined;
afterEach(async () => {
  if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
  server = undefined;
});

/** A real receiver on 127.0.0.1 that answers 204 and counts what it got. */
async function receiver(): Promise<{ port: number; got: string[] }> {
  const got: string[] = [];
  server = http.createServer((req, res) => {
    got.push(req.url ?? '');
    req.resume();
    req.on('end', () => res.writeHead(204).end());
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', () => resolve()));
  return { port: (server.address() as AddressInfo).port, got };
}

describe('reattack22: a receiver URL with credentials in it', () => {
  // R3: a per-rollout Secret's webhookUrl with userinfo (https://user:token@hooks.example/…: basic auth, as many
  // receivers take it). Node's fetch refuses such a URL with a TypeError whose message is the whole URL, password
  // included; deliver() logs `err: String(err)` (the url field is redacted, the error is not), so the token lands
  // in the operator's logs on every notification. (And nothing is ever delivered, with no event saying why.)
  it('never writes the password into a log line', async () => {
    const log = keptLog();
    const n = new Notifier({ log, attempts: 1, minRetryMs: 1 });
    n.notifyHistory({ namespace: 'team-a', name: 'a1' }, [promoted], { webhookUrl: 'http://hook-user:s3cr3t-token@127.0.0.1:9/hook' });
    await n.idle();
    expect(log.lines.length).toBeGreaterThan(0);
    expect(log.lines.join('\n')).not.toContain('s3cr3t-token');
  });
});

describe('reattack22: the drop metric label', () => {
  // Held: a path or query token (Slack's, webhook.site's) and userinfo do not reach the label (origin only).
  it.each(['http://127.0.0.1:9/services/T000/B000/s3cr3t-token', 'http://127.0.0.1:9/hook?token=s3cr3t-token', 'http://u:s3cr3t-token@127.0.0.1:9/hook'])(
    'labels drops to %s without its secret',
    async (url) => {
      const labels: string[] = [];
      const n = new Notifier({ log: keptLog(), attempts: 1, minRetryMs: 1, maxQueued: 1, onDropped: (r) => labels.push(r) });
      n.notifyHistory({ namespace: 'team-a', name: 'a1' }, [promoted, promoted, promoted], { webhookUrl: url });
      await n.idle();
      expect(labels.length).toBeGreaterThan(0);
      expect(labels.join(' ')).not.toContain('s3cr3t-token');
    },
  );
});

describe('reattack22: many receivers', () => {
  // Held: one queue per receiver URL, gone once it has sent everything (1000 rollouts with one URL each).
  it('keeps no queue once 1000 distinct receivers have been told', async () => {
    const { port, got } = await receiver();
    const n = new Notifier({ log: keptLog(), attempts: 1, minRetryMs: 1 });
    for (let i = 0; i < 1000; i++) n.notifyHistory({ namespace: 'team-a', name: `r${i}` }, [promoted], { webhookUrl: `http://127.0.0.1:${port}/hook/${i}` });
    await n.idle();
    expect(got).toHaveLength(1000);
    expect((n as unknown as { queues: Map<string, unknown> }).queues.size).toBe(0);
  });
});
