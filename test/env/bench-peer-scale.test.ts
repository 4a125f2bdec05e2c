// How `npm run bench:peer`'s own machinery grows with N (scripts/bench-peer/scale.ts): unchanged up to the default
// N = 100, and at N = 1,000 a metrics path and polling that a 2-core machine can carry.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { scrapeHealth } from '../../scripts/bench-peer/measure.js';
import { gpuSampleMs, listPollMs, metricsPages, scrapeIntervalMs, servesLatencyHistogram } from '../../scripts/bench-peer/scale.js';
import { shardOf } from './model-metrics-standin.js';

describe('bench:peer scale plan', () => {
  it('keeps the earlier settings up to N = 100', () => {
    for (const n of [1, 50, 100]) {
      expect(scrapeIntervalMs(n, 10)).toBe(1000);
      expect(metricsPages(n)).toBe(1);
      expect(servesLatencyHistogram(n)).toBe(true);
      expect(gpuSampleMs(n)).toBe(500);
      expect(listPollMs(n)).toBe(500);
    }
  });

  it('scrapes proportionally less often above N = 100, keeping 4 scrapes in the query window', () => {
    expect(scrapeIntervalMs(150, 10)).toBe(1500);
    expect(scrapeIntervalMs(200, 10)).toBe(2000);
    expect(scrapeIntervalMs(1000, 10)).toBe(2500);
    expect(scrapeIntervalMs(1000, 60)).toBe(10_000);
    expect(scrapeIntervalMs(1000, 2)).toBe(1000);
  });

  it('serves one page per 250 pods and leaves the latency histogram out above N = 100', () => {
    expect(metricsPages(125)).toBe(1);
    expect(metricsPages(126)).toBe(2);
    expect(metricsPages(1000)).toBe(8);
    expect(servesLatencyHistogram(101)).toBe(false);
  });

  it('samples GPUs every N / 200 s and lists every N ms once that is longer than 0.5 s', () => {
    expect(gpuSampleMs(1000)).toBe(5000);
    expect(gpuSampleMs(200)).toBe(1000);
    expect(listPollMs(1000)).toBe(1000);
    expect(listPollMs(200)).toBe(500);
  });
});

describe('metrics stand-in shards', () => {
  const keys = Array.from({ length: 2000 }, (_, i) => `pod/modelrollout-s4-r1/t2v-${i >> 1}-${i % 2 ? 'candidate' : 'stable'}-x${i}`);

  it('puts a pod on the same page every time, inside the range', () => {
    for (const key of keys.slice(0, 50)) {
      const page = shardOf(key, 8);
      expect(page).toBeGreaterThanOrEqual(0);
      expect(page).toBeLessThan(8);
      expect(shardOf(key, 8)).toBe(page);
    }
    expect(new Set(keys.map((k) => shardOf(k, 1)))).toEqual(new Set([0]));
  });

  it('spreads 2,000 pods over 8 pages within a fifth of the even share', () => {
    const counts = new Array<number>(8).fill(0);
    for (const key of keys) counts[shardOf(key, 8)]! += 1;
    for (const c of counts) expect(Math.abs(c - 250)).toBeLessThan(50);
  });

  it.each([0, -1, 1.5, NaN])('refuses %s pages naming the value', (shards) => {
    expect(() => shardOf('pod/a/b', shards)).toThrow(`shards ${shards}: a whole number ≥ 1`);
  });
});

describe('bench:peer scrape health', () => {
  it("reads the stand-in's scrapes over the run from Prometheus's up and scrape_duration_seconds", async () => {
    const asked: string[] = [];
    const answers: [RegExp, string][] = [
      [/^sum\(count_over_time\(up\{job="t2v"\}\[91s\]\)\)$/, '720'],
      [/^sum\(sum_over_time\(up\{job="t2v"\}\[91s\]\)\)$/, '702'],
      [/^max\(max_over_time\(scrape_duration_seconds\{job="t2v"\}\[91s\]\)\)$/, '2.5'],
    ];
    const server = http.createServer((req, res) => {
      const query = new URL(req.url!, 'http://x').searchParams.get('query')!;
      asked.push(query);
      const value = answers.find(([re]) => re.test(query))?.[1];
      res.end(JSON.stringify({ status: 'success', data: { result: value ? [{ metric: {}, value: [0, value] }] : [] } }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      expect(await scrapeHealth(address, 90.2)).toBe('Prometheus scrapes of the stand-in: 702 of 720 up, slowest 2.50 s');
      expect(asked).toHaveLength(3);
    } finally {
      server.close();
    }
  });
});
