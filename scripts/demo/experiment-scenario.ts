// The demo's A/B experiment scenarios (issue 16, docs/experiment.md): the same ModelRollout, now with
// spec.experiment. Simulated viewers (experiment-viewers.ts) assign themselves from the operator's published
// ranges, send X-ModelRollout-Arm through the real proxy and count playbacks per arm and answering version on a
// /metrics the demo's Prometheus scrapes.
//   A/B: v6 completes playback twice as often as stable (0.6 against 0.3): the operator reaches Win at the gate
//        (50 %), the gate opens and v6 is promoted.
//   A/A: v7 behaves as v6: no Win, the sample-ratio check passes; after maxDuration the rollout pauses for a
//        person, and the demo aborts it as one would.
// The arms need a route that matches a header: a TraefikService cannot, so the rollout moves from the traefik
// router to the HTTPRoute's rule (pointed at the stable Service first: the hand-over the operator asks for).
import * as k8s from '@kubernetes/client-node';
import type { ExperimentStatus } from '../../operator/src/analysis/experiment-gate.js';
import { ANNOTATION_ABORT, MODEL_ROLLOUT_RESOURCE as MRO, type NoteReason, type PhaseReason, type RolloutStatus } from '../../operator/src/api/index.js';
import { TEST_RUNNER_ANNOTATION, TEST_RUNNER_PROCESS } from '../../test/env/kwok-stages.js';
import type { GatewayProxy } from '../../test/env/gateway-proxy.js';
import type { VersionCounts } from './load-generator.js';
import { Viewers } from './experiment-viewers.js';
import type { Timeline } from './timeline.js';

/** The versions these scenarios roll out (their small models are built with the demo's others). */
export const EXPERIMENT_VERSIONS = ['v6', 'v7'] as const;
const HTTPROUTE = { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes' } as const;
const jsonPatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch);
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** 400 viewers split by a hash are 1:1 up to chance; 4 request loops keep the CPU-bound pods busy without a queue. */
const VIEWERS = 400;
const VIEWER_LOOPS = 4;
/** The simulated truth, by the version that answered: v6 completes twice as often as v2; v7 as v6. */
const COMPLETION = (stableVersion: string): Record<string, number> => ({ [stableVersion]: 0.3, v6: 0.6, v7: 0.6 });
const SRM_P_VALUE = 0.001;

export interface ExperimentDemo {
  core: k8s.CoreV1Api;
  custom: k8s.CustomObjectsApi;
  namespace: string;
  /** The ModelRollout (and its HTTPRoute, Services `<name>-stable`/`-candidate`, TraefikService). */
  rollout: string;
  model: string;
  proxy: GatewayProxy;
  prometheusAddress: string;
  replicas: number;
  stepDuration: string;
  interval: string;
  timeoutMs: number;
  say: (line: string) => void;
  /** Adds a host:port to the demo's Prometheus targets (the viewers' /metrics). */
  addScrapeTarget: (target: string) => void;
  timeline: Timeline;
  startedAt: number;
}

export interface ExperimentScenarioResult {
  name: string;
  expected: 'Promoted' | 'Paused';
  outcome: string;
  seconds: number;
  steps: number;
  detail: string;
  /** The viewers' requests per step: the weights the operator set and which version answered. */
  periods: { step: string; stable: number; candidate: number; counts: VersionCounts }[];
  stableVersion: string;
  version: string;
  /** The experiment's last look: verdict, units and rates per arm, the effect with its confidence sequence, SRM p. */
  experiment: string;
}

interface RolloutView {
  metadata: k8s.V1ObjectMeta;
  status?: RolloutStatus;
}

interface RouteRule {
  backendRefs?: { group?: string; kind?: string; name: string; port?: number }[];
}

/**
 * Plays A/B then A/A on the demo's rollout, stable on `stableVersion`. The viewers are the only traffic (the demo's
 * load generator is stopped first: on two shared cores it would only slow the arms down).
 */
