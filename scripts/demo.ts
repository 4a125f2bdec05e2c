// npm run demo: the main job on a laptop. A real local control plane with fake GPU nodes, the operator,
// a real Prometheus, and real inference processes (the small model on CPU) play two rollouts:
//   1. a good candidate goes 1 → 5 → 20 → 50 → 100 % and is promoted;
//   2. a candidate with injected faults is rolled back automatically, and the reason is printed.
// Flags: --step-duration 10s  --interval 5s  --keep (leave it all running until Ctrl-C)
//        --kubeconfig <file> (reuse a running control plane)  --namespace demo
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { revisionInputs, type StoredSpec } from '../operator/src/rollout/spec.js';
import { revisionOf } from '../operator/src/rollout/revision.js';
import { startControlPlane, type ControlPlane } from '../test/env/control-plane.js';
import { repoRoot } from '../test/env/paths.js';
import { ProcessGroup } from '../test/env/process-group.js';
import { startPrometheus, type PrometheusServer } from '../test/env/prometheus.js';
import { InferenceFleet } from './demo/inference-fleet.js';
import { MeshDataPlaneStandIn } from './demo/mesh-data-plane-stand-in.js';

const { values: flags } = parseArgs({
  options: {
    'step-duration': { type: 'string', default: '10s' },
    interval: { type: 'string', default: '5s' },
    keep: { type: 'boolean', default: false },
    kubeconfig: { type: 'string' },
    namespace: { type: 'string', default: 'demo' },
    'timeout-minutes': { type: 'string', default: '15' },
  },
});
const NS = flags.namespace!;
const MODEL = 't2v-tiny';
const MRO = { group: 'modelrollout.dev', version: 'v1alpha1', plural: 'modelrollouts' };
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const started = Date.now();
const t = () => `${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s`;
const say = (line: string) => console.log(`[${t()}] ${line}`);

interface RolloutView {
  metadata: k8s.V1ObjectMeta;
  status?: {
    phase?: string; message?: string; currentStep?: { label: string }; weights?: { stable: number; candidate: number; mirrorPercent?: number };
    replicas?: { stable: { ready: number; desired: number }; candidate: { ready: number; desired: number } };
    stable?: { modelVersion: string }; candidate?: { modelVersion: string }; failure?: { reason: string; message: string };
    conditions?: { type: string; status: string }[]; history?: { reason: string; time: string }[];
  };
}

interface ScenarioResult {
  name: string;
  expected: string;
  outcome: string;
  seconds: number;
  steps: number;
  detail: string;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelrollout-demo-'));
const processes = new ProcessGroup(path.join(dir, 'logs'));
processes.armWatchdog(process.pid);
let cp: ControlPlane | undefined;
let prometheus: PrometheusServer | undefined;
let fleet: InferenceFleet | undefined;
let mesh: MeshDataPlaneStandIn | undefined;
let cleaning = false;

async function cleanup(): Promise<void> {
  if (cleaning) return;
  cleaning = true;
  await mesh?.stop().catch(() => undefined);
  await processes.stopAll();
  await fleet?.stop();
  await prometheus?.stop();
  await cp?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    console.log(`\n${sig}: stopping everything the demo started`);
    void cleanup().finally(() => process.exit(130));
  });
}

function analysis(address: string) {
  return {
    // CPU-speed traffic is a few requests a second, so 1 % is one request every half minute or so. Rates are
    // judged on counts with 95 % bounds: proving "under 1 %" would take 299 error-free requests per step, so
    // the demo asks only what its traffic can show — at most 50 % errors or refusals (5 clean requests pass),
    // with the breaker window long enough to hold several requests (2 of 2 or 3 of 4 failed trip it) — and
    // lets a step stay inconclusive while requests trickle in (production keeps the 1 % / 5 % defaults).
    interval: flags.interval, minRequests: 1, breakerInterval: '2s', breakerWindow: '2m', maxInconclusive: 1000,
    prometheus: { address, timeout: '3s' },
    // The severe breaker stays at 10 % (the default would follow the loose step bound up to 100 %): a candidate
    // failing 2 of 2 requests is rolled back at once.
    metrics: [{ template: 'error-rate', max: 0.5, breaker: { severe: 0.1 } }, { template: 'overload-rate', max: 0.5 }, { template: 'latency-p99', relative: { max: 3, failMax: 6 } }],
  };
}

