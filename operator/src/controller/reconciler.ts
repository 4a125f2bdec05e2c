// reconcile(key): observe → decide → execute → one status patch → requeue.
// Level-triggered and keyed by name only: everything it needs is re-read each time.
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { EventRecorder } from '../kube/events.js';
import { decide } from '../rollout/decide.js';
import { setCondition } from '../rollout/conditions.js';
import type { BlockedWrite, Decision, HistoryEntry, RolloutStatus, RouteObservation } from '../rollout/types.js';
import type { AnalysisDefaults } from '../analysis/spec.js';
import type { AnalysisOutcome, AnalysisRunner } from './analysis-runner.js';
import { experimentConfigMapName, forgetExperimentConfigMap, syncExperimentConfigMap } from './experiment-configmap.js';
import type { OperatorMetrics } from '../telemetry/metrics.js';
import { definitionFor, routerFor, type TrafficRoutingSpec } from '../traffic/index.js';
import type { TrafficRouter } from '../traffic/router.js';
import type { ClusterCache, RouteObjectK8s } from './cluster-cache.js';
import { armsOf, execute, NotLeaderError, recordEvent, type ExecuteDeps, type ExecuteOutcome } from './execute.js';
import {
  type BlockedWriteReason,
  candidateServiceName,
  FINALIZER,
  GROUP,
  type ModelRollout,
  PLURAL,
  RECONCILE_SUCCEEDED,
  stableServiceName,
  VERSION,
} from '../api/index.js';
import { observe } from './observe.js';
import { syncRevisionHistory } from './revision-history.js';
import { isEmptyPatch, mergePatch } from './status-patch.js';
import { blockedWriteOf, retryBackoffMs, retryInMs } from './write-errors.js';
import { isNotFound, statusCodeOf, TerminalError } from '../kube/errors.js';
import { verdictReached, type ExperimentNotice, type Notifier, type Receivers } from '../notify/notifier.js';
import { rolloutReceivers } from './notification-receivers.js';
import type { GateCaller } from '../webhooks/gate-caller.js';
import { GATE_POLL_DEFAULT_MS } from '../rollout/webhook-gates.js';

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
  /** Told about the history entries each written status added (webhooks, Slack); never awaited. */
  notifier?: Pick<Notifier, 'notifyHistory' | 'notifyVerdict'>;
  /** Asks spec.webhooks' gates in the background; absent: a gate that holds is never asked (tests without gates). */
  gates?: Pick<GateCaller, 'answersFor' | 'ask' | 'forget'>;
}

const mergePatchHeader = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

