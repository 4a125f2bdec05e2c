import pino from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { advanceUntil, ManualClock } from '../kube/manual-clock.test-support.js';
import { GoldenProber, RGB24_FRAMES, type GoldenSources, type GoldenTarget } from './golden-prober.js';

const W = 32;
const H = 24;
const FRAMES = 3;

/** A clip whose pixels follow the prompt's seed; `noise` adds a per-pixel offset pattern (a different video). */
function frames(seed: number, noise = 0): Buffer {
  const data = Buffer.alloc(W * H * 3 * FRAMES);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + seed * 13 + (noise ? ((i * 31) % 97) * noise : 0)) % 256;
  return data;
}

interface Call {
  url: string;
  body: Record<string, unknown>;
  accept: string;
  probe?: string;
}

/** A fake runtime per address: answers rgb24 frames for the request's seed, changed on `differs` addresses. */
function fakeFetch(calls: Call[], behaviour: Record<string, 'same' | 'differs' | 'fails' | 'mp4'>): typeof fetch {
  return (async (url: string, init: RequestInit) => {
    const body = JSON.parse(String(init.body)) as Record<string, unknown>;
    const headers = init.headers as Record<string, string>;
    calls.push({ url, body, accept: headers.accept!, probe: headers['x-modelrollout-probe'] });
    const host = new URL(url).hostname;
    const mode = behaviour[host] ?? 'same';
    if (mode === 'fails') return new Response('{"error":"boom"}', { status: 500 });
    const data = frames(Number(body.seed), mode === 'differs' ? 3 : 0);
    return new Response(data, {
      status: 200,
      headers: {
        'content-type': mode === 'mp4' ? 'video/mp4' : RGB24_FRAMES,
        'x-video-width': String(W),
        'x-video-height': String(H),
        'x-video-frames': String(FRAMES),
      },
    });
  }) as unknown as typeof fetch;
}

function sources(configMap: Record<string, string> | undefined, endpoints: Record<string, string[]>): GoldenSources {
  return {
    configMapData: async () => configMap,
    readyEndpoints: async (_ns, service) => (endpoints[service] ?? []).map((address) => ({ address, port: 8080 })),
  };
}

const PROMPTS = '- {id: lighthouse, prompt: a lighthouse, seed: 7}\n- {id: cat, prompt: a cat, seed: 8}\n';
const target = (revision = 'rev-b', intervalMs = 20): GoldenTarget => ({
  namespace: 'ml',
  name: 't2v',
  stableService: 't2v-stable',
  candidateService: 't2v-candidate',
  candidateRevision: revision,
  config: { configMap: 'golden', key: 'prompts.yaml', intervalMs, timeoutMs: 5_000 },
});
const ENDPOINTS = { 't2v-stable': ['10.0.0.1'], 't2v-candidate': ['10.0.0.2', '10.0.0.3'] };

async function series(registry: Registry, name: string): Promise<{ labels: Record<string, string | number>; value: number; metricName?: string }[]> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  return (m?.values ?? []) as { labels: Record<string, string | number>; value: number; metricName?: string }[];
}