function rolloutSpec(version: string, address: string) {
  return {
    replicas: 4,
    model: { name: MODEL, version },
    service: { name: 't2v' },
    trafficRouting: { gatewayAPI: { httpRoute: 't2v' } },
    strategy: { steps: [1, 5, 20, 50, 100], stepDuration: flags['step-duration'], progressDeadline: '5m' },
    analysis: analysis(address),
    template: { spec: { containers: [{ name: 'server', image: `ghcr.io/modelrollout/t2v-inference:${version}`, env: [{ name: 'T2V_MODEL_DIR', value: `/models/${MODEL}-${version}` }] }] } },
  };
}

async function promQuery(query: string): Promise<number | undefined> {
  const body = (await fetch(`${prometheus!.address}/api/v1/query?query=${encodeURIComponent(query)}`).then((r) => r.json()).catch(() => undefined)) as { data?: { result?: { value: [number, string] }[] } } | undefined;
  const v = Number(body?.data?.result?.[0]?.value[1]);
  return Number.isFinite(v) ? v : undefined;
}

async function candidateSignals(version: string): Promise<string> {
  const sel = `model_name="${MODEL}",model_version="${version}"`;
  const err = await promQuery(`(sum(rate(t2v_requests_total{${sel},status=~"5.."}[20s])) or vector(0)) / sum(rate(t2v_requests_total{${sel}}[20s]))`);
  const p99 = await promQuery(`histogram_quantile(0.99, sum by (le) (rate(t2v_request_duration_seconds_bucket{${sel}}[20s])))`);
  return `${version}: errors ${err === undefined ? '  -  ' : `${(err * 100).toFixed(1).padStart(4)}%`} p99 ${p99 === undefined ? '  -  ' : `${p99.toFixed(2)}s`}`;
}

function viewLine(ro: RolloutView): string {
  const s = ro.status ?? {};
  const w = s.weights ? `${String(s.weights.stable).padStart(3)}/${String(s.weights.candidate).padEnd(3)}` : '   -   ';
  const r = s.replicas ? `ready S ${s.replicas.stable.ready}/${s.replicas.stable.desired} C ${s.replicas.candidate.ready}/${s.replicas.candidate.desired}` : '';
  return `${(s.phase ?? '-').padEnd(11)} step ${(s.currentStep?.label ?? '-').padEnd(4)} weights ${w} ${r}`;
}

async function playScenario(custom: k8s.CustomObjectsApi, name: string, version: string, expected: 'Promoted' | 'RolledBack'): Promise<ScenarioResult> {
  say(`${name}: rolling out ${version} (expecting ${expected})`);
  const t0 = Date.now();
  await custom.patchNamespacedCustomObject({ ...MRO, namespace: NS, name: 't2v', body: { spec: rolloutSpec(version, prometheus!.address) } }, mergePatch);
  const deadline = Date.now() + Number(flags['timeout-minutes']) * 60_000;
  let last = '';
  for (;;) {
    const ro = (await custom.getNamespacedCustomObject({ ...MRO, namespace: NS, name: 't2v' })) as RolloutView;
    const s = ro.status ?? {};
    const line = `${viewLine(ro)} | ${await candidateSignals(version)} | sent S ${mesh!.counts.stable} C ${mesh!.counts.candidate}`;
    if (line.replace(/sent .*/, '') !== last.replace(/sent .*/, '')) say(line);
    last = line;
    const ready = s.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    const mine = (s.history ?? []).filter((h) => Date.parse(h.time) >= t0 - 1000);
    const steps = mine.filter((h) => h.reason === 'StepPassed').length + (mine.some((h) => h.reason === 'Promoted') ? 1 : 0);
    const seconds = (Date.now() - t0) / 1000;
    if (s.stable?.modelVersion === version && ready) return { name, expected, outcome: 'Promoted', seconds, steps, detail: `${version} serves 100 %` };
    if (s.phase === 'RolledBack' || s.phase === 'Aborted') {
      return { name, expected, outcome: s.phase, seconds, steps, detail: `${s.failure?.reason}: ${s.failure?.message}` };
    }
    if (Date.now() > deadline) return { name, expected, outcome: 'TimedOut', seconds, steps, detail: s.message ?? '' };
    await sleep(1000);
  }
}

/** The revision the operator will give `version`'s spec: hashed from the API server's stored (defaulted) copy, via a dry-run create. */
async function revisionFor(custom: k8s.CustomObjectsApi, version: string): Promise<string> {
  const body = { apiVersion: 'modelrollout.dev/v1alpha1', kind: 'ModelRollout', metadata: { name: `revision-of-${version}` }, spec: rolloutSpec(version, 'http://127.0.0.1:9') };
  const stored = (await custom.createNamespacedCustomObject({ ...MRO, namespace: NS, body, dryRun: 'All' })) as { spec: StoredSpec };
  return revisionOf(revisionInputs(stored.spec));
}