export async function playExperimentScenarios(d: ExperimentDemo, stableVersion: string): Promise<ExperimentScenarioResult[]> {
  const viewers = new Viewers({
    core: d.core,
    namespace: d.namespace,
    rollout: d.rollout,
    proxyUrl: d.proxy.url,
    completion: COMPLETION(stableVersion),
    users: VIEWERS,
    concurrency: VIEWER_LOOPS,
  });
  await viewers.start();
  d.addScrapeTarget(viewers.target);
  try {
    const ruleIndex = await handOverRoute(d);
    viewers.play();
    d.say(
      `viewers: ${VIEWERS} users, ${VIEWER_LOOPS} request loops through ${d.proxy.url}, each with the arm the published ranges give it (ConfigMap ${d.rollout}-experiment); playback completes with chance ${stableVersion} 0.3, v6 0.6, v7 0.6 (by the version that answered), counted on ${viewers.target}/metrics, which Prometheus scrapes`,
    );
    await waitForSeries(d, `player_started_total{arm="unassigned",model_version="${stableVersion}"} > 0`);
    const ab = await play(d, viewers, ruleIndex, 'scenario 7: A/B experiment (v6 completes more often)', 'v6', stableVersion, 'Promoted');
    const aa = await play(
      d,
      viewers,
      ruleIndex,
      'scenario 8: A/A experiment (v7 behaves as v6)',
      'v7',
      ab.outcome === 'Promoted' ? 'v6' : stableVersion,
      'Paused',
    );
    return [ab, aa];
  } finally {
    await viewers.stop();
  }
}

/**
 * Points the rule that sends to the TraefikService at the stable Service instead (one JSON patch, tested against
 * the rule as the demo wrote it, so a concurrent writer's change is not lost), and waits until the proxy serves
 * it. Returns the rule's index: the gatewayAPI router's ruleIndex.
 */
async function handOverRoute(d: ExperimentDemo): Promise<number> {
  const route = (await d.custom.getNamespacedCustomObject({ ...HTTPROUTE, namespace: d.namespace, name: d.rollout })) as { spec: { rules: RouteRule[] } };
  const index = route.spec.rules.findIndex((r) => r.backendRefs?.length === 1 && r.backendRefs[0]!.kind === 'TraefikService');
  if (index < 0) throw new Error(`HTTPRoute ${d.rollout} has no rule sending to a TraefikService to hand over`);
  await d.custom.patchNamespacedCustomObject(
    {
      ...HTTPROUTE,
      namespace: d.namespace,
      name: d.rollout,
      body: [
        { op: 'test', path: `/spec/rules/${index}/backendRefs`, value: route.spec.rules[index]!.backendRefs },
        { op: 'replace', path: `/spec/rules/${index}/backendRefs`, value: [{ name: `${d.rollout}-stable`, port: 80 }] },
      ],
    },
    jsonPatch,
  );
  await d.proxy.waitForRoute(d.namespace, d.rollout, { checkWeights: false });
  d.say(
    `HTTPRoute ${d.rollout} rule ${index} now sends to Service ${d.rollout}-stable (was TraefikService ${d.rollout}): the experiment's arm rules need a route that matches a header, so the rollout moves to spec.trafficRouting.gatewayAPI`,
  );
  return index;
}

async function waitForSeries(d: ExperimentDemo, query: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const body = (await fetch(`${d.prometheusAddress}/api/v1/query?query=${encodeURIComponent(query)}`)
      .then((r) => r.json())
      .catch(() => undefined)) as { data?: { result?: unknown[] } } | undefined;
    if ((body?.data?.result?.length ?? 0) > 0) return;
    if (Date.now() > deadline) throw new Error(`Prometheus has no ${query} after 60 s: is it scraping the viewers?`);
    await sleep(500);
  }
}