export class Reconciler {
  /**
   * Refused writes in a row per rollout for what status cannot hold: the finalizer and status patches themselves,
   * and a deletion (no status is written while deleting). Only paces the retries; cleared by a pass that gets through.
   */
  private readonly refusals = new Map<string, number>();
  /** Per rollout, the notifications still on their way to the notifier (a Secret read): the next ones wait, so order holds. */
  private readonly notices = new Map<string, Promise<void>>();

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
      this.deps.analysis.forget?.(key);
      this.deps.gates?.forget(key);
      forgetExperimentConfigMap(key);
      return {};
    }
    const deleting = !!ro.metadata.deletionTimestamp;
    if (deleting) {
      this.deps.analysis.forget?.(key);
      this.deps.gates?.forget(key);
      forgetExperimentConfigMap(key);
    }
    if (deleting && !(ro.metadata.finalizers ?? []).includes(FINALIZER)) return {};
    if (!deleting && !(ro.metadata.finalizers ?? []).includes(FINALIZER)) {
      const current = ro;
      ro = await this.refusedAs(key, current, `finalizer of ModelRollout ${name}`, () => this.addFinalizer(current));
    }

    const now = this.deps.now();
    const router = this.routerOf(ro);
    const { input } = await observe(ro, cache, router, now, this.deps.analysisDefaults);
    // An invalid spec mid-rollout still runs the breaker on the last valid spec (decide() holds the weights).
    const spec = input.spec ?? input.status.lastValidSpec;
    const bakeMs = input.status.currentStep ? spec?.stepDurationMs : spec?.shadow?.durationMs;
    // Analysis never blocks the rest: if it throws, this pass holds (pending) and abort, pause and promote still act.
    const analysis =
      spec && !input.deleting
        ? await this.deps.analysis.run(ro, bakeMs ?? 0, now).catch((err: unknown): AnalysisOutcome => {
            log.warn({ rollout: key, err: String(err) }, 'analysis failed; holding this pass');
            return { analysis: { result: 'pending', message: `analysis failed: ${String(err)}` }, breaker: { tripped: false } };
          })
        : undefined;
    if (analysis) {
      input.analysis = analysis.analysis;
      input.breaker = analysis.breaker;
      if (analysis.status) input.analysisStatus = analysis.status;
      if (analysis.wakeInMs !== undefined) input.analysisWakeInMs = analysis.wakeInMs;
    }
    if (this.deps.gates) input.webhookAnswers = this.deps.gates.answersFor(key);
    const decision = decide(input);
    this.askGates(key, ro, decision.status);
    const rlog = log.child({ rollout: key });
    if (decision.actions.length > 0) rlog.debug({ actions: decision.actions.filter((a) => a.kind !== 'event') }, 'executing');
    const executeDeps: ExecuteDeps = {
      apps: this.deps.apps,
      core: this.deps.core,
      custom: this.deps.custom,
      cache,
      events: this.deps.events,
      onRequest: (verb, resource) => metrics.kubeRequests.inc({ verb, resource }),
      onEventError: (err) => rlog.warn({ err: String(err) }, 'could not record event'),
      canWrite: this.deps.canWrite,
    };
    const previous = input.status.blockedWrite;
    let outcome = await execute(decision.actions, ro, { specRevision: input.specRevision, router, previous, now }, executeDeps);
    if (outcome.kind === 'done' && !deleting) outcome = await this.syncRevisions(ro, decision.status, input.specRevision, previous, now, executeDeps);
    if (outcome.kind === 'done' && !deleting) outcome = await this.syncExperiment(ro, { decision, route: input.route, router, previous, now }, executeDeps);
    if (deleting) {
      // No status is written while deleting; the work queue's backoff retries the finalizer pass.
      if (outcome.kind === 'failed') throw outcome.error;
      if (outcome.kind !== 'done') {
        // The object is going away: an event is the one place left to say why its finalizer waits.
        // Retrying at once cannot unblock it: the work queue waits the blocked write's backoff (no status here).
        if (outcome.kind === 'blocked') recordEvent(ro, 'Warning', outcome.blocked.reason, `deletion waits: ${outcome.blocked.message}`, executeDeps);
        // Status (and its attempt count) is not written while deleting: the count kept here paces the retries.
        const attempts = (this.refusals.get(key) ?? 0) + 1;
        this.refusals.set(key, attempts);
        const retryIn = outcome.kind === 'blocked' ? retryBackoffMs(Math.max(attempts, outcome.blocked.attempts)) : outcome.retryInMs;
        throw new TerminalError(`${outcome.blocked.object}: ${outcome.blocked.message}`, retryIn);
      }
      return {};
    }
    const requeueAfterMs = settle(decision, outcome, input.generation, now);
    if (outcome.kind === 'blocked') {
      rlog.warn({ reason: outcome.blocked.reason, object: outcome.blocked.object, message: outcome.blocked.message }, 'write blocked');
      recordEvent(ro, 'Warning', outcome.blocked.reason, outcome.blocked.message, executeDeps);
    }
    // Status is written whatever broke above, so abort, pause and what went wrong stay visible.
    const written = ro;
    await this.refusedAs(key, written, `status of ModelRollout ${name}`, () => this.persist(written, decision.status, rlog));
    if (outcome.kind !== 'blocked') this.refusals.delete(key);
    this.record(ro, input.status, decision.status, now);
    if (outcome.kind === 'failed') throw outcome.error;
    return requeueAfterMs === undefined ? {} : { requeueAfterMs };
  }

  /** The gate type decide() says holds the rollout is asked (in the background; its answer requeues the rollout). */
  private askGates(key: string, ro: ModelRollout, status: RolloutStatus): void {
    const held = status.webhookGate;
    const webhooks = status.lastValidSpec?.webhooks ?? [];
    const intervalMs = status.lastValidSpec?.gateIntervalMs ?? GATE_POLL_DEFAULT_MS;
    if (!held || !status.candidate || !this.deps.gates) return;
    const subject = {
      namespace: ro.metadata.namespace!,
      name: ro.metadata.name!,
      phase: status.phase ?? '',
      revision: status.candidate.revision,
      since: held.since,
      intervalMs,
    };
    this.deps.gates.ask(
      key,
      subject,
      webhooks.filter((w) => w.type === held.type),
    );
  }

  /** Stored templates follow the revisions status still names; a refusal here is reported like any write's. */
  private async syncRevisions(
    ro: ModelRollout,
    status: RolloutStatus,
    specRevision: string,
    previous: BlockedWrite | undefined,
    now: Date,
    deps: ExecuteDeps,
  ): Promise<ExecuteOutcome> {
    const keep = [specRevision, status.stable?.revision, status.candidate?.revision, status.previousStable?.revision].filter((r): r is string => !!r);
    const wait = previous?.object.startsWith('ControllerRevision ') ? retryInMs(previous, now) : 0;
    if (previous && wait > 0) return { kind: 'backingOff', blocked: previous, retryInMs: wait };
    if (deps.canWrite && !deps.canWrite()) throw new NotLeaderError('not writing ControllerRevisions: this replica no longer holds the leader lease');
    try {
      await syncRevisionHistory(ro, keep, deps);
      return { kind: 'done' };
    } catch (err) {
      const blocked = blockedWriteOf(err, `ControllerRevision of ${ro.metadata.name}`, previous, now);
      return blocked ? { kind: 'blocked', blocked } : { kind: 'failed', error: err };
    }
  }

  /**
   * An A/B experiment's writes besides the weights (#16): the arm rules, when the route lost or kept them against
   * what this candidate weight wants (a pass that set the weights wrote them already), and the published assignment
   * in the `<rollout>-experiment` ConfigMap. Refused writes are reported like any write's.
   */
  private async syncExperiment(
    ro: ModelRollout,
    pass: { decision: Decision; route: RouteObservation; router: TrafficRouter | undefined; previous: BlockedWrite | undefined; now: Date },
    deps: ExecuteDeps,
  ): Promise<ExecuteOutcome> {
    const { decision, route, router, previous, now } = pass;
    const assignment = decision.status.analysis?.experiment?.assignment;
    const object = `ConfigMap ${experimentConfigMapName(ro.metadata.name!)}`;
    const wait = previous?.object === object ? retryInMs(previous, now) : 0;
    if (previous && wait > 0) return { kind: 'backingOff', blocked: previous, retryInMs: wait };
    const attempt = async (what: string, write: () => Promise<void>): Promise<ExecuteOutcome> => {
      try {
        await write();
        return { kind: 'done' };
      } catch (err) {
        if (err instanceof NotLeaderError) throw err;
        const blocked = blockedWriteOf(err, what, previous, now);
        return blocked ? { kind: 'blocked', blocked } : { kind: 'failed', error: err };
      }
    };
    const arms = await attempt("the route's A/B arm rules", () => this.syncArmRules(ro, decision, route, router, deps));
    if (arms.kind !== 'done' || !assignment || !ro.spec.experiment) return arms;
    if (deps.canWrite && !deps.canWrite()) throw new NotLeaderError('not writing the experiment ConfigMap: this replica no longer holds the leader lease');
    return attempt(object, () => syncExperimentConfigMap(ro, assignment, { ...deps, now: () => now.getTime() }));
  }

  /** Puts the arm rules back in line with the route's weights when a pass did not write the weights (level-triggered). */
  private async syncArmRules(
    ro: ModelRollout,
    decision: Decision,
    route: RouteObservation,
    router: TrafficRouter | undefined,
    deps: ExecuteDeps,
  ): Promise<void> {
    if (!router || !route.found || route.stableWeight === undefined || route.candidateWeight === undefined) return;
    if (decision.actions.some((a) => a.kind === 'setTraffic')) return;
    const want = armsOf(ro, route.candidateWeight).arms !== undefined;
    const have = route.arms ?? 'absent';
    if (want ? have === 'present' : have === 'absent') return;
    if (deps.canWrite && !deps.canWrite()) throw new NotLeaderError('not writing the arm rules: this replica no longer holds the leader lease');
    await router.setWeights({
      stableWeight: route.stableWeight,
      candidateWeight: route.candidateWeight,
      mirrorPercent: route.mirrorPercent ?? 0,
      ...armsOf(ro, route.candidateWeight),
    });
  }

  private routerOf(ro: ModelRollout) {
    const routing = ro.spec.trafficRouting as TrafficRoutingSpec | undefined;
    if (!routing || !definitionFor(routing)) return undefined;
    const namespace = ro.metadata.namespace!;
    const target = {
      namespace,
      stableService: stableServiceName(ro.spec.service.name),
      candidateService: candidateServiceName(ro.spec.service.name),
      port: ro.spec.service.port ?? 80,
    };
    return routerFor(routing, target, (router) => {
      const cache = this.deps.cache.routes.get(router.specKey);
      return {
        custom: this.deps.custom,
        cached: cache && ((ns, n) => cache.get(n, ns)),
        onWritten: cache && ((obj) => cache.remember(obj as RouteObjectK8s)),
        onRequest: (verb) => this.deps.metrics.kubeRequests.inc({ verb, resource: router.watches.resource.plural }),
      };
    });
  }

  /**
   * A write status cannot report (the finalizer or the status patch itself) that the API server refuses (400,
   * 403, 422): a Warning event names it with the server's message, and a TerminalError waits a growing backoff
   * (5 s doubling to 5 min) instead of the work queue's hot retries.
   */
  private async refusedAs<T>(key: string, ro: ModelRollout, object: string, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (err) {
      const code = statusCodeOf(err);
      if (code !== 400 && code !== 403 && code !== 422) throw err;
      const attempts = (this.refusals.get(key) ?? 0) + 1;
      this.refusals.set(key, attempts);
      const message = `${object}: the API server refused the write (${code}): ${messageOf(err)}`;
      recordEvent(ro, 'Warning', 'WriteRefused' satisfies BlockedWriteReason, message, this.eventDeps());
      throw new TerminalError(message, retryBackoffMs(attempts), { cause: err });
    }
  }

  private async addFinalizer(ro: ModelRollout): Promise<ModelRollout> {
    this.deps.metrics.kubeRequests.inc({ verb: 'patch', resource: PLURAL });
    // resourceVersion makes this a compare-and-swap on the finalizer list.
    const updated = (await this.deps.custom.patchNamespacedCustomObject(
      {
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace: ro.metadata.namespace!,
        name: ro.metadata.name!,
        body: { metadata: { finalizers: [...(ro.metadata.finalizers ?? []), FINALIZER], resourceVersion: ro.metadata.resourceVersion } },
      },
      mergePatchHeader,
    )) as ModelRollout;
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
      const updated = (await this.deps.custom.patchNamespacedCustomObjectStatus(
        {
          group: GROUP,
          version: VERSION,
          plural: PLURAL,
          namespace: ro.metadata.namespace!,
          name: ro.metadata.name!,
          body: { status: patch },
        },
        mergePatchHeader,
      )) as ModelRollout;
      this.deps.cache.rollouts.remember(updated as ModelRollout & k8s.KubernetesObject);
    } catch (err) {
      if (isNotFound(err)) return log.debug('rollout deleted before its status was written');
      throw err;
    }
  }

  /**
   * Hands this pass's history entries (and a new experiment verdict) to the notifier, with the rollout's own
   * receivers when spec.notifications names them: their Secret is read first, in the background, in order per rollout.
   */
  private notify(ro: ModelRollout, pass: { added: HistoryEntry[]; after: RolloutStatus; experiment: ExperimentNotice | undefined; time: string }): void {
    const notifier = this.deps.notifier;
    const { added, after, experiment, time } = pass;
    if (!notifier || (added.length === 0 && !experiment)) return;
    const labels = { namespace: ro.metadata.namespace!, name: ro.metadata.name! };
    const send = (own: Receivers | undefined) => {
      if (added.length > 0)
        notifier.notifyHistory({ ...labels, stableRevision: after.stable?.revision, candidateRevision: after.candidate?.revision }, added, own);
      if (experiment) notifier.notifyVerdict({ ...labels, status: after, time }, experiment, own);
    };
    if (!(ro.spec as { notifications?: unknown }).notifications) return send(undefined);
    const key = `${labels.namespace}/${labels.name}`;
    const deps = {
      core: this.deps.core,
      onRequest: () => this.deps.metrics.kubeRequests.inc({ verb: 'get', resource: 'secrets' }),
      warn: (reason: string, message: string) => recordEvent(ro, 'Warning', reason, message, this.eventDeps()),
    };
    const next = (this.notices.get(key) ?? Promise.resolve())
      .then(() => rolloutReceivers(ro, deps))
      .then(send)
      .catch((err: unknown) => this.deps.log.warn({ rollout: key, err: String(err) }, 'notification not sent'));
    this.notices.set(key, next);
    void next.finally(() => {
      if (this.notices.get(key) === next) this.notices.delete(key);
    });
  }

  /** What recordEvent needs outside execute(): the recorder, the request counter and where a failure is said. */
  private eventDeps(): Pick<ExecuteDeps, 'events' | 'onRequest' | 'onEventError'> {
    return {
      events: this.deps.events,
      onRequest: (verb, resource) => this.deps.metrics.kubeRequests.inc({ verb, resource }),
      onEventError: (e) => this.deps.log.warn({ err: String(e) }, 'could not record event'),
    };
  }

  private record(ro: ModelRollout, before: RolloutStatus, after: RolloutStatus, now: Date): void {
    const { metrics } = this.deps;
    const labels = { namespace: ro.metadata.namespace!, name: ro.metadata.name! };
    metrics.candidateWeight.set(labels, after.weights?.candidate ?? 0);
    const known = new Set((before.history ?? []).map((h) => `${h.time}|${h.reason}`));
    const added = (after.history ?? []).filter((h) => !known.has(`${h.time}|${h.reason}`));
    for (const h of added) metrics.transitions.inc({ reason: h.reason });
    this.notify(ro, { added, after, experiment: verdictReached(before, after), time: now.toISOString() });
    if ((after.phase === 'RolledBack' || after.phase === 'Aborted') && before.phase !== after.phase) {
      metrics.rollbacks.inc({ ...labels, reason: after.failure?.reason ?? after.phase });
      this.deps.log.warn(
        { rollout: `${labels.namespace}/${labels.name}`, reason: after.failure?.reason, message: after.failure?.message },
        after.phase === 'RolledBack' ? 'rolled back' : 'aborted',
      );
    } else if (before.phase !== after.phase) {
      this.deps.log.info({ rollout: `${labels.namespace}/${labels.name}`, from: before.phase, to: after.phase, message: after.message }, 'phase changed');
    }
  }
}

