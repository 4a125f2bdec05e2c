// Attack on #22's per-rollout receivers (docs/attack-22.md): one rollout's dead receiver and everyone else's news.
import { describe, expect, it, vi } from 'vitest';
import type { HistoryEntry } from '../rollout/types.js';
import { Notifier } from './notifier.js';

const quiet = { warn: () => undefined, debug: () => undefined };
const promoted: HistoryEntry = { time: '2026-12-01T10:00:00Z', phase: 'Healthy', reason: 'Promoted', message: 'promoted' };

describe('attack22: a per-rollout receiver that hangs', () => {
  // F6: every receiver shares one queue of 2 slots. A receiver named by one rollout's Secret (anyone who may create a
  // ModelRollout and a Secret in a namespace) that never answers holds a slot for timeout × 3 tries + pauses (~18 s
  // by default) per notification; two such notifications and the global receivers (on-call's Slack) and every other
  // rollout's receivers wait behind them — beyond 1000 waiting, they are dropped.
  it("does not hold other rollouts' notifications to the global receiver behind it", async () => {
    const delivered: string[] = [];
    const fetchImpl = vi.fn((url: string | URL | Request, init?: RequestInit) => {
      if (String(url).startsWith('http://tenant.invalid/')) return new Promise<Response>(() => undefined); // never answers
      delivered.push(JSON.parse(String(init!.body)).name as string);
      return Promise.resolve(new Response(null, { status: 204 }));
    }) as unknown as typeof fetch;
    const n = new Notifier({ webhookUrl: 'http://oncall.invalid/hook', log: quiet, fetch: fetchImpl, timeoutMs: 60_000 });
    const tenant = { webhookUrl: 'http://tenant.invalid/hook' };
    n.notifyHistory({ namespace: 'team-a', name: 'a1' }, [promoted], tenant);
    n.notifyHistory({ namespace: 'team-a', name: 'a2' }, [promoted], tenant);
    n.notifyHistory({ namespace: 'team-b', name: 'b' }, [promoted]);
    await vi.waitFor(() => expect(delivered).toContain('b'), { timeout: 2_000, interval: 20 });
  });
});
