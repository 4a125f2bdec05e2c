// Completion webhooks, signed as Standard Webhooks (standardwebhooks.com) sign them: headers webhook-id,
// webhook-timestamp (epoch seconds) and webhook-signature `v1,<base64 HMAC-SHA256(secret, id.timestamp.body)>`,
// so a receiver verifies the sender and the freshness with any Standard Webhooks library. A delivery that fails
// (network error, timeout, a non-2xx answer) is retried after 1 s and 5 s, then logged and dropped: the job
// itself is never changed by its webhook. A replica that is shutting down waits for its deliveries (settled()).
// Logs show the URL without user, password or query (tokens live there).
import { createHmac } from 'node:crypto';
import { lookup as dnsLookup } from 'node:dns/promises';
import type { Logger } from 'pino';
import { literalHost, loggableUrl, refusedAddress } from './webhook-address.js';

export interface WebhookDeps {
  /** The shared secret (T2V_WEBHOOK_SECRET), its UTF-8 bytes the HMAC key. */
  secret: string;
  timeoutMs: number;
  log: Pick<Logger, 'info' | 'warn'>;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  /** Epoch ms. */
  clock?: () => number;
  /** Whether loopback and private addresses may receive webhooks (T2V_WEBHOOK_ALLOW_PRIVATE); link-local never. */
  allowPrivate?: boolean;
  /** Resolves a host name to its addresses (default: the system resolver). */
  lookup?: (host: string) => Promise<string[]>;
}

/** Pauses before the second and third attempt. */
export const WEBHOOK_RETRY_MS = [1000, 5000];

/** The webhook-signature value for a message (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body`). */
export function webhookSignature(secret: string, id: string, timestampS: number, body: string): string {
  return `v1,${createHmac('sha256', secret).update(`${id}.${timestampS}.${body}`).digest('base64')}`;
}

export class Webhooks {
  private readonly pending = new Set<Promise<boolean>>();

  constructor(private readonly d: WebhookDeps) {}

  /** Starts a delivery (deliver()) and keeps it until it settles, for settled(). */
  send(url: string, job: { id: string; status: string }, data: unknown): void {
    const delivery = this.deliver(url, job, data);
    this.pending.add(delivery);
    void delivery.finally(() => this.pending.delete(delivery));
  }

  /** Waits up to `ms` for the deliveries under way (retries included); resolves with how many are still pending. */
  async settled(ms: number): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
    await Promise.race([Promise.all([...this.pending]), timeout]);
    clearTimeout(timer);
    return this.pending.size;
  }

  /**
   * POSTs `{type: video.completed|video.failed, timestamp, data: job}` to `url`; resolves with whether a 2xx came
   * back within the attempts. Never throws.
   */
  async deliver(url: string, job: { id: string; status: string }, data: unknown): Promise<boolean> {
    const clock = this.d.clock ?? Date.now;
    const body = JSON.stringify({ type: job.status === 'succeeded' ? 'video.completed' : 'video.failed', timestamp: new Date(clock()).toISOString(), data });
    const id = `${job.id}.${job.status}`;
    const shown = loggableUrl(url);
    const refused = await this.refused(url);
    if (refused !== undefined) {
      this.d.log.warn({ jobId: job.id, url: shown, reason: refused }, 'webhook not sent: its address is not allowed');
      return false;
    }
    for (let attempt = 0; attempt <= WEBHOOK_RETRY_MS.length; attempt++) {
      if (attempt > 0) await (this.d.sleep ?? defaultSleep)(WEBHOOK_RETRY_MS[attempt - 1] as number);
      const ts = Math.floor(clock() / 1000);
      const outcome = await this.post(url, body, {
        'webhook-id': id,
        'webhook-timestamp': String(ts),
        'webhook-signature': webhookSignature(this.d.secret, id, ts, body),
      });
      if (outcome === 'ok') {
        this.d.log.info({ jobId: job.id, url: shown, attempt: attempt + 1 }, 'webhook delivered');
        return true;
      }
      this.d.log.warn({ jobId: job.id, url: shown, attempt: attempt + 1, outcome }, 'webhook delivery failed');
    }
    return false;
  }

  /**
   * Why the URL's host may not receive a webhook (a name is resolved: DNS must not lead to metadata), or undefined.
   * The connection resolves the name again: a rebinding between the two is not caught (an egress policy is).
   */
  private async refused(raw: string): Promise<string | undefined> {
    const url = new URL(raw);
    const literal = literalHost(url);
    const allowPrivate = this.d.allowPrivate ?? false;
    if (literal !== undefined) return refusedAddress(literal, allowPrivate);
    try {
      const addresses = await (this.d.lookup ?? defaultLookup)(url.hostname);
      return addresses.map((a) => refusedAddress(a, allowPrivate)).find((r) => r !== undefined);
    } catch {
      return undefined; // unresolvable: the POST fails and is retried like any network error
    }
  }

  private async post(url: string, body: string, headers: Record<string, string>): Promise<string> {
    try {
      const res = await (this.d.fetch ?? fetch)(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
        signal: AbortSignal.timeout(this.d.timeoutMs),
        redirect: 'manual',
      });
      await res.arrayBuffer().catch(() => undefined);
      return res.status >= 200 && res.status < 300 ? 'ok' : `HTTP ${res.status}`;
    } catch (err) {
      return (err as Error).name === 'TimeoutError' ? 'timeout' : `error: ${(err as Error).message}`;
    }
  }
}

const defaultLookup = async (host: string): Promise<string[]> => (await dnsLookup(host, { all: true })).map((a) => a.address);

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
