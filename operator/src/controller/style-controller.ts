// StyleRollouts (ADR 0005): reconcile(key) = observe the managed rule → run analysis on the adapter version →
// decideStyle() → write the rule → one status patch → requeue. Its own informer and work queue: a StyleRollout
// shares no object with a ModelRollout but the Service its pods sit behind, which it never writes.
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { parseAnalysis, type AnalysisDefaults, type StoredAnalysis } from '../analysis/spec.js';
import { API_VERSION, FINALIZER, STYLE_KIND, STYLE_PLURAL, STYLE_ROLLOUT_RESOURCE, type StyleRollout } from '../api/index.js';
import { realClock, type Clock } from '../kube/clock.js';
import type { EventRecorder } from '../kube/events.js';
import { FreshCache } from '../kube/fresh-cache.js';
import { ResilientInformer } from '../kube/informer.js';
import { WorkQueue } from '../kube/work-queue.js';
import { decideStyle, needsPreload, needsServedUnpinned } from '../rollout/style-decide.js';
import { sameArms } from '../rollout/style-pass.js';
import { parseStyleSpec, pinOf, type StoredStyleSpec } from '../rollout/style-spec.js';
import { experimentSalt } from '../analysis/experiment-assignment.js';
import type { AdapterRouteObservation, PreloadResult, ServedUnpinned, StyleRolloutStatus, StyleSpec } from '../rollout/style-types.js';
import { AdapterRouteRouter } from '../traffic/adapter-route.js';
import type { RouteObject } from '../traffic/index.js';
import type { Notifier } from '../notify/notifier.js';
import type { AnalysisOutcome, AnalysisRunner } from './analysis-runner.js';
import { NotLeaderError } from './execute.js';
import { isEmptyPatch, mergePatch } from './status-patch.js';
import { isNotFound } from '../kube/errors.js';

const mergePatchHeader = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
type StyleObject = StyleRollout & k8s.KubernetesObject;

export interface StyleControllerOptions {
  kc: k8s.KubeConfig;
  log: Logger;
  workers: number;
  namespace?: string;
  now: () => Date;
  analysis: AnalysisRunner;
  analysisDefaults?: AnalysisDefaults;
  events: EventRecorder;
  /** The HTTPRoute informer's cache (ClusterCache.routes), read instead of a GET per pass. */
  routes?: { get(name: string, namespace?: string): RouteObject | undefined; remember(obj: RouteObject & k8s.KubernetesObject): void };
  canWrite?: () => boolean;
  /** How the pods are asked to load a version (spec.strategy.preload); default: the global fetch. */
  fetch?: typeof fetch;
  /** Times a preload out (tests give a manual clock). */
  clock?: Clock;
  /** Told about each transition a pass records (notify/notifier.ts); never awaited. */
  notifier?: Pick<Notifier, 'notifyStyleHistory'>;
}

/** One load of a version on one pod: reading, checking and staging a file of a few MiB at most. */
const PRELOAD_TIMEOUT_MS = 30_000;

export class StyleController {
  readonly informer: ResilientInformer<StyleObject>;
  readonly queue: WorkQueue;
  private readonly rollouts: FreshCache<StyleObject>;
  private readonly custom: k8s.CustomObjectsApi;
  private readonly core: k8s.CoreV1Api;
  private readonly discovery: k8s.DiscoveryV1Api;

  constructor(private readonly opts: StyleControllerOptions) {
    const { kc, namespace, log } = opts;
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.discovery = kc.makeApiClient(k8s.DiscoveryV1Api);
    const base = `/apis/${STYLE_ROLLOUT_RESOURCE.group}/${STYLE_ROLLOUT_RESOURCE.version}`;
    this.informer = new ResilientInformer<StyleObject>(kc, {
      kind: STYLE_KIND,
      path: namespace ? `${base}/namespaces/${namespace}/${STYLE_PLURAL}` : `${base}/${STYLE_PLURAL}`,
      list: () =>
        (namespace
          ? this.custom.listNamespacedCustomObject({ ...STYLE_ROLLOUT_RESOURCE, namespace })
          : this.custom.listClusterCustomObject(STYLE_ROLLOUT_RESOURCE)) as Promise<k8s.KubernetesListObject<StyleObject>>,
      log,
      onChange: (o, verb) => {
        // Our last status write of a deleted object must not outlive it (the overlay would bring it back).
        if (verb === 'delete') this.rollouts.forget(o.metadata!.name!, o.metadata!.namespace);
        this.queue.add(`${o.metadata!.namespace}/${o.metadata!.name}`);
      },
      // A cluster whose chart predates the CRD still runs ModelRollouts.
      optional: true,
    });
    this.rollouts = new FreshCache(this.informer);
    this.queue = new WorkQueue((key) => this.reconcile(key), {
      workers: opts.workers,
      onError: (key, err, retryInMs) => log.error({ styleRollout: key, err: String(err), retryInMs }, 'style rollout reconcile failed'),
    });
  }