/** The whole spec (a JSON patch replaces it: none of the earlier scenarios' golden probes, trade-offs or shadow stays). */
function experimentSpec(d: ExperimentDemo, version: string, ruleIndex: number, maxDuration: string) {
  return {
    replicas: d.replicas,
    model: { name: d.model, version },
    gpu: { perReplica: 1 },
    service: { name: d.rollout },
    trafficRouting: { gatewayAPI: { httpRoute: d.rollout, ruleIndex } },
    // The gate is the last step at or under 50 %: 10 % lets the arms start small, 50 % is where the verdict gates.
    strategy: { steps: [10, 50, 100], stepDuration: d.stepDuration, progressDeadline: '5m' },
    analysis: {
      prometheus: { address: d.prometheusAddress, timeout: '3s' },
      interval: d.interval,
      // As the other scenarios: what CPU-speed traffic can show (at most 50 % errors or refusals).
      minRequests: 5,
      breakerInterval: '2s',
      breakerWindow: '30s',
      maxInconclusive: 1000,
      metrics: [
        { template: 'error-rate', max: 0.5, breaker: { severe: 0.1 } },
        { template: 'overload-rate', max: 0.5 },
      ],
    },
    experiment: {
      goal: {
        name: 'playback-completion',
        better: 'higher',
        // τ = MDE tunes the sequential test: 0.1 decides 0.3 → 0.6 in seconds at the gate, and an A/A run this
        // short declares a Win or a Loss well under 1 % of the time (experiment.test.ts simulated it).
        mde: 0.1,
        proportion: {
          events: 'sum(increase(player_completed_total{arm="{{arm}}",model_version="{{version}}"}[{{interval}}]))',
          units: 'sum(increase(player_started_total{arm="{{arm}}",model_version="{{version}}"}[{{interval}}]))',
        },
      },
      guardrails: [{ template: 'error-rate' }],
      decision: 'win',
      // The sample-ratio check counts assigned users: their requests are not independent units.
      units: 'max(player_assigned_users{arm="{{arm}}"})',
      srmPValue: SRM_P_VALUE,
      // Sized for a demo (production: 7d and 28d, weekly cycles): a Win is allowed 10 s after the arms start.
      minDuration: '10s',
      maxDuration,
    },
    template: {
      metadata: { annotations: { [TEST_RUNNER_ANNOTATION]: TEST_RUNNER_PROCESS } },
      spec: {
        containers: [
          {
            name: 'server',
            image: `ghcr.io/modelrollout/t2v-inference:${version}`,
            env: [
              { name: 'T2V_MODEL_DIR', value: `/models/${d.model}-${version}` },
              { name: 'T2V_MAX_QUEUE', value: '16' },
              // The viewers judge playback, not the picture: no per-clip quality measurement, less CPU.
              { name: 'T2V_QUALITY_SAMPLE', value: '0' },
            ],
            ports: [{ name: 'http', containerPort: 8080 }],
            readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 1 },
          },
        ],
      },
    },
  };
}

async function play(...args: PlayArgs): Promise<ExperimentScenarioResult> {
  const [d] = args;
  const result = await playUntilDone(...args);
  d.timeline.end((Date.now() - d.startedAt) / 1000, result.name, result.outcome);
  return result;
}

type PlayArgs = [
  d: ExperimentDemo,
  viewers: Viewers,
  ruleIndex: number,
  name: string,
  version: string,
  stableVersion: string,
  expected: ExperimentScenarioResult['expected'],
];

/** What a scenario saw of the experiment: the look when the gate opened (weight past 50 %), and the last one. */
interface Seen {
  opened?: ExperimentStatus;
  last?: ExperimentStatus;
}

