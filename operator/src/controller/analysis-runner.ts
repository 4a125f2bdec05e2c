// Runs analysis for a rollout's current step: the fast breaker ("is it broken?", every breakerInterval)
// and the step judgement ("is it better?", once the bake time is over, then every interval while held).
// Queries go to the metrics provider; judgement is the pure code in analysis/; what must survive a
// restart (breach start times, counters, latest measurements) goes to status.analysis.
import * as k8s from '@kubernetes/client-node';
import { checkBreaker, judgeMetric, judgeStep, type StepVerdict } from '../analysis/evaluate.js';
import { parseAnalysis, renderQuery, type AnalysisConfig, type AnalysisDefaults, type QueryVars, type StoredAnalysis } from '../analysis/spec.js';
import type { AnalysisStatus, Measurement, MetricResult } from '../analysis/types.js';
import { providerFor, type MetricsProvider, type ProviderConfig } from '../metric-providers/index.js';
import type { AnalysisVerdict, DecideInput, RolloutStatus } from '../rollout/types.js';
import type { ClusterCache } from './cluster-cache.js';
import type { ModelRollout } from './model-rollout.js';
import { ANNOTATION_RESUME, LABEL_REVISION } from './names.js';

const HISTORY_LIMIT = 30;

export interface AnalysisOutcome {
  analysis: AnalysisVerdict;
  breaker: DecideInput['breaker'];
  /** Undefined: no analysis for this rollout now (status.analysis is left as it is). */
  status?: AnalysisStatus;
  wakeInMs?: number;
}

export interface AnalysisRunnerDeps {
  core: k8s.CoreV1Api;
  cache: ClusterCache;
  providerFor?: (config: ProviderConfig) => MetricsProvider;
  defaults?: AnalysisDefaults;
}

export class AnalysisRunner {
  constructor(private readonly deps: AnalysisRunnerDeps) {}

  async run(ro: ModelRollout, stepDurationMs: number, now: Date): Promise<AnalysisOutcome> {
    const status = ro.status ?? {};
    const errors: string[] = [];
    const config = parseAnalysis(ro.spec.analysis as StoredAnalysis | undefined, errors, this.deps.defaults);
    const active = status.candidate && (status.phase === 'Progressing' || status.phase === 'Shadowing' || status.phase === 'Paused');
    const crash = this.crashOf(ro, status);
    if (crash && active) return { analysis: { result: 'pending', message: crash }, breaker: { tripped: true, reason: 'CandidateCrashing', message: crash } };
    if (!config || errors.length > 0 || !active) return { analysis: { result: 'pass' }, breaker: { tripped: false } };

    const candidate = status.candidate!;
    const state: AnalysisStatus = status.analysis?.revision === candidate.revision ? structuredClone(status.analysis) : { revision: candidate.revision };
    const stepIndex = status.currentStep?.index ?? -1;
    if (state.step !== stepIndex) {
      state.step = stepIndex;
      state.consecutiveInconclusive = 0;
      delete state.lastStepCheck;
      delete state.lastStepVerdict;
      delete state.lastStepMessage;
    }
    const resume = ro.metadata.annotations?.[ANNOTATION_RESUME];
    if (resume && resume !== state.resumeToken && state.lastStepVerdict === 'pause') {
      state.consecutiveErrors = 0;
      state.consecutiveInconclusive = 0;
      delete state.lastStepVerdict;
      delete state.lastStepCheck;
    }
    if (resume) state.resumeToken = resume;

    const provider = await this.provider(ro, config);
    const vars = (role: 'stable' | 'candidate', intervalMs: number): QueryVars => {
      const ref = role === 'candidate' ? candidate : status.stable!;
      return { namespace: ro.metadata.namespace!, service: ro.spec.service.name, model: ro.spec.model.name, version: ref.modelVersion, revision: ref.revision, role, intervalMs };
    };
    const breaker = await this.breaker(config, provider, vars, state, now);
    const analysis = await this.step(config, provider, vars, state, status, stepDurationMs, now);
    return {
      analysis, breaker, status: state,
      wakeInMs: Math.min(config.breakerIntervalMs, config.intervalMs),
    };
  }

  /** Severe at once: candidate containers crash-looping or OOM-killed. */
  private crashOf(ro: ModelRollout, status: RolloutStatus): string | undefined {
    const revision = status.candidate?.revision;
    if (!revision) return undefined;
    const pods = this.deps.cache.podsOf(ro.metadata.namespace!, ro.metadata.name!).filter((p) => p.metadata?.labels?.[LABEL_REVISION] === revision);
    for (const pod of pods) {
      for (const cs of pod.status?.containerStatuses ?? []) {
        if (cs.lastState?.terminated?.reason === 'OOMKilled') return `candidate pod ${pod.metadata!.name} container ${cs.name} was OOM-killed`;
        if (cs.state?.waiting?.reason === 'CrashLoopBackOff') return `candidate pod ${pod.metadata!.name} container ${cs.name} is crash-looping (${cs.restartCount} restarts)`;
      }
    }
    return undefined;
  }

