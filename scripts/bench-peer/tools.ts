// The three controllers `npm run bench:peer` compares, each configured the way its docs recommend for a
// 1→5→20→50→100 % canary judged on one PromQL error ratio, on the same control plane, Prometheus and backends
// (kwok pods with one GPU each whose metrics the stand-in serves). One interface, one object per tool.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as k8s from '@kubernetes/client-node';
import { API_VERSION, KIND, LABEL_MODEL_NAME, LABEL_NAME, MODEL_ROLLOUT_RESOURCE as MRO, type RolloutStatus } from '../../operator/src/api/index.js';
import { binaryDir } from '../../test/env/binaries.js';
import { launchOperator } from '../../test/env/operator-launcher.js';
import { freePort } from '../../test/env/ports.js';
import type { ProcessGroup } from '../../test/env/process-group.js';
import type { PeerKnobs } from './args.js';

/** Keep in step with hack/build-peers.sh. */
export const ARGO_ROLLOUTS_VERSION = 'v1.10.2';
export const FLAGGER_VERSION = 'v1.36.1';
/** The peers' binaries and CRDs, built by hack/build-peers.sh. */
export const peerPaths = {
  argo: path.join(binaryDir(), `argo-rollouts-${ARGO_ROLLOUTS_VERSION}`, 'rollouts-controller'),
  argoCrds: path.join(binaryDir(), `argo-rollouts-${ARGO_ROLLOUTS_VERSION}`, 'crds'),
  flagger: path.join(binaryDir(), `flagger-${FLAGGER_VERSION}`, 'flagger'),
  flaggerCrds: path.join(binaryDir(), `flagger-${FLAGGER_VERSION}`, 'crd.yaml'),
};

export const STEPS = [1, 5, 20, 50, 100];
/** The error ratio every tool rolls back on (the candidate's server errors over its requests). */
export const MAX_ERROR_RATIO = 0.01;

export interface BenchSettings {
  replicas: number;
  stepSeconds: number;
  prometheus: string;
  /** How often a tool that can check faster than a step does so (ModelRollout's breaker, Argo's background analysis). */
  checkSeconds: number;
  /** The query's rate window. */
  windowSeconds: number;
  /** On every pod template (scenario 3: kwok's readiness delay). */
  podAnnotations: Record<string, string>;
  /**
   * The scenario's versions: the image tag of each side, which is also the `model_version` label of its series
   * (ModelRollout's `spec.model.version`; the stand-in reads it from the tag). Every tool's query names the candidate's.
   */
  stableVersion: string;
  candidateVersion: string;
  knobs: PeerKnobs;
  /** Scenario 4 (N rollouts): the peers' client rate limits are raised where their defaults throttle N rollouts. */
  many: boolean;
}

/** One rollout: its namespace, its name, and the model name its pods' series carry (unique per tool and rollout). */
export interface RolloutRef {
  ns: string;
  name: string;
  model: string;
}

export interface Launched {
  pid: number;
  metricsUrl?: string;
}

export interface Tool {
  key: 'modelrollout' | 'argo' | 'flagger';
  label: string;
  version: string;
  /** The weight of its last step before promotion (Flagger's last stepWeight is 50: it cannot hold 100 %). */
  lastStepWeight: number;
  /** What a reader needs to judge the fairness: every setting that matters, and what the tool cannot express. */
  settings(s: BenchSettings): string[];
  /** Starts the controller in `group` (the caller's, one per controller: stopAll() stops it); resolves once it is healthy. */
  launch(group: ProcessGroup, kubeconfigPath: string, s: BenchSettings): Promise<Launched>;
  /** The Prometheus histogram of its reconcile durations on its own /metrics, where it exposes one. */
  reconcileHistogram?: string;
  /** The rollout's objects at `version`, as a user would apply them. */
  create(kc: k8s.KubeConfig, r: RolloutRef, s: BenchSettings, version: string): Promise<void>;
  setVersion(kc: k8s.KubeConfig, r: RolloutRef, s: BenchSettings, version: string): Promise<void>;
  /**
   * The names of the rollouts in `namespace` with 100 % of traffic on `version` and nothing in progress: one LIST
   * per kind it reads, whatever N (one GET per rollout and round lagged at N = 1,000).
   */
  settledIn(kc: k8s.KubeConfig, namespace: string, version: string): Promise<Set<string>>;
  /** The candidate's weight in the route object the tool writes. */
  candidateWeight(kc: k8s.KubeConfig, r: RolloutRef): Promise<number>;
}