async function playUntilDone(...[d, viewers, ruleIndex, name, version, stableVersion, expected]: PlayArgs): Promise<ExperimentScenarioResult> {
  // A/B: a minute is plenty for a 0.3 → 0.6 truth; A/A: 25 s, then the pause for a person.
  const maxDuration = expected === 'Promoted' ? '1m' : '25s';
  d.say(
    `${name}: rolling out ${version} over ${stableVersion} as an A/B experiment (goal playback-completion, maxDuration ${maxDuration}; expecting ${expected})`,
  );
  const t0 = Date.now();
  const patched = (await d.custom.patchNamespacedCustomObject(
    { ...MRO, namespace: d.namespace, name: d.rollout, body: [{ op: 'replace', path: '/spec', value: experimentSpec(d, version, ruleIndex, maxDuration) }] },
    jsonPatch,
  )) as RolloutView;
  const generation = patched.metadata.generation ?? 0;
  const periods: ExperimentScenarioResult['periods'] = [];
  const seen: Seen = {};
  const deadline = t0 + d.timeoutMs;
  let last = '';
  let lastSaid = 0;
  for (;;) {
    const s = ((await d.custom.getNamespacedCustomObject({ ...MRO, namespace: d.namespace, name: d.rollout })) as RolloutView).status;
    if (s && (s.observedGeneration ?? 0) >= generation) {
      follow(d, viewers, name, version, s, periods, seen);
      const line = viewLine(s);
      if (line !== last || Date.now() - lastSaid >= 10_000) {
        d.say(`${line} | viewers answered ${answered(viewers.total)}`);
        lastSaid = Date.now();
      }
      last = line;
      const base = { name, expected, periods, stableVersion, version, seconds: (Date.now() - t0) / 1000, steps: stepsPassed(s, t0) };
      const experiment = experimentLine(seen.opened ?? seen.last, stableVersion, version);
      const outcome = await outcomeOf(d, s, version, expected, seen, deadline);
      if (outcome) return { ...base, ...outcome, experiment: experimentLine(outcome.exp, stableVersion, version) };
      if (Date.now() > deadline) return { ...base, outcome: 'TimedOut', detail: s.message ?? '', experiment };
    } else if (Date.now() > deadline) return timedOut(name, expected, version, stableVersion, t0, generation);
    await sleep(500);
  }
}

function timedOut(name: string, expected: ExperimentScenarioResult['expected'], version: string, stableVersion: string, t0: number, generation: number) {
  return {
    name,
    expected,
    version,
    stableVersion,
    seconds: (Date.now() - t0) / 1000,
    steps: 0,
    periods: [],
    outcome: 'TimedOut',
    detail: `the operator never read generation ${generation}`,
    experiment: 'no look',
  };
}

/** Notes a poll: the timeline, the viewers' period (step and weights), the experiment's looks. */
function follow(
  d: ExperimentDemo,
  viewers: Viewers,
  name: string,
  version: string,
  s: RolloutStatus,
  periods: ExperimentScenarioResult['periods'],
  seen: Seen,
) {
  d.timeline.add({ t: (Date.now() - d.startedAt) / 1000, scenario: name, candidateWeight: s.weights?.candidate ?? 0 });
  if (s.weights && s.currentStep && (s.phase === 'Progressing' || s.phase === 'Paused')) {
    const key = `${version} ${s.currentStep.label} ${s.weights.stable}/${s.weights.candidate}`;
    if (viewers.period !== key) {
      viewers.period = key;
      periods.push({ step: s.currentStep.label, stable: s.weights.stable, candidate: s.weights.candidate, counts: viewers.countsFor(key) });
    }
  } else viewers.period = `${version} ${s.phase ?? '-'}`;
  const exp = s.analysis?.experiment;
  if (!exp || s.candidate?.modelVersion !== version) return;
  seen.last = exp;
  if ((s.weights?.candidate ?? 0) > 50 && !seen.opened) seen.opened = exp;
}

