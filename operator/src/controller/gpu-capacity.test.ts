import type * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { freeGpusPerNode, medianReadySeconds, podIsReady, tolerates } from './gpu-capacity.js';

const R = 'nvidia.com/gpu';

function node(
  name: string,
  over: { gpus?: number; taints?: k8s.V1Taint[]; labels?: Record<string, string>; unschedulable?: boolean; ready?: boolean; resource?: string } = {},
): k8s.V1Node {
  return {
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...over.labels } },
    spec: { taints: over.taints, unschedulable: over.unschedulable },
    status: { allocatable: { [over.resource ?? R]: String(over.gpus ?? 2) }, conditions: [{ type: 'Ready', status: over.ready === false ? 'False' : 'True' }] },
  };
}

function pod(nodeName: string, gpus: number, over: { phase?: string; deleting?: boolean; resource?: string } = {}): k8s.V1Pod {
  return {
    metadata: { name: `p-${nodeName}-${gpus}`, ...(over.deleting ? { deletionTimestamp: new Date() } : {}) },
    spec: { nodeName, containers: [{ name: 'c', resources: { limits: { [over.resource ?? R]: String(gpus) } } }] },
    status: { phase: over.phase ?? 'Running' },
  };
}

const gpuTaint: k8s.V1Taint = { key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' };

describe('freeGpusPerNode', () => {
  it('counts tainted nodes only for a template that tolerates the taint (the managed GPU pool case)', () => {
    const nodes = [node('a', { taints: [gpuTaint] }), node('b', { taints: [gpuTaint] })];
    expect(freeGpusPerNode(nodes, [], R)).toEqual([]);
    expect(freeGpusPerNode(nodes, [], R, { tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }] })).toEqual([2, 2]);
    expect(freeGpusPerNode(nodes, [], R, { tolerations: [{ key: 'nvidia.com/gpu', operator: 'Equal', value: 'present' }] })).toEqual([2, 2]);
    expect(freeGpusPerNode(nodes, [], R, { tolerations: [{ key: 'nvidia.com/gpu', operator: 'Equal', value: 'absent' }] })).toEqual([]);
    expect(freeGpusPerNode(nodes, [], R, { tolerations: [{ operator: 'Exists' }] })).toEqual([2, 2]);
  });

  it('a NoExecute taint needs a toleration too; PreferNoSchedule does not', () => {
    const nodes = [node('a', { taints: [{ key: 'k', effect: 'NoExecute' }] }), node('b', { taints: [{ key: 'k', effect: 'PreferNoSchedule' }] })];
    expect(freeGpusPerNode(nodes, [], R)).toEqual([2]);
    expect(freeGpusPerNode(nodes, [], R, { tolerations: [{ key: 'k', operator: 'Exists', effect: 'NoSchedule' }] })).toEqual([2]);
    expect(freeGpusPerNode(nodes, [], R, { tolerations: [{ key: 'k', operator: 'Exists' }] })).toEqual([2, 2]);
  });

  it('respects nodeSelector and required node affinity (terms ORed, expressions ANDed)', () => {
    const nodes = [
      node('h100', { labels: { 'nvidia.com/gpu.product': 'H100', zone: 'a' } }),
      node('a10', { gpus: 4, labels: { 'nvidia.com/gpu.product': 'A10', zone: 'b' } }),
    ];
    expect(freeGpusPerNode(nodes, [], R, { nodeSelector: { 'nvidia.com/gpu.product': 'H100' } })).toEqual([2]);
    const affinity = (terms: k8s.V1NodeSelectorTerm[]): k8s.V1Affinity => ({
      nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } },
    });
    expect(
      freeGpusPerNode(nodes, [], R, { affinity: affinity([{ matchExpressions: [{ key: 'nvidia.com/gpu.product', operator: 'In', values: ['A10'] }] }]) }),
    ).toEqual([4]);
    expect(
      freeGpusPerNode(nodes, [], R, {
        affinity: affinity([
          {
            matchExpressions: [
              { key: 'zone', operator: 'NotIn', values: ['a'] },
              { key: 'nvidia.com/gpu.product', operator: 'Exists' },
            ],
          },
        ]),
      }),
    ).toEqual([4]);
    expect(
      freeGpusPerNode(nodes, [], R, {
        affinity: affinity([
          { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] },
          { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['a10'] }] },
        ]),
      }),
    ).toEqual([2, 4]);
    expect(freeGpusPerNode(nodes, [], R, { affinity: affinity([{ matchExpressions: [{ key: 'gpu-mem', operator: 'Gt', values: ['40'] }] }]) })).toEqual([]);
  });

  it('leaves out cordoned and NotReady nodes', () => {
    expect(freeGpusPerNode([node('a', { unschedulable: true }), node('b', { ready: false }), node('c')], [], R)).toEqual([2]);
  });

  it('GPUs of finished and terminating pods are free; any extended resource name works (MIG slices)', () => {
    const nodes = [node('a', { gpus: 7, resource: 'nvidia.com/mig-1g.10gb' })];
    const pods = [
      pod('a', 2, { resource: 'nvidia.com/mig-1g.10gb' }),
      pod('a', 1, { resource: 'nvidia.com/mig-1g.10gb', phase: 'Succeeded' }),
      pod('a', 3, { resource: 'nvidia.com/mig-1g.10gb', deleting: true }),
    ];
    expect(freeGpusPerNode(nodes, pods, 'nvidia.com/mig-1g.10gb')).toEqual([5]);
    expect(freeGpusPerNode(nodes, pods, R)).toEqual([]);
  });
});

describe('tolerates', () => {
  it('an empty effect matches every effect; Equal compares values', () => {
    expect(tolerates({ key: 'k', operator: 'Equal', value: 'v' }, { key: 'k', value: 'v', effect: 'NoExecute' })).toBe(true);
    expect(tolerates({ key: 'k', value: 'v' }, { key: 'k', value: 'w', effect: 'NoSchedule' })).toBe(false);
    expect(tolerates({ key: 'k', operator: 'Exists', effect: 'NoExecute' }, { key: 'k', effect: 'NoSchedule' })).toBe(false);
  });
});

describe('ready pods', () => {
  const t0 = Date.parse('2026-11-30T10:00:00Z');
  const p = (readyAfterS: number | undefined, deleting = false): k8s.V1Pod => ({
    metadata: { creationTimestamp: new Date(t0), ...(deleting ? { deletionTimestamp: new Date(t0) } : {}) },
    status: {
      conditions: [{ type: 'Ready', status: readyAfterS === undefined ? 'False' : 'True', lastTransitionTime: new Date(t0 + (readyAfterS ?? 0) * 1000) }],
    },
  });

  it('counts Ready pods that are not terminating, as an EndpointSlice does', () => {
    expect([p(10), p(undefined), p(5, true)].map(podIsReady)).toEqual([true, false, false]);
  });

  it('medianReadySeconds is the median creation→Ready time of ready pods', () => {
    expect(medianReadySeconds([p(10), p(30), p(20), p(undefined)])).toBe(20);
    expect(medianReadySeconds([p(10), p(30)])).toBe(20);
    expect(medianReadySeconds([p(undefined)])).toBeUndefined();
  });
});
