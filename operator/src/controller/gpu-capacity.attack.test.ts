// Attack (issue 12): placements and pods the kube-scheduler treats differently from freeGpusPerNode().
import type * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { freeGpusPerNode } from './gpu-capacity.js';

const R = 'nvidia.com/gpu';

function node(name: string, over: { gpus?: number; taints?: k8s.V1Taint[]; unschedulable?: boolean } = {}): k8s.V1Node {
  return {
    metadata: { name, labels: { 'kubernetes.io/hostname': name } },
    spec: { taints: over.taints, unschedulable: over.unschedulable },
    status: { allocatable: { [R]: String(over.gpus ?? 2) }, conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

describe('attack: freeGpusPerNode vs the kube-scheduler', () => {
  it('a cordoned node is usable by a template that tolerates node.kubernetes.io/unschedulable:NoSchedule (scheduler plugin NodeUnschedulable)', () => {
    // The node lifecycle controller adds this taint on cordon; NodeUnschedulable admits pods that tolerate it.
    const cordoned = node('a', { unschedulable: true, taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }] });
    expect(
      freeGpusPerNode([cordoned], [], R, { tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }] }),
    ).toEqual([2]);
    // ...and by a template that tolerates everything (operator Exists, no key), as many system workloads do.
    expect(freeGpusPerNode([cordoned], [], R, { tolerations: [{ operator: 'Exists' }] })).toEqual([2]);
  });

  it('an init container that asks for GPUs holds them for the pod: the scheduler counts max(init, sum(containers))', () => {
    const p: k8s.V1Pod = {
      metadata: { name: 'p' },
      spec: {
        nodeName: 'a',
        initContainers: [{ name: 'warmup', resources: { limits: { [R]: '2' } } }],
        containers: [{ name: 'c', resources: {} }],
      },
      status: { phase: 'Pending' },
    };
    expect(freeGpusPerNode([node('a')], [p], R)).toEqual([]);
  });

  it("a sidecar (init container with restartPolicy Always) adds its GPUs to the containers'", () => {
    const p: k8s.V1Pod = {
      metadata: { name: 'p' },
      spec: {
        nodeName: 'a',
        initContainers: [{ name: 'side', restartPolicy: 'Always', resources: { limits: { [R]: '1' } } }],
        containers: [{ name: 'c', resources: { limits: { [R]: '1' } } }],
      },
      status: { phase: 'Running' },
    };
    expect(freeGpusPerNode([node('a')], [p], R)).toEqual([]);
  });

  it("a terminating pod's GPUs count as free (issue 12: they come back without any decision of ours; the candidate's pod waits Pending until they do)", () => {
    const p: k8s.V1Pod = {
      metadata: { name: 'p', deletionTimestamp: new Date() },
      spec: { nodeName: 'a', terminationGracePeriodSeconds: 300, containers: [{ name: 'c', resources: { limits: { [R]: '2' } } }] },
      status: { phase: 'Running' },
    };
    expect(freeGpusPerNode([node('a')], [p], R)).toEqual([2]);
  });
});
