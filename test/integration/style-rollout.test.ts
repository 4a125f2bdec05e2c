// StyleRollout (issue 18, ADR 0005) on the local stack: real inference processes with an adapter library behind
// one Service, the real operator, the real Gateway API proxy (Traefik v3.7, which applies backendRef filters)
// and a real Prometheus. An adapter version is rolled out on the same pods: only the route changes — each step
// answered by the versions its weights say (the runtime's X-Adapter-Version), no pod restarted, the Deployment
// untouched — and a broken version is rolled back by analysis on the per-adapter metrics.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as k8s from '@kubernetes/client-node';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { buildTinyAdapters } from '../../inference-image/scripts/lib/tiny-adapters.js';
import { buildTinyModel, defaultTinyModelOptions } from '../../inference-image/scripts/lib/tiny-model.js';
import { bucketOf } from '../../inference-image/src/adapters/route-choice.js';
import { API_VERSION, FINALIZER, STYLE_KIND, STYLE_ROLLOUT_RESOURCE, styleRuleClaimAnnotation } from '../../operator/src/api/index.js';
import { isNotFound } from '../../operator/src/kube/errors.js';
import type { StyleRolloutStatus } from '../../operator/src/rollout/style-types.js';
import { startGatewayProxy, type GatewayProxy } from '../env/gateway-proxy.js';
import { GPU_TOLERATION } from '../env/gpu-nodes.js';
import { TEST_RUNNER_ANNOTATION, TEST_RUNNER_PROCESS } from '../env/kwok-stages.js';
import { inferenceRuntimeCommand } from '../env/pod-commands.js';
import { startPodRunner, type PodRunner } from '../env/pod-runner.js';
import { startPrometheus, type PrometheusServer } from '../env/prometheus.js';
import { startOperator } from './operator-process.js';
import { createGpuDeployment, kubeConfig, testNamespace, waitUntil } from './support.js';

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const apps = kc.makeApiClient(k8s.AppsV1Api);
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
const kubeconfigPath = inject('kubeconfigPath');
const HTTPROUTES = { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes' } as const;
const REPLICAS = 2;
const STEPS = [20, 50, 100];
/** Requests sent one after another at each step: Traefik's smooth weighted round robin gives each arm its exact share of them. */
const SAMPLE = 20;

let tmp: string;
let ns: string;
let runner: PodRunner;
let proxy: GatewayProxy;
let prometheus: PrometheusServer;
let discovery: NodeJS.Timeout | undefined;

interface Answer {
  status: number;
  version: string;
}

/** One generation for style ink-wash (no version: the route picks it) through the proxy; `styleRule` sends the header rule 0 matches. */
async function generate(seed: number, headers: Record<string, string> = {}, styleRule = true): Promise<Answer> {
  const res = await fetch(`${proxy.url}/v1/generate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(styleRule ? { 'x-t2v-style': 'ink-wash' } : {}), ...headers },
    body: JSON.stringify({ prompt: 'a heron in the reeds', style: 'ink-wash', seed, steps: 1 }),
  });
  await res.arrayBuffer();
  return { status: res.status, version: res.headers.get('x-adapter-version') ?? `none-${res.status}` };
}

async function sample(n: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const a = await generate(i);
    counts[a.version] = (counts[a.version] ?? 0) + 1;
  }
  return counts;
}

/** A request loop that keeps analysis fed; paused while a test samples the split itself. */
class Load {
  paused = false;
  private stopped = false;
  readonly answers: Answer[] = [];
  private readonly done: Promise<void>;

  constructor() {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    for (let i = 0; !this.stopped; i++) {
      if (this.paused) {
        await sleep(100);
        continue;
      }
      this.answers.push(await generate(1000 + i).catch(() => ({ status: 0, version: 'unanswered' })));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

async function styleRollout(name: string): Promise<{ status?: StyleRolloutStatus; metadata: { generation?: number } }> {
  return (await custom.getNamespacedCustomObject({ ...STYLE_ROLLOUT_RESOURCE, namespace: ns, name })) as {
    status?: StyleRolloutStatus;
    metadata: { generation?: number };
  };
}

async function setVersion(name: string, version: string, strategy: Record<string, unknown> = {}): Promise<void> {
  await custom.patchNamespacedCustomObject(
    { ...STYLE_ROLLOUT_RESOURCE, namespace: ns, name, body: { spec: { version, strategy } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
}

/** What must not change in an adapter rollout: the pods (names, uids, restarts, processes) and the Deployment. */
async function workload(): Promise<{ pods: string[]; generation: number | undefined; pids: (number | undefined)[] }> {
  const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=t2v' })).items;
  const deployment = await apps.readNamespacedDeployment({ namespace: ns, name: 't2v' });
  return {
    pods: pods.map((p) => `${p.metadata!.name} ${p.metadata!.uid} restarts=${p.status?.containerStatuses?.[0]?.restartCount ?? '?'}`).sort(),
    generation: deployment.metadata?.generation,
    pids: runner
      .processes()
      .map((p) => p.pid)
      .sort((a, b) => (a ?? 0) - (b ?? 0)),
  };
}

/** The stack: an adapter library, two inference pods behind Service t2v, the proxy, Prometheus and the user's route. */
async function setUp(): Promise<void> {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'modelrollout-styles-'));
  const modelDir = path.join(tmp, 'model');
  buildTinyModel(modelDir);
  const library = path.join(tmp, 'adapters');
  // v1 and v2 good; v3 (lora_A has r + 1 rows) and v4 (another base model) refused at load: every request for them fails with 500 InvalidAdapter.
  buildTinyAdapters(library, [
    { name: 'ink-wash', version: 1, seed: 101 },
    { name: 'ink-wash', version: 2, seed: 102 },
    { name: 'ink-wash', version: 3, seed: 103, broken: 'rank' },
    { name: 'ink-wash', version: 4, seed: 104, broken: 'base' },
  ]);
  ns = await testNamespace(kc, 'styles');
  runner = await startPodRunner(kc, {
    namespace: ns,
    logDir: path.join(tmp, 'logs'),
    command: inferenceRuntimeCommand({ modelDir, env: { T2V_ADAPTER_DIR: library, T2V_QUALITY_SAMPLE: '0', T2V_MAX_QUEUE: '16' } }),
  });
  await core.createNamespacedService({
    namespace: ns,
    body: { metadata: { name: 't2v' }, spec: { selector: { app: 't2v' }, ports: [{ port: 80, targetPort: 'http' }] } },
  });
  await createGpuDeployment(kc, ns, 't2v', REPLICAS, {
    annotations: { [TEST_RUNNER_ANNOTATION]: TEST_RUNNER_PROCESS },
    tolerations: [GPU_TOLERATION],
    terminationGracePeriodSeconds: 5,
    container: {
      ports: [{ name: 'http', containerPort: 8080 }],
      readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 1, failureThreshold: 1 },
    },
  });
  proxy = await startGatewayProxy({ kubeconfigPath, dir: inject('controlPlaneDir') }, { namespace: `${ns}-gw` });
  prometheus = await startPrometheus([]);
  let targets = '';
  discovery = setInterval(() => {
    const now = runner
      .processes()
      .map((p) => `${p.ip}:${p.port}`)
      .sort();
    if (now.join() !== targets) prometheus.setTargets(now);
    targets = now.join();
  }, 1000);
  // The user's route: a rule for the style's traffic (a header match), handed to the StyleRollout, and a default rule.
  await custom.createNamespacedCustomObject({
    ...HTTPROUTES,
    namespace: ns,
    body: {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 't2v' },
      spec: {
        parentRefs: [{ name: proxy.gateway.name, namespace: proxy.gateway.namespace }],
        rules: [
          { matches: [{ headers: [{ name: 'x-t2v-style', value: 'ink-wash' }] }], backendRefs: [{ name: 't2v', port: 80 }] },
          { backendRefs: [{ name: 't2v', port: 80 }] },
        ],
      },
    },
  });
  await waitUntil('both pods ready', async () => (runner.processes().filter((p) => p.ready).length === REPLICAS ? true : undefined), 180_000, 500);
}

afterAll(async () => {
  if (discovery) clearInterval(discovery);
  await prometheus?.stop();
  await proxy?.stop();
  await runner?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const spec = (version: string) => ({
  style: 'ink-wash',
  version,
  model: defaultTinyModelOptions.name,
  service: { name: 't2v', port: 80 },
  trafficRouting: { gatewayAPI: { httpRoute: 't2v', ruleIndex: 0 } },
  strategy: { steps: STEPS, stepDuration: '15s' },
  analysis: {
    prometheus: { address: prometheus.address, timeout: '2s' },
    interval: '5s',
    minRequests: 3,
    breakerInterval: '2s',
    breakerWindow: '20s',
    // 0 errors in ~30 requests shows a rate under 10 % at 95 % confidence: a step passes within its bake time here
    // (1 % would need ~300 error-free requests per step); a version failing every request trips the breaker at once.
    maxInconclusive: 20,
    metrics: [{ template: 'error-rate', max: 0.1 }],
  },
});

interface RouteBody {
  metadata: { annotations?: Record<string, string> };
  spec: { rules: { backendRefs: { weight?: number; filters?: unknown[] }[] }[] };
}

async function httpRoute(): Promise<RouteBody> {
  return (await custom.getNamespacedCustomObject({ ...HTTPROUTES, namespace: ns, name: 't2v' })) as RouteBody;
}

async function createStyleRollout(name: string, body: Record<string, unknown>): Promise<void> {
  await custom.createNamespacedCustomObject({
    ...STYLE_ROLLOUT_RESOURCE,
    namespace: ns,
    body: { apiVersion: API_VERSION, kind: STYLE_KIND, metadata: { name }, spec: body },
  });
}

async function deleteStyleRollout(name: string): Promise<void> {
  await custom.deleteNamespacedCustomObject({ ...STYLE_ROLLOUT_RESOURCE, namespace: ns, name });
  await waitUntil(
    `StyleRollout ${name} gone`,
    async () =>
      (await styleRollout(name)
        .then(() => false)
        .catch((err: unknown) => isNotFound(err))) || undefined,
    30_000,
    300,
  );
}

const pinFilter = (value: string) => [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-Adapter-Version', value }] } }];

/**
 * Whose rule it is (attack 18, F1–F3): a second StyleRollout on the claimed rule 0 is refused and writes nothing;
 * a StyleRollout created over rule 1 that already pins ink-wash@v2 adopts v2 as stable and rolls its v1 out from
 * the first step (never 100 % at once), sticky per user; deleted mid-rollout, it puts rule 1 back on v2 and drops
 * its claim.
 */
async function adoptionAndClaims(): Promise<void> {
  const rule0 = JSON.stringify((await httpRoute()).spec.rules[0]);
  await createStyleRollout('ink-wash-again', spec('v2'));
  await waitUntil(
    'the second StyleRollout refused rule 0',
    async () =>
      (await styleRollout('ink-wash-again')).status?.conditions?.find((c) => c.type === 'Degraded')?.reason === 'RouteRuleNotOwned' ? true : undefined,
    30_000,
    300,
  );
  expect((await styleRollout('ink-wash-again')).status?.message).toMatch(/is managed by StyleRollout ink-wash/);
  expect(JSON.stringify((await httpRoute()).spec.rules[0])).toBe(rule0);
  await deleteStyleRollout('ink-wash-again');
  expect(JSON.stringify((await httpRoute()).spec.rules[0])).toBe(rule0);

  await custom.patchNamespacedCustomObject(
    {
      ...HTTPROUTES,
      namespace: ns,
      name: 't2v',
      body: [{ op: 'replace', path: '/spec/rules/1/backendRefs', value: [{ name: 't2v', port: 80, filters: pinFilter('ink-wash@v2') }] }],
    },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
  );
  // Sticky (strategy.assignment): the arms ride on the rule's X-Adapter-Split with this rollout's salt, so a user
  // (X-Adapter-Assignment-Key) keeps one version; which one is the bucket of docs/experiment-assignment.md.
  await createStyleRollout('default-style', {
    ...spec('v1'),
    trafficRouting: { gatewayAPI: { httpRoute: 't2v', ruleIndex: 1 } },
    strategy: { steps: STEPS, stepDuration: '5m', preload: false, assignment: 'sticky' },
  });
  await waitUntil(
    'rule 1 at the first step of v1 over the adopted v2',
    async () => {
      const status = (await styleRollout('default-style')).status;
      return status?.phase === 'Progressing' && status.weights?.candidate === STEPS[0] && status.assignment ? status : undefined;
    },
    30_000,
    300,
  );
  const adopted = (await styleRollout('default-style')).status!;
  expect(adopted).toMatchObject({ stableVersion: 'v2', candidateVersion: 'v1' });
  expect(adopted.history?.map((h) => h.reason)).toEqual(['Initializing', 'RolloutStarted']);
  const salt = adopted.assignment!.salt;
  expect(adopted.assignment).toEqual({ salt, keyHeader: 'X-Adapter-Assignment-Key', candidateBuckets: { from: 0, to: STEPS[0]! * 100 } });
  const split = await httpRoute();
  expect(split.metadata.annotations?.[styleRuleClaimAnnotation(1)]).toMatch(/^default-style\/[0-9a-f]{8}$/);
  expect(split.spec.rules[1]!.backendRefs.map((r) => [r.weight, r.filters])).toEqual([[1, undefined]]);
  expect(JSON.stringify(split.spec.rules[1])).toContain(`"X-Adapter-Split","value":"ink-wash@v1=${STEPS[0]}, ink-wash@v2=${100 - STEPS[0]!}"`);
  await proxy.waitForRoute(ns, 't2v');
  // 24 users, twice each, through the proxy's default rule (no x-t2v-style header).
  const users = Array.from({ length: 24 }, (_, i) => `user-${i}`);
  const expected = Object.fromEntries(users.map((u) => [u, bucketOf(salt, u) < STEPS[0]! * 100 ? 'ink-wash@v1' : 'ink-wash@v2']));
  for (let round = 0; round < 2; round++) {
    const got: Record<string, string> = {};
    for (const u of users) got[u] = (await generate(round, { 'x-adapter-assignment-key': u }, false)).version;
    expect(got).toEqual(expected);
  }
  expect(new Set(Object.values(expected)).size).toBe(2);
  await deleteStyleRollout('default-style');
  const restored = await httpRoute();
  expect(restored.spec.rules[1]!.backendRefs.map((r) => [r.weight, r.filters])).toEqual([[1, undefined]]);
  expect(JSON.stringify(restored.spec.rules[1])).toContain('"X-Adapter-Split","value":"ink-wash@v2=100"');
  expect(restored.metadata.annotations?.[styleRuleClaimAnnotation(1)]).toBeUndefined();
  expect(restored.metadata.annotations?.[styleRuleClaimAnnotation(0)]).toMatch(/^ink-wash\//);
}

describe('StyleRollout through the real route', () => {
  it('rolls ink-wash@v2 out to 100 % step by step with no pod restart, each step answered by the versions its weights say; then rolls broken versions back on their own (refused at preload before any traffic, or by the breaker); a deleted one leaves the rule on stable', async () => {
    await setUp();
    const operator = await startOperator(kubeconfigPath, ns);
    await custom.createNamespacedCustomObject({
      ...STYLE_ROLLOUT_RESOURCE,
      namespace: ns,
      body: { apiVersion: API_VERSION, kind: STYLE_KIND, metadata: { name: 'ink-wash' }, spec: spec('v1') },
    });
    await waitUntil('v1 stable and Healthy', async () => ((await styleRollout('ink-wash')).status?.phase === 'Healthy' ? true : undefined), 60_000, 500);
    await proxy.waitForRoute(ns, 't2v');
    // With no pin the runtime would serve the newest version (v4, broken — the pods refused it when the operator
    // asked, so there was no version to protect and v1 was pinned at once): the pin is what users get.
    expect(await sample(6)).toEqual({ 'ink-wash@v1': 6 });
    // (Before it, an Initializing entry "asking a ready pod…" when the pods' EndpointSlice was not ready yet on the first pass.)
    const adoptedBy = (await styleRollout('ink-wash')).status?.history?.filter((h) => h.reason === 'Initializing').map((h) => h.message) ?? [];
    expect(adoptedBy.at(-1)).toMatch(/serves no working version of ink-wash/);
    expect((await httpRoute()).metadata.annotations?.[styleRuleClaimAnnotation(0)]).toMatch(/^ink-wash\/[0-9a-f]{8}$/);
    await adoptionAndClaims();
    const before = await workload();
    expect(before.pods).toHaveLength(REPLICAS);
    for (const p of before.pods) expect(p).toMatch(/restarts=0$/);

    const load = new Load();
    const shares: { weight: number; counts: Record<string, number> }[] = [];
    const started = Date.now();
    try {
      await setVersion('ink-wash', 'v2');
      let seen = 0;
      await waitUntil(
        'v2 promoted',
        async () => {
          const status = (await styleRollout('ink-wash')).status;
          const weight = status?.phase === 'Progressing' ? (status.weights?.candidate ?? 0) : status?.stableVersion === 'v2' ? 101 : 0;
          if (weight > seen) {
            // A new step is on the route (status.weights follows the route): once the proxy has it, sample the split.
            load.paused = true;
            await proxy.waitForRoute(ns, 't2v');
            shares.push({ weight: Math.min(weight, 100), counts: await sample(SAMPLE) });
            load.paused = false;
            seen = weight;
          }
          return status?.phase === 'Healthy' && status.stableVersion === 'v2'
            ? true
            : status?.phase === 'RolledBack'
              ? Promise.reject(new Error(status.message))
              : undefined;
        },
        240_000,
        300,
      );
    } finally {
      await load.stop();
    }
    const promotedAfterS = (Date.now() - started) / 1000;
    console.log(
      `ink-wash@v2 promoted after ${promotedAfterS.toFixed(0)} s; split at each step (of ${SAMPLE}): ${JSON.stringify(shares)}; load answers: ${load.answers.length}`,
    );
    // Every step was seen and answered by the versions its weight says (smooth WRR: the exact share, ±1 for a sample that starts mid-cycle).
    expect(shares.map((s) => s.weight)).toEqual([...STEPS, 100]);
    for (const { weight, counts } of shares) {
      expect(
        Object.keys(counts).every((v) => v === 'ink-wash@v1' || v === 'ink-wash@v2'),
        JSON.stringify(counts),
      ).toBe(true);
      expect(Math.abs((counts['ink-wash@v2'] ?? 0) - (SAMPLE * weight) / 100), `${weight} %: ${JSON.stringify(counts)}`).toBeLessThanOrEqual(1);
    }
    expect(load.answers.filter((a) => a.status !== 200)).toEqual([]);
    const promoted = (await styleRollout('ink-wash')).status!;
    expect(promoted).toMatchObject({ phase: 'Healthy', stableVersion: 'v2', weights: { stable: 100, candidate: 0 } });
    // One Initializing entry, or two when the first pass waited for a ready pod to say what unpinned requests get.
    expect(promoted.history?.map((h) => h.reason).filter((r, i, all) => !(r === 'Initializing' && all[i + 1] === 'Initializing'))).toEqual([
      'Initializing',
      'Initialized',
      'RolloutStarted',
      'Promoted',
    ]);
    // The route keeps one arm, pinned to v2.
    const route = (await custom.getNamespacedCustomObject({ ...HTTPROUTES, namespace: ns, name: 't2v' })) as { spec: { rules: { backendRefs: unknown[] }[] } };
    // (the API server fills in the defaults group "" and kind Service)
    expect(route.spec.rules[0]!.backendRefs).toEqual([
      {
        group: '',
        kind: 'Service',
        name: 't2v',
        port: 80,
        weight: 100,
        filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-Adapter-Version', value: 'ink-wash@v2' }] } }],
      },
    ]);
    // Nothing but the route changed: same pods, same processes, no restart, the Deployment never written.
    expect(await workload()).toEqual(before);

    // A broken version, preloaded (the default): a pod refuses it before the first step, so no request ever gets it.
    const preloadLoad = new Load();
    try {
      await setVersion('ink-wash', 'v3');
      await waitUntil('v3 rolled back', async () => ((await styleRollout('ink-wash')).status?.phase === 'RolledBack' ? true : undefined), 60_000, 300);
    } finally {
      await preloadLoad.stop();
    }
    const refused = (await styleRollout('ink-wash')).status!;
    console.log(`ink-wash@v3 (preloaded) rolled back: ${refused.message}`);
    expect(refused).toMatchObject({ phase: 'RolledBack', stableVersion: 'v2', candidateVersion: 'v3', failure: { reason: 'AdapterLoadFailed' } });
    expect(refused.failure!.message).toMatch(/answered 500 to loading ink-wash@v3: .*InvalidAdapter/);
    expect(refused.history?.map((h) => h.reason).slice(-2)).toEqual(['RolloutStarted', 'AdapterLoadFailed']);
    expect(preloadLoad.answers.length).toBeGreaterThan(0);
    expect(new Set(preloadLoad.answers.map((a) => a.version))).toEqual(new Set(['ink-wash@v2']));

    // A broken version without preload: users' requests for it fail (500 InvalidAdapter) and the error-rate breaker on
    // t2v_adapter_requests_total rolls it back.
    const brokenLoad = new Load();
    const brokenStarted = Date.now();
    try {
      await setVersion('ink-wash', 'v4', { preload: false });
      await waitUntil(
        'v4 rolled back',
        async () => {
          const status = (await styleRollout('ink-wash')).status;
          return status?.phase === 'RolledBack' && status.candidateVersion === 'v4' ? true : undefined;
        },
        120_000,
        300,
      );
    } finally {
      await brokenLoad.stop();
    }
    const rolledBack = (await styleRollout('ink-wash')).status!;
    console.log(`ink-wash@v4 (not preloaded) rolled back after ${((Date.now() - brokenStarted) / 1000).toFixed(0)} s: ${rolledBack.message}`);
    expect(rolledBack).toMatchObject({ phase: 'RolledBack', stableVersion: 'v2', candidateVersion: 'v4', failure: { reason: 'error-rate' } });
    expect(rolledBack.conditions?.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'error-rate' });
    const failed = brokenLoad.answers.filter((a) => a.status !== 200);
    expect(failed.length).toBeGreaterThan(0);
    expect(new Set(failed.map((a) => a.status))).toEqual(new Set([500]));
    // Back on v2 for everyone once the proxy has the rolled-back rule; still no pod touched.
    await proxy.waitForRoute(ns, 't2v');
    expect(await sample(6)).toEqual({ 'ink-wash@v2': 6 });
    expect(await workload()).toEqual(before);
    // Deleted mid-rollout: the rule goes back to the stable version before the object goes (its finalizer).
    await setVersion('ink-wash', 'v1', { preload: true });
    await waitUntil(
      'v1 at its first step',
      async () => {
        const status = (await styleRollout('ink-wash')).status;
        return status?.phase === 'Progressing' && status.candidateVersion === 'v1' && status.weights?.candidate === STEPS[0] ? true : undefined;
      },
      60_000,
      300,
    );
    expect(
      ((await custom.getNamespacedCustomObject({ ...STYLE_ROLLOUT_RESOURCE, namespace: ns, name: 'ink-wash' })) as { metadata: { finalizers?: string[] } })
        .metadata.finalizers,
    ).toEqual([FINALIZER]);
    await custom.deleteNamespacedCustomObject({ ...STYLE_ROLLOUT_RESOURCE, namespace: ns, name: 'ink-wash' });
    await waitUntil(
      'the StyleRollout gone',
      async () =>
        (await styleRollout('ink-wash')
          .then(() => false)
          .catch((err: unknown) => isNotFound(err))) || undefined,
      30_000,
      300,
    );
    const restored = (await custom.getNamespacedCustomObject({ ...HTTPROUTES, namespace: ns, name: 't2v' })) as {
      spec: { rules: { backendRefs: { weight?: number; filters?: unknown[] }[] }[] };
    };
    expect(restored.spec.rules[0]!.backendRefs.map((r) => [r.weight, r.filters])).toEqual([
      [100, [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-Adapter-Version', value: 'ink-wash@v2' }] } }]],
    ]);
    expect((await httpRoute()).metadata.annotations?.[styleRuleClaimAnnotation(0)]).toBeUndefined();
    await proxy.waitForRoute(ns, 't2v');
    expect(await sample(6)).toEqual({ 'ink-wash@v2': 6 });
    expect(await workload()).toEqual(before);
    expect(operator.log()).not.toMatch(/style rollout reconcile failed/);
  });
});