  async reconcile(key: string): Promise<{ requeueAfterMs?: number }> {
    const [namespace, name] = key.split('/') as [string, string];
    let sro = this.rollouts.get(name, namespace);
    if (!sro) return {};
    const finalizers = sro.metadata.finalizers ?? [];
    if (sro.metadata.deletionTimestamp) {
      if (finalizers.includes(FINALIZER)) await this.restoreAndRelease(sro, finalizers);
      return {};
    }
    if (!finalizers.includes(FINALIZER)) sro = await this.setFinalizers(sro, [...finalizers, FINALIZER]);
    const now = this.opts.now();
    const { spec, errors } = this.parse(sro);
    const target = spec ? ruleTarget(sro, spec.style) : undefined;
    const status = await this.leaveOldRule(sro, sro.status ?? {}, target);
    const router = target && this.routerFor(sro, target);
    const route: AdapterRouteObservation = router ? await router.observe() : { found: false, error: 'the spec is invalid' };
    const outcome = await this.analyse(sro, spec, status, now);
    const decision = decideStyle({
      ...(spec ? await this.askPods(sro, spec, status, route) : {}),
      spec,
      specErrors: errors,
      uid: sro.metadata.uid ?? '',
      generation: sro.metadata.generation ?? 0,
      status,
      route,
      analysis: outcome.analysis,
      breaker: outcome.breaker,
      analysisStatus: outcome.status,
      analysisWakeInMs: outcome.wakeInMs,
      now,
    });
    if (decision.route && router) {
      if (this.opts.canWrite && !this.opts.canWrite()) throw new NotLeaderError();
      await router.setArms(decision.route.arms, decision.route.sticky ? { sticky: decision.route.sticky } : {});
    }
    if (route.found) decision.status.rule = target;
    for (const e of decision.events) await this.event(sro, e.type, e.reason, e.message);
    await this.persist(sro, decision.status);
    return { requeueAfterMs: decision.requeueAfterMs };
  }

  /** The spec moved to another rule (or Service, port or style): the old rule goes back to stable and is let go. */
  private async leaveOldRule(sro: StyleObject, status: StyleRolloutStatus, target: RuleTarget | undefined): Promise<StyleRolloutStatus> {
    if (!target || !status.rule || sameTarget(status.rule, target) || !status.stableVersion) return status;
    await this.release(sro, status.rule, status.stableVersion);
    const { rule: _old, ...rest } = status;
    return rest;
  }

  /**
   * Deleted: every request for the style goes back to the stable version (a half-rolled candidate must not keep
   * its share with nothing judging it) and the rule's claim is dropped, then the finalizer goes. The rule is the one
   * recorded in status (the spec may have been edited since, even made invalid), else the spec's. A route that is
   * gone or someone else's is left alone.
   */
  private async restoreAndRelease(sro: StyleObject, finalizers: string[]): Promise<void> {
    const stable = sro.status?.stableVersion;
    const style = sro.spec?.style;
    const recorded = sro.status?.rule;
    const fromSpec = style && sro.spec.service?.name && sro.spec.trafficRouting?.gatewayAPI?.httpRoute ? ruleTarget(sro, style) : undefined;
    if (stable && recorded) await this.release(sro, recorded, stable);
    // The spec's rule too, when status lost track of it (a status write lost during a move) and it carries our claim.
    if (stable && fromSpec && (!recorded || !sameTarget(recorded, fromSpec))) await this.release(sro, fromSpec, stable, { onlyClaimed: !!recorded });
    await this.setFinalizers(
      sro,
      finalizers.filter((f) => f !== FINALIZER),
    );
  }

