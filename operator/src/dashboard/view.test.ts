import { describe, expect, it } from 'vitest';
import type * as k8s from '@kubernetes/client-node';
import type { ModelRollout } from '../api/index.js';
import { boundsText, rolloutView, summarize } from './view.js';

const rollout = {
  apiVersion: 'modelrollout.dev/v1alpha1',
  kind: 'ModelRollout',
  metadata: { name: 't2v', namespace: 'ml' },
  spec: {
    model: { name: 'wan', version: 'v2' },
    analysis: { metrics: [{ template: 'error-rate' }, { template: 'latency-p99', relative: { max: 1.5, failMax: 2 } }] },
  },
  status: {
    phase: 'Progressing',
    message: 'step 2/5',
    stable: { revision: 'aaaa', modelVersion: 'v1' },
    candidate: { revision: 'bbbb', modelVersion: 'v2' },
    weights: { stable: 95, candidate: 5 },
    replicas: { stable: { desired: 2, ready: 2 }, candidate: { desired: 1, ready: 0 } },
    currentStep: { index: 1, weight: 5, label: '2/5' },
    lastValidSpec: { steps: [1, 5, 20, 50, 100] },
    history: [{ time: '2026-12-01T10:00:00Z', phase: 'Progressing', reason: 'StepStarted', message: 'to 1 %', weight: 1 }],
    analysis: {
      revision: 'bbbb',
      metrics: [{ name: 'latency-p99', kind: 'step', verdict: 'pass', value: 2.1, baseline: 2, samples: 400, message: 'ok', time: '2026-12-01T10:01:00Z' }],
      history: [{ time: '2026-12-01T10:01:00Z', kind: 'step', name: 'latency-p99', verdict: 'pass', value: 2.1 }],
      breaches: { 'latency-p99': '2026-12-01T10:00:30Z' },
      experiment: { assignment: { mode: 'userKey' }, verdict: 'Win', metrics: [{ name: 'quality', effect: 0.1, cs: [0.02, 0.2] }] },
    },
  },
} as unknown as ModelRollout;

const deployments = [
  { metadata: { name: 't2v-aaaa', labels: { 'modelrollout.dev/revision': 'aaaa' } }, spec: { replicas: 2 }, status: { readyReplicas: 2 } },
] as unknown as k8s.V1Deployment[];
const events = [
  { type: 'Normal', reason: 'Later', message: 'b', lastTimestamp: new Date('2026-12-01T10:02:00Z') },
  { type: 'Warning', reason: 'Earlier', message: 'a', lastTimestamp: new Date('2026-12-01T10:01:00Z') },
] as unknown as k8s.CoreV1Event[];

describe('dashboard JSON', () => {
  it('summarizes a rollout as the list shows it', () => {
    expect(summarize(rollout)).toEqual({
      name: 't2v',
      namespace: 'ml',
      phase: 'Progressing',
      message: 'step 2/5',
      step: { index: 1, weight: 5, label: '2/5' },
      weights: { stable: 95, candidate: 5 },
      replicas: { stable: { desired: 2, ready: 2 }, candidate: { desired: 1, ready: 0 } },
      stable: { revision: 'aaaa', modelVersion: 'v1' },
      candidate: { revision: 'bbbb', modelVersion: 'v2' },
    });
    const bare = summarize({ metadata: { name: 'new' }, spec: {} } as unknown as ModelRollout);
    expect(bare).toEqual({ name: 'new', namespace: 'default', phase: 'Unknown', message: '' });
  });

  it('shapes the rollout page: bounds from the spec, Deployments per side, events oldest first, experiment as is', () => {
    const v = rolloutView({ rollout, deployments, events });
    expect(v.steps).toEqual([1, 5, 20, 50, 100]);
    expect(v.deployments).toEqual([
      { role: 'stable', revision: 'aaaa', name: 't2v-aaaa', ready: 2, desired: 2 },
      { role: 'candidate', revision: 'bbbb', ready: 0, desired: 0 },
    ]);
    expect(v.metrics).toEqual([
      expect.objectContaining({
        name: 'latency-p99',
        verdict: 'pass',
        value: 2.1,
        baseline: 2,
        samples: 400,
        bounds: expect.stringContaining('candidate ÷ stable ≤ 1.5 (fail > 2)'),
      }),
    ]);
    expect(v.metricHistory).toEqual([{ time: '2026-12-01T10:01:00Z', kind: 'step', name: 'latency-p99', verdict: 'pass', value: 2.1 }]);
    expect(v.breaches).toEqual([{ metric: 'latency-p99', since: '2026-12-01T10:00:30Z' }]);
    expect(v.events.map((e) => e.reason)).toEqual(['Earlier', 'Later']);
    expect(v.events[0]!.time).toBe('2026-12-01T10:01:00.000Z');
    expect(v.history).toEqual([{ time: '2026-12-01T10:00:00Z', phase: 'Progressing', reason: 'StepStarted', message: 'to 1 %', weight: 1 }]);
    expect(v.experiment?.verdict).toBe('Win');
  });

  it('gives no bounds, not an error, for a spec that does not parse', () => {
    const broken = { ...rollout, spec: { analysis: { metrics: [{ name: 'x' }] } } } as unknown as ModelRollout;
    expect(rolloutView({ rollout: broken, deployments: [], events: [] }).metrics[0]!.bounds).toBe('-');
  });

  it('writes bounds in words', () => {
    expect(boundsText({ min: 0.9, max: 2.5, failMax: 3 }, '')).toBe('≥ 0.9, ≤ 2.5 (fail > 3)');
    expect(boundsText({ failMin: 1 }, 'r ')).toBe('r (fail < 1)');
    expect(boundsText({}, '')).toBe('');
  });
});
