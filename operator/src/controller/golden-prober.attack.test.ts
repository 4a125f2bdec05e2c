// Attack on issue #17's golden-prompt prober (controller/golden-prober.ts): a loop stopped mid-round, a huge
// raw answer, an answer without the frame headers, and a deleted rollout.
import pino from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { advanceInSteps, advanceUntil, ManualClock } from '../kube/manual-clock.test-support.js';
import { GoldenProber, RGB24_FRAMES, type GoldenSources, type GoldenTarget } from './golden-prober.js';

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
const sources = (prompts = PROMPTS): GoldenSources => ({
  configMapData: async () => ({ 'prompts.yaml': prompts }),
  readyEndpoints: async (_ns, service) => [{ address: service === 't2v-stable' ? '10.0.0.1' : '10.0.0.2', port: 8080 }],
});
const target = (revision = 'rev-b'): GoldenTarget => ({
  namespace: 'ml',
  name: 't2v',
  stableService: 't2v-stable',
  candidateService: 't2v-candidate',
  candidateRevision: revision,
  config: { configMap: 'golden', key: 'prompts.yaml', intervalMs: 60_000, timeoutMs: 5_000 },
});
async function goldenSeries(registry: Registry): Promise<Record<string, string | number>[]> {
  const out: Record<string, string | number>[] = [];
  for (const m of await registry.getMetricsAsJSON()) {
    if (m.name === 'modelrollout_golden_ssim' || m.name === 'modelrollout_golden_psnr_db')
      out.push(...m.values.map((v) => v.labels as Record<string, string | number>));
  }
  return out;
}

describe('attack-17: GoldenProber', () => {
  /** Starts a round whose first candidate generation waits; stops the loop then; lets the round finish. */
  async function stoppedMidRound(): Promise<{
    sentAfterStop: string[];
    seriesAfter: Record<string, string | number>[];
    seriesAtStop: Record<string, string | number>[];
  }> {
    const clock = new ManualClock();
    const registry = new Registry();
    const calls: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const fetchFn = (async (url: string, init: RequestInit) => {
      const seed = Number(JSON.parse(String(init.body)).seed);
      calls.push(`${new URL(url).hostname} seed ${seed}`);
      // The first candidate generation is slow: the rollout ends while it runs.
      if (calls.length === 2) await gate;
      return new Response(clip(seed), { status: 200, headers: rgbHeaders });
    }) as unknown as typeof fetch;
    const prober = new GoldenProber({ clock, sources: sources(), registry, log: pino({ level: 'silent' }), firstRoundDelayMs: 1, fetch: fetchFn });
    prober.sync('ml/t2v', target());
    await advanceUntil(clock, () => (calls.length === 2 ? true : undefined));
    // The rollout is promoted / rolled back: the reconcile tells the prober there is nothing to probe.
    prober.sync('ml/t2v', undefined);
    const seriesAtStop = await goldenSeries(registry);
    const sentAtStop = calls.length;
    release();
    await advanceInSteps(clock, 300);
    return { sentAfterStop: calls.slice(sentAtStop), seriesAtStop, seriesAfter: await goldenSeries(registry) };
  }

  it('a loop stopped mid-round (rollout finished, rolled back, candidate replaced) sends no more generations', async () => {
    const { sentAfterStop } = await stoppedMidRound();
    expect(sentAfterStop, 'generations sent to the pods after the loop was stopped').toEqual([]);
  });

  it("a loop stopped mid-round leaves no golden series behind (stop() removed them; the round's observe() re-creates them for good)", async () => {
    const { seriesAtStop, seriesAfter } = await stoppedMidRound();
    expect(seriesAtStop).toEqual([]);
    expect(seriesAfter).toEqual([]);
  });

  it("does not buffer an unbounded raw answer: a 720p 5 s clip is ~330 MB per side against the chart's 384Mi operator limit", async () => {
    const clock = new ManualClock();
    const LIMIT = 64 * 1024 * 1024;
    let pulled = 0;
    const fetchFn = (async () => {
      // 1280×720 rgb24, 120 frames; the stream errors out once the test has seen LIMIT bytes read.
      const total = 1280 * 720 * 3 * 120;
      const chunk = new Uint8Array(1 << 20);
      const body = new ReadableStream<Uint8Array>({
        pull(c) {
          if (pulled >= LIMIT) return c.error(new Error(`test: ${pulled} bytes already read into the operator`));
          pulled += chunk.length;
          c.enqueue(chunk);
        },
      });
      return new Response(body, {
        status: 200,
        headers: { 'content-type': RGB24_FRAMES, 'content-length': String(total), 'x-video-width': '1280', 'x-video-height': '720', 'x-video-frames': '120' },
      });
    }) as unknown as typeof fetch;
    const prober = new GoldenProber({
      clock,
      sources: sources('- {prompt: a lighthouse, seed: 1}'),
      registry: new Registry(),
      log: pino({ level: 'silent' }),
      firstRoundDelayMs: 1,
      fetch: fetchFn,
    });
    prober.sync('ml/t2v', target());
    const report = await advanceUntil(clock, () => prober.report('ml/t2v'));
    prober.stopAll();
    expect(pulled, `bytes buffered before deciding (${report.error ?? 'no error'})`).toBeLessThan(LIMIT);
  });

  it('an answer without X-Video-Width/Height/Frames on both sides is reported as a protocol error, not scored 0 (maximally different) against the candidate', async () => {
    const clock = new ManualClock();
    const registry = new Registry();
    const fetchFn = (async (_url: string, init: RequestInit) => {
      const seed = Number(JSON.parse(String(init.body)).seed);
      // A proxy in front of the pods that drops unknown headers: both sides lose them; the clips are identical.
      return new Response(clip(seed), { status: 200, headers: { 'content-type': RGB24_FRAMES } });
    }) as unknown as typeof fetch;
    const prober = new GoldenProber({
      clock,
      sources: sources('- {prompt: a lighthouse, seed: 1}'),
      registry,
      log: pino({ level: 'silent' }),
      firstRoundDelayMs: 1,
      fetch: fetchFn,
    });
    prober.sync('ml/t2v', target());
    const report = await advanceUntil(clock, () => prober.report('ml/t2v'));
    const sum = (await registry.getMetricsAsJSON())
      .find((m) => m.name === 'modelrollout_golden_ssim')!
      .values.find((v) => (v as { metricName?: string }).metricName === 'modelrollout_golden_ssim_count');
    prober.stopAll();
    expect(sum?.value, `observed a score for identical clips: ${report.error}`).toBe(0);
  });
});

