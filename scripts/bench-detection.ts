// npm run bench:detection [-- runs [lowRateRuns]]: how fast a broken candidate sends traffic back to stable.
// Real control plane, real Prometheus (1 s scrape), the real operator; a stand-in model server that follows
// the operator's pods and labels its series with their revision, as the runtime does.
//  - severe case (default 5 runs): the candidate's error rate jumps to 50 % at step 1 (40 req/s). Measured
//    from the moment the breach is visible in Prometheus (the error ratio of the candidate's revision
//    crosses the severe bound) to the route back at 100/0.
//  - low-rate case (default 3 runs): the candidate serves one request per 10 s and fails every one.
//    Measured from the first failed request to the route back at 100/0, in requests and in seconds, also
//    as a multiple of the breaker interval.
// Every run deletes its namespace (its GPUs go back) and every wait has a deadline that names what it waited for.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { renderQuery, BUILTIN_QUERIES } from '../operator/src/analysis/spec.js';
import { startControlPlane } from '../test/env/control-plane.js';
import { ModelMetricsStandIn, type Behaviour } from '../test/env/model-metrics-standin.js';
import { repoRoot } from '../test/env/paths.js';
import { startPrometheus } from '../test/env/prometheus.js';
import { API_VERSION, KIND, MODEL_ROLLOUT_RESOURCE as MRO, type RolloutStatus } from '../operator/src/api/index.js';

const runs = Number(process.argv[2] ?? 5);
const lowRateRuns = Number(process.argv[3] ?? 3);
const INTERVAL_S = 10;
const BREAKER_INTERVAL_S = 2;
const BREAKER_WINDOW_S = 10;
const ROUTE = { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes' };
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const healthy: Behaviour = { requestsPerSecond: 40, errorRate: 0, latencySeconds: 0.2 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `probe` returns a value; throws naming `what` and the last value seen after `timeoutMs`. */
async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(intervalMs);
  }
}

const cp = await startControlPlane();
const standIn = new ModelMetricsStandIn();
await standIn.start();
const prometheus = await startPrometheus([standIn.target]);
const logFile = path.join(cp.dir, 'operator.log');
const out = fs.openSync(logFile, 'a');
const operator = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'operator/src/main.ts')], {
  env: { ...process.env, KUBECONFIG: cp.kubeconfigPath, MODELROLLOUT_PORT: '0', MODELROLLOUT_HOST: '127.0.0.1' },
  stdio: ['ignore', out, out],
});
const kc = cp.kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const custom = kc.makeApiClient(k8s.CustomObjectsApi);

/** A namespace with a route and a Healthy rollout at v1; the caller breaks v2. Deleted (and its pods gone) by `close`. */
async function healthyRollout(ns: string, analysis: Record<string, unknown>, candidate: () => Behaviour) {
  // The candidate is whatever runs the v2 image, from its first request on.
  standIn.follow(core, ns, (pod) => (pod.image.endsWith(':v2') ? candidate() : healthy));
  await core.createNamespace({ body: { metadata: { name: ns } } });
  await custom.createNamespacedCustomObject({
    ...ROUTE,
    namespace: ns,
    body: {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'route' },
      spec: { parentRefs: [{ name: 'edge' }], rules: [{ backendRefs: [{ name: 't2v-stable', port: 80 }] }] },
    },
  });
  const spec = (version: string) => ({
    replicas: 2,
    model: { name: ns, version },
    service: { name: 't2v' },
    trafficRouting: { gatewayAPI: { httpRoute: 'route' } },
    strategy: { stepDuration: '10m', progressDeadline: '10m' },
    template: { spec: { containers: [{ name: 'server', image: `example.invalid/t2v:${version}` }] } },
    analysis: {
      interval: `${INTERVAL_S}s`,
      breakerInterval: `${BREAKER_INTERVAL_S}s`,
      minRequests: 10,
      prometheus: { address: prometheus.address },
      metrics: [{ template: 'error-rate' }],
      ...analysis,
    },
  });
  await custom.createNamespacedCustomObject({
    ...MRO,
    namespace: ns,
    body: { apiVersion: API_VERSION, kind: KIND, metadata: { name: 't2v' }, spec: spec('v1') },
  });
  const status = async () => ((await custom.getNamespacedCustomObject({ ...MRO, namespace: ns, name: 't2v' })) as { status?: RolloutStatus }).status;
  await waitFor(`${ns}: v1 Healthy`, async () => ((await status())?.phase === 'Healthy' ? true : undefined), 120_000);
  await custom.patchNamespacedCustomObject({ ...MRO, namespace: ns, name: 't2v', body: { spec: spec('v2') } }, mergePatch);
  const atOne = await waitFor(
    `${ns}: candidate at 1 %`,
    async () => {
      const s = await status();
      return s?.weights?.candidate === 1 && s.candidate ? s : undefined;
    },
    120_000,
  );
  const candidateWeight = async () => {
    const route = (await custom.getNamespacedCustomObject({ ...ROUTE, namespace: ns, name: 'route' })) as {
      spec: { rules: { backendRefs: { name: string; weight?: number }[] }[] };
    };
    return route.spec.rules[0]!.backendRefs.find((b) => b.name === 't2v-candidate')?.weight ?? 0;
  };
  return {
    candidateRevision: atOne.candidate!.revision,
    candidateWeight,
    status,
    async close() {
      standIn.unfollow(ns);
      await core.deleteNamespace({ name: ns });
      // GPUs are shared by every run: the next one needs this run's pods gone.
      await waitFor(
        `${ns}: pods gone after the namespace was deleted`,
        async () => ((await core.listNamespacedPod({ namespace: ns })).items.length === 0 ? true : undefined),
        120_000,
        500,
      );
    },
  };
}

