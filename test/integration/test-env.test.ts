// The test environment behaves like GPU pods on a managed node pool, not like instant fakes: readiness
// takes time (endpoints not ready meanwhile), tainted nodes refuse pods without the toleration, lost pods
// stay Pending while the nodes are cordoned, crash-looping containers show up as such.
import * as k8s from '@kubernetes/client-node';
import { describe, expect, it, onTestFinished } from 'vitest';
import { cordonNodes, crashLoopPods, deletePods, gpuNodeNames, taintNodes, uncordonNodes, untaintNodes } from '../env/chaos-actions.js';
import { GPU_TOLERATION } from '../env/gpu-nodes.js';
import { TEST_READY_DELAY_ANNOTATION } from '../env/kwok-stages.js';
import { createGpuDeployment, kubeConfig, testNamespace, waitUntil } from './support.js';

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const discovery = kc.makeApiClient(k8s.DiscoveryV1Api);

async function pods(ns: string, app: string): Promise<k8s.V1Pod[]> {
  return (await core.listNamespacedPod({ namespace: ns, labelSelector: `app=${app}` })).items.filter((p) => !p.metadata?.deletionTimestamp);
}

const condition = (p: k8s.V1Pod, type: string) => p.status?.conditions?.find((c) => c.type === type);
/** Seconds from the pod's start (kwok's pod-start stage) to its Ready=True transition, from the pod's own timestamps. */
const secondsToReady = (p: k8s.V1Pod) => (new Date(condition(p, 'Ready')!.lastTransitionTime!).getTime() - new Date(p.status!.startTime!).getTime()) / 1000;

