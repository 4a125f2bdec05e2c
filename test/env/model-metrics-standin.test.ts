// The metrics stand-in's pages over real HTTP on 127.0.0.1, with a fake pod lister: what the analysis tests rely on
// by default (one page, every outcome and the latency histogram, the request log) and what the bench's options change.
import type * as k8s from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { ModelMetricsStandIn, type StandInOptions } from './model-metrics-standin.js';

const NS = 'standin-unit';

function pod(i: number, version: string): k8s.V1Pod {
  return {
    metadata: { name: `t2v-${i}`, namespace: NS, labels: { 'modelrollout.dev/name': 't2v', 'modelrollout.dev/model-name': 'm' } },
    spec: {
      containers: [
        {
          name: 'server',
          image: `example.invalid/t2v:${version}`,
          env: [{ name: 'MODELROLLOUT_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } }],
        },
      ],
    },
    status: { phase: 'Running' },
  };
}

let pods: k8s.V1Pod[] = [];
const core = { listNamespacedPod: () => Promise.resolve({ items: pods }) } as unknown as k8s.CoreV1Api;
let standIn: ModelMetricsStandIn | undefined;

async function started(options?: StandInOptions): Promise<ModelMetricsStandIn> {
  standIn = options ? new ModelMetricsStandIn(options) : new ModelMetricsStandIn();
  await standIn.start();
  standIn.follow(core, NS, () => ({ requestsPerSecond: 50, errorRate: 0, latencySeconds: 0.2 }));
  return standIn;
}

const page = async (target: string) => (await fetch(`http://${target}/metrics`)).text();

/** Polls the pages until `ok` holds for their texts (the stand-in lists pods and ticks on its own timers). */
async function pagesWhen(s: ModelMetricsStandIn, ok: (texts: string[]) => boolean): Promise<string[]> {
  for (let i = 0; i < 120; i++) {
    const texts = await Promise.all(s.targets.map(page));
    if (ok(texts)) return texts;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error('pages never reached the expected state');
}

/** The page's request counters: pod, outcome and value of each (label order is prom-client's). */
function counters(text: string): { labels: Record<string, string>; value: number }[] {
  return [...text.matchAll(/^t2v_requests_total\{([^}]*)\} (\S+)$/gm)].map((m) => ({
    labels: Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1]!, l[2]!])),
    value: Number(m[2]),
  }));
}
const podsOn = (text: string) => new Set(counters(text).map((c) => c.labels.pod));
const okCount = (text: string, name: string) => counters(text).find((c) => c.labels.pod === name && c.labels.outcome === 'ok')?.value ?? 0;

afterEach(async () => {
  await standIn?.stop();
  standIn = undefined;
});

describe('ModelMetricsStandIn', () => {
  it('by default serves every pod on one page with every outcome, the latency histogram and the request log', async () => {
    pods = [pod(0, 'v1'), pod(1, 'v2')];
    const s = await started();
    expect(s.targets).toEqual([s.target]);
    const [text] = await pagesWhen(s, ([t]) => okCount(t!, 't2v-0') > 0 && okCount(t!, 't2v-1') > 0);
    expect(
      counters(text!)
        .filter((c) => c.labels.pod === 't2v-0')
        .map((c) => c.labels.outcome),
    ).toEqual(expect.arrayContaining(['ok', 'client_error', 'overloaded', 'server_error', 'timeout', 'cancelled', 'draining']));
    expect(counters(text!).find((c) => c.labels.pod === 't2v-0' && c.labels.outcome === 'server_error')?.value).toBe(0);
    expect(text).toMatch(/t2v_request_duration_seconds_bucket\{[^}]*pod="t2v-1"/);
    expect(counters(text!).find((c) => c.labels.pod === 't2v-1')?.labels).toMatchObject({ model_version: 'v2', modelrollout_namespace: NS });
    expect(s.served(NS).length).toBeGreaterThan(0);
  });

  it('keeps a gone pod on the page at its last values by default', async () => {
    pods = [pod(0, 'v1')];
    const s = await started({ podRefreshMs: 50 });
    await pagesWhen(s, ([t]) => okCount(t!, 't2v-0') > 0);
    pods = [];
    // Stops growing (at 50 req/s it grew by 5 every tick while listed) and stays served.
    let last = -1;
    const [still] = await pagesWhen(s, ([t]) => {
      const seen = last;
      last = okCount(t!, 't2v-0');
      return seen === last;
    });
    expect(podsOn(still!)).toEqual(new Set(['t2v-0']));
    expect(okCount(still!, 't2v-0')).toBeGreaterThan(0);
  });

  it('with shards, serves each pod on exactly one of its pages and every pod on some page', async () => {
    pods = Array.from({ length: 40 }, (_, i) => pod(i, 'v1'));
    const s = await started({ shards: 4, podRefreshMs: 50 });
    expect(new Set(s.targets).size).toBe(4);
    const texts = await pagesWhen(s, (ts) => ts.reduce((n, t) => n + podsOn(t).size, 0) === 40);
    const seen = texts.flatMap((t) => [...podsOn(t)]);
    expect(new Set(seen).size).toBe(40);
    expect(texts.filter((t) => podsOn(t).size > 0).length).toBeGreaterThan(1);
  });

  it('leaves out the latency histogram and the request log, and drops a gone pod, when told', async () => {
    pods = [pod(0, 'v1'), pod(1, 'v1')];
    const s = await started({ latencyHistogram: false, keepLog: false, dropGoneSeries: true, podRefreshMs: 50 });
    const [text] = await pagesWhen(s, ([t]) => okCount(t!, 't2v-0') > 0 && okCount(t!, 't2v-1') > 0);
    expect(text).not.toContain('t2v_request_duration_seconds_bucket{');
    expect(s.served(NS)).toEqual([]);
    pods = [pod(1, 'v1')];
    const [after] = await pagesWhen(s, ([t]) => !podsOn(t!).has('t2v-0'));
    expect(podsOn(after!)).toEqual(new Set(['t2v-1']));
    s.unfollow(NS);
    const [none] = await pagesWhen(s, () => true);
    expect(podsOn(none!)).toEqual(new Set());
  });
});
