// Runs analysis for a rollout's current step: the fast breaker ("is it broken?", every breakerInterval)
// and the step judgement ("is it better?", once the bake time is over, then every interval while held).
// Queries go to the metrics provider; judgement is the pure code in analysis/; what must survive a
// restart (breach start times, counters, latest measurements) goes to status.analysis.
import * as k8s from '@kubernetes/client-node';
import { wholeCount } from '../analysis/binomial.js';
import { checkBreaker, judgeMetric, tripConfidence, judgeStep, trackNoData, type NoDataCheck, type StepVerdict } from '../analysis/evaluate.js';
import { withMoney } from '../analysis/price.js';
import { parseAnalysis, renderQuery, type AnalysisConfig, type AnalysisDefaults, type QueryVars, type StoredAnalysis } from '../analysis/spec.js';
import { coverageDue, experimentVerdict, gateWeight, withExperiment, type ExperimentStatus } from '../analysis/experiment-gate.js';
import { parseExperiment, type ExperimentConfig, type StoredExperiment } from '../analysis/experiment-spec.js';
import { judgeTradeOff, type Sides } from '../analysis/trade-off.js';
import { parseSpec, type StoredSpec } from '../rollout/spec.js';
import { lookExperiment } from './experiment-look.js';
import type { AnalysisStatus, Measurement, MetricResult, MetricRule } from '../analysis/types.js';
import { providerFor, type MetricsProvider, type ProviderConfig } from '../metric-providers/index.js';
import type { AnalysisVerdict, DecideInput, RevisionRef, RolloutStatus } from '../rollout/types.js';
import type { ClusterCache } from './cluster-cache.js';
import type { GoldenProber } from './golden-prober.js';
import { ANNOTATION_RESUME, candidateServiceName, LABEL_REVISION, type ModelRollout, stableServiceName } from '../api/index.js';

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
  /** Sends spec.analysis.goldenProbes; absent: golden-* metrics get no data (the operator always wires it). */
  golden?: GoldenProber;
}

export class AnalysisRunner {
  constructor(private readonly deps: AnalysisRunnerDeps) {}

  /** The rollout is gone or being deleted: stop what runs for it in the background (golden probes). */
  forget(key: string): void {
    this.deps.golden?.sync(key, undefined);
  }

  async run(ro: ModelRollout, stepDurationMs: number, now: Date): Promise<AnalysisOutcome> {
    const status = ro.status ?? {};
    const errors: string[] = [];
    const config = parseAnalysis(ro.spec.analysis as StoredAnalysis | undefined, errors, this.deps.defaults);
    // An aborted candidate that still carries traffic (the return waits for stable) is still watched: a
    // failing one is then drained at once.
    const returning = status.phase === 'Aborted' && (status.weights?.candidate ?? 0) > 0;
    const active = status.candidate && (status.phase === 'Progressing' || status.phase === 'Shadowing' || status.phase === 'Paused' || returning);
    const crash = this.crashOf(ro, status);
    const key = `${ro.metadata.namespace}/${ro.metadata.name}`;
    const probing = config?.goldenProbes && errors.length === 0 && active && status.stable && status.phase !== 'Aborted';
    this.deps.golden?.sync(
      key,
      probing
        ? {
            namespace: ro.metadata.namespace!,
            name: ro.metadata.name!,
            config: config.goldenProbes!,
            candidateRevision: status.candidate!.revision,
            stableService: stableServiceName(ro.spec.service.name),
            candidateService: candidateServiceName(ro.spec.service.name),
          }
        : undefined,
    );
    if (crash && active) return { analysis: { result: 'pending', message: crash }, breaker: { tripped: true, reason: 'CandidateCrashing', message: crash } };
    if (!config || errors.length > 0 || !active) return { analysis: { result: 'pass' }, breaker: { tripped: false } };

    const candidate = status.candidate!;
    const vars = (role: 'stable' | 'candidate', intervalMs: number): QueryVars => revisionVars(ro, candidate, status.stable, role, intervalMs);
    const outcome = await this.judgeCandidate(
      { namespace: ro.metadata.namespace!, identity: candidate.revision, annotations: ro.metadata.annotations, status, vars },
      config,
      stepDurationMs,
      now,
    );
    const golden = this.deps.golden?.report(key);
    if (golden) outcome.status!.goldenProbes = golden;
    const experiment = parseExperiment(ro.spec.experiment as StoredExperiment | undefined, []);
    if (experiment && outcome.status) await this.experiment(ro, experiment, config, outcome, now);
    return outcome;
  }