describe('attack-17: a deleted ModelRollout stops its golden-prompt loop', () => {
  it('the reconcile of a rollout gone from the cache stops the probes (not 5 min later by idle stop)', async () => {
    const clock = new ManualClock();
    const { AnalysisRunner } = await import('./analysis-runner.js');
    const { Reconciler } = await import('./reconciler.js');
    const { createMetrics } = await import('../telemetry/metrics.js');
    const { progressingRollout } = await import('./analysis-runner.test-support.js');
    const registry = new Registry();
    const calls: string[] = [];
    const fetchFn = (async (url: string, init: RequestInit) => {
      calls.push(url);
      return new Response(clip(Number(JSON.parse(String(init.body)).seed)), { status: 200, headers: rgbHeaders });
    }) as unknown as typeof fetch;
    // A 1 s interval: the loop keeps probing unless someone stops it.
    const golden = new GoldenProber({ clock, sources: sources(), registry, log: pino({ level: 'silent' }), firstRoundDelayMs: 1, fetch: fetchFn });
    const runner = new AnalysisRunner({
      core: {} as never,
      cache: { podsOf: () => [] } as never,
      golden,
      providerFor: () => ({ query: async () => ({ kind: 'value', value: 200 }) }),
    });
    const ro = progressingRollout({ goldenProbes: { configMap: 'golden', interval: '1s' }, metrics: [{ template: 'golden-similarity', min: 0.5 }] });
    await runner.run(ro, 60_000, new Date());
    await advanceUntil(clock, () => (calls.length > 0 ? true : undefined));
    expect((await goldenSeries(registry)).length).toBeGreaterThan(0);
    // The rollout is deleted: the next reconcile finds nothing in the cache.
    const reconciler = new Reconciler({
      apps: {} as never,
      core: {} as never,
      custom: {} as never,
      events: {} as never,
      log: pino({ level: 'silent' }),
      now: () => new Date(),
      analysis: runner,
      cache: { rollouts: { get: () => undefined } } as never,
      metrics: createMetrics({ queueDepth: () => 0, phases: () => ({}) }),
    });
    await reconciler.reconcile('ns/ro');
    await advanceInSteps(clock, 150, 10);
    const sent = calls.length;
    // (The interval is 1 s, the shortest the spec takes: a loop still running would send its next round here.)
    await advanceInSteps(clock, 1500, 10);
    golden.stopAll();
    expect(calls.length - sent, 'probes sent after the rollout was deleted').toBe(0);
  });
});

describe('attack-17: a missing golden ConfigMap reaches the person the rollout pauses for', () => {
  it('the NoData pause of golden-similarity names spec.analysis.goldenProbes.configMap and the missing ConfigMap, not just "NaN"', async () => {
    const clock = new ManualClock();
    const { AnalysisRunner } = await import('./analysis-runner.js');
    const { drive, last, progressingRollout, show } = await import('./analysis-runner.test-support.js');
    const golden = new GoldenProber({
      clock,
      sources: { configMapData: async () => undefined, readyEndpoints: async () => [{ address: '10.0.0.1', port: 8080 }] },
      registry: new Registry(),
      log: pino({ level: 'silent' }),
      firstRoundDelayMs: 1,
      fetch: (async () => {
        throw new Error('no probe expected');
      }) as never,
    });
    const runner = new AnalysisRunner({
      core: {} as never,
      cache: { podsOf: () => [] } as never,
      golden,
      providerFor: () => ({
        // The zeroed golden series with no observation: 0 / 0 in PromQL.
        query: async (q: string) =>
          q.includes('modelrollout_golden') ? { kind: 'noData', message: 'the query returned NaN', raw: 'NaN' } : { kind: 'value', value: 200 },
      }),
    });
    const ro = progressingRollout({
      goldenProbes: { configMap: 'golden-prompts' },
      noDataDeadline: '2m',
      metrics: [{ template: 'golden-similarity', min: 0.9 }],
    });
    await runner.run(ro, 60_000, new Date());
    await advanceUntil(clock, () => golden.report('ns/ro'));
    const out = await drive(runner, ro, 10, 60_000, { everyS: 30 });
    golden.stopAll();
    expect(last(out).analysis.result, show(last(out))).toBe('pause');
    expect(last(out).analysis.message, last(out).analysis.message).toMatch(/goldenProbes\.configMap|golden-prompts/);
  });
});
