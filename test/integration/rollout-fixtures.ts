// Builders and readers for ModelRollout integration tests.
import * as k8s from '@kubernetes/client-node';
import { waitUntil } from './support.js';
import { API_VERSION, KIND, LABEL_REVISION, MODEL_ROLLOUT_RESOURCE as MRO, revisionObjectName } from '../../operator/src/api/index.js';
// The tests pass it to CustomObjectsApi calls: { ...MRO, namespace, name }.
export { MRO };

export const ROUTE = { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes' } as const;
export const VS = { group: 'networking.istio.io', version: 'v1', plural: 'virtualservices' } as const;
export type RouterKind = 'gateway-api' | 'istio';
export const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

export interface RolloutStatusView {
  phase?: string;
  message?: string;
  observedGeneration?: number;
  stable?: { revision: string; modelVersion: string };
  candidate?: { revision: string; modelVersion: string };
  previousStable?: { revision: string };
  currentStep?: { index: number; weight: number; label: string };
  weights?: { stable: number; candidate: number; mirrorPercent?: number };
  replicas?: { stable: { desired: number; ready: number }; candidate: { desired: number; ready: number } };
  conditions?: { type: string; status: string; reason: string; message: string; observedGeneration: number }[];
  history?: { reason: string; phase: string; weight?: number }[];
  failure?: { reason: string; message: string };
  webhookGate?: { type: string; name: string; since: string; lastAnswer: string };
  preRolloutPassed?: boolean;
}

export interface RolloutObject {
  metadata: k8s.V1ObjectMeta;
  spec: Record<string, unknown>;
  status?: RolloutStatusView;
}

export class RolloutFixture {
  readonly custom: k8s.CustomObjectsApi;
  readonly apps: k8s.AppsV1Api;
  readonly core: k8s.CoreV1Api;

  constructor(
    kc: k8s.KubeConfig,
    readonly namespace: string,
    readonly name = 't2v',
    readonly modelName = 'wan-t2v',
    readonly router: RouterKind = 'gateway-api',
  ) {
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.apps = kc.makeApiClient(k8s.AppsV1Api);
    this.core = kc.makeApiClient(k8s.CoreV1Api);
  }

  /** The user's route: an unrelated first rule/route, and the one the rollout manages. */
  async createRoute(): Promise<void> {
    if (this.router === 'istio') {
      await this.custom.createNamespacedCustomObject({
        ...VS,
        namespace: this.namespace,
        body: {
          apiVersion: 'networking.istio.io/v1',
          kind: 'VirtualService',
          metadata: { name: 'edge-vs' },
          spec: {
            hosts: ['t2v.example.com'],
            http: [
              { name: 'health', match: [{ uri: { prefix: '/healthz' } }], route: [{ destination: { host: 'other' } }] },
              { name: 'primary', route: [{ destination: { host: `${this.name}-stable` } }] },
            ],
          },
        },
      });
      return;
    }
    await this.custom.createNamespacedCustomObject({
      ...ROUTE,
      namespace: this.namespace,
      body: {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        metadata: { name: 'edge-route' },
        spec: {
          parentRefs: [{ name: 'edge' }],
          rules: [
            { matches: [{ path: { type: 'PathPrefix', value: '/healthz' } }], backendRefs: [{ name: 'other', port: 80 }] },
            { backendRefs: [{ name: `${this.name}-stable`, port: 80 }] },
          ],
        },
      },
    });
  }

  trafficRouting(): Record<string, unknown> {
    return this.router === 'istio' ? { istio: { virtualService: 'edge-vs', routeName: 'primary' } } : { gatewayAPI: { httpRoute: 'edge-route', ruleIndex: 1 } };
  }

  spec(over: Record<string, unknown> = {}, version = 'v1'): Record<string, unknown> {
    return {
      replicas: 2,
      model: { name: this.modelName, version },
      service: { name: this.name },
      trafficRouting: this.trafficRouting(),
      strategy: { stepDuration: '1s', progressDeadline: '1m' },
      template: { spec: { containers: [{ name: 'server', image: `example.invalid/t2v:${version}` }] } },
      ...over,
    };
  }

  async create(spec: Record<string, unknown>): Promise<void> {
    await this.custom.createNamespacedCustomObject({
      ...MRO,
      namespace: this.namespace,
      body: { apiVersion: API_VERSION, kind: KIND, metadata: { name: this.name }, spec },
    });
  }

  async get(): Promise<RolloutObject> {
    return (await this.custom.getNamespacedCustomObject({ ...MRO, namespace: this.namespace, name: this.name })) as RolloutObject;
  }

  async patch(body: Record<string, unknown>): Promise<void> {
    await this.custom.patchNamespacedCustomObject({ ...MRO, namespace: this.namespace, name: this.name, body }, mergePatch);
  }

  /** A new model version: new image and version, so a new revision. */
  async setVersion(version: string, extra: Record<string, unknown> = {}): Promise<void> {
    await this.patch({
      spec: {
        model: { name: this.modelName, version },
        template: { spec: { containers: [{ name: 'server', image: `example.invalid/t2v:${version}` }] } },
        ...extra,
      },
    });
  }

  async annotate(annotations: Record<string, string | null>): Promise<void> {
    await this.patch({ metadata: { annotations } });
  }

  async routeRule(): Promise<{
    backendRefs?: { name: string; weight?: number }[];
    filters?: { type: string; requestMirror?: { backendRef: { name: string }; percent?: number } }[];
  }> {
    const route = (await this.custom.getNamespacedCustomObject({ ...ROUTE, namespace: this.namespace, name: 'edge-route' })) as { spec: { rules: unknown[] } };
    return route.spec.rules[1] as never;
  }

  async virtualServiceRoute(): Promise<{
    route?: { destination: { host: string }; weight?: number }[];
    mirror?: { host: string };
    mirrorPercentage?: { value: number };
  }> {
    const vs = (await this.custom.getNamespacedCustomObject({ ...VS, namespace: this.namespace, name: 'edge-vs' })) as { spec: { http: { name: string }[] } };
    return vs.spec.http.find((h) => h.name === 'primary') as never;
  }

  /** The other route/rule, which the rollout must leave alone. */
  async untouchedRoute(): Promise<string[]> {
    if (this.router === 'istio') {
      const vs = (await this.custom.getNamespacedCustomObject({ ...VS, namespace: this.namespace, name: 'edge-vs' })) as {
        spec: { http: { name: string; route: { destination: { host: string } }[] }[] };
      };
      return vs.spec.http[0]!.route.map((r) => r.destination.host);
    }
    const route = (await this.custom.getNamespacedCustomObject({ ...ROUTE, namespace: this.namespace, name: 'edge-route' })) as {
      spec: { rules: { backendRefs: { name: string }[] }[] };
    };
    return route.spec.rules[0]!.backendRefs.map((b) => b.name);
  }

  /** [stable, candidate] weights of the managed rule/route; candidate 0 when only stable is there. */
  async weights(): Promise<[number, number]> {
    if (this.router === 'istio') {
      const dests = (await this.virtualServiceRoute()).route ?? [];
      const w = (n: string) => dests.find((d) => d.destination.host === n)?.weight ?? (dests.length === 1 && dests[0]!.destination.host === n ? 100 : 0);
      return [w(`${this.name}-stable`), w(`${this.name}-candidate`)];
    }
    const refs = (await this.routeRule()).backendRefs ?? [];
    const w = (n: string) => refs.find((r) => r.name === n)?.weight ?? (refs.some((r) => r.name === n) ? 1 : 0);
    return [w(`${this.name}-stable`), w(`${this.name}-candidate`)];
  }

  /** Where and how much traffic is mirrored, or undefined. */
  async mirror(): Promise<{ target: string; percent: number } | undefined> {
    if (this.router === 'istio') {
      const r = await this.virtualServiceRoute();
      return r.mirror ? { target: r.mirror.host, percent: r.mirrorPercentage?.value ?? 100 } : undefined;
    }
    const filters = (await this.routeRule()).filters ?? [];
    const m = filters.find((f) => f.type === 'RequestMirror');
    if (filters.length > 1) throw new Error(`unexpected filters: ${JSON.stringify(filters)}`);
    return m ? { target: m.requestMirror!.backendRef.name, percent: m.requestMirror!.percent ?? 100 } : undefined;
  }

  async deploymentOf(revision: string): Promise<k8s.V1Deployment | undefined> {
    return this.apps.readNamespacedDeployment({ name: revisionObjectName(this.name, revision), namespace: this.namespace }).catch(() => undefined);
  }

  /**
   * Ready replicas of a revision as the data plane counts them: its pods that are Ready and not terminating, at most
   * the Deployment's spec.replicas (the rest are being removed). Not Deployment.status.readyReplicas: the controller
   * manager updates it after the pods, so it lags the capacity the Service really has.
   */
  async readyReplicasOf(revision: string): Promise<number> {
    const dep = await this.deploymentOf(revision);
    if (!dep) return 0;
    const pods = await this.core.listNamespacedPod({ namespace: this.namespace, labelSelector: `${LABEL_REVISION}=${revision}` });
    const ready = pods.items.filter(
      (p) => !p.metadata?.deletionTimestamp && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    ).length;
    return Math.min(ready, dep.spec?.replicas ?? 1);
  }

  async waitFor(what: string, check: (ro: RolloutObject) => boolean, timeoutMs = 120_000): Promise<RolloutObject> {
    let last: RolloutObject | undefined;
    try {
      return await waitUntil(
        what,
        async () => {
          last = await this.get();
          return check(last) ? last : undefined;
        },
        timeoutMs,
        100,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}\nlast status: ${JSON.stringify(last?.status, null, 1)?.slice(0, 3000)}`, { cause: err });
    }
  }

  condition(ro: RolloutObject, type: string) {
    return ro.status?.conditions?.find((c) => c.type === type);
  }

  async events(): Promise<k8s.CoreV1Event[]> {
    return (await this.core.listNamespacedEvent({ namespace: this.namespace, fieldSelector: `involvedObject.name=${this.name}` })).items;
  }
}

/**
 * Polls route and candidate pods while a rollout runs: the distinct candidate weights seen, and any moment the
 * candidate carried more traffic than its ready replicas can serve.
 */
export class WeightRecorder {
  readonly weights: number[] = [];
  readonly violations: string[] = [];
  private stopped = false;
  private failure: unknown;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly fx: RolloutFixture,
    private readonly fullReplicas: number,
  ) {}

  start(): void {
    this.loop = (async () => {
      try {
        while (!this.stopped) {
          await this.sample();
          await new Promise((r) => setTimeout(r, 50));
        }
        // One last look, so the final state is in the record however the stop raced with the loop.
        await this.sample();
      } catch (err) {
        // A failed read ends the loop (a test that failed early deletes its namespace under it); stop() reports it.
        this.failure = err;
      }
    })();
  }

  private async sample(): Promise<void> {
    const rev = (await this.fx.get()).status?.candidate?.revision;
    const [, candW] = await this.fx.weights();
    if (this.weights[this.weights.length - 1] !== candW) this.weights.push(candW);
    if (rev && candW > 0) {
      const ready = await this.fx.readyReplicasOf(rev);
      const needed = Math.max(1, Math.ceil((candW * this.fullReplicas) / 100));
      if (ready < needed) this.violations.push(`candidate weight ${candW} % with ${ready} ready (needs ${needed})`);
    }
  }

  /** Ends the loop; throws what a read failed with, so a recorder that stopped early cannot pass a test. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    if (this.failure !== undefined) throw this.failure;
  }
}
