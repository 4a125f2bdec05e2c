// Completion webhooks, signed as Standard Webhooks (standardwebhooks.com) sign them: headers webhook-id,
// webhook-timestamp (epoch seconds) and webhook-signature `v1,<base64 HMAC-SHA256(secret, id.timestamp.body)>`,
// so a receiver verifies the sender and the freshness with any Standard Webhooks library. A delivery that fails
// (network error, timeout, a non-2xx answer) is retried after 1 s and 5 s, then logged and dropped: the job
// itself is never changed by its webhook.
import { createHmac } from 'node:crypto';
import type { Logger } from 'pino';

export interface WebhookDeps {
  /** The shared secret (T2V_WEBHOOK_SECRET), its UTF-8 bytes the HMAC key. */
  secret: string;
  timeoutMs: number;
  log: Pick<Logger, 'info' | 'warn'>;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  /** Epoch ms. */
  clock?: () => number;
}

/** Pauses before the second and third attempt. */
export const WEBHOOK_RETRY_MS = [1000, 5000];

/** The webhook-signature value for a message (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body`). */
export function webhookSignature(secret: string, id: string, timestampS: number, body: string): string {
  return `v1,${createHmac('sha256', secret).update(`${id}.${timestampS}.${body}`).digest('base64')}`;
}

export class Webhooks {
  constructor(private readonly d: WebhookDeps) {}

  /**
   * POSTs `{type: video.completed|video.failed, timestamp, data: job}` to `url`; resolves with whether a 2xx came
   * back within the attempts. Never throws.
   */
  async deliver(url: string, job: { id: string; status: string }, data: unknown): Promise<boolean> {
    const clock = this.d.clock ?? Date.now;
    const body = JSON.stringify({ type: job.status === 'succeeded' ? 'video.completed' : 'video.failed', timestamp: new Date(clock()).toISOString(), data });
    const id = `${job.id}.${job.status}`;
    for (let attempt = 0; attempt <= WEBHOOK_RETRY_MS.length; attempt++) {
      if (attempt > 0) await (this.d.sleep ?? defaultSleep)(WEBHOOK_RETRY_MS[attempt - 1] as number);
      const ts = Math.floor(clock() / 1000);
      const outcome = await this.post(url, body, {
        'webhook-id': id,
        'webhook-timestamp': String(ts),
        'webhook-signature': webhookSignature(this.d.secret, id, ts, body),
      });
      if (outcome === 'ok') {
        this.d.log.info({ jobId: job.id, url, attempt: attempt + 1 }, 'webhook delivered');
        return true;
      }
      this.d.log.warn({ jobId: job.id, url, attempt: attempt + 1, outcome }, 'webhook delivery failed');
    }
    return false;
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

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