/** The scenario's end, if this status is one: promoted, rolled back, aborted, or paused (then aborted by the demo). */
async function outcomeOf(
  d: ExperimentDemo,
  s: RolloutStatus,
  version: string,
  expected: ExperimentScenarioResult['expected'],
  seen: Seen,
  deadline: number,
): Promise<{ outcome: string; detail: string; exp: ExperimentStatus | undefined } | undefined> {
  const ready = s.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
  if (s.stable?.modelVersion === version && ready) {
    const exp = seen.opened ?? seen.last;
    // Promoted is this scenario's outcome only if a Win opened the gate.
    if (exp?.verdict !== 'Win')
      return { outcome: 'PromotedWithoutWin', detail: `${version} promoted, but the gate opened on ${exp?.verdict ?? 'no verdict'}`, exp };
    return { outcome: 'Promoted', detail: `${version} serves 100 % (the gate opened on Win)`, exp };
  }
  if (s.phase === 'RolledBack' || s.phase === 'Aborted') return { outcome: s.phase, detail: `${s.failure?.reason}: ${s.failure?.message}`, exp: seen.last };
  if (s.phase !== 'Paused' || s.candidate?.modelVersion !== version) return undefined;
  const exp = seen.last;
  const why = s.message ?? '';
  if (expected !== 'Paused') return { outcome: 'Paused', detail: why, exp };
  d.say(`${version}: ${why}`);
  d.say(`a person decides: abort (kubectl modelrollout abort ${d.rollout}): all traffic back to stable`);
  const after = await abortAndWait(d, deadline);
  d.say(`after the abort: ${after}`);
  // The A/A's point: no Win, and the arms' users split as assigned (SRM p at or above srmPValue).
  const fair = exp?.verdict !== 'Win' && exp?.srmP !== undefined && exp.srmP >= SRM_P_VALUE;
  return { outcome: fair ? 'Paused' : 'PausedUnfair', detail: `${why} → aborted by a person: ${after}`, exp };
}

/** A person's abort: all traffic back to stable; resolves once it is. */
async function abortAndWait(d: ExperimentDemo, deadline: number): Promise<string> {
  await d.custom.patchNamespacedCustomObject(
    { ...MRO, namespace: d.namespace, name: d.rollout, body: { metadata: { annotations: { [ANNOTATION_ABORT]: new Date().toISOString() } } } },
    mergePatch,
  );
  for (;;) {
    const s = ((await d.custom.getNamespacedCustomObject({ ...MRO, namespace: d.namespace, name: d.rollout })) as RolloutView).status;
    if ((s?.phase === 'Aborted' || s?.phase === 'RolledBack') && (s.weights?.candidate ?? 0) === 0) return s.phase;
    if (Date.now() > deadline) return `still ${s?.phase} after the abort`;
    await sleep(500);
  }
}

function stepsPassed(s: RolloutStatus, t0: number): number {
  const mine = (s.history ?? []).filter((h) => Date.parse(h.time) >= t0 - 1000);
  return (
    mine.filter((h) => h.reason === ('StepPassed' satisfies NoteReason)).length + (mine.some((h) => h.reason === ('Promoted' satisfies PhaseReason)) ? 1 : 0)
  );
}

function viewLine(s: RolloutStatus): string {
  const w = s.weights ? `${String(s.weights.stable).padStart(3)}/${String(s.weights.candidate).padEnd(3)}` : '   -   ';
  const exp = s.analysis?.experiment;
  const verdict = exp ? `experiment ${exp.verdict ?? '-'}${exp.units ? ` units ${exp.units.control}/${exp.units.treatment}` : ''}` : 'no experiment yet';
  return `${(s.phase ?? '-').padEnd(11)} step ${(s.currentStep?.label ?? '-').padEnd(4)} weights ${w} ${verdict}`;
}

function answered(c: VersionCounts): string {
  const parts = Object.entries(c.answered)
    .sort()
    .map(([v, n]) => `${v} ${n}`);
  return [...parts, ...(c.unanswered ? [`unanswered ${c.unanswered}`] : [])].join(' ') || 'none yet';
}

const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(3)}`;

/** The summary's experiment line: verdict, units and completion rate per arm, the effect with its 95 % CS, SRM p. */
function experimentLine(exp: ExperimentStatus | undefined, control: string, treatment: string): string {
  if (!exp?.verdict) return 'no look finished';
  const goal = exp.metrics?.find((m) => m.role === 'goal');
  const units = exp.units ? `viewers control (${control}) ${exp.units.control} / treatment (${treatment}) ${exp.units.treatment}` : 'no units';
  const rates = goal
    ? `completion ${goal.control.toFixed(3)} → ${goal.treatment.toFixed(3)}, effect ${signed(goal.effect)} (95 % CS ${signed(goal.cs[0])} … ${signed(goal.cs[1])}, p ${goal.p.toPrecision(2)})`
    : 'goal not read';
  return `verdict ${exp.verdict}; ${units}; ${rates}; srmP ${exp.srmP?.toFixed(3) ?? '-'}`;
}