  /**
   * Puts `target`'s rule on `stable` alone, in the form it is in (pins or a sticky split), and drops the claim; a
   * rule that can no longer be written (moved, edited beyond recognition) only loses our claim. `onlyClaimed`: a
   * rule without our claim is left alone.
   */
  private async release(sro: StyleObject, target: RuleTarget, stable: string, opts: { onlyClaimed?: boolean } = {}): Promise<void> {
    const router = this.routerFor(sro, target);
    const route = await router.observe();
    if (!route.found) {
      if (route.reason !== 'RouteNotFound') await router.dropClaim();
      return;
    }
    if (route.unclaimed === true && (opts.onlyClaimed || sameArms(route.arms, [{ version: stable, weight: 100 }]))) return;
    if (this.opts.canWrite && !this.opts.canWrite()) throw new NotLeaderError();
    const sticky = route.sticky ? { sticky: { salt: route.sticky.salt ?? experimentSalt(sro.metadata.uid ?? '', pinOf(target.style, stable)) } } : {};
    await router.setArms([{ version: stable, weight: 100 }], { release: true, ...sticky });
  }

  /** The finalizer list, written with the object's resourceVersion (a stale copy conflicts and is retried). */
  private async setFinalizers(sro: StyleObject, finalizers: string[]): Promise<StyleObject> {
    if (this.opts.canWrite && !this.opts.canWrite()) throw new NotLeaderError();
    try {
      const updated = (await this.custom.patchNamespacedCustomObject(
        {
          ...STYLE_ROLLOUT_RESOURCE,
          namespace: sro.metadata.namespace!,
          name: sro.metadata.name!,
          body: { metadata: { finalizers, resourceVersion: sro.metadata.resourceVersion } },
        },
        mergePatchHeader,
      )) as StyleObject;
      this.rollouts.remember(updated);
      return updated;
    } catch (err) {
      if (isNotFound(err)) return sro;
      throw err;
    }
  }

  private parse(sro: StyleObject): { spec: StyleSpec | undefined; errors: string[] } {
    const parsed = parseStyleSpec(sro.spec as StoredStyleSpec);
    const errors = [...parsed.errors];
    parseAnalysis(sro.spec.analysis as StoredAnalysis | undefined, errors, this.opts.analysisDefaults, 'adapter');
    return { spec: errors.length === 0 ? parsed.spec : undefined, errors };
  }

  private routerFor(sro: StyleObject, target: RuleTarget): AdapterRouteRouter {
    const cache = this.opts.routes;
    return new AdapterRouteRouter(
      target.httpRoute,
      target.ruleIndex,
      { namespace: sro.metadata.namespace!, service: target.service, port: target.port, style: target.style, owner: sro.metadata.name! },
      {
        custom: this.custom,
        cached: cache && ((ns, n) => cache.get(n, ns)),
        onWritten: cache && ((obj) => cache.remember(obj as RouteObject & k8s.KubernetesObject)),
      },
    );
  }

  /** Analysis of the candidate version while it is rolled out; a failed run holds the step (pending), never breaks the pass. */
  private async analyse(sro: StyleObject, spec: StyleSpec | undefined, status: StyleRolloutStatus, now: Date): Promise<AnalysisOutcome> {
    const active = spec && status.stableVersion && status.candidateVersion === spec.version && (status.phase === 'Progressing' || status.phase === 'Paused');
    if (!active) return { analysis: { result: 'pass' }, breaker: { tripped: false } };
    try {
      return await this.opts.analysis.runAdapter(
        {
          namespace: sro.metadata.namespace!,
          name: sro.metadata.name!,
          style: spec.style,
          model: sro.spec.model,
          service: sro.spec.service.name,
          stableVersion: status.stableVersion!,
          candidateVersion: status.candidateVersion!,
          analysis: sro.spec.analysis as StoredAnalysis | undefined,
          annotations: sro.metadata.annotations,
          status,
        },
        spec.stepDurationMs,
        now,
      );
    } catch (err) {
      this.opts.log.warn({ styleRollout: sro.metadata.name, err: String(err) }, 'analysis failed; holding the step');
      return { analysis: { result: 'pending', message: `analysis failed: ${String(err)}` }, breaker: { tripped: false }, wakeInMs: 10_000 };
    }
  }