  /** An A/B experiment's look (#16) and its say on the step: status.analysis.experiment, and the verdict combined. */
  private async experiment(ro: ModelRollout, config: ExperimentConfig, analysis: AnalysisConfig, outcome: AnalysisOutcome, now: Date): Promise<void> {
    const status = ro.status!;
    const candidate = status.candidate!;
    const state = outcome.status!;
    const stable = status.stable ?? candidate;
    const exp = await lookExperiment({
      config,
      provider: await this.provider(ro.metadata.namespace!, analysis),
      uid: ro.metadata.uid ?? ro.metadata.name!,
      candidateRevision: candidate.revision,
      routeWeight: status.weights?.candidate ?? 0,
      armsSince: state.experiment?.since ?? status.currentStep?.trafficShiftedAt,
      vars: armVars(ro, candidate, stable),
      intervalMs: analysis.intervalMs,
      ...(status.currentStep ? { step: { index: status.currentStep.index, atGate: atExperimentGate(ro) } } : {}),
      previous: state.experiment,
      now,
    });
    const say = experimentSay(ro, exp, config, now);
    exp.paused = say?.result === 'pause';
    state.experiment = exp;
    outcome.analysis = withExperiment(outcome.analysis, say);
  }

  /**
   * An adapter version rolled out on the same pods (StyleRollout, ADR 0005): the same breaker and step judgement
   * over the runtime's t2v_adapter_* series (parseAnalysis' adapter scope), keyed by `<style>@<version>`.
   */
  async runAdapter(subject: AdapterSubject, stepDurationMs: number, now: Date): Promise<AnalysisOutcome> {
    const errors: string[] = [];
    const config = parseAnalysis(subject.analysis, errors, this.deps.defaults, 'adapter');
    if (!config || errors.length > 0) return { analysis: { result: 'pass' }, breaker: { tripped: false } };
    const vars = (role: 'stable' | 'candidate', intervalMs: number): QueryVars => {
      const version = role === 'candidate' ? subject.candidateVersion : subject.stableVersion;
      return {
        namespace: subject.namespace,
        name: subject.name,
        service: subject.service,
        model: subject.model,
        version,
        revision: `${subject.style}@${version}`,
        stableRevision: `${subject.style}@${subject.stableVersion}`,
        candidateRevision: `${subject.style}@${subject.candidateVersion}`,
        role,
        intervalMs,
        adapter: subject.style,
        adapterVersion: version,
      };
    };
    return this.judgeCandidate(
      {
        namespace: subject.namespace,
        identity: `${subject.style}@${subject.candidateVersion}`,
        annotations: subject.annotations,
        status: subject.status,
        vars,
      },
      config,
      stepDurationMs,
      now,
    );
  }

