// Prometheus HTTP API (/api/v1/query): instant queries with a timeout, bearer-token or basic auth and
// a custom CA. Failures come back as measurements of kind "error"; empty results and NaN as "noData".
import http from 'node:http';
import https from 'node:https';
import type { Measurement } from '../analysis/types.js';
import type { MetricsProvider } from './provider.js';

export interface PrometheusOptions {
  address: string;
  timeoutMs: number;
  bearerToken?: string;
  basicAuth?: { username: string; password: string };
  ca?: string;
  insecureSkipVerify?: boolean;
}

interface QueryResponse {
  status: 'success' | 'error';
  error?: string;
  data?: { resultType: string; result: unknown };
}

export class PrometheusProvider implements MetricsProvider {
  constructor(private readonly opts: PrometheusOptions) {}

  async query(promql: string, at: Date): Promise<Measurement> {
    const url = new URL(`${this.opts.address}/api/v1/query`);
    url.searchParams.set('query', promql);
    url.searchParams.set('time', (at.getTime() / 1000).toFixed(3));
    let body: string;
    let status: number;
    try {
      ({ status, body } = await this.get(url));
    } catch (err) {
      return { kind: 'error', message: `Prometheus ${this.opts.address} unreachable: ${(err as Error).message}` };
    }
    let parsed: QueryResponse;
    try {
      parsed = JSON.parse(body) as QueryResponse;
    } catch {
      return { kind: 'error', message: `Prometheus answered HTTP ${status} with a body that is not JSON: ${body.slice(0, 200)}` };
    }
    if (parsed.status !== 'success') return { kind: 'error', message: `Prometheus HTTP ${status}: ${parsed.error ?? 'query failed'}` };
    return measurementOf(parsed.data);
  }

  private get(url: URL): Promise<{ status: number; body: string }> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (this.opts.bearerToken) headers.Authorization = `Bearer ${this.opts.bearerToken}`;
    else if (this.opts.basicAuth)
      headers.Authorization = `Basic ${Buffer.from(`${this.opts.basicAuth.username}:${this.opts.basicAuth.password}`).toString('base64')}`;
    const client = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = client.get(
        url,
        {
          headers,
          timeout: this.opts.timeoutMs,
          ...(url.protocol === 'https:' ? { ca: this.opts.ca, rejectUnauthorized: !this.opts.insecureSkipVerify } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`timed out after ${this.opts.timeoutMs} ms`)));
      req.on('error', reject);
    });
  }
}

/** A single number from an instant-query result. */
export function measurementOf(data: QueryResponse['data']): Measurement {
  if (!data) return { kind: 'error', message: 'Prometheus returned no data section' };
  let raw: string | undefined;
  if (data.resultType === 'scalar') {
    raw = (data.result as [number, string])[1];
  } else if (data.resultType === 'vector') {
    const series = data.result as { metric: Record<string, string>; value: [number, string] }[];
    if (series.length === 0) return { kind: 'noData', message: 'the query returned no series' };
    if (series.length > 1) return { kind: 'error', message: `the query returned ${series.length} series; aggregate it to one (e.g. sum(...))` };
    raw = series[0]!.value[1];
  } else {
    return { kind: 'error', message: `unsupported result type ${data.resultType}; use an instant vector or scalar` };
  }
  // Prometheus writes infinities as +Inf/-Inf, which Number() does not read.
  const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
  // NaN is 0/0 or Inf/Inf (a ratio without `or vector(0)`, a quantile of an empty histogram): never a value that passes.
  if (Number.isNaN(value)) return { kind: 'noData', message: 'the query returned NaN (0/0 or Inf/Inf: no samples, or a ratio of empty sums)', raw: 'NaN' };
  return { kind: 'value', value };
}