  /** What decideStyle needs from the pods this pass, if anything: the candidate's preload, what unpinned requests get. */
  private async askPods(
    sro: StyleObject,
    spec: StyleSpec,
    status: StyleRolloutStatus,
    route: AdapterRouteObservation,
  ): Promise<{ preload?: PreloadResult; servedUnpinned?: ServedUnpinned }> {
    if (route.found && needsPreload(spec, status)) return { preload: await this.preload(sro, spec, status.candidateVersion!) };
    if (needsServedUnpinned(status, route)) return { servedUnpinned: await this.servedUnpinned(sro, spec.style) };
    return {};
  }

  /**
   * Loads the candidate on every ready pod behind the Service (`POST /v1/adapters/<style@vN>:load`, the runtime's
   * staging call): a version a pod refuses (400 not in its library, 500 InvalidAdapter) is a failure to roll back
   * on; a pod that cannot be reached, or no ready pod, is tried again.
   */
  private async preload(sro: StyleObject, spec: StyleSpec, version: string): Promise<PreloadResult> {
    const namespace = sro.metadata.namespace!;
    const serviceName = sro.spec.service.name;
    let targets: string[];
    try {
      targets = await this.podTargets(namespace, serviceName, sro.spec.service.port ?? 80);
    } catch (err) {
      return { ok: false, retry: true, message: `cannot list the pods of Service ${serviceName}: ${String(err)}` };
    }
    if (targets.length === 0) return { ok: false, retry: true, message: `no ready pod behind Service ${serviceName}` };
    const adapter = `${spec.style}@${version}`;
    const doFetch = this.opts.fetch ?? fetch;
    const results = await Promise.all(
      targets.map(async (target): Promise<PreloadResult> => {
        try {
          const abort = new AbortController();
          const cancel = (this.opts.clock ?? realClock).schedule(
            () => abort.abort(new Error(`no answer in ${PRELOAD_TIMEOUT_MS / 1000} s`)),
            PRELOAD_TIMEOUT_MS,
          );
          let res: Response;
          let body: string;
          try {
            res = await doFetch(`http://${target}/v1/adapters/${adapter}:load`, { method: 'POST', signal: abort.signal, redirect: 'manual' });
            body = await res.text();
          } finally {
            cancel();
          }
          if (res.ok) return { ok: true, pods: 1 };
          const refused = res.status === 400 || res.status === 404 || (res.status === 500 && body.includes('InvalidAdapter'));
          return { ok: false, retry: !refused, message: `pod ${target} answered ${res.status} to loading ${adapter}: ${body.slice(0, 300)}` };
        } catch (err) {
          return { ok: false, retry: true, message: `pod ${target}: loading ${adapter} failed: ${String(err)}` };
        }
      }),
    );
    const refused = results.find((r) => !r.ok && !r.retry);
    if (refused) return refused;
    const failed = results.find((r) => !r.ok);
    return failed ?? { ok: true, pods: targets.length };
  }

  /**
   * The version of `style` a request the rule does not pin gets today: `latest` in `GET /v1/adapters` of one
   * ready pod behind the Service (every pod reads the same library), loaded there (`:load`) to see it works;
   * none when the library has no version of the style or the pod refuses the newest. Unreachable pods or no
   * ready pod: not ok, asked again.
   */
  private async servedUnpinned(sro: StyleObject, style: string): Promise<ServedUnpinned> {
    const serviceName = sro.spec.service.name;
    let targets: string[];
    try {
      targets = await this.podTargets(sro.metadata.namespace!, serviceName, sro.spec.service.port ?? 80);
    } catch (err) {
      return { ok: false, message: `cannot list the pods of Service ${serviceName}: ${String(err)}` };
    }
    if (targets.length === 0) return { ok: false, message: `no ready pod behind Service ${serviceName}` };
    const doFetch = this.opts.fetch ?? fetch;
    const errors: string[] = [];
    for (const target of targets.slice(0, 3)) {
      const abort = new AbortController();
      const cancel = (this.opts.clock ?? realClock).schedule(() => abort.abort(new Error(`no answer in ${PRELOAD_TIMEOUT_MS / 1000} s`)), PRELOAD_TIMEOUT_MS);
      try {
        const res = await doFetch(`http://${target}/v1/adapters`, { signal: abort.signal, redirect: 'manual' });
        if (!res.ok) {
          errors.push(`pod ${target} answered ${res.status} to GET /v1/adapters`);
          continue;
        }
        const body = (await res.json()) as { data?: { name?: string; latest?: string }[] };
        const latest = body.data?.find((a) => a.name === style)?.latest;
        if (!latest) return { ok: true, version: undefined };
        // A newest version the pods refuse fails every unpinned request today: there is no version to protect.
        const load = await doFetch(`http://${target}/v1/adapters/${latest}:load`, { method: 'POST', signal: abort.signal, redirect: 'manual' });
        const loadBody = await load.text();
        if (load.status === 400 || load.status === 404 || (load.status === 500 && loadBody.includes('InvalidAdapter'))) return { ok: true, version: undefined };
        if (!load.ok) {
          errors.push(`pod ${target} answered ${load.status} to loading ${latest}`);
          continue;
        }
        return { ok: true, version: latest.replace(/^.*@/, '') };
      } catch (err) {
        errors.push(`pod ${target}: GET /v1/adapters failed: ${String(err)}`);
      } finally {
        cancel();
      }
    }
    return { ok: false, message: errors.join('; ') };
  }