async function main(): Promise<number> {
  say(`working directory ${dir}`);
  let kubeconfigPath = flags.kubeconfig;
  if (!kubeconfigPath) {
    say('starting the local control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok with 4 × 2 fake GPUs)…');
    cp = await startControlPlane({ log: (l) => say(l) });
    kubeconfigPath = cp.kubeconfigPath;
  }
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);

  await core.createNamespace({ body: { metadata: { name: NS } } }).catch((e: { code?: number }) => {
    if (e.code !== 409) throw e;
  });
  // The processes stand in for the pods the operator would make: they get the identity those pods would get
  // through the downward API, so analysis finds each revision's series (it selects by revision).
  const identity = async (version: string) => ({ namespace: NS, name: 't2v', revision: await revisionFor(custom, version) });
  say('starting real inference processes (small model, CPU): v1 (stable), v2 (good candidate), v3 (candidate with injected faults)…');
  fleet = new InferenceFleet(dir, MODEL);
  await fleet.start('v1', 1, {}, await identity('v1'));
  await fleet.start('v2', 2, {}, await identity('v2'));
  await fleet.start('v3', 3, { errorRate: 0.5 }, await identity('v3'));
  prometheus = await startPrometheus(fleet.targets());
  say(`Prometheus ${prometheus.address} scrapes ${fleet.targets().join(', ')}`);

  processes.start('operator', process.execPath, ['--import', 'tsx', path.join(repoRoot, 'operator/src/main.ts')], {
    cwd: repoRoot,
    env: { KUBECONFIG: kubeconfigPath, MODELROLLOUT_WATCH_NAMESPACE: NS, MODELROLLOUT_LEASE_NAMESPACE: NS, MODELROLLOUT_PORT: '0', MODELROLLOUT_HOST: '127.0.0.1' },
  });
  say(`operator started (log ${path.join(processes.logDir, 'operator.log')})`);

  await custom.createNamespacedCustomObject({ group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes', namespace: NS, body: {
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 't2v' },
    spec: { parentRefs: [{ name: 'inference-gateway' }], rules: [{ backendRefs: [{ name: 't2v-stable', port: 80 }] }] },
  } });
  await custom.createNamespacedCustomObject({ ...MRO, namespace: NS, body: { apiVersion: 'modelrollout.dev/v1alpha1', kind: 'ModelRollout', metadata: { name: 't2v' }, spec: rolloutSpec('v1', prometheus.address) } });
  for (;;) {
    const ro = (await custom.getNamespacedCustomObject({ ...MRO, namespace: NS, name: 't2v' })) as RolloutView;
    if (ro.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True') break;
    processes.assertAlive();
    await sleep(500);
  }
  say('v1 is stable: 4 GPU replicas Ready, HTTPRoute 100/0');
  mesh = new MeshDataPlaneStandIn(kc, NS, 't2v', 't2v', fleet, 4);
  mesh.start();
  say('MeshDataPlaneStandIn sends generation requests split by the HTTPRoute weights');
  await sleep(5000);

  const results = [
    await playScenario(custom, 'scenario 1: good candidate', 'v2', 'Promoted'),
    await playScenario(custom, 'scenario 2: faulty candidate (50 % injected errors)', 'v3', 'RolledBack'),
  ];
  console.log('\nsummary');
  console.log(`${'scenario'.padEnd(52)} ${'expected'.padEnd(11)} ${'outcome'.padEnd(11)} ${'time'.padStart(7)}  steps passed  detail`);
  for (const r of results) console.log(`${r.name.padEnd(52)} ${r.expected.padEnd(11)} ${r.outcome.padEnd(11)} ${`${r.seconds.toFixed(0)}s`.padStart(7)}  ${String(r.steps).padStart(12)}  ${r.detail}`);
  console.log(`requests sent: stable ${mesh.counts.stable}, candidate ${mesh.counts.candidate}, failed ${mesh.counts.failed}`);
  const ok = results.every((r) => r.outcome === r.expected);
  console.log(ok ? '\ndemo OK: the good candidate was promoted and the faulty one rolled back on its own' : '\ndemo FAILED: an outcome was not the expected one');
  if (flags.keep) {
    console.log(`\neverything is still running; in another shell:\n  export KUBECONFIG=${kubeconfigPath}\n  kubectl get mro -n ${NS} -w\nCtrl-C here stops it all.`);
    await new Promise(() => undefined);
  }
  return ok ? 0 : 1;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  console.error(`demo failed: ${err instanceof Error ? err.stack : String(err)}`);
} finally {
  await cleanup();
}
process.exit(code);
