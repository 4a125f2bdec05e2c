// Second attack on issue #17's golden-prompt prober (controller/golden-prober.ts): leadership lost mid-round, a
// stop while a generation runs, a pod that answers past the timeout, IPv6 endpoints and EndpointSlices.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { advanceInSteps, advanceUntil, ManualClock } from '../kube/manual-clock.test-support.js';
import { GoldenProber, kubeGoldenSources, RGB24_FRAMES, type GoldenSources, type GoldenTarget } from './golden-prober.js';

const W = 32;
const H = 24;
const FRAMES = 3;
const clip = (seed: number): Buffer => {
  const data = Buffer.alloc(W * H * 3 * FRAMES);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + seed * 13) % 256;
  return data;
};
const rgbHeaders = { 'content-type': RGB24_FRAMES, 'x-video-width': String(W), 'x-video-height': String(H), 'x-video-frames': String(FRAMES) };
const PROMPTS = '- {id: a, prompt: a lighthouse, seed: 1}\n- {id: b, prompt: a cat, seed: 2}\n- {id: c, prompt: a dog, seed: 3}\n';
const sources = (stable = '10.0.0.1', candidate = '10.0.0.2', port = 8080, prompts = PROMPTS): GoldenSources => ({
  configMapData: async () => ({ 'prompts.yaml': prompts }),
  readyEndpoints: async (_ns, service) => [{ address: service === 't2v-stable' ? stable : candidate, port }],
});
const target = (timeoutMs = 5_000): GoldenTarget => ({
  namespace: 'ml',
  name: 't2v',
  stableService: 't2v-stable',
  candidateService: 't2v-candidate',
  candidateRevision: 'rev-b',
  config: { configMap: 'golden', key: 'prompts.yaml', intervalMs: 60_000, timeoutMs },
});
// The tests against real sockets wait on the real clock; the others drive a manual one.
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(probe: () => T | undefined, ms = 5_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out');
    await sleep(5);
  }
}

describe('attack2-17: GoldenProber and leadership', () => {
  it('a replica that loses the lease mid-round (canProbe() turns false) sends no more generations: the new leader probes too, doubling the load', async () => {
    const clock = new ManualClock();
    let leader = true;
    const calls: string[] = [];
    const fetchFn = (async (url: string, init: RequestInit) => {
      const seed = Number(JSON.parse(String(init.body)).seed);
      calls.push(`${new URL(url).hostname} seed ${seed}`);
      // The lease is lost while the first prompt's candidate clip is generated.
      if (calls.length === 2) leader = false;
      return new Response(clip(seed), { status: 200, headers: rgbHeaders });
    }) as unknown as typeof fetch;
    const prober = new GoldenProber({
      clock,
      sources: sources(),
      registry: new Registry(),
      log: pino({ level: 'silent' }),
      firstRoundDelayMs: 1,
      fetch: fetchFn,
      canProbe: () => leader,
    });
    prober.sync('ml/t2v', target());
    await advanceUntil(clock, () => prober.report('ml/t2v'));
    prober.stopAll();
    expect(calls.slice(2), 'generations sent after the lease was lost').toEqual([]);
  });
});

describe('attack2-17: GoldenProber stops "at once"', () => {
  it('a rollout that ends while a probe generation runs aborts that request (README: "stops its probes at once"), not holding a GPU slot until the 2 min timeout', async () => {
    const clock = new ManualClock();
    let signal: AbortSignal | undefined;
    const fetchFn = (async (_url: string, init: RequestInit) => {
      signal = init.signal ?? undefined;
      await new Promise((resolve) => init.signal?.addEventListener('abort', resolve));
      throw init.signal?.reason;
    }) as unknown as typeof fetch;
    const prober = new GoldenProber({
      clock,
      sources: sources(),
      registry: new Registry(),
      log: pino({ level: 'silent' }),
      firstRoundDelayMs: 1,
      fetch: fetchFn,
    });
    prober.sync('ml/t2v', target(120_000));
    await advanceUntil(clock, () => signal);
    prober.sync('ml/t2v', undefined);
    await advanceInSteps(clock, 50);
    expect(signal!.aborted, 'the in-flight probe request was aborted when the loop stopped').toBe(true);
  });
});

/** A pod that sends headers, then trickles the body slower than the timeout allows. */
async function slowPod(host: string): Promise<{ url: string; port: number; open: () => number; close: () => Promise<void> }> {
  const sockets = new Set<import('node:net').Socket>();
  let running = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { ...rgbHeaders, 'content-length': String(W * H * 3 * FRAMES) });
    running++;
    const timer = setInterval(() => res.write(Buffer.alloc(1)), 100);
    res.on('close', () => (clearInterval(timer), running--));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: host,
    port,
    open: () => running,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

