// The demo's users: a few closed loops sending generation requests to the Gateway's listener (the real
// proxy), nothing else. Which version answered is read from the response's X-Model-Version header (with a
// style: X-Adapter-Version, `ink-wash@v2`), so the counts are what the proxy routed, not what the weights say
// it should have.
import http from 'node:http';

export interface VersionCounts {
  /** Answers per model version, any status. */
  answered: Record<string, number>;
  /** Of those, answers that were not 2xx, per version. */
  failed: Record<string, number>;
  /** Requests with no answer from a version (connection refused, proxy error without the header, timeout). */
  unanswered: number;
  /** Why, per cause: `HTTP <status>` from the proxy itself, or the client error's code. */
  unansweredWhy: Record<string, number>;
}

export const emptyCounts = (): VersionCounts => ({ answered: {}, failed: {}, unanswered: 0, unansweredWhy: {} });

export class LoadGenerator {
  readonly total = emptyCounts();
  /** Counts per period label: the demo names the period (the rollout's step and weights) while it lasts. */
  readonly byPeriod = new Map<string, VersionCounts>();
  period = 'start';
  /** The versions of the last answers, newest last (at most 20): what the proxy gives right now. */
  readonly recent: string[] = [];
  /** Answers with a version so far (the count `recent` was cut from). */
  answeredCount = 0;
  private running = false;
  private loops: Promise<void>[] = [];
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

  /**
   * @param style a style adapter every request asks for, without a version (`ink-wash`): the route's pin picks
   * the version; it is also sent as the `x-t2v-style` header the style's HTTPRoute rule matches.
   */
  constructor(
    private readonly url: string,
    private readonly concurrency: number,
    private readonly style?: string,
  ) {}

  start(): void {
    this.running = true;
    this.loops = Array.from({ length: this.concurrency }, () => this.loop());
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.agent.destroy();
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const period = this.period;
      const { status, version, why } = await this.generate();
      if (version !== undefined) {
        this.answeredCount++;
        this.recent.push(version);
        if (this.recent.length > 20) this.recent.shift();
      }
      for (const c of [this.total, this.countsFor(period)]) {
        if (version === undefined) {
          c.unanswered++;
          c.unansweredWhy[why] = (c.unansweredWhy[why] ?? 0) + 1;
        } else {
          c.answered[version] = (c.answered[version] ?? 0) + 1;
          if (status < 200 || status >= 300) c.failed[version] = (c.failed[version] ?? 0) + 1;
        }
      }
      // A refusal (429) or an unanswered request: back off a little, as a client honouring Retry-After would.
      if (status === 429 || version === undefined) await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** The counts of a period (made empty when new). */
  countsFor(period: string): VersionCounts {
    let c = this.byPeriod.get(period);
    if (!c) this.byPeriod.set(period, (c = emptyCounts()));
    return c;
  }

  private generate(): Promise<{ status: number; version: string | undefined; why: string }> {
    const body = JSON.stringify({
      prompt: 'a paper boat drifting down a rainy street',
      seed: Math.floor(Math.random() * 1e6),
      ...(this.style ? { style: this.style } : {}),
    });
    return new Promise((resolve) => {
      const req = http.request(
        `${this.url}/v1/generate`,
        {
          method: 'POST',
          agent: this.agent,
          timeout: 30_000,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(this.style ? { 'x-t2v-style': this.style } : {}) },
        },
        (res) => {
          const v = res.headers[this.style ? 'x-adapter-version' : 'x-model-version'];
          res.resume();
          const status = res.statusCode ?? 0;
          res.on('end', () => resolve({ status, version: typeof v === 'string' ? v : undefined, why: `HTTP ${status}` }));
          res.on('error', (err: NodeJS.ErrnoException) => resolve({ status: 0, version: undefined, why: err.code ?? err.message }));
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err: NodeJS.ErrnoException) => resolve({ status: 0, version: undefined, why: err.code ?? err.message }));
      req.end(body);
    });
  }
}
