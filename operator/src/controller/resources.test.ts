import { describe, expect, it } from 'vitest';
import type { ModelRollout } from '../api/index.js';
import { deploymentFor, IDENTITY_ENV } from './resources.js';

const rollout = {
  metadata: { name: 't2v', namespace: 'ml', uid: 'u1' },
  spec: {
    model: { name: 'wan', version: 'v2' },
    service: { name: 't2v' },
    template: {
      spec: {
        containers: [
          {
            name: 'server',
            image: 'x:v2',
            env: [
              { name: 'A', value: '1' },
              { name: 'MODELROLLOUT_REVISION', value: 'forged' },
            ],
          },
          { name: 'sidecar', image: 's' },
        ],
      },
    },
  },
} as unknown as ModelRollout;

describe('the pod identity', () => {
  it('puts revision and rollout name on the pod as labels and on the serving container as downward-API env', () => {
    const dep = deploymentFor(rollout, 'abc123', 1);
    expect(dep.spec!.template.metadata!.labels).toMatchObject({ 'modelrollout.dev/revision': 'abc123', 'modelrollout.dev/name': 't2v' });
    const env = dep.spec!.template.spec!.containers[0]!.env!;
    expect(env).toEqual([
      { name: 'A', value: '1' },
      { name: 'MODELROLLOUT_REVISION', valueFrom: { fieldRef: { fieldPath: "metadata.labels['modelrollout.dev/revision']" } } },
      { name: 'MODELROLLOUT_NAME', valueFrom: { fieldRef: { fieldPath: "metadata.labels['modelrollout.dev/name']" } } },
      { name: 'MODELROLLOUT_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'T2V_GPUS_PER_REPLICA', value: '1' },
    ]);
    expect(Object.keys(IDENTITY_ENV)).toEqual(['MODELROLLOUT_REVISION', 'MODELROLLOUT_NAME', 'MODELROLLOUT_NAMESPACE']);
    // The spec's own template is not modified.
    expect((rollout.spec.template as { spec: { containers: { env: unknown[] }[] } }).spec.containers[0]!.env).toHaveLength(2);
  });

  it('tells the runtime how many GPUs it holds (spec.gpu.perReplica), over any value in the template', () => {
    const template = { spec: { containers: [{ name: 'server', image: 'x:v2', env: [{ name: 'T2V_GPUS_PER_REPLICA', value: '2' }] }] } };
    const eight = { ...rollout, spec: { ...rollout.spec, template, gpu: { perReplica: 8 } } } as unknown as ModelRollout;
    const env = deploymentFor(eight, 'abc123', 1).spec!.template.spec!.containers[0]!.env!;
    expect(env.filter((e) => e.name === 'T2V_GPUS_PER_REPLICA')).toEqual([{ name: 'T2V_GPUS_PER_REPLICA', value: '8' }]);
  });
});