describe('attack2-17: GoldenProber against real sockets', () => {
  it('held up: a pod that trickles its answer past the timeout: the round reports the timeout and the connection is closed', async () => {
    const pod = await slowPod('127.0.0.1');
    try {
      const prober = new GoldenProber({
        sources: sources('127.0.0.1', '127.0.0.1', pod.port, '- {prompt: a lighthouse, seed: 1}'),
        registry: new Registry(),
        log: pino({ level: 'silent' }),
        firstRoundDelayMs: 1,
      });
      prober.sync('ml/t2v', target(300));
      const report = await until(() => prober.report('ml/t2v'), 5_000);
      prober.stopAll();
      expect(report.error).toMatch(/no answer in 0\.3 s|timeout|abort/i);
      await sleep(200);
      expect(pod.open(), 'answers the pod is still sending (the operator never closed its request)').toBe(0);
    } finally {
      await pod.close();
    }
  });

  it('held up: an IPv6 pod address (single-stack IPv6 cluster) is reached', async () => {
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => res.writeHead(200, rgbHeaders).end(clip(Number(JSON.parse(body).seed))));
    });
    try {
      await new Promise<void>((r, j) => server.once('error', j).listen(0, '::1', r));
    } catch {
      return; // no IPv6 loopback here
    }
    const port = (server.address() as AddressInfo).port;
    try {
      const prober = new GoldenProber({
        sources: sources('::1', '::1', port, '- {prompt: a lighthouse, seed: 1}'),
        registry: new Registry(),
        log: pino({ level: 'silent' }),
        firstRoundDelayMs: 1,
      });
      prober.sync('ml/t2v', target());
      const report = await until(() => prober.report('ml/t2v'));
      prober.stopAll();
      expect(report.error).toBeUndefined();
      expect(report.compared).toBe(1);
    } finally {
      server.close();
    }
  });
});

describe('attack2-17: kubeGoldenSources on EndpointSlices', () => {
  const discovery = (items: unknown[]) => ({ listNamespacedEndpointSlice: async () => ({ items }) }) as never;
  it('held up: an EndpointSlice whose only port has no name gives that port', async () => {
    const src = kubeGoldenSources(
      {} as never,
      discovery([{ addressType: 'IPv4', ports: [{ port: 8080 }], endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready: true } }] }]),
    );
    expect(await src.readyEndpoints('ml', 't2v-stable')).toEqual([{ address: '10.0.0.1', port: 8080 }]);
  });
});

describe('attack2-17: GoldenProber across rollouts and spec edits', () => {
  it("raw clips of several rollouts are not held at once: the 48 MiB cap is per side and per loop, so 3 rollouts probing together hold 3 × (48 + 96 transient) MiB against the chart's 384 MiB", async () => {
    const clock = new ManualClock();
    let inFlight = 0;
    let most = 0;
    const fetchFn = (async (_url: string, init: RequestInit) => {
      inFlight++;
      most = Math.max(most, inFlight);
      // A generation takes 50 ms.
      await new Promise((r) => clock.schedule(() => r(undefined), 50));
      inFlight--;
      return new Response(clip(Number(JSON.parse(String(init.body)).seed)), { status: 200, headers: rgbHeaders });
    }) as unknown as typeof fetch;
    const prober = new GoldenProber({
      clock,
      sources: sources(),
      registry: new Registry(),
      log: pino({ level: 'silent' }),
      firstRoundDelayMs: 1,
      fetch: fetchFn,
    });
    for (const name of ['a', 'b', 'c']) prober.sync(`ml/${name}`, { ...target(), name });
    await advanceUntil(clock, () => (['a', 'b', 'c'].every((n) => prober.report(`ml/${n}`)) ? true : undefined));
    prober.stopAll();
    expect(most, 'raw-frame generations read by the operator at the same time').toBe(1);
  });

  it('a shorter goldenProbes.interval applies from the next round, not after the old (e.g. 1 h) interval runs out', async () => {
    const clock = new ManualClock();
    let rounds = 0;
    const fetchFn = (async (_url: string, init: RequestInit) => {
      rounds++;
      return new Response(clip(Number(JSON.parse(String(init.body)).seed)), { status: 200, headers: rgbHeaders });
    }) as unknown as typeof fetch;
    const prober = new GoldenProber({
      clock,
      sources: sources('10.0.0.1', '10.0.0.2', 8080, '- {prompt: a lighthouse, seed: 1}'),
      registry: new Registry(),
      log: pino({ level: 'silent' }),
      firstRoundDelayMs: 1,
      fetch: fetchFn,
    });
    const hourly = { ...target(), config: { ...target().config, intervalMs: 3_600_000 } };
    prober.sync('ml/t2v', hourly);
    await advanceUntil(clock, () => prober.report('ml/t2v'));
    const afterFirst = rounds;
    // The team edits the spec: goldenProbes.interval 1h → 1s (here 100 ms).
    prober.sync('ml/t2v', { ...hourly, config: { ...hourly.config, intervalMs: 100 } });
    await advanceInSteps(clock, 1_000, 10);
    prober.stopAll();
    expect(rounds, 'generations after the interval was shortened').toBeGreaterThan(afterFirst);
  });
});