async function severeRun(run: number): Promise<number> {
  let broken = false;
  const ns = `detect-${run}`;
  const rollout = await healthyRollout(ns, { breakerWindow: `${BREAKER_WINDOW_S}s` }, () => (broken ? { ...healthy, errorRate: 0.5 } : healthy));
  try {
    await sleep(BREAKER_WINDOW_S * 1000); // a clean window of healthy data first
    broken = true;
    const query = renderQuery(BUILTIN_QUERIES['error-rate'], {
      namespace: ns,
      name: 't2v',
      service: 't2v',
      model: ns,
      version: 'v2',
      revision: rollout.candidateRevision,
      stableRevision: '',
      candidateRevision: rollout.candidateRevision,
      role: 'candidate',
      intervalMs: BREAKER_WINDOW_S * 1000,
    });
    let visibleAt: number | undefined;
    const restoredAt = await waitFor(
      `${ns}: breach visible in Prometheus, then the route back at 100/0 (see ${logFile})`,
      async () => {
        if (visibleAt === undefined) {
          const body = (await (await fetch(`${prometheus.address}/api/v1/query?query=${encodeURIComponent(query)}`)).json()) as {
            data: { result: { value: [number, string] }[] };
          };
          if (Number(body.data.result[0]?.value[1] ?? 0) > 0.1) visibleAt = Date.now();
        }
        return visibleAt !== undefined && (await rollout.candidateWeight()) === 0 ? Date.now() : undefined;
      },
      120_000,
      50,
    );
    return (restoredAt - visibleAt!) / 1000;
  } finally {
    await rollout.close();
  }
}

async function lowRateRun(run: number): Promise<{ requests: number; seconds: number }> {
  const ns = `detect-low-${run}`;
  // The same 10 s breaker window: with fewer than minRequests in it, counts look back over the whole step.
  const rollout = await healthyRollout(ns, { breakerWindow: `${BREAKER_WINDOW_S}s` }, () => ({ requestsPerSecond: 0.1, errorRate: 1, latencySeconds: 30 }));
  try {
    const restoredAt = await waitFor(
      `${ns}: the route back at 100/0 after failed requests (see ${logFile})`,
      async () => ((await rollout.candidateWeight()) === 0 ? Date.now() : undefined),
      180_000,
      50,
    );
    const served = standIn.served(ns).filter((r) => r.revision === rollout.candidateRevision && r.at <= restoredAt);
    const firstFailure = served.find((r) => r.outcome === 'server_error');
    if (!firstFailure) throw new Error(`${ns}: rolled back before the candidate served a request`);
    return { requests: served.filter((r) => r.at >= firstFailure.at).length, seconds: (restoredAt - firstFailure.at) / 1000 };
  } finally {
    await rollout.close();
  }
}

try {
  const severe: number[] = [];
  for (let run = 0; run < runs; run++) {
    const seconds = await severeRun(run);
    severe.push(seconds);
    console.log(`severe run ${run + 1}: breach visible → 100 % stable in ${seconds.toFixed(2)} s (${(seconds / INTERVAL_S).toFixed(2)} × analysis.interval)`);
  }
  if (severe.length > 0) {
    const sorted = [...severe].sort((a, b) => a - b);
    const mean = severe.reduce((a, b) => a + b, 0) / severe.length;
    console.log(`\nsevere breach → stable over ${runs} runs: mean ${mean.toFixed(2)} s, worst ${sorted.at(-1)!.toFixed(2)} s`);
    console.log(
      `as a multiple of analysis.interval (${INTERVAL_S} s): mean ${(mean / INTERVAL_S).toFixed(2)}, worst ${(sorted.at(-1)! / INTERVAL_S).toFixed(2)} (target ≤ 2); breakerInterval ${BREAKER_INTERVAL_S} s`,
    );
  }
  const low: { requests: number; seconds: number }[] = [];
  for (let run = 0; run < lowRateRuns; run++) {
    const r = await lowRateRun(run);
    low.push(r);
    console.log(
      `low-rate run ${run + 1}: first failed request → 100 % stable after ${r.requests} requests, ${r.seconds.toFixed(2)} s (${(r.seconds / BREAKER_INTERVAL_S).toFixed(2)} × breakerInterval)`,
    );
  }
  if (low.length > 0) {
    const worst = low.reduce((w, r) => (r.seconds > w.seconds ? r : w));
    const mean = low.reduce((a, r) => a + r.seconds, 0) / low.length;
    console.log(
      `\nlow rate (1 request / 10 s, every one failing) over ${low.length} runs: requests ${low.map((r) => r.requests).join(', ')}; mean ${mean.toFixed(2)} s, worst ${worst.seconds.toFixed(2)} s = ${(worst.seconds / BREAKER_INTERVAL_S).toFixed(2)} × breakerInterval (${BREAKER_INTERVAL_S} s), breakerWindow ${BREAKER_WINDOW_S} s`,
    );
  }
} finally {
  operator.kill('SIGKILL');
  await prometheus.stop();
  await standIn.stop();
  await cp.stop();
  fs.rmSync(cp.dir, { recursive: true, force: true });
}
