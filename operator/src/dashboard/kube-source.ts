// The dashboard's reads and writes through @kubernetes/client-node with the user's kubeconfig, as the plugin's.
import * as k8s from '@kubernetes/client-node';
import { KIND, LABEL_NAME, MODEL_ROLLOUT_RESOURCE, type ModelRollout } from '../api/index.js';
import { isNotFound } from '../kube/errors.js';
import type { DashboardSource } from './server.js';

export function kubeSource(kc: k8s.KubeConfig, namespace: string): DashboardSource {
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const orUndefined = <T>(p: Promise<T>): Promise<T | undefined> => p.catch((err: unknown) => (isNotFound(err) ? undefined : Promise.reject(err)));
  return {
    list: async () => ((await custom.listNamespacedCustomObject({ ...MODEL_ROLLOUT_RESOURCE, namespace })) as { items: ModelRollout[] }).items,
    get: async (name) => {
      const labelSelector = `${LABEL_NAME}=${name}`;
      const [rollout, deployments, events] = await Promise.all([
        orUndefined(custom.getNamespacedCustomObject({ ...MODEL_ROLLOUT_RESOURCE, namespace, name }) as Promise<ModelRollout>),
        apps.listNamespacedDeployment({ namespace, labelSelector }),
        core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.kind=${KIND},involvedObject.name=${name}` }),
      ]);
      return rollout && { rollout, deployments: deployments.items, events: events.items };
    },
    annotate: async (name, annotations) =>
      (await orUndefined(
        custom.patchNamespacedCustomObject(
          { ...MODEL_ROLLOUT_RESOURCE, namespace, name, body: { metadata: { annotations } } },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        ),
      )) !== undefined,
  };
}