  /** The breaker and the step judgement of one candidate, with the state that survives a restart in `status.analysis`. */
  private async judgeCandidate(subject: Judged, config: AnalysisConfig, stepDurationMs: number, now: Date): Promise<AnalysisOutcome> {
    const { status, vars } = subject;
    const state: AnalysisStatus = status.analysis?.revision === subject.identity ? structuredClone(status.analysis) : { revision: subject.identity };
    const stepIndex = status.currentStep?.index ?? -1;
    if (state.step !== stepIndex) {
      state.step = stepIndex;
      // Records about the step's window (too few requests, no requests, too small a stable baseline) start
      // again with it; a query that matches no series is not about the window and keeps its deadline.
      if (state.noData) {
        for (const [name, record] of Object.entries(state.noData)) {
          if (name === 'requests' || record.why === 'no requests' || record.why.startsWith('no stable baseline')) delete state.noData[name];
        }
        if (Object.keys(state.noData).length === 0) delete state.noData;
      }
      state.consecutiveInconclusive = 0;
      delete state.lastStepCheck;
      delete state.lastStepVerdict;
      delete state.lastStepMessage;
    }
    const resume = subject.annotations?.[ANNOTATION_RESUME];
    if (resume && resume !== state.resumeToken && state.lastStepVerdict === 'pause') {
      // A person who resumes a trade-off pause accepts that trade-off for this step (its message said so).
      if (config.tradeOffs.some((t) => state.lastStepMessage?.includes(`${t.name}: `))) state.acceptedTradeOffStep = stepIndex;
      state.consecutiveErrors = 0;
      state.consecutiveInconclusive = 0;
      // A person resuming after a NoData pause gives the metrics a fresh deadline.
      delete state.noData;
      delete state.lastStepVerdict;
      delete state.lastStepCheck;
    }
    if (resume) state.resumeToken = resume;

    const provider = await this.provider(subject.namespace, config);
    const shiftedAt = status.currentStep ? status.currentStep.trafficShiftedAt : status.shadowStartedAt;
    const stepElapsedMs = shiftedAt ? now.getTime() - Date.parse(shiftedAt) : 0;
    const breaker = await this.breaker(config, provider, vars, state, stepElapsedMs, now);
    const analysis = await this.step(config, provider, vars, state, status, stepDurationMs, now);
    return {
      analysis,
      breaker,
      status: state,
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
        if (cs.state?.waiting?.reason === 'CrashLoopBackOff')
          return `candidate pod ${pod.metadata!.name} container ${cs.name} is crash-looping (${cs.restartCount} restarts)`;
      }
    }
    return undefined;
  }

  private async breaker(
    config: AnalysisConfig,
    provider: MetricsProvider,
    vars: VarsOf,
    state: AnalysisStatus,
    stepElapsedMs: number,
    now: Date,
  ): Promise<DecideInput['breaker']> {
    const due = !state.lastBreakerCheck || now.getTime() - Date.parse(state.lastBreakerCheck) >= config.breakerIntervalMs;
    const rules = config.metrics.filter((m) => m.breaker);
    // A breach of a rule that lost its breaker (or left the spec) must not trip it when it comes back.
    if (state.breaches) {
      for (const name of Object.keys(state.breaches)) if (!rules.some((r) => r.name === name)) delete state.breaches[name];
      if (Object.keys(state.breaches).length === 0) delete state.breaches;
    }
    if (!due || rules.length === 0) return { tripped: false };
    state.lastBreakerCheck = now.toISOString();
    const window = config.breakerWindowMs;
    // Counts carry their own sample size; plain values need the minimum request count to mean anything.
    let valueWindow: number | null | undefined;
    const breaches = { ...(state.breaches ?? {}) };
    for (const rule of rules) {
      let m: Measurement;
      let breakerRule = rule.breaker!;
      let accumulated: Measurement | undefined;
      const since = breaches[rule.name];
      if (!rule.counts) {
        valueWindow ??= await this.valueBreakerWindow(config, provider, vars, window, stepElapsedMs, now);
        if (valueWindow === null) continue;
        const widened = valueWindow > window;
        if (widened && rule.lowRateQuery) {
          // Below ~100 requests a p99 is the slowest request: judge the widened window on the robust query.
          m = await provider.query(renderQuery(rule.lowRateQuery, vars('candidate', valueWindow)), now);
        } else {
          m = await measure(provider, rule, vars('candidate', valueWindow), now);
          // A widened window without a robust query applies only the severe bound.
          if (widened) breakerRule = { ...breakerRule, threshold: breakerRule.below ? -Infinity : Infinity };
        }
      } else {
        m = await this.breakerMeasure(config, provider, rule, vars, window, stepElapsedMs, now);
        // An open breach is judged on everything since it began.
        if (since) accumulated = await measure(provider, rule, vars('candidate', Math.max(window, now.getTime() - Date.parse(since))), now);
      }
      const outcome = checkBreaker(
        rule.name,
        breakerRule,
        m,
        since,
        now,
        config.confidence,
        accumulated,
        tripConfidence(config.confidence, breakerRule.forMs, config.breakerIntervalMs),
      );
      const verdict = outcome.tripped ? 'fail' : m.kind === 'noData' ? 'noData' : m.kind === 'error' ? 'error' : 'pass';
      this.record(
        state,
        'breaker',
        { name: rule.name, verdict, ...factsOf(m), message: outcome.tripped ? outcome.message : describeMeasurement(rule.name, m) },
        now,
      );
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

  /**
   * The window a plain-value breaker rule (a latency quantile) is measured over: breakerWindow when it holds
   * minRequests candidate requests; else the whole step so far, when that does (at 6 requests a minute a
   * 1-minute window never holds 20, and a p99 10× its bound must still trip); else null (not enough data).
   * A failed count gives breakerWindow: the metric query then reports the error itself.
   */
  private async valueBreakerWindow(
    config: AnalysisConfig,
    provider: MetricsProvider,
    vars: VarsOf,
    window: number,
    stepElapsedMs: number,
    now: Date,
  ): Promise<number | null> {
    const count = await this.count(config, provider, vars('candidate', window), now);
    if (count === 'error' || count >= config.minRequests) return window;
    if (stepElapsedMs <= window) return null;
    const wide = await this.count(config, provider, vars('candidate', stepElapsedMs), now);
    return wide === 'error' || wide >= config.minRequests ? stepElapsedMs : null;
  }

  /**
   * The breaker's measurement over breakerWindow. A counts rule with fewer than minRequests requests in that
   * window looks back over the whole step instead: at one request a minute a 1-minute window never holds two,
   * and the step's requests are still evidence about this candidate (high rates keep the short window).
   */
  private async breakerMeasure(
    config: AnalysisConfig,
    provider: MetricsProvider,
    rule: MetricRule,
    vars: VarsOf,
    window: number,
    stepElapsedMs: number,
    now: Date,
  ): Promise<Measurement> {
    const m = await measure(provider, rule, vars('candidate', window), now);
    if (!rule.counts || stepElapsedMs <= window || (m.kind === 'counts' && wholeCount(m.trials) >= config.minRequests)) return m;
    if (m.kind === 'error') return m;
    const wide = await measure(provider, rule, vars('candidate', stepElapsedMs), now);
    return wide.kind === 'counts' && (m.kind !== 'counts' || wide.trials > m.trials) ? wide : m;
  }

  private async step(
    config: AnalysisConfig,
    provider: MetricsProvider,
    vars: VarsOf,
    state: AnalysisStatus,
    status: JudgedStatus,
    stepDurationMs: number,
    now: Date,
  ): Promise<AnalysisVerdict> {
    const since = status.currentStep ? status.currentStep.trafficShiftedAt : status.shadowStartedAt;
    if (!since) return { result: 'pending', message: 'traffic not shifted yet' };
    const elapsed = now.getTime() - Date.parse(since);
    if (elapsed < stepDurationMs) return { result: 'pending', message: 'baking' };
    // Paused for a person: stays paused (no re-judging) until a resume resets the counters.
    if (state.lastStepVerdict === 'pause') return { result: 'pause', message: state.lastStepMessage ?? 'paused by analysis' };
    const due = !state.lastStepCheck || now.getTime() - Date.parse(state.lastStepCheck) >= config.intervalMs;
    if (!due && state.lastStepVerdict)
      return toDecide({
        result: state.lastStepVerdict,
        message: state.lastStepMessage ?? '',
        reason: state.lastStepVerdict === 'fail' ? (state.lastStepReason ?? 'Analysis') : '',
      } as StepVerdict);
    state.lastStepCheck = now.toISOString();
    // The step is judged over its whole window so far, never less than one interval.
    const window = Math.max(elapsed, config.intervalMs);
    // At 100 %: stable's baseline is the step before the shift (a step's duration, never less than an
    // interval), ending a second before it: the last window in which stable served its share.
    const baseline = { at: new Date(Date.parse(since) - 1000), windowMs: Math.max(config.intervalMs, stepDurationMs) };
    const verdict = await this.judge(config, provider, vars, state, (status.weights?.stable ?? 100) > 0, window, now, baseline);
    state.lastStepVerdict = verdict.result;
    state.lastStepMessage = verdict.message;
    if (verdict.result === 'fail') state.lastStepReason = verdict.reason;
    else delete state.lastStepReason;
    return toDecide(verdict);
  }

  /** One judgement of every metric over `window`, with no-data tracking; counts rules are judged even below minRequests. */
  private async judge(
    config: AnalysisConfig,
    provider: MetricsProvider,
    vars: VarsOf,
    state: AnalysisStatus,
    stableCarriesTraffic: boolean,
    window: number,
    now: Date,
    preShift?: { at: Date; windowMs: number },
  ): Promise<StepVerdict> {
    const requestQuery = renderQuery(config.requestQuery, vars('candidate', window));
    const read = config.minRequests > 0 ? await provider.query(requestQuery, now) : undefined;
    // A count that is not a finite number ≥ 0 (NaN, ±Inf, a negative delta) cannot show minRequests.
    const requests: Measurement | undefined =
      read?.kind === 'value' && !(Number.isFinite(read.value) && read.value >= 0) ? { kind: 'error', message: `the request count reads ${read.value}` } : read;
    // A failed count is not "not enough data": let the metric queries report the error.
    const enough = !requests || requests.kind === 'error' || (requests.kind === 'value' && wholeCount(requests.value) >= config.minRequests);
    // Too few requests is no data when they stopped coming: a candidate that got a trickle and then nothing (a
    // broken route) meets the deadline instead of holding its step forever, while one that gets its small share
    // steadily keeps gathering. "Stopped" is no request in half the deadline (5 min by default), so a 1 % share
    // of a service at 100 requests a minute is still arriving.
    let tooFew: NoDataCheck | undefined;
    if (!enough && requests?.kind === 'value' && wholeCount(requests.value) > 0) {
      const recentMs = Math.min(window, Math.max(config.intervalMs, config.noData.deadlineMs / 2));
      const recentQuery = renderQuery(config.requestQuery, vars('candidate', recentMs));
      const recent = recentMs < window ? await this.count(config, provider, vars('candidate', recentMs), now) : wholeCount(requests.value);
      if (recent === 0)
        tooFew = {
          query: recentQuery,
          why: `no candidate requests in the last ${Math.round(recentMs / 1000)} s (${wholeCount(requests.value)} in the step, fewer than minRequests ${config.minRequests})`,
        };
    }
    const checked: Record<string, NoDataCheck | undefined> = { requests: noDataCheck(requestQuery, requests) ?? tooFew };
    const results: MetricResult[] = [];
    const traded = new Set(config.tradeOffs.flatMap((t) => [t.cost, t.quality]));
    const sides: Record<string, Sides> = {};
    if (requests?.kind === 'error') {
      // The count's failure is an error of this check (it counts toward onMetricsError) whatever the rules are;
      // plain values, which need minRequests behind them, are not judged without it.
      const result: MetricResult = {
        name: 'requests',
        verdict: 'error',
        message: `the candidate request count failed (${requests.message}), so minRequests cannot be checked`,
      };
      results.push(result);
      this.record(state, 'step', result, now);
    }
    // At 100 %: stable's baseline before the shift, widened until it holds minStableRequests (a low-traffic
    // step lasts longer than its stepDuration while it gathers requests).
    let preShiftWindow: number | undefined;
    for (const rule of config.metrics) {
      if (!enough && !rule.counts) continue;
      if (requests?.kind === 'error' && !rule.counts) continue;
      if (!stableCarriesTraffic && preShift && (rule.relative || traded.has(rule.name)) && preShiftWindow === undefined) {
        preShiftWindow = await this.preShiftWindow(config, provider, vars, preShift);
      }
      const candidateVars = vars('candidate', window);
      const candidate = await measure(provider, rule, candidateVars, now);
      // At 100 % stable serves nothing now: its baseline is the interval before the traffic shift.
      const stableAt = stableCarriesTraffic ? now : preShift?.at;
      const stableWindow = stableCarriesTraffic ? window : (preShiftWindow ?? preShift?.windowMs ?? window);
      const stable = (rule.relative || traded.has(rule.name)) && stableAt ? await measure(provider, rule, vars('stable', stableWindow), stableAt) : undefined;
      const stableCount = stable && !rule.counts && stableAt ? await this.count(config, provider, vars('stable', stableWindow), stableAt) : undefined;
      // Without stable's request count, minStableRequests cannot be checked: the baseline is an error, not a pass.
      const baseline: Measurement | undefined =
        stableCount === 'error' ? { kind: 'error', message: 'the stable request count could not be read, so minStableRequests cannot be checked' } : stable;
      const stableSamples = stableCount === 'error' ? undefined : stableCount;
      // With a pre-shift baseline to measure, a missing one is no data, not "not applicable".
      const hasBaseline = stableCarriesTraffic || stableAt !== undefined;
      const result = withMoney(
        judgeMetric(rule, candidate, baseline, {
          stableCarriesTraffic: hasBaseline,
          stableSamples,
          minStableSamples: config.minStableRequests,
          confidence: config.confidence,
        }),
        rule,
        config.price,
        baseline?.kind === 'value' ? baseline.value : undefined,
      );
      if (requests?.kind === 'value' && result.samples === undefined) result.samples = wholeCount(requests.value);
      results.push(result);
      this.record(state, 'step', result, now);
      if (traded.has(rule.name))
        sides[rule.name] = { candidate, ...(baseline ? { stable: tooFewStable(baseline, stableSamples, config.minStableRequests) } : {}) };
      const candidateMissing = candidate.kind === 'noData' || (candidate.kind === 'counts' && wholeCount(candidate.trials) === 0);
      // A golden score with no data: the prober knows why (no ConfigMap, no ready pod, failed generations).
      const report = rule.golden && candidateMissing ? this.deps.golden?.report(`${candidateVars.namespace}/${candidateVars.name}`) : undefined;
      // The prober's error, or — when it does compare clips — the likely reason Prometheus has none of its scores.
      const probeError =
        report?.error ??
        (report && report.compared > 0
          ? `the operator compared ${report.compared} pairs at ${report.lastRoundTime}, but Prometheus has no ${rule.name} scores: is the operator's /metrics scraped (chart value metrics.serviceMonitor.enabled)?`
          : undefined);
      const missing = candidateMissing ? noDataCheck(renderQuery(rule.counts?.trials ?? rule.query, candidateVars), candidate) : undefined;
      checked[rule.name] = candidateMissing
        ? missing && probeError
          ? { ...missing, why: `${missing.why}; golden probes: ${probeError}` }
          : missing
        : // The candidate has data but the relative bound's baseline does not (no series, NaN, too few requests).
          result.verdict === 'noData'
          ? {
              query: renderQuery(rule.counts?.trials ?? rule.query, vars('stable', stableWindow)),
              why: `no stable baseline${stableAt === now ? '' : ` before the shift (at ${stableAt?.toISOString()})`} (${result.message})`,
            }
          : undefined;
    }
    const pause = this.tradeOffs(config, sides, results, state, now, checked);
    // Records of metrics (and trade-offs) no longer in the spec go: their deadline must not pause the rollout.
    const noData = trackNoData(
      state,
      checked,
      now,
      config.noData,
      new Set(['requests', ...config.metrics.map((m) => m.name), ...config.tradeOffs.map((t) => t.name)]),
    );
    const failed = results.find((r) => r.verdict === 'fail');
    if (failed) return { result: 'fail', reason: failed.name, message: failed.message };
    if (pause) return { result: 'pause', message: `paused for a person: ${pause}` };
    // A check with no failed query breaks a run of errors, also while the step waits for requests.
    if (requests?.kind !== 'error' && !results.some((r) => r.verdict === 'error')) state.consecutiveErrors = 0;
    if (noData && noData.result !== 'pending') return noData;
    if (!enough) {
      const have = requests?.kind === 'value' ? `${wholeCount(requests.value)}` : 'no';
      return {
        result: 'pending',
        message: noData?.message ?? `${have} candidate requests in the last ${Math.round(window / 1000)} s, fewer than ${config.minRequests}`,
      };
    }
    const verdict = judgeStep(results, state, config.limits);
    return verdict.result === 'pending' && noData ? { result: 'pending', message: noData.message } : verdict;
  }

  /**
   * Judges each trade-off on the step's measurements: a violation that rolls back joins `results` as a failed
   * metric; one that pauses is returned (its message). Missing data joins `results` as noData/error (the step
   * holds). Every outcome is recorded in status under the rule's name.
   */
  private tradeOffs(
    config: AnalysisConfig,
    sides: Record<string, Sides>,
    results: MetricResult[],
    state: AnalysisStatus,
    now: Date,
    checked: Record<string, NoDataCheck | undefined>,
  ): string | undefined {
    let pause: string | undefined;
    for (const rule of config.tradeOffs) {
      const cost = sides[rule.cost];
      const quality = sides[rule.quality];
      // Not measured this pass (too few requests for plain values): the metrics' own results already hold the step.
      if (!cost || !quality) continue;
      const t = judgeTradeOff(rule, cost, quality);
      // A side that never has a value (stable exports no GPU-seconds) meets the no-data deadline like a metric.
      checked[rule.name] =
        t.verdict === 'noData' ? { query: `trade-off ${rule.name} (${rule.cost} and ${rule.quality}, both sides)`, why: t.message } : undefined;
      // A person who resumed this step's trade-off pause accepted the cost: the rule pauses this step no more.
      const accepted = t.verdict === 'violated' && rule.onViolation === 'pause' && state.acceptedTradeOffStep === state.step;
      const violated = t.verdict === 'violated' && !accepted;
      const action = rule.onViolation === 'rollback' ? 'rolling back' : 'pausing';
      const change = t.costChange;
      const result: MetricResult = {
        name: rule.name,
        verdict: violated ? 'fail' : accepted ? 'pass' : t.verdict === 'violated' ? 'fail' : t.verdict,
        message: violated ? `${t.message}: ${action}` : accepted ? `${t.message}: accepted by a person (resume) for this step` : t.message,
        // Status holds finite values; +Inf (GPU time and no video) goes as raw text, as for metrics.
        ...(change !== undefined && Number.isFinite(change)
          ? { value: change }
          : change !== undefined && !Number.isNaN(change)
            ? { raw: change > 0 ? '+Inf' : '-Inf' }
            : {}),
      };
      this.record(state, 'step', result, now);
      if (violated && rule.onViolation === 'pause') pause ??= result.message;
      else results.push(result);
    }
    return pause;
  }

  /** The shortest of windowMs × 1, 2, 4 … 32 ending at `at` in which stable served minStableRequests (else the longest). */
  private async preShiftWindow(config: AnalysisConfig, provider: MetricsProvider, vars: VarsOf, preShift: { at: Date; windowMs: number }): Promise<number> {
    let w = preShift.windowMs;
    for (let i = 0; i < 5; i++, w *= 2) {
      const n = await this.count(config, provider, vars('stable', w), preShift.at);
      if (n === 'error' || n >= config.minStableRequests) return w;
    }
    return w;
  }

  /** Requests in the window (whole), or 'error' when the count cannot be read (failed query, NaN, ±Inf). */
  private async count(config: AnalysisConfig, provider: MetricsProvider, vars: QueryVars, now: Date): Promise<number | 'error'> {
    const m = await provider.query(renderQuery(config.requestQuery, vars), now);
    if (m.kind === 'value' && Number.isFinite(m.value) && m.value >= 0) return wholeCount(m.value);
    return m.kind === 'noData' && m.raw === undefined ? 0 : 'error';
  }

  private record(state: AnalysisStatus, kind: 'step' | 'breaker', result: MetricResult, now: Date): void {
    const time = now.toISOString();
    state.metrics = [...(state.metrics ?? []).filter((m) => !(m.name === result.name && m.kind === kind)), { ...result, time, kind }];
    const entry = {
      time,
      kind,
      name: result.name,
      verdict: result.verdict,
      ...(result.value !== undefined ? { value: result.value } : {}),
      ...(result.samples !== undefined ? { samples: result.samples } : {}),
    };
    state.history = [...(state.history ?? []), entry].slice(-HISTORY_LIMIT);
  }

  private async provider(namespace: string, config: AnalysisConfig): Promise<MetricsProvider> {
    const make = this.deps.providerFor ?? providerFor;
    const options: ProviderConfig = {
      kind: 'prometheus',
      address: config.prometheus.address,
      timeoutMs: config.prometheus.timeoutMs,
      insecureSkipVerify: config.prometheus.insecureSkipVerify,
    };
    if (config.prometheus.secretName) {
      const secret = await this.deps.core.readNamespacedSecret({ name: config.prometheus.secretName, namespace });
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

type VarsOf = (role: 'stable' | 'candidate', intervalMs: number) => QueryVars;

/** What the step judgement reads of a rollout's status: its step (bake timer), its weights and its analysis state. */
type JudgedStatus = Pick<RolloutStatus, 'currentStep' | 'shadowStartedAt' | 'weights' | 'analysis'>;

/** A candidate to judge: ModelRollout's revision or StyleRollout's adapter version. */
interface Judged {
  namespace: string;
  /** What status.analysis is about (a revision, or `<style>@<version>`): other state is dropped. */
  identity: string;
  annotations?: Record<string, string>;
  status: JudgedStatus;
  vars: VarsOf;
}

/** A StyleRollout's candidate: an adapter version judged against the stable version on the same pods. */
export interface AdapterSubject {
  namespace: string;
  name: string;
  style: string;
  model: string;
  service: string;
  stableVersion: string;
  candidateVersion: string;
  analysis: StoredAnalysis | undefined;
  annotations?: Record<string, string>;
  status: JudgedStatus;
}

/** A rule's measurement: its query, or for a counts rule its two counts (no failed-request series is 0 failures). */
async function measure(provider: MetricsProvider, rule: MetricRule, vars: QueryVars, now: Date): Promise<Measurement> {
  if (!rule.counts) return provider.query(renderQuery(rule.query, vars), now);
  const [events, trials] = await Promise.all([
    provider.query(renderQuery(rule.counts.events, vars), now),
    provider.query(renderQuery(rule.counts.trials, vars), now),
  ]);
  if (trials.kind !== 'value') return trials;
  if (events.kind === 'error') return events;
  if (!Number.isFinite(trials.value) || trials.value < 0) return { kind: 'noData', message: `the request count is ${trials.value}`, raw: String(trials.value) };
  // No failed-request series is 0 failures; a failure count that is not a finite number from 0 to the
  // request count (NaN, ±Inf, a negative delta) is no data — it never passes, and never breaks the reconcile.
  if (events.kind === 'noData' && events.raw === undefined) return { kind: 'counts', events: 0, trials: trials.value };
  if (events.kind !== 'value' || !Number.isFinite(events.value) || events.value < 0) {
    const raw = events.kind === 'value' ? String(events.value) : events.kind === 'noData' ? (events.raw ?? 'no series') : 'error';
    return { kind: 'noData', message: `the failure count is ${raw}`, raw };
  }
  return { kind: 'counts', events: Math.min(events.value, trials.value), trials: trials.value };
}

/** A stable baseline on fewer than minStableRequests requests is no baseline for a trade-off either. */
function tooFewStable(stable: Measurement, samples: number | undefined, min: number): Measurement {
  if (samples === undefined || samples >= Math.max(1, min)) return stable;
  return { kind: 'noData', message: `the stable baseline rests on ${samples} requests, fewer than ${Math.max(1, min)}` };
}

function noDataCheck(query: string, m: Measurement | undefined): NoDataCheck | undefined {
  if (!m) return undefined;
  if (m.kind === 'noData') return { query, why: m.raw ? `returned ${m.raw}` : 'no series' };
  if (m.kind === 'value' && m.value < 0) return { query, why: `returned ${m.value} (a negative count)` };
  if ((m.kind === 'value' && wholeCount(m.value) === 0) || (m.kind === 'counts' && wholeCount(m.trials) === 0)) return { query, why: 'no requests' };
  return undefined;
}

function factsOf(m: Measurement): Partial<MetricResult> {
  if (m.kind === 'value') return Number.isFinite(m.value) ? { value: m.value } : { raw: Number.isNaN(m.value) ? 'NaN' : m.value > 0 ? '+Inf' : '-Inf' };
  if (m.kind === 'counts') {
    const trials = wholeCount(m.trials);
    const events = Math.min(wholeCount(m.events), trials);
    return trials > 0 ? { value: events / trials, events, samples: trials } : { samples: 0 };
  }
  return m.kind === 'noData' && m.raw ? { raw: m.raw } : {};
}

function describeMeasurement(name: string, m: Measurement): string {
  if (m.kind === 'value') return `${name} ${+m.value.toPrecision(4)}`;
  if (m.kind === 'counts') return `${name} ${wholeCount(m.events)}/${wholeCount(m.trials)} requests`;
  return `${name}: ${m.message}`;
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

/** Query variables of one side of a ModelRollout: the candidate's revision or stable's (stable unset: none yet). */
function revisionVars(ro: ModelRollout, candidate: RevisionRef, stable: RevisionRef | undefined, role: 'stable' | 'candidate', intervalMs: number): QueryVars {
  const ref = role === 'candidate' ? candidate : stable!;
  return {
    namespace: ro.metadata.namespace!,
    name: ro.metadata.name!,
    service: ro.spec.service.name,
    model: ro.spec.model.name,
    version: ref.modelVersion,
    revision: ref.revision,
    stableRevision: stable?.revision ?? '',
    candidateRevision: candidate.revision,
    role,
    intervalMs,
  };
}

/** Query variables of an experiment arm: treatment reads the candidate's revision, control stable's. */
function armVars(ro: ModelRollout, candidate: RevisionRef, stable: RevisionRef): (arm: 'treatment' | 'control', intervalMs: number) => QueryVars {
  return (arm, intervalMs) => revisionVars(ro, candidate, stable, arm === 'treatment' ? 'candidate' : 'stable', intervalMs);
}

/** Whether the rollout is at its experiment's gate: the last step at or under 50 %, progressing or paused there. */
function atExperimentGate(ro: ModelRollout): boolean {
  const status = ro.status!;
  const gate = gateWeight(parseSpec(ro.spec as StoredSpec).spec?.steps ?? []);
  return gate !== undefined && status.currentStep?.weight === gate && (status.phase === 'Progressing' || status.phase === 'Paused');
}

/** Whether the rollout is on the step spec.experiment.coverage guards (the last at or under aboveWeight). */
function atCoverageStep(ro: ModelRollout, config: ExperimentConfig): boolean {
  const status = ro.status!;
  const index = status.currentStep?.index;
  if (index === undefined || (status.phase !== 'Progressing' && status.phase !== 'Paused')) return false;
  const steps = parseSpec(ro.spec as StoredSpec).spec?.steps ?? [];
  return coverageDue(config.coverage, status.currentStep?.weight, steps[index + 1]);
}

/** Whether an Invalid verdict is the sample-ratio check's (not counters that cannot be compared: those need a spec fix). */
const isSampleRatioMismatch = (exp: ExperimentStatus): boolean => (exp.reason ?? '').startsWith('sample-ratio mismatch');

/** The experiment's say on this pass (experiment-gate.ts), after a person's resume is taken into account. */
function experimentSay(ro: ModelRollout, exp: ExperimentStatus, config: ExperimentConfig, now: Date): AnalysisVerdict | undefined {
  // A person's resume after an experiment pause: maxDuration counts anew; a resume that answers a sample-ratio
  // mismatch's pause accepts the mismatch for this candidate (the looks go on judging; srmP is still reported).
  // Only that resume does: one given for another pause accepts nothing that comes later.
  const resume = ro.metadata.annotations?.[ANNOTATION_RESUME];
  let acceptedNow = false;
  if (resume && resume !== exp.resumeToken) {
    if (exp.paused) exp.resumedAt = now.toISOString();
    if (exp.paused && exp.verdict === 'Invalid' && exp.state && isSampleRatioMismatch(exp)) {
      exp.state = { ...exp.state, sampleRatioAccepted: true };
      acceptedNow = true;
    }
    exp.resumeToken = resume;
  }
  const from = exp.resumedAt ?? exp.since;
  // This pass's look came before the resume was read: its mismatch is the one just accepted.
  return experimentVerdict(acceptedNow ? { ...exp, verdict: 'Inconclusive' } : exp, {
    atGate: atExperimentGate(ro),
    coverageDue: atCoverageStep(ro, config),
    elapsedMs: from ? now.getTime() - Date.parse(from) : 0,
    maxDurationMs: config.maxDurationMs,
    decision: config.plan.decision.rule,
  });
}