  /** `ip:port` of each ready endpoint of the Service's port `port` (its EndpointSlices, as kube-proxy reads them). */
  private async podTargets(namespace: string, serviceName: string, port: number): Promise<string[]> {
    const service = await this.core.readNamespacedService({ namespace, name: serviceName });
    const portName = service.spec?.ports?.find((p) => p.port === port)?.name ?? '';
    const slices = await this.discovery.listNamespacedEndpointSlice({ namespace, labelSelector: `kubernetes.io/service-name=${serviceName}` });
    const targets: string[] = [];
    for (const slice of slices.items) {
      const target = slice.ports?.find((p) => (p.name ?? '') === portName)?.port;
      if (target === undefined) continue;
      for (const e of slice.endpoints ?? []) {
        if (e.conditions?.ready === false || e.conditions?.terminating) continue;
        for (const address of e.addresses) targets.push(`${address}:${target}`);
      }
    }
    return [...new Set(targets)];
  }

  private async event(sro: StyleObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const target = { apiVersion: API_VERSION, kind: STYLE_KIND, name: sro.metadata.name!, namespace: sro.metadata.namespace!, uid: sro.metadata.uid ?? '' };
    // An event is for people: one that cannot be written is logged, and the pass goes on.
    await this.opts.events.record(target, type, reason, message).catch((err: unknown) => this.opts.log.warn({ err: String(err), reason }, 'event not written'));
  }

  /** One status patch per pass, skipped when nothing changed. */
  private async persist(sro: StyleObject, status: StyleRolloutStatus): Promise<void> {
    const patch = mergePatch(sro.status ?? {}, JSON.parse(JSON.stringify(status)));
    if (isEmptyPatch(patch)) return;
    if (this.opts.canWrite && !this.opts.canWrite()) throw new NotLeaderError();
    try {
      const updated = (await this.custom.patchNamespacedCustomObjectStatus(
        { ...STYLE_ROLLOUT_RESOURCE, namespace: sro.metadata.namespace!, name: sro.metadata.name!, body: { status: patch } },
        mergePatchHeader,
      )) as StyleObject;
      this.rollouts.remember(updated);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      return;
    }
    const known = new Set((sro.status?.history ?? []).map((h) => `${h.time}|${h.reason}`));
    const added = (status.history ?? []).filter((h) => !known.has(`${h.time}|${h.reason}`));
    this.opts.notifier?.notifyStyleHistory(
      {
        namespace: sro.metadata.namespace!,
        name: sro.metadata.name!,
        style: sro.spec.style,
        stableVersion: status.stableVersion,
        candidateVersion: status.candidateVersion,
      },
      added,
    );
  }
}

type RuleTarget = NonNullable<StyleRolloutStatus['rule']>;

/** Where the spec says the style is routed. */
function ruleTarget(sro: StyleObject, style: string): RuleTarget {
  const routing = sro.spec.trafficRouting.gatewayAPI;
  return { httpRoute: routing.httpRoute, ruleIndex: routing.ruleIndex ?? 0, service: sro.spec.service.name, port: sro.spec.service.port ?? 80, style };
}

function sameTarget(a: RuleTarget, b: RuleTarget): boolean {
  return a.httpRoute === b.httpRoute && a.ruleIndex === b.ruleIndex && a.service === b.service && a.port === b.port && a.style === b.style;
}