describe('test environment', () => {
  it('keeps a pod Ready=False, its endpoint not ready, for the delay its annotation asks, then Ready', async () => {
    const ns = await testNamespace(kc, 'env-ready');
    await core.createNamespacedService({ namespace: ns, body: { metadata: { name: 'slow' }, spec: { selector: { app: 'slow' }, ports: [{ port: 80 }] } } });
    await createGpuDeployment(kc, ns, 'slow', 1, { annotations: { [TEST_READY_DELAY_ANNOTATION]: '6s' } });
    // Started (podIP assigned) but loading: Ready=False, and the EndpointSlice lists it as not ready.
    const started = await waitUntil('pod started', async () => (await pods(ns, 'slow')).find((p) => p.status?.podIP));
    expect(condition(started, 'Ready')?.status).toBe('False');
    const endpoint = await waitUntil(
      'endpoint listed',
      async () =>
        (await discovery.listNamespacedEndpointSlice({ namespace: ns, labelSelector: 'kubernetes.io/service-name=slow' })).items.flatMap(
          (s) => s.endpoints ?? [],
        )[0],
    );
    const podNow = (await pods(ns, 'slow'))[0]!;
    if (condition(podNow, 'Ready')?.status !== 'True') expect(endpoint.conditions?.ready).toBe(false);
    const ready = await waitUntil('pod Ready', async () => (await pods(ns, 'slow')).find((p) => condition(p, 'Ready')?.status === 'True'), 60_000);
    expect(secondsToReady(ready)).toBeGreaterThanOrEqual(6);
    await waitUntil('endpoint ready', async () =>
      (await discovery.listNamespacedEndpointSlice({ namespace: ns, labelSelector: 'kubernetes.io/service-name=slow' })).items
        .flatMap((s) => s.endpoints ?? [])
        .some((e) => e.conditions?.ready)
        ? true
        : undefined,
    );
  });

  it('makes an unannotated pod wait 1–3 s for readiness, never 0', async () => {
    const ns = await testNamespace(kc, 'env-jitter');
    await createGpuDeployment(kc, ns, 'plain', 3);
    const ready = await waitUntil(
      '3 pods Ready',
      async () => {
        const list = await pods(ns, 'plain');
        return list.length === 3 && list.every((p) => condition(p, 'Ready')?.status === 'True') ? list : undefined;
      },
      60_000,
    );
    // Timestamps have 1 s resolution: a 1–3 s delay reads as 1, 2 or 3.
    for (const p of ready) expect(secondsToReady(p)).toBeGreaterThanOrEqual(1);
    for (const p of ready) expect(secondsToReady(p)).toBeLessThanOrEqual(3);
  });

  it('tainted GPU nodes take only pods that tolerate nvidia.com/gpu=present:NoSchedule', async () => {
    const ns = await testNamespace(kc, 'env-taint');
    const nodes = await gpuNodeNames(kc);
    await taintNodes(kc, nodes);
    onTestFinished(() => untaintNodes(kc, nodes));
    expect((await core.readNode({ name: nodes[0]! })).spec?.taints).toEqual([
      expect.objectContaining({ key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' }),
    ]);
    await createGpuDeployment(kc, ns, 'intolerant', 1);
    await createGpuDeployment(kc, ns, 'tolerant', 1, { tolerations: [GPU_TOLERATION] });
    await waitUntil(
      'tolerant Ready',
      async () => ((await pods(ns, 'tolerant'))[0]?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined),
      60_000,
    );
    const refused = await waitUntil('intolerant Unschedulable', async () =>
      (await pods(ns, 'intolerant')).find((p) => condition(p, 'PodScheduled')?.reason === 'Unschedulable'),
    );
    expect(condition(refused, 'PodScheduled')?.message).toMatch(/node\(s\) had untolerated taint/);
  });

  it('with every node cordoned, deleted pods come back Pending and run again once uncordoned', async () => {
    const ns = await testNamespace(kc, 'env-lose');
    await createGpuDeployment(kc, ns, 'lost', 2, { annotations: { [TEST_READY_DELAY_ANNOTATION]: '0s' } });
    await waitUntil(
      '2 Ready',
      async () => ((await pods(ns, 'lost')).filter((p) => condition(p, 'Ready')?.status === 'True').length === 2 ? true : undefined),
      60_000,
    );
    const nodes = await gpuNodeNames(kc);
    await cordonNodes(kc, nodes);
    onTestFinished(() => uncordonNodes(kc, nodes));
    const deleted = await deletePods(kc, ns, 'app=lost');
    expect(deleted).toHaveLength(2);
    const pending = await waitUntil('2 replacements Unschedulable', async () => {
      const list = (await pods(ns, 'lost')).filter((p) => !deleted.includes(p.metadata!.name!));
      return list.length === 2 && list.every((p) => condition(p, 'PodScheduled')?.reason === 'Unschedulable') ? list : undefined;
    });
    expect(pending.every((p) => p.status?.phase === 'Pending')).toBe(true);
    await uncordonNodes(kc, nodes);
    await waitUntil(
      '2 Ready again',
      async () => ((await pods(ns, 'lost')).filter((p) => condition(p, 'Ready')?.status === 'True').length === 2 ? true : undefined),
      60_000,
    );
  });

  it('shows crash-looping containers as Ready=False with CrashLoopBackOff, as the operator reads them', async () => {
    const ns = await testNamespace(kc, 'env-crash');
    await createGpuDeployment(kc, ns, 'crashy', 1, { annotations: { [TEST_READY_DELAY_ANNOTATION]: '0s' } });
    await waitUntil(
      'Ready',
      async () => ((await pods(ns, 'crashy'))[0] && condition((await pods(ns, 'crashy'))[0]!, 'Ready')?.status === 'True' ? true : undefined),
      60_000,
    );
    expect(await crashLoopPods(kc, ns, 'app=crashy')).toHaveLength(1);
    const crashed = await waitUntil('CrashLoopBackOff', async () =>
      (await pods(ns, 'crashy')).find((p) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff'),
    );
    expect(condition(crashed, 'Ready')?.status).toBe('False');
    expect(crashed.status?.containerStatuses?.[0]).toMatchObject({ ready: false, restartCount: 3, lastState: { terminated: { exitCode: 1 } } });
  });
});
