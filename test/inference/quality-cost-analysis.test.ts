// The quality gate and the cost rule end to end below Kubernetes: real runtimes on the small model (a stable
// one, a candidate whose frames freeze, a candidate that holds its GPUs longer per clip) scraped by a real
// Prometheus, judged by the operator's AnalysisRunner with its real Prometheus provider and built-in templates.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnalysisRunner } from '../../operator/src/controller/analysis-runner.js';
import type { ModelRollout } from '../../operator/src/api/index.js';
import { startPrometheus, type PrometheusServer } from '../env/prometheus.js';
import { buildModel, postJson, RuntimeProcess, stopAll, tempDir, type TempDir } from './support.js';
import { API_VERSION, KIND } from '../../operator/src/api/index.js';

const NS = 'ml';
const NAME = 't2v';
const REV = { stable: 'aaaa1111', frozen: 'bbbb2222', costly: 'cccc3333' } as const;
const CLIPS = 4;

let tmp: TempDir;
let prometheus: PrometheusServer;
let shiftedAt: Date;

function identity(revision: string): Record<string, string> {
  return { MODELROLLOUT_NAMESPACE: NS, MODELROLLOUT_NAME: NAME, MODELROLLOUT_REVISION: revision };
}

beforeAll(async () => {
  tmp = tempDir('t2v-quality-cost-');
  const model = buildModel(tmp.dir);
  const [stable, frozen, costly] = await Promise.all([
    RuntimeProcess.start({ T2V_MODEL_DIR: model, ...identity(REV.stable) }),
    RuntimeProcess.start({ T2V_MODEL_DIR: model, ...identity(REV.frozen), T2V_FAULT_FREEZE_FRAMES: '1' }),
    // Same clips, but each holds the replica's 2 GPUs 400 ms longer: ~several times the GPU-seconds per video second.
    RuntimeProcess.start({ T2V_MODEL_DIR: model, ...identity(REV.costly), T2V_FAULT_LATENCY_MS: '400', T2V_GPUS_PER_REPLICA: '2' }),
  ]);
  prometheus = await startPrometheus([stable, frozen, costly].map((rt) => `127.0.0.1:${rt.port}`));
  await prometheus.waitForSeries(`t2v_gpu_seconds_total{modelrollout_revision="${REV.costly}"}`);
  await prometheus.waitForSeries(`t2v_gpu_seconds_total{modelrollout_revision="${REV.stable}"}`);
  await prometheus.waitForSeries(`t2v_gpu_seconds_total{modelrollout_revision="${REV.frozen}"}`);
  // A scrape of the zero counters first: increase() needs a sample before the change.
  await new Promise((r) => setTimeout(r, 2500));
  shiftedAt = new Date();
  for (let i = 0; i < CLIPS; i++) {
    for (const rt of [stable, frozen, costly]) {
      const res = await postJson(`${rt.url}/v1/generate`, { prompt: `a red cat running on the beach ${i}`, seed: 100 + i });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
  }
  // Two more scrapes after the last clip.
  await new Promise((r) => setTimeout(r, 3000));
});

afterAll(async () => {
  await prometheus?.stop();
  await stopAll();
  tmp?.remove();
});

function rollout(candidate: string, analysis: Record<string, unknown>): ModelRollout {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name: NAME, namespace: NS, annotations: {} },
    spec: {
      service: { name: 't2v' },
      model: { name: 'tiny-t2v', version: 'v1' },
      analysis: { prometheus: { address: prometheus.address }, minRequests: 2, interval: '30s', ...analysis },
    } as never,
    status: {
      phase: 'Progressing',
      stable: { revision: REV.stable, modelVersion: 'v1' },
      candidate: { revision: candidate, modelVersion: 'v1' },
      currentStep: { index: 1, weight: 20, label: '2/5', trafficShiftedAt: shiftedAt.toISOString() },
      weights: { stable: 80, candidate: 20 },
    },
  } as ModelRollout;
}

async function judge(candidate: string, analysis: Record<string, unknown>) {
  const runner = new AnalysisRunner({ core: {} as never, cache: { podsOf: () => [] } as never });
  const out = await runner.run(rollout(candidate, analysis), 1000, new Date());
  return { analysis: out.analysis as { result: string; reason?: string; message?: string }, metrics: out.status?.metrics ?? [] };
}

describe('quality gate and cost rule on real runtime metrics', () => {
  it('rolls back the candidate whose frames freeze (quality-frozen), and passes stable’s own clips', async () => {
    const frozen = await judge(REV.frozen, { metrics: [{ template: 'quality-frozen' }, { template: 'quality-blank' }] });
    expect(frozen.analysis, JSON.stringify(frozen.metrics)).toMatchObject({ result: 'fail', reason: 'quality-frozen' });
    expect(frozen.metrics.find((m) => m.name === 'quality-frozen')?.value).toBeCloseTo(1, 6);
    const self = await judge(REV.stable, { metrics: [{ template: 'quality-frozen' }, { template: 'quality-blank' }] });
    expect(self.analysis, JSON.stringify(self.metrics)).toMatchObject({ result: 'pass' });
  });

  it('holds for a person the candidate that costs more per generated second without better videos, with both numbers', async () => {
    const { analysis, metrics } = await judge(REV.costly, {
      metrics: [{ template: 'cost-per-video-second' }, { template: 'quality-ssim' }],
      tradeOffs: [{ cost: 'cost-per-video-second', maxIncrease: 0.4, quality: 'quality-ssim', minImprovement: 0.1, onViolation: 'Pause' }],
    });
    expect(analysis.result, JSON.stringify(metrics)).toBe('pause');
    expect(analysis.message, analysis.message).toMatch(
      /cost-per-video-second \+\d+(\.\d+)? % \([\d.]+ vs stable [\d.]+\), quality-ssim [-+][\d.]+ % better \([\d.]+ vs stable [\d.]+, higher is better\)/,
    );
    const costChange = metrics.find((m) => m.name === 'cost-per-video-second-vs-quality-ssim')?.value ?? 0;
    expect(costChange).toBeGreaterThan(0.4);
  });
});
