// The local control plane is real: the scheduler accounts for GPUs, kwok makes bound Pods Ready,
// third-party CRDs are served and their schemas enforced.
import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { GPU_RESOURCE } from '../env/gpu-nodes.js';
import { apiErrorCode, apiErrorMessage, kubeConfig, testNamespace, waitUntil } from './support.js';

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const apps = kc.makeApiClient(k8s.AppsV1Api);
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

function gpuDeployment(name: string, replicas: number, gpus: number): k8s.V1Deployment {
  return {
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'model', image: 'example.invalid/t2v:1', resources: { limits: { [GPU_RESOURCE]: String(gpus) } } }] },
      },
    },
  };
}

async function totalGpus(): Promise<number> {
  const nodes = await core.listNode();
  return nodes.items.reduce((sum, n) => sum + Number(n.status?.allocatable?.[GPU_RESOURCE] ?? 0), 0);
}

describe('local control plane', () => {
  it('serves fake GPU nodes that kwok keeps Ready', async () => {
    const nodes = await core.listNode();
    const gpuNodes = nodes.items.filter((n) => Number(n.status?.allocatable?.[GPU_RESOURCE] ?? 0) > 0);
    expect(gpuNodes.length).toBeGreaterThanOrEqual(1);
    for (const node of gpuNodes) {
      await waitUntil(`node ${node.metadata!.name} Ready`, async () => {
        const n = await core.readNode({ name: node.metadata!.name! });
        return n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? true : undefined;
      });
    }
    // Readiness must last: kwok renews each node's Lease, or the node lifecycle controller marks every pod unready.
    const coordination = kc.makeApiClient(k8s.CoordinationV1Api);
    const name = gpuNodes[0]!.metadata!.name!;
    const first = await waitUntil('node lease', () => coordination.readNamespacedLease({ name, namespace: 'kube-node-lease' }));
    await waitUntil(
      'lease renewed',
      async () => {
        const lease = await coordination.readNamespacedLease({ name, namespace: 'kube-node-lease' });
        return String(lease.spec?.renewTime) !== String(first.spec?.renewTime) ? true : undefined;
      },
      60_000,
      500,
    );
  });

  it('runs a Deployment of 2 replicas × 1 GPU to 2/2 Ready, and leaves the Pod past free GPUs Pending/Unschedulable', async () => {
    const ns = await testNamespace(kc, 'cp-gpu');
    await apps.createNamespacedDeployment({ namespace: ns, body: gpuDeployment('t2v', 2, 1) });
    await waitUntil('2/2 ready', async () => {
      const d = await apps.readNamespacedDeployment({ name: 't2v', namespace: ns });
      return d.status?.readyReplicas === 2 ? d : undefined;
    });
    const pods = await core.listNamespacedPod({ namespace: ns });
    expect(pods.items).toHaveLength(2);
    for (const pod of pods.items) {
      expect(pod.spec?.nodeName).toMatch(/./);
      expect(pod.status?.phase).toBe('Running');
    }

    // More replicas than the cluster has GPUs: whatever else is running, at least one cannot fit.
    const replicas = (await totalGpus()) + 1;
    await apps.patchNamespacedDeployment({ name: 't2v', namespace: ns, body: { spec: { replicas } } }, mergePatch);
    const pending = await waitUntil('an Unschedulable pod', async () => {
      const list = await core.listNamespacedPod({ namespace: ns });
      return list.items.find((p) => p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable'));
    });
    expect(pending.status?.phase).toBe('Pending');
    const scheduled = pending.status!.conditions!.find((c) => c.type === 'PodScheduled')!;
    expect(scheduled.message).toContain(`Insufficient ${GPU_RESOURCE}`);
  });

  it('creates an HTTPRoute and patches its backend weights', async () => {
    const ns = await testNamespace(kc, 'cp-route');
    const ref = { group: 'gateway.networking.k8s.io', version: 'v1', namespace: ns, plural: 'httproutes' };
    const backends = (stable: number, canary: number) => [
      { name: 't2v-stable', port: 80, weight: stable },
      { name: 't2v-candidate', port: 80, weight: canary },
    ];
    await custom.createNamespacedCustomObject({
      ...ref,
      body: {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        metadata: { name: 't2v' },
        spec: { parentRefs: [{ name: 'edge' }], rules: [{ backendRefs: backends(100, 0) }] },
      },
    });
    // spec.rules is an atomic list: a merge patch replaces it whole.
    await custom.patchNamespacedCustomObject({ ...ref, name: 't2v', body: { spec: { rules: [{ backendRefs: backends(95, 5) }] } } }, mergePatch);
    const route = (await custom.getNamespacedCustomObject({ ...ref, name: 't2v' })) as {
      spec: { rules: { backendRefs: { name: string; weight: number }[] }[] };
    };
    expect(route.spec.rules[0]!.backendRefs.map((b) => [b.name, b.weight])).toEqual([
      ['t2v-stable', 95],
      ['t2v-candidate', 5],
    ]);
  });

  it('creates an Istio VirtualService and patches its route weights', async () => {
    const ns = await testNamespace(kc, 'cp-vs');
    const ref = { group: 'networking.istio.io', version: 'v1', namespace: ns, plural: 'virtualservices' };
    const routes = (stable: number, canary: number) => [
      { destination: { host: 't2v-stable' }, weight: stable },
      { destination: { host: 't2v-candidate' }, weight: canary },
    ];
    await custom.createNamespacedCustomObject({
      ...ref,
      body: {
        apiVersion: 'networking.istio.io/v1',
        kind: 'VirtualService',
        metadata: { name: 't2v' },
        spec: { hosts: ['t2v'], http: [{ name: 'primary', route: routes(100, 0) }] },
      },
    });
    await custom.patchNamespacedCustomObject({ ...ref, name: 't2v', body: { spec: { http: [{ name: 'primary', route: routes(80, 20) }] } } }, mergePatch);
    const vs = (await custom.getNamespacedCustomObject({ ...ref, name: 't2v' })) as { spec: { http: { route: { weight: number }[] }[] } };
    expect(vs.spec.http[0]!.route.map((r) => r.weight)).toEqual([80, 20]);
  });

  it('refuses objects that violate a CRD schema, naming the field', async () => {
    const ns = await testNamespace(kc, 'cp-schema');
    const err = await custom
      .createNamespacedCustomObject({
        group: 'gateway.networking.k8s.io',
        version: 'v1',
        namespace: ns,
        plural: 'httproutes',
        body: {
          apiVersion: 'gateway.networking.k8s.io/v1',
          kind: 'HTTPRoute',
          metadata: { name: 'bad' },
          spec: { rules: [{ backendRefs: [{ name: 'svc', port: 80, weight: -1 }] }] },
        },
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(apiErrorCode(err)).toBe(422);
    expect(apiErrorMessage(err)).toMatch(/spec\.rules\[0\]\.backendRefs\[0\]\.weight/);
  });
});
