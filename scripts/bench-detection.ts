// npm run bench:detection [-- runs]: how fast a severe breach sends traffic back to stable.
// Real control plane, real Prometheus (1 s scrape), the real operator; a stand-in model server whose
// candidate error rate jumps to 50 % at step 1. Measures from the moment the breach is visible in
// Prometheus (the breaker's own query crosses the severe bound) to the route back at 100/0, and
// prints it in seconds and as a multiple of analysis.interval.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { renderQuery, BUILTIN_QUERIES } from '../operator/src/analysis/spec.js';
import { startControlPlane } from '../test/env/control-plane.js';
import { ModelMetricsStandIn } from '../test/env/model-metrics-standin.js';
import { repoRoot } from '../test/env/paths.js';
import { startPrometheus } from '../test/env/prometheus.js';

const runs = Number(process.argv[2] ?? 5);
const INTERVAL_S = 10;
const BREAKER_INTERVAL_S = 2;
const BREAKER_WINDOW_S = 10;
const MRO = { group: 'modelrollout.dev', version: 'v1alpha1', plural: 'modelrollouts' };
const ROUTE = { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes' };
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const healthy = { requestsPerSecond: 40, errorRate: 0, latencySeconds: 0.2 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const cp = await startControlPlane();
const standIn = new ModelMetricsStandIn();
await standIn.start();
const prometheus = await startPrometheus([standIn.target]);
const logFile = path.join(cp.dir, 'operator.log');
const out = fs.openSync(logFile, 'a');
const operator = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'operator/src/main.ts')], {
  env: { ...process.env, KUBECONFIG: cp.kubeconfigPath, MODELROLLOUT_PORT: '0', MODELROLLOUT_HOST: '127.0.0.1' }, stdio: ['ignore', out, out],
});
const results: number[] = [];
try {
  const kc = cp.kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  for (let run = 0; run < runs; run++) {
    const ns = `detect-${run}`;
    const model = `detect-${run}`;
    standIn.set(model, 'v1', healthy);
    standIn.set(model, 'v2', healthy);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await custom.createNamespacedCustomObject({ ...ROUTE, namespace: ns, body: {
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'route' }, spec: { parentRefs: [{ name: 'edge' }], rules: [{ backendRefs: [{ name: 't2v-stable', port: 80 }] }] },
    } });
    const spec = (version: string) => ({
      replicas: 2, model: { name: model, version }, service: { name: 't2v' }, trafficRouting: { gatewayAPI: { httpRoute: 'route' } },
      strategy: { stepDuration: '10m', progressDeadline: '10m' },
      template: { spec: { containers: [{ name: 'server', image: `example.invalid/t2v:${version}` }] } },
      analysis: {
        interval: `${INTERVAL_S}s`, breakerInterval: `${BREAKER_INTERVAL_S}s`, breakerWindow: `${BREAKER_WINDOW_S}s`, minRequests: 10,
        prometheus: { address: prometheus.address }, metrics: [{ template: 'error-rate' }],
      },
    });
    await custom.createNamespacedCustomObject({ ...MRO, namespace: ns, body: { apiVersion: 'modelrollout.dev/v1alpha1', kind: 'ModelRollout', metadata: { name: 't2v' }, spec: spec('v1') } });
    const status = async () => ((await custom.getNamespacedCustomObject({ ...MRO, namespace: ns, name: 't2v' })) as { status?: { phase?: string; weights?: { candidate: number } } }).status;
    while ((await status())?.phase !== 'Healthy') await sleep(200);
    await custom.patchNamespacedCustomObject({ ...MRO, namespace: ns, name: 't2v', body: { spec: spec('v2') } }, mergePatch);
    while ((await status())?.weights?.candidate !== 1) await sleep(200);
    await sleep(BREAKER_WINDOW_S * 1000); // a clean window of healthy data first
    standIn.set(model, 'v2', { ...healthy, errorRate: 0.5 });
    const query = renderQuery(BUILTIN_QUERIES['error-rate'], { namespace: ns, service: 't2v', model, version: 'v2', revision: '', role: 'candidate', intervalMs: BREAKER_WINDOW_S * 1000 });
    let visibleAt: number | undefined;
    let restoredAt: number | undefined;
    const deadline = Date.now() + 120_000;
    while (restoredAt === undefined && Date.now() < deadline) {
      if (visibleAt === undefined) {
        const body = (await (await fetch(`${prometheus.address}/api/v1/query?query=${encodeURIComponent(query)}`)).json()) as { data: { result: { value: [number, string] }[] } };
        if (Number(body.data.result[0]?.value[1] ?? 0) > 0.1) visibleAt = Date.now();
      }
      const route = (await custom.getNamespacedCustomObject({ ...ROUTE, namespace: ns, name: 'route' })) as { spec: { rules: { backendRefs: { name: string; weight?: number }[] }[] } };
      const candidate = route.spec.rules[0]!.backendRefs.find((b) => b.name === 't2v-candidate')?.weight ?? 0;
      if (visibleAt !== undefined && candidate === 0) restoredAt = Date.now();
      await sleep(50);
    }
    if (visibleAt === undefined || restoredAt === undefined) throw new Error(`run ${run}: breach not detected within 120 s (see ${logFile})`);
    const seconds = (restoredAt - visibleAt) / 1000;
    results.push(seconds);
    console.log(`run ${run + 1}: breach visible → 100 % stable in ${seconds.toFixed(2)} s (${(seconds / INTERVAL_S).toFixed(2)} × analysis.interval)`);
  }
  const sorted = [...results].sort((a, b) => a - b);
  const mean = results.reduce((a, b) => a + b, 0) / results.length;
  console.log(`\nsevere breach → stable over ${runs} runs: mean ${mean.toFixed(2)} s, worst ${sorted.at(-1)!.toFixed(2)} s`);
  console.log(`as a multiple of analysis.interval (${INTERVAL_S} s): mean ${(mean / INTERVAL_S).toFixed(2)}, worst ${(sorted.at(-1)! / INTERVAL_S).toFixed(2)} (target ≤ 2); breakerInterval ${BREAKER_INTERVAL_S} s`);
} finally {
  operator.kill('SIGKILL');
  await prometheus.stop();
  await standIn.stop();
  await cp.stop();
  fs.rmSync(cp.dir, { recursive: true, force: true });
}
