import * as k8s from '@kubernetes/client-node';

export interface GpuNodeOptions {
  count?: number;
  gpusPerNode?: number;
  namePrefix?: string;
  /** Taints the nodes start with, e.g. [GPU_TAINT] as managed GPU node pools set it. None by default. */
  taints?: k8s.V1Taint[];
}

export const GPU_RESOURCE = 'nvidia.com/gpu';

/** The taint managed GPU node pools (GKE, AKS, EKS with the NVIDIA operator) put on GPU nodes. */
export const GPU_TAINT: k8s.V1Taint = { key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' };
/** The toleration a pod template needs to land on nodes tainted with GPU_TAINT. */
export const GPU_TOLERATION: k8s.V1Toleration = { key: 'nvidia.com/gpu', operator: 'Equal', value: 'present', effect: 'NoSchedule' };

/**
 * Fake GPU nodes that kwok keeps Ready. The scheduler accounts for `nvidia.com/gpu` like any
 * extended resource, so a pod asking more GPUs than are free stays Pending (Unschedulable).
 */
export async function createGpuNodes(kc: k8s.KubeConfig, opts: GpuNodeOptions = {}): Promise<string[]> {
  const count = opts.count ?? Number(process.env.MODELROLLOUT_GPU_NODES ?? 4);
  const gpus = String(opts.gpusPerNode ?? Number(process.env.MODELROLLOUT_GPUS_PER_NODE ?? 2));
  const prefix = opts.namePrefix ?? 'gpu-node';
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const names = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  await Promise.all(
    names.map((name) => {
      const resources = { cpu: '64', memory: '512Gi', pods: '110', [GPU_RESOURCE]: gpus };
      const node: k8s.V1Node = {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name,
          annotations: { 'kwok.x-k8s.io/node': 'fake' },
          labels: { 'kubernetes.io/hostname': name, type: 'kwok', 'nvidia.com/gpu.product': 'FAKE-H100' },
        },
        ...(opts.taints?.length ? { spec: { taints: opts.taints } } : {}),
        status: { capacity: resources, allocatable: resources },
      };
      return core.createNode({ body: node });
    }),
  );
  return names;
}