  private async breaker(config: AnalysisConfig, provider: MetricsProvider, vars: (r: 'stable' | 'candidate', ms: number) => QueryVars, state: AnalysisStatus, now: Date): Promise<DecideInput['breaker']> {
    const due = !state.lastBreakerCheck || now.getTime() - Date.parse(state.lastBreakerCheck) >= config.breakerIntervalMs;
    const rules = config.metrics.filter((m) => m.breaker);
    if (!due || rules.length === 0) return { tripped: false };
    state.lastBreakerCheck = now.toISOString();
    const window = config.breakerWindowMs;
    if (!(await this.enoughData(config, provider, vars('candidate', window), now))) return { tripped: false };
    const breaches = { ...(state.breaches ?? {}) };
    for (const rule of rules) {
      const m = await provider.query(renderQuery(rule.query, vars('candidate', window)), now);
      const outcome = checkBreaker(rule.name, rule.breaker!, m, breaches[rule.name], now);
      this.record(state, 'breaker', { name: rule.name, verdict: outcome.tripped ? 'fail' : m.kind === 'value' ? 'pass' : m.kind === 'noData' ? 'noData' : 'error', ...(m.kind === 'value' ? { value: m.value } : {}), message: outcome.tripped ? outcome.message : describeMeasurement(rule.name, m) }, now);
      if (outcome.tripped) {
        state.breaches = breaches;
        return { tripped: true, reason: rule.name, message: `breaker: ${outcome.message}` };
      }
      if (outcome.since) breaches[rule.name] = outcome.since;
      else delete breaches[rule.name];
    }
    state.breaches = breaches;
    return { tripped: false };
  }

  private async step(
    config: AnalysisConfig, provider: MetricsProvider, vars: (r: 'stable' | 'candidate', ms: number) => QueryVars,
    state: AnalysisStatus, status: RolloutStatus, stepDurationMs: number, now: Date,
  ): Promise<AnalysisVerdict> {
    const since = status.currentStep ? status.currentStep.trafficShiftedAt : status.shadowStartedAt;
    if (!since) return { result: 'pending', message: 'traffic not shifted yet' };
    const elapsed = now.getTime() - Date.parse(since);
    if (elapsed < stepDurationMs) return { result: 'pending', message: 'baking' };
    // Paused for a person: stays paused (no re-judging) until a resume resets the counters.
    if (state.lastStepVerdict === 'pause') return { result: 'pause', message: state.lastStepMessage ?? 'paused by analysis' };
    const due = !state.lastStepCheck || now.getTime() - Date.parse(state.lastStepCheck) >= config.intervalMs;
    if (!due && state.lastStepVerdict) return toDecide({ result: state.lastStepVerdict, message: state.lastStepMessage ?? '', reason: state.lastStepVerdict === 'fail' ? 'Analysis' : '' } as StepVerdict);
    state.lastStepCheck = now.toISOString();
    // The step is judged over its whole window so far, never less than one interval.
    const window = Math.max(elapsed, config.intervalMs);
    let verdict: StepVerdict;
    if (!(await this.enoughData(config, provider, vars('candidate', window), now))) {
      verdict = { result: 'pending', message: `fewer than ${config.minRequests} candidate requests in the last ${Math.round(window / 1000)} s` };
    } else {
      const results: MetricResult[] = [];
      for (const rule of config.metrics) {
        const candidate = await provider.query(renderQuery(rule.query, vars('candidate', window)), now);
        const stable = rule.relative ? await provider.query(renderQuery(rule.query, vars('stable', window)), now) : undefined;
        const result = judgeMetric(rule, candidate, stable, (status.weights?.stable ?? 100) > 0);
        results.push(result);
        this.record(state, 'step', result, now);
      }
      verdict = judgeStep(results, state, config.limits);
    }
    state.lastStepVerdict = verdict.result;
    state.lastStepMessage = verdict.message;
    return toDecide(verdict);
  }

  private async enoughData(config: AnalysisConfig, provider: MetricsProvider, vars: QueryVars, now: Date): Promise<boolean> {
    if (config.minRequests <= 0) return true;
    const m = await provider.query(renderQuery(config.requestQuery, vars), now);
    // A failed count is not "not enough data": let the metric queries report the error.
    return m.kind === 'error' || (m.kind === 'value' && m.value >= config.minRequests);
  }

  private record(state: AnalysisStatus, kind: 'step' | 'breaker', result: MetricResult, now: Date): void {
    const time = now.toISOString();
    state.metrics = [...(state.metrics ?? []).filter((m) => !(m.name === result.name && m.kind === kind)), { ...result, time, kind }];
    const entry = { time, kind, name: result.name, verdict: result.verdict, ...(result.value !== undefined ? { value: result.value } : {}) };
    state.history = [...(state.history ?? []), entry].slice(-HISTORY_LIMIT);
  }

  private async provider(ro: ModelRollout, config: AnalysisConfig): Promise<MetricsProvider> {
    const make = this.deps.providerFor ?? providerFor;
    const options: ProviderConfig = { kind: 'prometheus', address: config.prometheus.address, timeoutMs: config.prometheus.timeoutMs, insecureSkipVerify: config.prometheus.insecureSkipVerify };
    if (config.prometheus.secretName) {
      const secret = await this.deps.core.readNamespacedSecret({ name: config.prometheus.secretName, namespace: ro.metadata.namespace! });
      const data = (key: string) => (secret.data?.[key] ? Buffer.from(secret.data[key]!, 'base64').toString('utf8') : undefined);
      const token = data('token');
      const username = data('username');
      if (token) options.bearerToken = token.trim();
      else if (username) options.basicAuth = { username, password: data('password') ?? '' };
      const ca = data('ca.crt');
      if (ca) options.ca = ca;
    }
    return make(options);
  }
}

function describeMeasurement(name: string, m: Measurement): string {
  return m.kind === 'value' ? `${name} ${+m.value.toPrecision(4)}` : `${name}: ${m.message}`;
}

function toDecide(v: StepVerdict): AnalysisVerdict {
  switch (v.result) {
    case 'fail':
      return { result: 'fail', reason: v.reason, message: v.message };
    case 'pass':
      return { result: 'pass' };
    case 'pause':
      return { result: 'pause', message: v.message };
    default:
      return { result: v.result, message: v.message };
  }
}
