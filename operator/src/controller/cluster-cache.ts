// The informers the controller reads from, and how their events map to rollout keys.
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { FreshCache } from '../kube/fresh-cache.js';
import { ResilientInformer } from '../kube/informer.js';
import { HTTPROUTE, type HttpRoute } from '../traffic/gateway-api.js';
import type { ModelRollout } from './model-rollout.js';
import { GROUP, LABEL_NAME, PLURAL, VERSION } from './names.js';

export type HttpRouteObject = HttpRoute & k8s.KubernetesObject;

export class ClusterCache {
  readonly rolloutInformer: ResilientInformer<ModelRollout & k8s.KubernetesObject>;
  readonly rollouts: FreshCache<ModelRollout & k8s.KubernetesObject>;
  readonly deployments: FreshCache<k8s.V1Deployment>;
  readonly services: FreshCache<k8s.V1Service>;
  readonly httpRoutes: FreshCache<HttpRouteObject>;
  readonly pods: ResilientInformer<k8s.V1Pod>;
  readonly nodes: ResilientInformer<k8s.V1Node>;
  private readonly informers: ResilientInformer<k8s.KubernetesObject>[];

  /** `enqueue` gets "namespace/name" of every rollout an event may concern. */
  constructor(kc: k8s.KubeConfig, log: Logger, enqueue: (key: string) => void, namespace?: string) {
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    const ns = (p: string, group: string) => (namespace ? `${group}/namespaces/${namespace}/${p}` : `${group}/${p}`);
    const byLabel = (o: k8s.KubernetesObject) => {
      const name = o.metadata?.labels?.[LABEL_NAME];
      if (name) enqueue(`${o.metadata!.namespace}/${name}`);
    };
    const informer = <T extends k8s.KubernetesObject>(kind: string, path: string, list: () => Promise<unknown>, onChange: (o: T) => void, labelSelector?: string) =>
      new ResilientInformer<T>(kc, { kind, path, list: list as () => Promise<k8s.KubernetesListObject<T>>, labelSelector, log, onChange });

    this.rolloutInformer = informer('ModelRollout', ns(PLURAL, `/apis/${GROUP}/${VERSION}`),
      () => (namespace ? custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace }) : custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })),
      (o) => enqueue(`${o.metadata!.namespace}/${o.metadata!.name}`));
    const deployments = informer<k8s.V1Deployment>('Deployment', ns('deployments', '/apis/apps/v1'),
      () => (namespace ? apps.listNamespacedDeployment({ namespace, labelSelector: LABEL_NAME }) : apps.listDeploymentForAllNamespaces({ labelSelector: LABEL_NAME })), byLabel, LABEL_NAME);
    const services = informer<k8s.V1Service>('Service', ns('services', '/api/v1'),
      () => (namespace ? core.listNamespacedService({ namespace, labelSelector: LABEL_NAME }) : core.listServiceForAllNamespaces({ labelSelector: LABEL_NAME })), byLabel, LABEL_NAME);
    this.pods = informer<k8s.V1Pod>('Pod', '/api/v1/pods', () => core.listPodForAllNamespaces(), byLabel);
    this.nodes = informer<k8s.V1Node>('Node', '/api/v1/nodes', () => core.listNode(), () => undefined);
    const routes = informer<HttpRouteObject>('HTTPRoute', ns(HTTPROUTE.plural, `/apis/${HTTPROUTE.group}/${HTTPROUTE.version}`),
      () => (namespace ? custom.listNamespacedCustomObject({ ...HTTPROUTE, namespace }) : custom.listClusterCustomObject(HTTPROUTE)),
      (route) => {
        for (const ro of this.rollouts.list(route.metadata?.namespace)) {
          if (ro.spec?.trafficRouting?.gatewayAPI?.httpRoute === route.metadata?.name) enqueue(`${ro.metadata!.namespace}/${ro.metadata!.name}`);
        }
      });
    this.rollouts = new FreshCache(this.rolloutInformer);
    this.deployments = new FreshCache(deployments);
    this.services = new FreshCache(services);
    this.httpRoutes = new FreshCache(routes);
    this.informers = [this.rolloutInformer, deployments, services, this.pods, this.nodes, routes] as ResilientInformer<k8s.KubernetesObject>[];
  }

  async start(): Promise<void> {
    // Dependents first, so the first reconciles see complete caches.
    const [rollouts, ...rest] = this.informers;
    await Promise.all(rest.map((i) => i.start()));
    await rollouts!.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.stop()));
  }

  get synced(): boolean {
    return this.informers.every((i) => i.synced);
  }
}
