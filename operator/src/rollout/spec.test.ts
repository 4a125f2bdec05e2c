import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.js';
import { candidateReplicasFor, replicasThatFit, stableReplicasFor } from './replicas.js';
import { parseSpec, type StoredSpec } from './spec.js';

function stored(over: Partial<StoredSpec> = {}): StoredSpec {
  return {
    replicas: 4,
    model: { name: 'wan', version: 'v2' },
    gpu: { resourceName: 'nvidia.com/gpu', perReplica: 1 },
    template: { spec: { containers: [{ name: 'server' }] } },
    service: { name: 't2v', port: 80, targetPort: 8080 },
    trafficRouting: { gatewayAPI: { httpRoute: 't2v', ruleIndex: 0 } },
    strategy: { steps: [1, 5, 20, 50, 100], stepDuration: '5m', progressDeadline: '10m' },
    ...over,
  };
}

describe('parseSpec', () => {
  it('accepts a good spec and parses durations', () => {
    const { spec, errors, revision } = parseSpec(stored());
    expect(errors).toEqual([]);
    expect(spec).toMatchObject({ replicas: 4, steps: [1, 5, 20, 50, 100], stepDurationMs: 300_000, progressDeadlineMs: 600_000, gpusPerReplica: 1 });
    expect(revision).toMatch(/^[0-9a-f]{10}$/);
  });

  it.each([
    [{ strategy: { steps: [5, 1, 100] } }, 'spec.strategy.steps[1]: 1 must be greater than the step before it (5)'],
    [{ strategy: { steps: [0, 100] } }, 'spec.strategy.steps[0]: 0 must be an integer in (0, 100]'],
    [{ strategy: { steps: [1, 50] } }, 'spec.strategy.steps: the last step is 50; it must be 100'],
    [{ strategy: { stepDuration: '0s' } }, 'spec.strategy.stepDuration: "0s" is not a positive duration'],
    [{ strategy: { progressDeadline: 'soon' } }, 'spec.strategy.progressDeadline: "soon" is not a positive duration'],
    [{ strategy: { manualGates: [30] } }, 'spec.strategy.manualGates: 30 is not one of the step weights'],
    [{ gpu: { perReplica: 0 } }, 'spec.gpu.perReplica: 0 must be at least 1'],
    [{ gpu: { container: 'sidecar' } }, 'spec.gpu.container: "sidecar" is not a container of the template'],
    [{ template: { spec: { containers: [] } } }, 'spec.template.spec.containers: at least one container is required'],
    [
      { template: { metadata: { labels: { 'modelrollout.dev/revision': 'x' } }, spec: { containers: [{ name: 'a' }] } } },
      'spec.template.metadata.labels["modelrollout.dev/revision"]: set by the operator',
    ],
  ] as [Partial<StoredSpec>, string][])('refuses %j naming the field', (over, message) => {
    const { spec, errors, revision } = parseSpec(stored(over));
    expect(spec).toBeUndefined();
    expect(revision).toBe('');
    expect(errors.join('\n')).toContain(message);
  });

  it('names the same revision for the same template whatever the key order; replicas and strategy do not count', () => {
    const a = parseSpec(stored()).revision;
    const b = parseSpec({ ...stored(), replicas: 9, strategy: { steps: [50, 100] }, template: { spec: { containers: [{ name: 'server' }] } } }).revision;
    const c = parseSpec(stored({ model: { name: 'wan', version: 'v3' } })).revision;
    expect(b).toBe(a);
    expect(c).not.toBe(a);
  });
});

describe('durations and replica math', () => {
  it.each([
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['250ms', 250],
    ['1.5s', 1500],
  ])('parses %s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });
  it.each(['', '0s', '-5m', '5', '5 m', '1d'])('refuses %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
  it('formats', () => {
    expect([formatDuration(250), formatDuration(30_000), formatDuration(330_000)]).toEqual(['250ms', '30s', '5m30s']);
  });
  it('candidate replicas = ceil(weight × full), at least 1; stable keeps at least 1', () => {
    expect([1, 5, 20, 50, 100].map((w) => candidateReplicasFor(w, 4))).toEqual([1, 1, 1, 2, 4]);
    expect([1, 5, 20, 50, 100].map((w) => candidateReplicasFor(w, 40))).toEqual([1, 2, 8, 20, 40]);
    expect([99, 95, 80, 50, 0].map((w) => stableReplicasFor(w, 4))).toEqual([4, 4, 4, 2, 1]);
  });
  it('counts replicas that fit per node', () => {
    expect(replicasThatFit([2, 1, 3], 2)).toBe(2);
    expect(replicasThatFit([1, 1], 2)).toBe(0);
  });
});
