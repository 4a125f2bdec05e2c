// The demo's adapter scenarios (issue 18, ADR 0005): a StyleRollout moves the `ink-wash` style from @v1 to @v2
// on the pods that already serve the model — only the HTTPRoute's style rule changes, no pod restarts — and a
// broken version (@v3: its weights do not fit the base model, so every request for it fails) is rolled back by
// the error-rate breaker on the runtime's per-adapter metrics.
import fs from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { buildTinyAdapters } from '../../inference-image/scripts/lib/tiny-adapters.js';
import { API_VERSION, STYLE_KIND, STYLE_ROLLOUT_RESOURCE } from '../../operator/src/api/index.js';
import type { StyleRolloutStatus } from '../../operator/src/rollout/style-types.js';
import type { PodRunner } from '../../test/env/pod-runner.js';
import { LoadGenerator, type VersionCounts } from './load-generator.js';
import type { Timeline } from './timeline.js';

export const STYLE = 'ink-wash';
/** The header the style's HTTPRoute rule matches (the load generator sends it with the style). */
const STYLE_HEADER = 'x-t2v-style';
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Writes the style library every pod reads (T2V_ADAPTER_DIR): ink-wash v1 and v2 (seeded LoRA weights of the
 * demo model's shapes) and v3, whose lora_A has one row more than its rank (refused at load).
 */
export function buildStyleLibrary(dir: string, model: string): string {
  fs.mkdirSync(dir, { recursive: true });
  buildTinyAdapters(
    dir,
    [
      { name: STYLE, version: 1, seed: 101 },
      { name: STYLE, version: 2, seed: 102 },
      { name: STYLE, version: 3, seed: 103, broken: 'rank' },
    ],
    { name: model },
  );
  return dir;
}

/**
 * The HTTPRoute rule for the style's traffic, as a team writes it before any StyleRollout: requests with
 * `x-t2v-style: ink-wash` go to the model's stable Service, pinned to ink-wash@v1. It goes before the default
 * rule (index 0); Gateway API matches the more specific header rule first whatever the order.
 */
export function styleRule(stableService: string): Record<string, unknown> {
  return {
    matches: [{ headers: [{ name: STYLE_HEADER, value: STYLE }] }],
    backendRefs: [
      {
        name: stableService,
        port: 80,
        filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-Adapter-Version', value: `${STYLE}@v1` }] } }],
      },
    ],
  };
}

export interface StyleScenarioResult {
  /** The style rolled out (tells these rows from the model scenarios'). */
  style: string;
  name: string;
  expected: 'Promoted' | 'RolledBack';
  outcome: string;
  seconds: number;
  steps: number;
  detail: string;
  /** The style's requests per step: the weights the StyleRollout set and which version answered. */
  periods: { step: string; stable: number; candidate: number; counts: VersionCounts }[];
  stableVersion: string;
  version: string;
}

export interface StyleDemo {
  custom: k8s.CustomObjectsApi;
  namespace: string;
  prometheusAddress: string;
  proxyUrl: string;
  runner: PodRunner;
  /** The stable revision's replicas: the pods the style is served on once the model scenarios' candidates are gone. */
  replicas: number;
  stepDuration: string;
  interval: string;
  timeoutMs: number;
  say: (line: string) => void;
  /** Where each poll of the StyleRollout goes (the demo's SVG timeline), with the demo's start (ms since epoch). */
  timeline: Timeline;
  startedAt: number;
}

interface StyleView {
  metadata: k8s.V1ObjectMeta;
  status?: StyleRolloutStatus;
}

function styleSpec(d: StyleDemo, version: string, model: string, stableService: string, preload: boolean) {
  return {
    style: STYLE,
    version,
    model,
    service: { name: stableService, port: 80 },
    trafficRouting: { gatewayAPI: { httpRoute: 't2v', ruleIndex: 0 } },
    strategy: { steps: [20, 50, 100], stepDuration: d.stepDuration, preload },
    analysis: {
      prometheus: { address: d.prometheusAddress, timeout: '3s' },
      interval: d.interval,
      // As the model scenarios: what CPU-speed traffic can show (5 clean requests pass a 50 % bound; the default
      // 5 % overload bound would need 59 per step); a version failing 2 of 2 requests trips the breaker.
      minRequests: 3,
      breakerInterval: '2s',
      breakerWindow: '1m',
      maxInconclusive: 1000,
      metrics: [
        { template: 'error-rate', max: 0.5, breaker: { severe: 0.1 } },
        { template: 'overload-rate', max: 0.5 },
      ],
    },
  };
}

/** The pods' processes: an adapter rollout must leave every one of them as it was (same pods, same pids). */
function processes(runner: PodRunner): string {
  return runner
    .processes()
    .map((p) => `${p.name} pid ${p.pid}`)
    .sort()
    .join(', ');
}

/**
 * Plays the two adapter scenarios on a running demo: creates the StyleRollout (it adopts the rule's @v1), rolls
 * @v2 out to 100 %, then @v3 (not preloaded, so users' requests meet it) and waits for its rollback.
 */
export async function playStyleScenarios(d: StyleDemo, model: string, stableService: string): Promise<StyleScenarioResult[]> {
  const { custom, namespace } = d;
  // The model scenarios' last candidate was aborted: its pods are going; the style is judged on stable's alone.
  const settleBy = Date.now() + 60_000;
  while (d.runner.processes().length !== d.replicas && Date.now() < settleBy) await sleep(500);
  const load = new LoadGenerator(d.proxyUrl, 2, STYLE);
  load.start();
  try {
    await custom.createNamespacedCustomObject({
      ...STYLE_ROLLOUT_RESOURCE,
      namespace,
      body: { apiVersion: API_VERSION, kind: STYLE_KIND, metadata: { name: STYLE }, spec: styleSpec(d, 'v1', model, stableService, true) },
    });
    const adopted = await waitStyle(d, (s) => (s?.phase === 'Healthy' && s.stableVersion === 'v1' ? s : undefined));
    d.say(`StyleRollout ${STYLE}: ${adopted?.history?.[0]?.message ?? adopted?.message} (${STYLE} requests: ${answered(load.total)})`);
    const before = processes(d.runner);
    const promoted = await play(d, load, 'scenario 5: style adapter ink-wash@v2 (same pods)', 'v2', 'v1', 'Promoted', () =>
      patchVersion(d, 'v2', model, stableService, true),
    );
    const after = processes(d.runner);
    if (promoted.outcome === 'Promoted' && after !== before) {
      promoted.outcome = 'PodsChanged';
      promoted.detail = `${STYLE}@v2 serves 100 %, but the pods changed: ${before} → ${after}`;
    } else if (promoted.outcome === 'Promoted')
      promoted.detail = `${STYLE}@v2 serves 100 %, no pod restarted (${d.runner.processes().length} processes, same pids)`;
    const broken = await play(d, load, 'scenario 6: broken adapter ink-wash@v3', 'v3', 'v2', 'RolledBack', () =>
      patchVersion(d, 'v3', model, stableService, false),
    );
    return [promoted, broken];
  } finally {
    await load.stop();
  }
}

async function patchVersion(d: StyleDemo, version: string, model: string, stableService: string, preload: boolean): Promise<number> {
  const patched = (await d.custom.patchNamespacedCustomObject(
    { ...STYLE_ROLLOUT_RESOURCE, namespace: d.namespace, name: STYLE, body: { spec: styleSpec(d, version, model, stableService, preload) } },
    mergePatch,
  )) as StyleView;
  return patched.metadata.generation ?? 0;
}

async function play(d: StyleDemo, load: LoadGenerator, ...rest: PlayArgs): Promise<StyleScenarioResult> {
  const result = await playUntilDone(d, load, ...rest);
  d.timeline.end((Date.now() - d.startedAt) / 1000, result.name, result.outcome);
  return result;
}

type PlayArgs = [name: string, version: string, stableVersion: string, expected: 'Promoted' | 'RolledBack', patch: () => Promise<number>];

async function playUntilDone(
  d: StyleDemo,
  load: LoadGenerator,
  name: string,
  version: string,
  stableVersion: string,
  expected: 'Promoted' | 'RolledBack',
  patch: () => Promise<number>,
): Promise<StyleScenarioResult> {
  d.say(`${name}: rolling ${STYLE}@${version} out over @${stableVersion} on the same pods (expecting ${expected})`);
  const t0 = Date.now();
  const generation = await patch();
  const periods: StyleScenarioResult['periods'] = [];
  const deadline = t0 + d.timeoutMs;
  let last = '';
  let lastSaid = 0;
  for (;;) {
    const view = (await d.custom.getNamespacedCustomObject({ ...STYLE_ROLLOUT_RESOURCE, namespace: d.namespace, name: STYLE })) as StyleView;
    const s = view.status ?? {};
    const seconds = (Date.now() - t0) / 1000;
    const result = { style: STYLE, name, expected, seconds, steps: 0, periods, stableVersion: `${STYLE}@${stableVersion}`, version: `${STYLE}@${version}` };
    if ((s.observedGeneration ?? 0) >= generation) {
      d.timeline.add({ t: (Date.now() - d.startedAt) / 1000, scenario: name, candidateWeight: s.weights?.candidate ?? 0 });
      if (s.phase === 'Progressing' && s.weights && s.currentStep) {
        const key = `${STYLE} ${version} ${s.currentStep.label} ${s.weights.stable}/${s.weights.candidate}`;
        if (load.period !== key) {
          load.period = key;
          periods.push({ step: s.currentStep.label, stable: s.weights.stable, candidate: s.weights.candidate, counts: load.countsFor(key) });
        }
      } else load.period = `${STYLE} ${version} ${s.phase ?? '-'}`;
      // A line when the StyleRollout's view changes, and every 10 s while it holds (the counts move on).
      const line = `StyleRollout ${STYLE}: ${(s.phase ?? '-').padEnd(11)} step ${(s.currentStep?.label ?? '-').padEnd(4)} weights ${s.weights ? `${s.weights.stable}/${s.weights.candidate}` : '-'}`;
      if (line !== last || Date.now() - lastSaid >= 10_000) {
        d.say(`${line} | ${STYLE} requests answered ${answered(load.total)}${s.phase === 'Progressing' && s.message ? ` | ${s.message}` : ''}`);
        lastSaid = Date.now();
      }
      last = line;
      // A step can show first with the previous step's weights (status moves the step, then the route): count steps once.
      const steps = new Set(periods.filter((p) => p.candidate > 0).map((p) => p.step)).size;
      if (s.phase === 'Healthy' && s.stableVersion === version) {
        // The status says so; the proxy must too: the last answers through it all from the new version.
        const served = await lastAnswersFrom(load, `${STYLE}@${version}`, 20_000);
        if (!served)
          return {
            ...result,
            steps,
            outcome: 'NotServed',
            detail: `Healthy on ${version}, but the proxy's last answers were ${load.recent.slice(-5).join(', ') || 'none'}`,
          };
        return { ...result, steps, outcome: 'Promoted', detail: `${STYLE}@${version} serves 100 %` };
      }
      if (s.phase === 'RolledBack' && s.candidateVersion === version)
        return { ...result, steps: Math.max(0, steps - 1), outcome: 'RolledBack', detail: `${s.failure?.reason}: ${s.failure?.message}` };
    }
    if (Date.now() > deadline) return { ...result, outcome: 'TimedOut', detail: s.message ?? '' };
    await sleep(500);
  }
}

/** Whether the last 5 answers through the proxy all came from `version`, within `timeoutMs` (the proxy may lag the route). */
async function lastAnswersFrom(load: LoadGenerator, version: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const seen = load.answeredCount;
  for (;;) {
    const last = load.recent.slice(-5);
    if (load.answeredCount >= seen + 5 && last.every((v) => v === version)) return true;
    if (Date.now() > deadline) return false;
    await sleep(250);
  }
}

async function waitStyle(d: StyleDemo, done: (s: StyleRolloutStatus | undefined) => StyleRolloutStatus | undefined): Promise<StyleRolloutStatus | undefined> {
  const deadline = Date.now() + d.timeoutMs;
  for (;;) {
    const view = (await d.custom.getNamespacedCustomObject({ ...STYLE_ROLLOUT_RESOURCE, namespace: d.namespace, name: STYLE })) as StyleView;
    const s = done(view.status);
    if (s) return s;
    if (Date.now() > deadline) throw new Error(`StyleRollout ${STYLE} not Healthy on v1 after ${d.timeoutMs / 1000} s: ${view.status?.message ?? 'no status'}`);
    await sleep(500);
  }
}

function answered(c: VersionCounts): string {
  const parts = Object.entries(c.answered)
    .sort()
    .map(([v, n]) => `${v} ${n}`);
  const failed = Object.entries(c.unansweredWhy).map(([why, n]) => `${why} ×${n}`);
  return [...parts, ...(failed.length ? [`failed: ${failed.join(', ')}`] : [])].join(' ') || 'none yet';
}
