// The informers the controller reads from, and how their events map to rollout keys.
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { FreshCache } from '../kube/fresh-cache.js';
import { ResilientInformer } from '../kube/informer.js';
import { ROUTERS, type RouteObject } from '../traffic/index.js';
import { GROUP, KIND, LABEL_NAME, type ModelRollout, PLURAL, VERSION } from '../api/index.js';

export type RouteObjectK8s = RouteObject & k8s.KubernetesObject;

/** Objects grouped by the rollout that owns them (label modelrollout.dev/name), kept current by informer events. */
class ByRollout<T extends k8s.KubernetesObject> {
  private readonly groups = new Map<string, Map<string, T>>();

  update(obj: T, verb: 'add' | 'update' | 'delete'): void {
    const owner = obj.metadata?.labels?.[LABEL_NAME];
    if (!owner) return;
    const key = `${obj.metadata!.namespace}/${owner}`;
    let group = this.groups.get(key);
    if (verb === 'delete') {
      group?.delete(obj.metadata!.name!);
      if (group?.size === 0) this.groups.delete(key);
      return;
    }
    if (!group) this.groups.set(key, (group = new Map()));
    group.set(obj.metadata!.name!, obj);
  }

  of(namespace: string, rollout: string): T[] {
    return [...(this.groups.get(`${namespace}/${rollout}`)?.values() ?? [])];
  }
}

export class ClusterCache {
  readonly rolloutInformer: ResilientInformer<ModelRollout & k8s.KubernetesObject>;
  readonly rollouts: FreshCache<ModelRollout & k8s.KubernetesObject>;
  readonly deployments: FreshCache<k8s.V1Deployment>;
  readonly services: FreshCache<k8s.V1Service>;
  /** Stored pod templates of each revision (see revision-history.ts). */
  readonly controllerRevisions: FreshCache<k8s.V1ControllerRevision>;
  /** What each registered router watches (HTTPRoutes, VirtualServices, ...), by its specKey. */
  readonly routes: ReadonlyMap<string, FreshCache<RouteObjectK8s>>;
  readonly pods: ResilientInformer<k8s.V1Pod>;
  readonly nodes: ResilientInformer<k8s.V1Node>;
  private readonly informers: ResilientInformer<k8s.KubernetesObject>[];
  private readonly deploymentIndex = new ByRollout<k8s.V1Deployment>();
  private readonly podIndex = new ByRollout<k8s.V1Pod>();
  private gpuCache: { version: number; resource: string; free: number[] } | undefined;
  private podsAndNodesVersion = 0;