describe('GoldenProber', () => {
  it("sends each prompt with its seed to a ready stable and candidate pod, raw frames asked, and scores the pair under the candidate's revision", async () => {
    const clock = new ManualClock();
    const calls: Call[] = [];
    const registry = new Registry();
    const prober = new GoldenProber({
      clock,
      sources: sources({ 'prompts.yaml': PROMPTS }, ENDPOINTS),
      registry,
      log: pino({ level: 'silent' }),
      firstRoundDelayMs: 1,
      fetch: fakeFetch(calls, { '10.0.0.3': 'differs' }),
    });
    prober.sync('ml/t2v', target());
    // Round 1 goes to candidate pod 10.0.0.2 (identical clips), round 2 to 10.0.0.3 (a different video).
    const first = await advanceUntil(clock, () => prober.report('ml/t2v'));
    expect(first, first.error).toMatchObject({ compared: 2, ssim: 1, psnrDb: 100 });
    expect(first.error).toBeUndefined();
    const second = await advanceUntil(clock, () => ((prober.report('ml/t2v')?.ssim ?? 1) < 1 ? prober.report('ml/t2v') : undefined));
    expect(second.ssim).toBeLessThan(0.5);
    prober.stopAll();
    expect(calls.slice(0, 4).map((c) => [c.url, c.body.seed])).toEqual([
      ['http://10.0.0.1:8080/v1/generate', 7],
      ['http://10.0.0.2:8080/v1/generate', 7],
      ['http://10.0.0.1:8080/v1/generate', 8],
      ['http://10.0.0.2:8080/v1/generate', 8],
    ]);
    // Raw frames asked, and marked as a probe: the runtime keeps it out of users' requests, quality and cost.
    expect(calls[0]).toMatchObject({ accept: RGB24_FRAMES, probe: 'golden', body: { prompt: 'a lighthouse', seed: 7 } });
    expect([calls[4]!.url, calls[5]!.url]).toEqual(['http://10.0.0.1:8080/v1/generate', 'http://10.0.0.3:8080/v1/generate']);
  });

  it('keeps zeroed series from the start, observes each pair, and drops the series when the candidate changes', async () => {
    const clock = new ManualClock();
    const registry = new Registry();
    const prober = new GoldenProber({
      clock,
      sources: sources({ 'prompts.yaml': PROMPTS }, ENDPOINTS),
      registry,
      log: pino({ level: 'silent' }),
      firstRoundDelayMs: 1,
      fetch: fakeFetch([], {}),
    });
    prober.sync('ml/t2v', target('rev-b', 60_000));
    const zero = (await series(registry, 'modelrollout_golden_ssim')).find((s) => s.metricName === 'modelrollout_golden_ssim_count');
    expect(zero).toMatchObject({ value: 0, labels: { modelrollout_namespace: 'ml', modelrollout_name: 't2v', modelrollout_revision: 'rev-b' } });
    await advanceUntil(clock, () => prober.report('ml/t2v'));
    const count = (await series(registry, 'modelrollout_golden_ssim')).find((s) => s.metricName === 'modelrollout_golden_ssim_count');
    expect(count?.value).toBe(2);
    prober.sync('ml/t2v', target('rev-c', 60_000));
    const revisions = new Set((await series(registry, 'modelrollout_golden_psnr_db')).map((s) => s.labels.modelrollout_revision));
    expect([...revisions]).toEqual(['rev-c']);
    prober.sync('ml/t2v', undefined);
    expect(await series(registry, 'modelrollout_golden_psnr_db')).toEqual([]);
  });

  it('reports what kept a round from comparing, naming the field or the side, and observes nothing', async () => {
    const clock = new ManualClock();
    const cases: [GoldenSources, Record<string, 'fails' | 'mp4'>, RegExp][] = [
      [sources(undefined, ENDPOINTS), {}, /^spec\.analysis\.goldenProbes\.configMap: ConfigMap ml\/golden does not exist$/],
      [
        sources({ other: PROMPTS }, ENDPOINTS),
        {},
        /^spec\.analysis\.goldenProbes\.key: ConfigMap ml\/golden key prompts\.yaml does not exist \(keys: other\)$/,
      ],
      [sources({ 'prompts.yaml': '- {prompt: x}' }, ENDPOINTS), {}, /^ConfigMap ml\/golden key prompts\.yaml\[0\]\.seed: required/],
      [sources({ 'prompts.yaml': PROMPTS }, { 't2v-stable': ['10.0.0.1'] }), {}, /^no ready candidate pod behind Service t2v-candidate to probe$/],
      [
        sources({ 'prompts.yaml': PROMPTS }, ENDPOINTS),
        { '10.0.0.2': 'fails' },
        /^prompt lighthouse: candidate 10\.0\.0\.2:8080 answered 500: \{"error":"boom"\}; prompt cat: candidate/,
      ],
      [
        sources({ 'prompts.yaml': PROMPTS }, ENDPOINTS),
        { '10.0.0.1': 'mp4' },
        /^prompt lighthouse: stable 10\.0\.0\.1:8080 answered video\/mp4, not application\/x-t2v-rgb24/,
      ],
    ];
    for (const [src, behaviour, error] of cases) {
      const registry = new Registry();
      const prober = new GoldenProber({ clock, sources: src, registry, log: pino({ level: 'silent' }), firstRoundDelayMs: 1, fetch: fakeFetch([], behaviour) });
      prober.sync('ml/t2v', target('rev-b', 60_000));
      const report = await advanceUntil(clock, () => prober.report('ml/t2v'));
      prober.stopAll();
      expect(report.error, String(error)).toMatch(error);
      expect(report.compared).toBe(0);
      const failures = await series(registry, 'modelrollout_golden_probe_failures_total');
      expect(failures.reduce((a, s) => a + s.value, 0)).toBeGreaterThan(0);
    }
  });

  it('sends nothing while this replica is not the leader, and stops a loop no reconcile keeps alive', async () => {
    const clock = new ManualClock();
    const calls: Call[] = [];
    let leader = false;
    const prober = new GoldenProber({
      clock,
      sources: sources({ 'prompts.yaml': PROMPTS }, ENDPOINTS),
      registry: new Registry(),
      log: pino({ level: 'silent' }),
      firstRoundDelayMs: 1,
      fetch: fakeFetch(calls, {}),
      canProbe: () => leader,
      idleStopMs: 200,
    });
    prober.sync('ml/t2v', target());
    await clock.advance(100);
    expect(calls).toEqual([]);
    leader = true;
    await advanceUntil(clock, () => prober.report('ml/t2v'));
    expect(calls.length).toBeGreaterThan(0);
    // No sync for idleStopMs: the loop ends (the rollout finished or went away).
    await advanceUntil(clock, () => (prober.report('ml/t2v') === undefined ? true : undefined));
    const sent = calls.length;
    await clock.advance(100);
    expect(calls.length).toBe(sent);
  });
});
