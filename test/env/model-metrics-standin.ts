// Stand-in for the inference runtime's /metrics in analysis tests: the same metric names and labels
// (t2v_requests_total, t2v_request_duration_seconds), fed by a synthetic request stream whose error
// rate and latency each test controls per model version.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Histogram, Registry } from 'prom-client';

export interface Behaviour {
  requestsPerSecond: number;
  errorRate: number;
  /** Latency of each request in seconds (a little jitter is added). */
  latencySeconds: number;
}

export class ModelMetricsStandIn {
  private readonly registry = new Registry();
  private readonly requests = new Counter({ name: 't2v_requests_total', help: 'requests', labelNames: ['model_name', 'model_version', 'route', 'status'], registers: [this.registry] });
  private readonly duration = new Histogram({
    name: 't2v_request_duration_seconds', help: 'request duration', labelNames: ['model_name', 'model_version', 'route'],
    buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60], registers: [this.registry],
  });
  private readonly behaviours = new Map<string, Behaviour & { model: string; version: string; carry: number }>();
  private server: http.Server | undefined;
  private timer: NodeJS.Timeout | undefined;
  target = '';

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      void this.registry.metrics().then((text) => res.writeHead(200, { 'Content-Type': this.registry.contentType }).end(text));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', () => resolve()));
    this.target = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.timer = setInterval(() => this.tick(0.1), 100);
  }

  set(model: string, version: string, behaviour: Behaviour): void {
    const key = `${model}/${version}`;
    this.behaviours.set(key, { ...behaviour, model, version, carry: this.behaviours.get(key)?.carry ?? 0 });
  }

  private tick(seconds: number): void {
    for (const b of this.behaviours.values()) {
      b.carry += b.requestsPerSecond * seconds;
      const n = Math.floor(b.carry);
      b.carry -= n;
      for (let i = 0; i < n; i++) {
        const labels = { model_name: b.model, model_version: b.version, route: 'generate' };
        this.requests.inc({ ...labels, status: Math.random() < b.errorRate ? '500' : '200' });
        this.duration.observe(labels, b.latencySeconds * (0.9 + 0.2 * Math.random()));
      }
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