/** A pass stopped at a blocked write looks again no sooner than this (decide may ask for 0: "at once"). */
const BLOCKED_MIN_REQUEUE_MS = 1_000;

/**
 * Puts the execution outcome into the status about to be written (status.blockedWrite and condition
 * ReconcileError) and returns when to look again.
 */
export function settle(decision: Decision, outcome: ExecuteOutcome, generation: number, now: Date): number | undefined {
  const status = decision.status;
  const wanted = decision.requeueAfterMs;
  switch (outcome.kind) {
    case 'done':
    case 'failed': {
      if (outcome.kind === 'failed') return wanted;
      delete status.blockedWrite;
      // The condition appears with the first blocked write and is cleared, not removed, afterwards.
      if (status.conditions?.some((c) => c.type === 'ReconcileError')) {
        status.conditions = setCondition(
          status.conditions,
          { type: 'ReconcileError', status: 'False', reason: RECONCILE_SUCCEEDED, message: '' },
          generation,
          now,
        );
      }
      return wanted;
    }
    case 'blocked':
    case 'backingOff': {
      const blocked = outcome.blocked;
      status.blockedWrite = blocked;
      status.conditions = setCondition(
        status.conditions ?? [],
        { type: 'ReconcileError', status: 'True', reason: blocked.reason, message: blocked.message },
        generation,
        now,
      );
      const retry = outcome.kind === 'blocked' ? retryBackoffMs(blocked.attempts) : outcome.retryInMs;
      return Math.max(BLOCKED_MIN_REQUEUE_MS, Math.min(wanted ?? Infinity, retry));
    }
  }
}

/** The API server's message of a refusal (its Status body's message), else the error's own. */
function messageOf(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  try {
    const parsed = (typeof body === 'string' ? JSON.parse(body) : body) as { message?: unknown } | undefined;
    if (typeof parsed?.message === 'string') return parsed.message;
  } catch {
    // not JSON: the error's own message below
  }
  return err instanceof Error ? err.message : String(err);
}
