// The real runtime scraped by a real Prometheus, queried with the operator's own built-in templates: the
// pod identity the operator passes as env becomes the labels analysis selects by, every outcome reads 0
// before the first request, and only server errors and timeouts count against the error rate.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_COUNTS, BUILTIN_QUERIES, renderQuery, type QueryVars } from '../../operator/src/analysis/spec.js';
import { measurementOf } from '../../operator/src/metric-providers/prometheus.js';
import { startPrometheus, type PrometheusServer } from '../env/prometheus.js';
import { buildModel, postJson, RuntimeProcess, stopAll, tempDir, type TempDir } from './support.js';

let tmp: TempDir;
let rt: RuntimeProcess;
let prometheus: PrometheusServer;
const identity = { namespace: 'ml', name: 'wan-t2v', revision: '5f0c1e2d3a' };
const vars: QueryVars = {
  namespace: identity.namespace,
  name: identity.name,
  service: 't2v',
  model: 'tiny-t2v',
  version: 'v-judged',
  revision: identity.revision,
  stableRevision: 'aaaaaaaaaa',
  candidateRevision: identity.revision,
  role: 'candidate',
  intervalMs: 120_000,
};

beforeAll(async () => {
  tmp = tempDir('t2v-analysis-metrics-');
  rt = await RuntimeProcess.start({
    T2V_MODEL_DIR: buildModel(tmp.dir, { version: 'v-judged' }),
    T2V_FAULT_ERROR_RATE: '1',
    MODELROLLOUT_NAMESPACE: identity.namespace,
    MODELROLLOUT_NAME: identity.name,
    MODELROLLOUT_REVISION: identity.revision,
  });
  prometheus = await startPrometheus([`127.0.0.1:${rt.port}`]);
  await prometheus.waitForSeries(`t2v_requests_total{modelrollout_revision="${identity.revision}"}`);
  // increase() needs two samples of a series.
  await scrapedAfter(Date.now());
});

afterAll(async () => {
  await prometheus?.stop();
  await stopAll();
  tmp?.remove();
});

async function query(promql: string) {
  const body = (await (await fetch(`${prometheus.address}/api/v1/query?query=${encodeURIComponent(promql)}`)).json()) as {
    data: Parameters<typeof measurementOf>[0];
  };
  return measurementOf(body.data);
}

async function scrapedAfter(since: number): Promise<void> {
  // The next scrape after `since` (1 s interval): its timestamp shows in the `up` sample.
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (Date.now() > deadline) throw new Error(`no scrape of the runtime after ${new Date(since).toISOString()} within 30 s`);
    const body = (await (await fetch(`${prometheus.address}/api/v1/query?query=up`)).json()) as { data: { result: { value: [number, string] }[] } };
    if ((body.data.result[0]?.value[0] ?? 0) * 1000 > since + 1000) return;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('runtime metrics as analysis reads them', () => {
  it('before any request the built-in counts read 0 for this revision, not nothing, and p99 is NaN (no data, never a pass)', async () => {
    expect(await query(renderQuery(BUILTIN_QUERIES.requests, vars))).toEqual({ kind: 'value', value: 0 });
    expect(await query(renderQuery(BUILTIN_COUNTS['error-rate']!.trials, vars))).toEqual({ kind: 'value', value: 0 });
    expect(await query(renderQuery(BUILTIN_QUERIES['latency-p99'], vars))).toMatchObject({ kind: 'noData', raw: 'NaN' });
    // Another revision's selector finds nothing at all.
    expect((await query(renderQuery(BUILTIN_QUERIES.requests, { ...vars, revision: vars.stableRevision }))).kind).toBe('noData');
  });

  it('a server error counts against the error rate; a bad request and an aborted upload do not', async () => {
    expect((await postJson(`${rt.url}/v1/generate`, { prompt: 'a' })).status).toBe(500);
    expect((await postJson(`${rt.url}/v1/generate`, { steps: 'many' })).status).toBe(400);
    // A client that goes away mid-upload: a cancellation, not a 500.
    await new Promise<void>((resolve) => {
      const socket = net.connect(rt.port, '127.0.0.1', () => {
        socket.write('POST /v1/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"prompt":');
        setTimeout(() => socket.destroy(), 200);
      });
      socket.on('close', () => resolve());
    });
    const sent = Date.now();
    await scrapedAfter(sent + 500);
    const raw = async (outcome: string) => query(`sum(t2v_requests_total{modelrollout_revision="${identity.revision}",outcome="${outcome}"})`);
    expect(await raw('server_error')).toEqual({ kind: 'value', value: 1 });
    expect(await raw('client_error')).toEqual({ kind: 'value', value: 1 });
    expect(await raw('cancelled')).toEqual({ kind: 'value', value: 1 });
    const events = await query(renderQuery(BUILTIN_COUNTS['error-rate']!.events, vars));
    const trials = await query(renderQuery(BUILTIN_COUNTS['error-rate']!.trials, vars));
    // increase() extrapolates; the judgement rounds to whole requests.
    expect(events.kind === 'value' && Math.round(events.value)).toBe(1);
    expect(trials.kind === 'value' && Math.round(trials.value)).toBe(1);
  });
});