/** The PromQL error ratio of the candidate's pods (`version`: their image tag, i.e. their model_version label), given to every tool as its rollback query. */
export function errorRatioQuery(model: string, version: string, windowSeconds: number): string {
  const sel = `model_name="${model}",model_version="${version}"`;
  return `sum(rate(t2v_requests_total{${sel},outcome="server_error"}[${windowSeconds}s])) / sum(rate(t2v_requests_total{${sel}}[${windowSeconds}s]))`;
}

const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const HTTPROUTE = { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes' };
const ARGO_ROLLOUT = { group: 'argoproj.io', version: 'v1alpha1', plural: 'rollouts' };
const ARGO_TEMPLATE = { group: 'argoproj.io', version: 'v1alpha1', plural: 'analysistemplates' };
const VIRTUAL_SERVICE = { group: 'networking.istio.io', version: 'v1alpha3', plural: 'virtualservices' };
const CANARY = { group: 'flagger.app', version: 'v1beta1', plural: 'canaries' };
const METRIC_TEMPLATE = { group: 'flagger.app', version: 'v1beta1', plural: 'metrictemplates' };

/** The pod template the peers get: what ModelRollout's pods carry that matters here (one GPU, the labels the metrics stand-in follows). */
function peerPodTemplate(r: RolloutRef, s: BenchSettings, version: string) {
  return {
    metadata: { labels: { app: r.name, [LABEL_NAME]: r.name, [LABEL_MODEL_NAME]: r.model }, annotations: s.podAnnotations },
    spec: {
      containers: [
        {
          name: 'server',
          image: `example.invalid/t2v:${version}`,
          ports: [{ name: 'http', containerPort: 8080 }],
          resources: { limits: { 'nvidia.com/gpu': '1' } },
        },
      ],
    },
  };
}

async function waitHealthz(url: string, pid: number, logFile: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (
      await fetch(url).then(
        (res) => res.ok,
        () => false,
      )
    )
      return;
    try {
      process.kill(pid, 0);
    } catch {
      throw new Error(`controller exited during start-up: ${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
    }
    await sleep(200);
  }
  throw new Error(`${url} not healthy after 60 s (log ${logFile})`);
}

const modelRollout: Tool = {
  key: 'modelrollout',
  label: 'ModelRollout',
  lastStepWeight: 100,
  reconcileHistogram: 'modelrollout_reconcile_duration_seconds',
  version: `this checkout (compiled, node --max-old-space-size=256)`,
  settings: (s) => [
    `spec.strategy.steps [${STEPS.join(', ')}], stepDuration ${s.stepSeconds}s; replicas ${s.replicas}`,
    `versions ${s.stableVersion} → ${s.candidateVersion} (spec.model.version and the image tag; every tool's query names the candidate's model_version)`,
    `analysis: interval ${s.stepSeconds}s, breakerInterval ${s.checkSeconds}s, breakerWindow ${s.windowSeconds}s, minRequests 10, metrics [template error-rate] (its built-in: the candidate revision's server errors / requests, judged on counts; max 1 %)`,
    'route: Gateway API HTTPRoute (its core router); leader election off, as for the peers',
  ],
  async launch(group, kubeconfigPath) {
    const replica = await launchOperator(group, {
      kubeconfigPath,
      namespace: '',
      identity: 'modelrollout-bench',
      entry: 'dist',
      env: { MODELROLLOUT_LOG_LEVEL: 'info', MODELROLLOUT_LEADER_ELECT: 'false', MODELROLLOUT_WATCH_NAMESPACE: '', MODELROLLOUT_LEASE_NAMESPACE: 'default' },
    });
    return { pid: replica.pid, metricsUrl: `http://127.0.0.1:${replica.port}/metrics` };
  },
  async create(kc, r, s, version) {
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    await custom.createNamespacedCustomObject({
      ...HTTPROUTE,
      namespace: r.ns,
      body: {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        metadata: { name: r.name },
        spec: { parentRefs: [{ name: 'edge' }], rules: [{ backendRefs: [{ name: `${r.name}-stable`, port: 80 }] }] },
      },
    });
    await custom.createNamespacedCustomObject({
      ...MRO,
      namespace: r.ns,
      body: { apiVersion: API_VERSION, kind: KIND, metadata: { name: r.name }, spec: modelRolloutSpec(r, s, version) },
    });
  },
  async setVersion(kc, r, s, version) {
    await kc
      .makeApiClient(k8s.CustomObjectsApi)
      .patchNamespacedCustomObject({ ...MRO, namespace: r.ns, name: r.name, body: { spec: modelRolloutSpec(r, s, version) } }, mergePatch);
  },
  async settledIn(kc, namespace, version) {
    const list = (await kc.makeApiClient(k8s.CustomObjectsApi).listNamespacedCustomObject({ ...MRO, namespace })) as {
      items: { metadata: { name: string }; status?: RolloutStatus }[];
    };
    return namesWhere(list.items, (got) => got.status?.phase === 'Healthy' && got.status.stable?.modelVersion === version);
  },
  candidateWeight: (kc, r) => routeWeight(kc, r, `${r.name}-candidate`),
};

function modelRolloutSpec(r: RolloutRef, s: BenchSettings, version: string) {
  return {
    replicas: s.replicas,
    model: { name: r.model, version },
    service: { name: r.name },
    trafficRouting: { gatewayAPI: { httpRoute: r.name } },
    strategy: { steps: STEPS, stepDuration: `${s.stepSeconds}s`, progressDeadline: '30m' },
    template: { metadata: { annotations: s.podAnnotations }, spec: { containers: [{ name: 'server', image: `example.invalid/t2v:${version}` }] } },
    analysis: {
      interval: `${s.stepSeconds}s`,
      breakerInterval: `${s.checkSeconds}s`,
      breakerWindow: `${s.windowSeconds}s`,
      minRequests: 10,
      prometheus: { address: s.prometheus },
      metrics: [{ template: 'error-rate' }],
    },
  };
}

/** The names of the listed objects that pass `settled`. */
function namesWhere<T extends { metadata?: { name?: string } }>(items: T[], settled: (item: T) => boolean): Set<string> {
  return new Set(items.filter(settled).map((item) => item.metadata!.name!));
}

interface HttpRoute {
  metadata: { name: string };
  spec: { rules: { backendRefs?: { name: string; weight?: number }[] }[] };
}

const backendWeight = (route: HttpRoute | undefined, backend: string): number =>
  route?.spec.rules[0]?.backendRefs?.find((b) => b.name === backend)?.weight ?? 0;

async function routeWeight(kc: k8s.KubeConfig, r: RolloutRef, backend: string): Promise<number> {
  return backendWeight(
    (await kc.makeApiClient(k8s.CustomObjectsApi).getNamespacedCustomObject({ ...HTTPROUTE, namespace: r.ns, name: r.name })) as HttpRoute,
    backend,
  );
}

const argoRollouts: Tool = {
  key: 'argo',
  label: 'Argo Rollouts',
  lastStepWeight: 100,
  reconcileHistogram: 'rollout_reconcile',
  version: `${ARGO_ROLLOUTS_VERSION} (rollouts-controller built from the Go module with go1.27.3)`,
  settings: (s) => [
    `Rollout canary steps: setWeight 1/5/20/50/100, each followed by pause {duration: ${s.stepSeconds}s}; replicas ${s.replicas}`,
    `trafficRouting.istio.virtualService (its core router; Gateway API is a plugin), canaryService + stableService`,
    s.knobs.argoDynamicStableScale
      ? 'dynamicStableScale true (its docs recommend it with traffic routing to save resources: stable shrinks as traffic leaves it, and an aborted canary shrinks as traffic comes back; --argo-dynamic-stable-scale false for its default); scaleDownDelaySeconds 30 (default: the old ReplicaSet keeps its pods 30 s after the switch; "GPU-s until old pods gone" counts that tail)'
      : 'dynamicStableScale false (its default, chosen with --argo-dynamic-stable-scale false: stable stays at full size during the canary) and scaleDownDelaySeconds 30 (default: the old ReplicaSet, or an aborted canary, keeps its pods 30 s after the switch; "GPU-s until old pods gone" counts that tail)',
    `background analysis (strategy.canary.analysis, from step 0): AnalysisTemplate, prometheus provider, the same error-ratio query (window ${s.windowSeconds}s, model_version="${s.candidateVersion}"), interval ${s.checkSeconds}s, successCondition result[0] <= ${MAX_ERROR_RATIO}, failureLimit ${s.knobs.argoFailureLimit} (failed measurements tolerated before it aborts; --argo-failure-limit, 3 in every background-analysis example of its docs, its default 0 aborts on the first), consecutiveErrorLimit 4 (default)`,
    `flags: --leader-elect=false; scenarios 1–3: defaults otherwise (rollout-threads 10, qps 40, burst 80); scenario 4: --qps ${s.knobs.argoScaleQps} --burst ${2 * s.knobs.argoScaleQps} (--argo-scale-qps; its default 40/80 throttles N rollouts, Flagger's default is 100/250, ModelRollout has no client-side limit); no Istio data plane (the VirtualService is only read by this bench)`,
  ],
  async launch(group, kubeconfigPath, s) {
    const [metricsPort, healthzPort] = [await freePort(), await freePort()];
    const rate = s.many ? [`--qps=${s.knobs.argoScaleQps}`, `--burst=${2 * s.knobs.argoScaleQps}`] : [];
    const proc = group.start('argo-rollouts', peerPaths.argo, [
      `--kubeconfig=${kubeconfigPath}`,
      '--leader-elect=false',
      `--metricsPort=${metricsPort}`,
      `--healthzPort=${healthzPort}`,
      '--loglevel=info',
      ...rate,
    ]);
    await waitHealthz(`http://127.0.0.1:${healthzPort}/healthz`, proc.pid, proc.logFile);
    return { pid: proc.pid, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics` };
  },
  async create(kc, r, s, version) {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    for (const role of ['stable', 'canary'])
      await core.createNamespacedService({
        namespace: r.ns,
        body: { metadata: { name: `${r.name}-${role}` }, spec: { selector: { app: r.name }, ports: [{ port: 80, targetPort: 8080 }] } },
      });
    await custom.createNamespacedCustomObject({
      ...VIRTUAL_SERVICE,
      namespace: r.ns,
      body: {
        apiVersion: 'networking.istio.io/v1alpha3',
        kind: 'VirtualService',
        metadata: { name: r.name },
        spec: {
          hosts: [r.name],
          http: [
            {
              name: 'primary',
              route: [
                { destination: { host: `${r.name}-stable` }, weight: 100 },
                { destination: { host: `${r.name}-canary` }, weight: 0 },
              ],
            },
          ],
        },
      },
    });
    await custom.createNamespacedCustomObject({ ...ARGO_TEMPLATE, namespace: r.ns, body: argoAnalysisTemplate(r, s) });
    await custom.createNamespacedCustomObject({
      ...ARGO_ROLLOUT,
      namespace: r.ns,
      body: { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', metadata: { name: r.name }, spec: argoSpec(r, s, version) },
    });
  },
  async setVersion(kc, r, s, version) {
    await kc
      .makeApiClient(k8s.CustomObjectsApi)
      .patchNamespacedCustomObject({ ...ARGO_ROLLOUT, namespace: r.ns, name: r.name, body: { spec: argoSpec(r, s, version) } }, mergePatch);
  },
  async settledIn(kc, namespace, version) {
    const list = (await kc.makeApiClient(k8s.CustomObjectsApi).listNamespacedCustomObject({ ...ARGO_ROLLOUT, namespace })) as {
      items: {
        metadata: { name: string; generation: number };
        spec: { template: { spec: { containers: { image: string }[] } } };
        status?: { phase?: string; stableRS?: string; currentPodHash?: string; observedGeneration?: string };
      }[];
    };
    return namesWhere(list.items, (got) => {
      const onVersion = got.spec.template.spec.containers[0]?.image.endsWith(`:${version}`);
      // A status the controller has not yet rewritten for this spec still says Healthy (Argo keeps observedGeneration as a string).
      const observed = got.status?.observedGeneration === String(got.metadata.generation);
      return Boolean(onVersion && observed && got.status?.phase === 'Healthy' && got.status.stableRS && got.status.stableRS === got.status.currentPodHash);
    });
  },
  async candidateWeight(kc, r) {
    const vs = (await kc.makeApiClient(k8s.CustomObjectsApi).getNamespacedCustomObject({ ...VIRTUAL_SERVICE, namespace: r.ns, name: r.name })) as {
      spec: { http: { route: { destination: { host: string }; weight?: number }[] }[] };
    };
    return vs.spec.http[0]?.route.find((d) => d.destination.host === `${r.name}-canary`)?.weight ?? 0;
  },
};

/** The background analysis of an Argo Rollout: the shared error-ratio query every `checkSeconds`, aborting after `failureLimit` + 1 failed measurements. */
export function argoAnalysisTemplate(r: RolloutRef, s: BenchSettings) {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'AnalysisTemplate',
    metadata: { name: `${r.name}-error-rate` },
    spec: {
      metrics: [
        {
          name: 'error-rate',
          interval: `${s.checkSeconds}s`,
          successCondition: `result[0] <= ${MAX_ERROR_RATIO}`,
          failureLimit: s.knobs.argoFailureLimit,
          provider: { prometheus: { address: s.prometheus, query: errorRatioQuery(r.model, s.candidateVersion, s.windowSeconds) } },
        },
      ],
    },
  };
}

function argoSpec(r: RolloutRef, s: BenchSettings, version: string) {
  return {
    replicas: s.replicas,
    selector: { matchLabels: { app: r.name } },
    template: peerPodTemplate(r, s, version),
    strategy: {
      canary: {
        canaryService: `${r.name}-canary`,
        stableService: `${r.name}-stable`,
        trafficRouting: { istio: { virtualService: { name: r.name, routes: ['primary'] } } },
        analysis: { templates: [{ templateName: `${r.name}-error-rate` }] },
        dynamicStableScale: s.knobs.argoDynamicStableScale,
        steps: STEPS.flatMap((w) => [{ setWeight: w }, { pause: { duration: `${s.stepSeconds}s` } }]),
      },
    },
  };
}

const flagger: Tool = {
  key: 'flagger',
  label: 'Flagger',
  lastStepWeight: 50,
  version: `${FLAGGER_VERSION} (go install from the Go module proxy; the newest version it lists)`,
  settings: (s) => [
    `Canary analysis.stepWeights [1, 5, 20, 50], then promotion (it cannot hold a 100 % step: after the last weight it copies the template to the primary and routes back to it); replicas ${s.replicas}`,
    `analysis.interval ${s.stepSeconds}s (= the step duration: Flagger checks metrics once per step, it cannot check faster than it steps), threshold ${s.knobs.flaggerThreshold} (failed checks before it rolls back; --flagger-threshold, its docs' usual value is 5), metric: MetricTemplate (prometheus) with the same error-ratio query (window ${s.windowSeconds}s, model_version="${s.candidateVersion}"), thresholdRange.max ${MAX_ERROR_RATIO}`,
    'provider gatewayapi:v1 (HTTPRoute, the primary and canary Services it creates); flags: -mesh-provider gatewayapi:v1, -metrics-server, otherwise defaults (control-loop-interval 10s, threadiness 2, kubeconfig-qps 100)',
    'its canary Deployment is scaled to full size during the analysis (no weight-proportional scaling)',
  ],
  async launch(group, kubeconfigPath, s) {
    const port = await freePort();
    const proc = group.start('flagger', peerPaths.flagger, [
      `-kubeconfig=${kubeconfigPath}`,
      '-mesh-provider=gatewayapi:v1',
      `-metrics-server=${s.prometheus}`,
      `-port=${port}`,
      '-log-level=info',
    ]);
    await waitHealthz(`http://127.0.0.1:${port}/healthz`, proc.pid, proc.logFile);
    return { pid: proc.pid };
  },
  async create(kc, r, s, version) {
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    await kc.makeApiClient(k8s.AppsV1Api).createNamespacedDeployment({
      namespace: r.ns,
      body: {
        metadata: { name: r.name },
        spec: { replicas: s.replicas, selector: { matchLabels: { app: r.name } }, template: peerPodTemplate(r, s, version) },
      },
    });
    await custom.createNamespacedCustomObject({
      ...METRIC_TEMPLATE,
      namespace: r.ns,
      body: {
        apiVersion: 'flagger.app/v1beta1',
        kind: 'MetricTemplate',
        metadata: { name: `${r.name}-error-rate` },
        spec: { provider: { type: 'prometheus', address: s.prometheus }, query: errorRatioQuery(r.model, s.candidateVersion, s.windowSeconds) },
      },
    });
    await custom.createNamespacedCustomObject({
      ...CANARY,
      namespace: r.ns,
      body: {
        apiVersion: 'flagger.app/v1beta1',
        kind: 'Canary',
        metadata: { name: r.name },
        spec: {
          provider: 'gatewayapi:v1',
          targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: r.name },
          progressDeadlineSeconds: 1800,
          service: { port: 80, targetPort: 8080, gatewayRefs: [{ name: 'edge', namespace: r.ns }] },
          analysis: {
            interval: `${s.stepSeconds}s`,
            threshold: s.knobs.flaggerThreshold,
            stepWeights: [1, 5, 20, 50],
            metrics: [
              { name: 'error-rate', templateRef: { name: `${r.name}-error-rate` }, thresholdRange: { max: MAX_ERROR_RATIO }, interval: `${s.windowSeconds}s` },
            ],
          },
        },
      },
    });
  },
  async setVersion(kc, r, s, version) {
    await kc
      .makeApiClient(k8s.AppsV1Api)
      .patchNamespacedDeployment({ namespace: r.ns, name: r.name, body: { spec: { template: peerPodTemplate(r, s, version) } } }, mergePatch);
  },
  async settledIn(kc, namespace, version) {
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    const [canaries, deployments, routes] = await Promise.all([
      custom.listNamespacedCustomObject({ ...CANARY, namespace }) as Promise<{ items: { metadata: { name: string }; status?: { phase?: string } }[] }>,
      kc.makeApiClient(k8s.AppsV1Api).listNamespacedDeployment({ namespace }),
      custom.listNamespacedCustomObject({ ...HTTPROUTE, namespace }) as Promise<{ items: HttpRoute[] }>,
    ]);
    const primaries = new Map(deployments.items.map((d) => [d.metadata!.name!, d]));
    const routeOf = new Map(routes.items.map((r) => [r.metadata.name, r]));
    return namesWhere(canaries.items, ({ metadata: { name }, status }) => {
      // Finalising: all traffic is back on the primary, now running the new template; only the canary's scale-down is left.
      if (!['Initialized', 'Finalising', 'Succeeded'].includes(status?.phase ?? '')) return false;
      const primary = primaries.get(`${name}-primary`);
      const replicas = primary?.spec?.replicas ?? 0;
      const rolledOut = primary?.status?.updatedReplicas === replicas && primary.status.readyReplicas === replicas;
      return (
        Boolean(primary?.spec?.template.spec?.containers[0]?.image?.endsWith(`:${version}`)) &&
        rolledOut &&
        backendWeight(routeOf.get(name), `${name}-canary`) === 0
      );
    });
  },
  candidateWeight: (kc, r) => routeWeight(kc, r, `${r.name}-canary`),
};

export const TOOLS: Tool[] = [modelRollout, argoRollouts, flagger];
