import type * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { publishedAssignment } from '../analysis/experiment-gate.js';
import type { ModelRollout } from '../api/index.js';
import { experimentConfigMapData, forgetExperimentConfigMap, syncExperimentConfigMap } from './experiment-configmap.js';
import { ObjectNotOwnedError } from './write-errors.js';

/** A ConfigMap store that answers as the API server does: 404 on a missing read, 409 on a create that exists. */
class FakeCore {
  readonly objects = new Map<string, k8s.V1ConfigMap>();
  readonly calls: string[] = [];
  readNamespacedConfigMap({ name }: { name: string }): Promise<k8s.V1ConfigMap> {
    this.calls.push(`get ${name}`);
    const o = this.objects.get(name);
    return o ? Promise.resolve(structuredClone(o)) : Promise.reject(Object.assign(new Error('not found'), { code: 404 }));
  }
  createNamespacedConfigMap({ body }: { body: k8s.V1ConfigMap }): Promise<k8s.V1ConfigMap> {
    this.calls.push(`create ${body.metadata!.name}`);
    if (this.objects.has(body.metadata!.name!)) return Promise.reject(Object.assign(new Error('exists'), { code: 409 }));
    this.objects.set(body.metadata!.name!, structuredClone(body));
    return Promise.resolve(body);
  }
  replaceNamespacedConfigMap({ name, body }: { name: string; body: k8s.V1ConfigMap }): Promise<k8s.V1ConfigMap> {
    this.calls.push(`update ${name}`);
    this.objects.set(name, structuredClone(body));
    return Promise.resolve(body);
  }
}

const ro = (uid: string) => ({ metadata: { name: 'video', namespace: 'ns', uid } }) as unknown as ModelRollout;

describe('syncExperimentConfigMap', () => {
  it('creates the ConfigMap owned by the rollout, updates it when the ranges grow, and makes no request when nothing changed', async () => {
    const core = new FakeCore();
    const deps = { core: core as unknown as k8s.CoreV1Api, onRequest: () => {}, now: () => 0 };
    forgetExperimentConfigMap('ns/video');
    await syncExperimentConfigMap(ro('uid-1'), publishedAssignment('abc', 5), deps);
    const created = core.objects.get('video-experiment')!;
    expect(created.metadata!.ownerReferences).toEqual([expect.objectContaining({ kind: 'ModelRollout', name: 'video', uid: 'uid-1', controller: true })]);
    expect(created.data).toMatchObject({ salt: 'abc', treatment: '0-500', control: '5000-5500', weight: '5', ended: 'false', header: 'X-ModelRollout-Arm' });
    expect(JSON.parse(created.data!['assignment.json']!)).toEqual(publishedAssignment('abc', 5));
    const calls = core.calls.length;
    await syncExperimentConfigMap(ro('uid-1'), publishedAssignment('abc', 5), deps);
    expect(core.calls.length).toBe(calls);
    await syncExperimentConfigMap(ro('uid-1'), publishedAssignment('abc', 20), deps);
    expect(core.objects.get('video-experiment')!.data).toEqual(experimentConfigMapData(publishedAssignment('abc', 20)));
    expect(core.calls.slice(calls)).toEqual(['get video-experiment', 'update video-experiment']);
  });

  it("never overwrites someone else's ConfigMap of that name", async () => {
    const core = new FakeCore();
    core.objects.set('video-experiment', { metadata: { name: 'video-experiment', ownerReferences: [] }, data: { mine: 'yes' } });
    forgetExperimentConfigMap('ns/video');
    const sync = syncExperimentConfigMap(ro('uid-1'), publishedAssignment('abc', 5), {
      core: core as unknown as k8s.CoreV1Api,
      onRequest: () => {},
      now: () => 0,
    });
    await expect(sync).rejects.toBeInstanceOf(ObjectNotOwnedError);
    expect(core.objects.get('video-experiment')!.data).toEqual({ mine: 'yes' });
  });

  it('a rollout recreated under the same name (new uid) writes again', async () => {
    const core = new FakeCore();
    const deps = { core: core as unknown as k8s.CoreV1Api, onRequest: () => {}, now: () => 0 };
    forgetExperimentConfigMap('ns/video');
    await syncExperimentConfigMap(ro('uid-1'), publishedAssignment('abc', 5), deps);
    core.objects.clear();
    await syncExperimentConfigMap(ro('uid-2'), publishedAssignment('abc', 5), deps);
    expect(core.objects.get('video-experiment')!.metadata!.ownerReferences![0]!.uid).toBe('uid-2');
  });
});
