// reconcile(key): observe → decide → execute → one status patch → requeue.
// Level-triggered and keyed by name only: everything it needs is re-read each time.
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { EventRecorder } from '../kube/events.js';
import { decide } from '../rollout/decide.js';
import type { RolloutStatus } from '../rollout/types.js';
import type { AnalysisDefaults } from '../analysis/spec.js';
import type { AnalysisRunner } from './analysis-runner.js';
import type { OperatorMetrics } from '../telemetry/metrics.js';
import { routerFor, type TrafficRoutingSpec } from '../traffic/index.js';
import type { HttpRoute } from '../traffic/gateway-api.js';
import type { VirtualService } from '../traffic/istio.js';
import type { ClusterCache, HttpRouteObject, VirtualServiceObject } from './cluster-cache.js';
import { execute, NotLeaderError } from './execute.js';
import type { ModelRollout } from './model-rollout.js';
import { candidateServiceName, FINALIZER, GROUP, PLURAL, stableServiceName, VERSION } from './names.js';
import { observe } from './observe.js';
import { isEmptyPatch, mergePatch } from './status-patch.js';

export interface ReconcilerDeps {
  apps: k8s.AppsV1Api;
  core: k8s.CoreV1Api;
  custom: k8s.CustomObjectsApi;
  cache: ClusterCache;
  events: EventRecorder;
  metrics: OperatorMetrics;
  log: Logger;
  now: () => Date;
  analysis: AnalysisRunner;
  analysisDefaults?: AnalysisDefaults;
  /** Leader fencing: checked before every write; absent when leader election is off. */
  canWrite?: () => boolean;
}

const mergePatchHeader = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

export class Reconciler {
  constructor(private readonly deps: ReconcilerDeps) {}

