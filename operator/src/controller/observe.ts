// Observe: everything decide() needs, read from the caches (and the router).
import { parseAnalysis, type AnalysisDefaults, type StoredAnalysis } from '../analysis/spec.js';
import { coverageProblems, experimentProblems } from '../analysis/experiment-gate.js';
import { parseExperiment, type StoredExperiment } from '../analysis/experiment-spec.js';
import { parseSpec, type StoredSpec } from '../rollout/spec.js';
import type { Controls, DecideInput, DeploymentObservation, RouteObservation, ServiceObservation } from '../rollout/types.js';
import type { TrafficRouter } from '../traffic/router.js';
import type { ClusterCache } from './cluster-cache.js';
import { freeGpusPerNode, medianReadySeconds, podIsReady, podProblems, type Placement } from './gpu-capacity.js';
import {
  ANNOTATION_ABORT,
  ANNOTATION_PAUSED,
  ANNOTATION_PROMOTE,
  ANNOTATION_RESUME,
  ANNOTATION_RETRY,
  candidateServiceName,
  LABEL_REVISION,
  type ModelRollout,
  rolloutNameProblem,
  stableServiceName,
} from '../api/index.js';
import { gpusPerReplicaOf, isOwnedBy } from './resources.js';

export interface Observation {
  input: DecideInput;
}

export async function observe(
  ro: ModelRollout,
  cache: ClusterCache,
  router: TrafficRouter | undefined,
  now: Date,
  analysisDefaults: AnalysisDefaults = {},
): Promise<Observation> {
  const parsed = parseSpec(ro.spec as StoredSpec);
  const analysisErrors: string[] = [];
  const analysis = parseAnalysis(ro.spec.analysis as StoredAnalysis | undefined, analysisErrors, analysisDefaults);
  const experiment = parseExperiment(ro.spec.experiment as StoredExperiment | undefined, analysisErrors);
  if (experiment)
    analysisErrors.push(
      ...experimentProblems(ro.spec as { trafficRouting?: Record<string, unknown> }, analysis !== undefined, parsed.spec?.steps, experiment.assignment),
      ...coverageProblems(experiment.coverage, parsed.spec?.steps),
    );
  // The CRD refuses such names; one stored before that rule existed is reported, not acted on.
  const nameProblem = rolloutNameProblem(ro.metadata.name!);
  if (nameProblem) analysisErrors.push(nameProblem);
  if (analysisErrors.length > 0) {
    parsed.errors.push(...analysisErrors);
    parsed.spec = undefined;
    parsed.revision = '';
  }
  const gpuResource = ro.spec.gpu?.resourceName ?? 'nvidia.com/gpu';
  const route: RouteObservation = router ? await router.observe() : { found: false, error: 'no traffic router' };
  const input: DecideInput = {
    now,
    generation: ro.metadata.generation ?? 0,
    spec: parsed.spec,
    specErrors: parsed.errors,
    specRevision: parsed.revision,
    status: ro.status ?? {},
    deployments: observeDeployments(ro, cache, gpuResource),
    services: observeServices(ro, cache),
    route,
    gpus: { freePerNode: freeGpusFor(ro, cache, gpuResource) },
    // Filled in by the analysis runner.
    analysis: { result: 'pass' },
    breaker: { tripped: false },
    controls: controlsOf(ro),
    deleting: !!ro.metadata.deletionTimestamp,
  };
  return { input };
}

function observeDeployments(ro: ModelRollout, cache: ClusterCache, gpuResource: string): Record<string, DeploymentObservation> {
  const out: Record<string, DeploymentObservation> = {};
  const namespace = ro.metadata.namespace!;
  const pods = cache.podsOf(namespace, ro.metadata.name!);
  for (const dep of cache.deploymentsOf(namespace, ro.metadata.name!)) {
    if (!isOwnedBy(dep, ro)) continue;
    const revision = dep.metadata?.labels?.[LABEL_REVISION];
    if (!revision || dep.metadata?.deletionTimestamp) continue;
    // Ready is counted from the pods, as an EndpointSlice counts them (Ready, not terminating): the
    // Deployment's status lags, and a pod that lost readiness must lower the weight at once.
    const own = pods.filter((p) => p.metadata?.labels?.[LABEL_REVISION] === revision);
    const readySeconds = medianReadySeconds(own);
    const unschedulable = own.filter(
      (p) => !p.metadata?.deletionTimestamp && p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'False'),
    ).length;
    out[revision] = {
      revision,
      exists: true,
      desiredReplicas: dep.spec?.replicas ?? 1,
      // Ready pods beyond spec.replicas are ones its ReplicaSet is about to remove: they carry nothing.
      readyReplicas: Math.min(own.filter(podIsReady).length, dep.spec?.replicas ?? 1),
      ...(readySeconds !== undefined ? { readySeconds } : {}),
      ...(unschedulable > 0 ? { unschedulableReplicas: unschedulable } : {}),
      gpusPerReplica: gpusPerReplicaOf(dep, gpuResource),
      podProblems: podProblems(own.filter((p) => !p.metadata?.deletionTimestamp)),
    };
  }
  return out;
}

/** Free GPUs on the nodes the spec's pod template may be scheduled on (taints, nodeSelector, required affinity). */
function freeGpusFor(ro: ModelRollout, cache: ClusterCache, gpuResource: string): number[] {
  const podSpec = (ro.spec.template as { spec?: Placement } | undefined)?.spec ?? {};
  const placement: Placement = { tolerations: podSpec.tolerations, nodeSelector: podSpec.nodeSelector, affinity: podSpec.affinity };
  return cache.freeGpus(`${gpuResource}|${JSON.stringify(placement)}`, (nodes, pods) => freeGpusPerNode(nodes, pods, gpuResource, placement));
}

function observeServices(ro: ModelRollout, cache: ClusterCache): ServiceObservation {
  const namespace = ro.metadata.namespace!;
  const selects = (name: string) => {
    const svc = cache.services.get(name, namespace);
    return svc && isOwnedBy(svc, ro) ? svc.spec?.selector?.[LABEL_REVISION] : undefined;
  };
  return { stableSelects: selects(stableServiceName(ro.spec.service.name)), candidateSelects: selects(candidateServiceName(ro.spec.service.name)) };
}

function controlsOf(ro: ModelRollout): Controls {
  const a = ro.metadata.annotations ?? {};
  return {
    paused: a[ANNOTATION_PAUSED] === 'true',
    resume: a[ANNOTATION_RESUME],
    promote: a[ANNOTATION_PROMOTE],
    abort: a[ANNOTATION_ABORT],
    retry: a[ANNOTATION_RETRY],
  };
}