  /** `enqueue` gets "namespace/name" of every rollout an event may concern. */
  constructor(kc: k8s.KubeConfig, log: Logger, enqueue: (key: string) => void, namespace?: string) {
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    const ns = (p: string, group: string) => (namespace ? `${group}/namespaces/${namespace}/${p}` : `${group}/${p}`);
    const byLabel = (o: k8s.KubernetesObject, _verb?: 'add' | 'update' | 'delete') => {
      const name = o.metadata?.labels?.[LABEL_NAME];
      if (name) enqueue(`${o.metadata!.namespace}/${name}`);
    };
    const informer = <T extends k8s.KubernetesObject>(
      kind: string,
      path: string,
      list: () => Promise<unknown>,
      onChange: (o: T, verb: 'add' | 'update' | 'delete') => void,
      labelSelector?: string,
      optional = false,
    ) => new ResilientInformer<T>(kc, { kind, path, list: list as () => Promise<k8s.KubernetesListObject<T>>, labelSelector, log, onChange, optional });
    const routeOwners = (o: k8s.KubernetesObject, matches: (ro: ModelRollout) => boolean) => {
      for (const ro of this.rollouts.list(o.metadata?.namespace)) if (matches(ro)) enqueue(`${ro.metadata!.namespace}/${ro.metadata!.name}`);
    };

    this.rolloutInformer = informer(
      KIND,
      ns(PLURAL, `/apis/${GROUP}/${VERSION}`),
      () =>
        namespace
          ? custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace })
          : custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL }),
      (o) => enqueue(`${o.metadata!.namespace}/${o.metadata!.name}`),
    );
    const deployments = informer<k8s.V1Deployment>(
      'Deployment',
      ns('deployments', '/apis/apps/v1'),
      () =>
        namespace
          ? apps.listNamespacedDeployment({ namespace, labelSelector: LABEL_NAME })
          : apps.listDeploymentForAllNamespaces({ labelSelector: LABEL_NAME }),
      (o, verb) => {
        this.deploymentIndex.update(o, verb);
        // Our last write of a deleted object must not outlive it (the overlay would bring it back).
        if (verb === 'delete') this.deployments.forget(o.metadata!.name!, o.metadata!.namespace);
        byLabel(o);
      },
      LABEL_NAME,
    );
    const services = informer<k8s.V1Service>(
      'Service',
      ns('services', '/api/v1'),
      () =>
        namespace ? core.listNamespacedService({ namespace, labelSelector: LABEL_NAME }) : core.listServiceForAllNamespaces({ labelSelector: LABEL_NAME }),
      (o, verb) => {
        if (verb === 'delete') this.services.forget(o.metadata!.name!, o.metadata!.namespace);
        byLabel(o);
      },
      LABEL_NAME,
    );
    const controllerRevisions = informer<k8s.V1ControllerRevision>(
      'ControllerRevision',
      ns('controllerrevisions', '/apis/apps/v1'),
      () =>
        namespace
          ? apps.listNamespacedControllerRevision({ namespace, labelSelector: LABEL_NAME })
          : apps.listControllerRevisionForAllNamespaces({ labelSelector: LABEL_NAME }),
      (o, verb) => {
        if (verb === 'delete') this.controllerRevisions.forget(o.metadata!.name!, o.metadata!.namespace);
        byLabel(o);
      },
      LABEL_NAME,
    );
    this.pods = informer<k8s.V1Pod>(
      'Pod',
      '/api/v1/pods',
      () => core.listPodForAllNamespaces(),
      (o, verb) => {
        this.podsAndNodesVersion++;
        this.podIndex.update(o, verb);
        byLabel(o);
      },
    );
    this.nodes = informer<k8s.V1Node>(
      'Node',
      '/api/v1/nodes',
      () => core.listNode(),
      () => {
        this.podsAndNodesVersion++;
      },
    );
    // One optional informer per registered router: its CRDs may not be installed in this cluster.
    const routeInformers = ROUTERS.map((router) => {
      const { kind, resource } = router.watches;
      const routing = (ro: ModelRollout) => (ro.spec?.trafficRouting as Record<string, unknown> | undefined)?.[router.specKey];
      return [
        router.specKey,
        informer<RouteObjectK8s>(
          kind,
          ns(resource.plural, `/apis/${resource.group}/${resource.version}`),
          () => (namespace ? custom.listNamespacedCustomObject({ ...resource, namespace }) : custom.listClusterCustomObject(resource)),
          (obj) => routeOwners(obj, (ro) => router.objectName(routing(ro)) === obj.metadata?.name),
          undefined,
          true,
        ),
      ] as const;
    });
    this.rollouts = new FreshCache(this.rolloutInformer);
    this.deployments = new FreshCache(deployments);
    this.services = new FreshCache(services);
    this.controllerRevisions = new FreshCache(controllerRevisions);
    this.routes = new Map(routeInformers.map(([key, inf]) => [key, new FreshCache(inf)]));
    this.informers = [
      this.rolloutInformer,
      deployments,
      services,
      controllerRevisions,
      this.pods,
      this.nodes,
      ...routeInformers.map(([, inf]) => inf),
    ] as ResilientInformer<k8s.KubernetesObject>[];
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

  /** The rollout's Deployments, our own recent writes included. */
  deploymentsOf(namespace: string, rollout: string): k8s.V1Deployment[] {
    const fresh = this.deploymentIndex.of(namespace, rollout).map((d) => this.deployments.get(d.metadata!.name!, namespace) ?? d);
    const known = new Set(fresh.map((d) => d.metadata!.name));
    for (const d of this.deployments.writtenIn(namespace)) {
      if (d.metadata?.labels?.[LABEL_NAME] === rollout && !known.has(d.metadata.name)) fresh.push(d);
    }
    return fresh;
  }

  podsOf(namespace: string, rollout: string): k8s.V1Pod[] {
    return this.podIndex.of(namespace, rollout);
  }

  /** Free GPUs per schedulable node; recomputed only when a pod or node changed. */
  freeGpus(resource: string, compute: (nodes: readonly k8s.V1Node[], pods: readonly k8s.V1Pod[]) => number[]): number[] {
    const cached = this.gpuCache;
    if (cached && cached.version === this.podsAndNodesVersion && cached.resource === resource) return cached.free;
    const version = this.podsAndNodesVersion;
    const free = compute(this.nodes.list(), this.pods.list());
    this.gpuCache = { version, resource, free };
    return free;
  }

  get synced(): boolean {
    return this.informers.every((i) => i.synced);
  }
}