  async reconcile(key: string): Promise<{ requeueAfterMs?: number }> {
    const started = process.hrtime.bigint();
    let result = 'ok';
    try {
      return await this.reconcileOnce(key);
    } catch (err) {
      result = 'error';
      throw err;
    } finally {
      this.deps.metrics.reconcileDuration.observe({ result }, Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  private async reconcileOnce(key: string): Promise<{ requeueAfterMs?: number }> {
    const [namespace, name] = key.split('/') as [string, string];
    const { cache, log, metrics } = this.deps;
    let ro = cache.rollouts.get(name, namespace) as ModelRollout | undefined;
    if (!ro) {
      metrics.candidateWeight.remove({ namespace, name });
      return {};
    }
    const deleting = !!ro.metadata.deletionTimestamp;
    if (deleting && !(ro.metadata.finalizers ?? []).includes(FINALIZER)) return {};
    if (!deleting && !(ro.metadata.finalizers ?? []).includes(FINALIZER)) ro = await this.addFinalizer(ro);

    const now = this.deps.now();
    const router = this.routerOf(ro);
    const { input } = await observe(ro, cache, router, now, this.deps.analysisDefaults);
    // An invalid spec mid-rollout still runs the breaker on the last valid spec (decide() holds the weights).
    const spec = input.spec ?? input.status.lastValidSpec;
    const bakeMs = input.status.currentStep ? spec?.stepDurationMs : spec?.shadow?.durationMs;
    const analysis = spec && !input.deleting ? await this.deps.analysis.run(ro, bakeMs ?? 0, now) : undefined;
    if (analysis) {
      input.analysis = analysis.analysis;
      input.breaker = analysis.breaker;
    }
    const decision = decide(input);
    // Analysis state belongs to the candidate it measured; a new candidate starts without it.
    if (analysis?.status && decision.status.candidate?.revision === analysis.status.revision) decision.status.analysis = analysis.status;
    const active = decision.status.phase === 'Progressing' || decision.status.phase === 'Shadowing' || decision.status.phase === 'Paused';
    if (active && analysis?.wakeInMs !== undefined) decision.requeueAfterMs = Math.min(decision.requeueAfterMs ?? Infinity, analysis.wakeInMs);
    const rlog = log.child({ rollout: key });
    if (decision.actions.length > 0) rlog.debug({ actions: decision.actions.filter((a) => a.kind !== 'event') }, 'executing');
    await execute(decision.actions, ro, input.specRevision, router, {
      apps: this.deps.apps, core: this.deps.core, custom: this.deps.custom, cache, events: this.deps.events,
      onRequest: (verb, resource) => metrics.kubeRequests.inc({ verb, resource }),
      onEventError: (err) => rlog.warn({ err: String(err) }, 'could not record event'),
      canWrite: this.deps.canWrite,
    });
    if (!deleting) await this.persist(ro, decision.status, rlog);
    this.record(ro, input.status, decision.status);
    return decision.requeueAfterMs === undefined ? {} : { requeueAfterMs: decision.requeueAfterMs };
  }

  private routerOf(ro: ModelRollout) {
    const routing = ro.spec.trafficRouting as TrafficRoutingSpec | undefined;
    if (!routing || (!routing.gatewayAPI && !routing.istio)) return undefined;
    const namespace = ro.metadata.namespace!;
    const routes = this.deps.cache.httpRoutes;
    const vss = this.deps.cache.virtualServices;
    return routerFor(routing, {
      namespace, stableService: stableServiceName(ro.spec.service.name), candidateService: candidateServiceName(ro.spec.service.name), port: ro.spec.service.port ?? 80,
    }, {
      custom: this.deps.custom,
      httpRoutes: { get: (ns, n) => routes.get(n, ns), remember: (r: HttpRoute) => routes.remember(r as HttpRouteObject) },
      virtualServices: { get: (ns, n) => vss.get(n, ns), remember: (v: VirtualService) => vss.remember(v as VirtualServiceObject) },
      onRequest: (verb, resource) => this.deps.metrics.kubeRequests.inc({ verb, resource }),
    });
  }

  private async addFinalizer(ro: ModelRollout): Promise<ModelRollout> {
    this.deps.metrics.kubeRequests.inc({ verb: 'patch', resource: PLURAL });
    // resourceVersion makes this a compare-and-swap on the finalizer list.
    const updated = (await this.deps.custom.patchNamespacedCustomObject({
      group: GROUP, version: VERSION, plural: PLURAL, namespace: ro.metadata.namespace!, name: ro.metadata.name!,
      body: { metadata: { finalizers: [...(ro.metadata.finalizers ?? []), FINALIZER], resourceVersion: ro.metadata.resourceVersion } },
    }, mergePatchHeader)) as ModelRollout;
    this.deps.cache.rollouts.remember(updated as ModelRollout & k8s.KubernetesObject);
    return updated;
  }

  /** One status patch per reconcile, skipped when nothing changed. */
  private async persist(ro: ModelRollout, status: RolloutStatus, log: Logger): Promise<void> {
    const patch = mergePatch(ro.status ?? {}, JSON.parse(JSON.stringify(status)));
    if (isEmptyPatch(patch)) return;
    if (this.deps.canWrite && !this.deps.canWrite()) throw new NotLeaderError('not writing status: this replica no longer holds the leader lease');
    this.deps.metrics.kubeRequests.inc({ verb: 'patch', resource: `${PLURAL}/status` });
    try {
      const updated = (await this.deps.custom.patchNamespacedCustomObjectStatus({
        group: GROUP, version: VERSION, plural: PLURAL, namespace: ro.metadata.namespace!, name: ro.metadata.name!, body: { status: patch },
      }, mergePatchHeader)) as ModelRollout;
      this.deps.cache.rollouts.remember(updated as ModelRollout & k8s.KubernetesObject);
    } catch (err) {
      if ((err as k8s.ApiException<unknown>).code === 404) return log.debug('rollout deleted before its status was written');
      throw err;
    }
  }

  private record(ro: ModelRollout, before: RolloutStatus, after: RolloutStatus): void {
    const { metrics } = this.deps;
    const labels = { namespace: ro.metadata.namespace!, name: ro.metadata.name! };
    metrics.candidateWeight.set(labels, after.weights?.candidate ?? 0);
    const known = new Set((before.history ?? []).map((h) => `${h.time}|${h.reason}`));
    const added = (after.history ?? []).filter((h) => !known.has(`${h.time}|${h.reason}`));
    for (const h of added) metrics.transitions.inc({ reason: h.reason });
    if ((after.phase === 'RolledBack' || after.phase === 'Aborted') && before.phase !== after.phase) {
      metrics.rollbacks.inc({ ...labels, reason: after.failure?.reason ?? after.phase });
      this.deps.log.warn({ rollout: `${labels.namespace}/${labels.name}`, reason: after.failure?.reason, message: after.failure?.message }, after.phase === 'RolledBack' ? 'rolled back' : 'aborted');
    } else if (before.phase !== after.phase) {
      this.deps.log.info({ rollout: `${labels.namespace}/${labels.name}`, from: before.phase, to: after.phase, message: after.message }, 'phase changed');
    }
  }
}
