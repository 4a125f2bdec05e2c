// npm run bench:operator [-- 100 1000]: N ModelRollouts progressing through 1→5→20→50→100 at once on
// the local control plane. Prints reconcile latency p50/p99 (the operator's own histogram), peak RSS
// of the operator process, API requests per completed step and the wall time to promote them all.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { startControlPlane } from '../test/env/control-plane.js';
import { repoRoot } from '../test/env/paths.js';
import { API_VERSION, KIND, MODEL_ROLLOUT_RESOURCE as MRO, stableServiceName } from '../operator/src/api/index.js';

const sizes = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const counts = sizes.length ? sizes : [100, 1000];
const NS = 'bench';
const ROUTE = { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes' };
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const STEPS = [1, 5, 20, 50, 100];

async function pool<T>(items: T[], width: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

function rolloutBody(name: string, version: string) {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name },
    spec: {
      replicas: 1,
      model: { name: 'wan-t2v', version },
      service: { name },
      trafficRouting: { gatewayAPI: { httpRoute: name } },
      strategy: { steps: STEPS, stepDuration: '2s', progressDeadline: '30m' },
      template: { spec: { containers: [{ name: 'server', image: `example.invalid/t2v:${version}` }] } },
    },
  };
}

function parseMetrics(text: string) {
  const buckets: [number, number][] = [];
  let requests = 0;
  let steps = 0;
  for (const line of text.split('\n')) {
    let m = /^modelrollout_reconcile_duration_seconds_bucket\{le="([^"]+)",result="ok"\} (\d+)/.exec(line);
    if (m) buckets.push([m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2])]);
    m = /^modelrollout_kube_requests_total\{[^}]*\} (\d+)/.exec(line);
    if (m) requests += Number(m[1]);
    m = /^modelrollout_transitions_total\{reason="(StepPassed|Promoted)"\} (\d+)/.exec(line);
    if (m) steps += Number(m[2]);
  }
  return { buckets, requests, steps };
}

/** Quantile from cumulative histogram buckets, interpolated linearly inside the bucket. */
function quantile(buckets: [number, number][], q: number): number {
  const total = buckets[buckets.length - 1]?.[1] ?? 0;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1, count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

async function runOnce(n: number): Promise<void> {
  const gpusNeeded = n * 2;
  const nodes = Math.max(4, Math.ceil(gpusNeeded / 32));
  console.log(`\n== ${n} rollouts (${nodes} fake nodes × 32 GPUs) ==`);
  const cp = await startControlPlane({ gpuNodes: { count: nodes, gpusPerNode: 32 } });
  const logFile = path.join(cp.dir, 'operator.log');
  let operator: ReturnType<typeof spawn> | undefined;
  try {
    const kc = cp.kubeConfig();
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    await core.createNamespace({ body: { metadata: { name: NS } } });
    const names = Array.from({ length: n }, (_, i) => `m${i}`);
    await pool(names, 16, (name) =>
      custom.createNamespacedCustomObject({
        ...ROUTE,
        namespace: NS,
        body: {
          apiVersion: 'gateway.networking.k8s.io/v1',
          kind: 'HTTPRoute',
          metadata: { name },
          spec: { parentRefs: [{ name: 'edge' }], rules: [{ backendRefs: [{ name: stableServiceName(name), port: 80 }] }] },
        },
      }),
    );
    const out = fs.openSync(logFile, 'a');
    // The operator as it runs in its image: compiled JS, the image's heap ceiling (operator/Dockerfile).
    const extraArgs = (process.env.BENCH_OPERATOR_NODE_ARGS ?? '--max-old-space-size=256').split(' ').filter(Boolean);
    operator = spawn(process.execPath, [...extraArgs, path.join(repoRoot, 'operator/dist/main.js')], {
      env: {
        ...process.env,
        KUBECONFIG: cp.kubeconfigPath,
        MODELROLLOUT_PORT: '0',
        MODELROLLOUT_HOST: '127.0.0.1',
        MODELROLLOUT_LOG_LEVEL: 'info',
        MODELROLLOUT_WORKERS: '16',
      },
      stdio: ['ignore', out, out],
    });
    const port = await operatorPort(path.join(cp.dir, 'operator.log'), operator.pid!);
    const heapSampler = setInterval(() => {
      void fetch(`http://127.0.0.1:${port}/metrics`)
        .then((r) => r.text())
        .then(
          (t) => {
            const heap = /modelrollout_operator_nodejs_heap_size_used_bytes (\d+)/.exec(t)?.[1];
            if (heap && process.env.BENCH_VERBOSE) console.log(`  heap used ${(Number(heap) / 2 ** 20).toFixed(0)} MiB`);
          },
          () => undefined,
        );
    }, 5000);
    heapSampler.unref();
    await pool(names, 16, (name) => custom.createNamespacedCustomObject({ ...MRO, namespace: NS, body: rolloutBody(name, 'v1') }));
    await waitAll(custom, n, (s) => s?.phase === 'Healthy' && s.stable?.modelVersion === 'v1', 'stable', 1_800_000);
    const before = parseMetrics(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
    const started = Date.now();
    await pool(names, 16, (name) =>
      custom.patchNamespacedCustomObject({ ...MRO, namespace: NS, name, body: { spec: rolloutBody(name, 'v2').spec } }, mergePatch),
    );
    await waitAll(custom, n, (s) => s?.phase === 'Healthy' && s.stable?.modelVersion === 'v2', 'promoted', 3_600_000);
    const wallS = (Date.now() - started) / 1000;
    const after = parseMetrics(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
    const hwm = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${operator.pid}/status`, 'utf8'));
    const steps = after.steps - before.steps;
    console.log(`rollouts:                 ${n} (steps ${STEPS.join('→')}, bake 2 s)`);
    console.log(`all promoted in:          ${wallS.toFixed(1)} s`);
    // Only the reconciles of the rollout phase: bucket counts after minus before.
    const during = after.buckets.map(([le, count], i) => [le, count - (before.buckets[i]?.[1] ?? 0)] as [number, number]);
    console.log(
      `reconcile latency:        p50 ${(quantile(during, 0.5) * 1000).toFixed(1)} ms, p99 ${(quantile(during, 0.99) * 1000).toFixed(1)} ms (${during.at(-1)?.[1]} reconciles while progressing)`,
    );
    console.log(
      `  start-up (create + first stable): p50 ${(quantile(before.buckets, 0.5) * 1000).toFixed(1)} ms, p99 ${(quantile(before.buckets, 0.99) * 1000).toFixed(1)} ms`,
    );
    console.log(`operator peak RSS:        ${(Number(hwm?.[1] ?? 0) / 1024).toFixed(0)} MiB`);
    console.log(
      `API requests per step:    ${((after.requests - before.requests) / Math.max(1, steps)).toFixed(1)} (${after.requests - before.requests} requests, ${steps} completed steps)`,
    );
  } finally {
    if (operator?.pid) {
      // SIGTERM lets --cpu-prof write its profile; SIGKILL if it does not stop.
      operator.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 3000));
      operator.kill('SIGKILL');
    }
    await cp.stop();
    fs.rmSync(cp.dir, { recursive: true, force: true });
  }
}

async function operatorPort(logFile: string, pid: number): Promise<number> {
  for (let i = 0; i < 600; i++) {
    const line = fs.existsSync(logFile)
      ? fs
          .readFileSync(logFile, 'utf8')
          .split('\n')
          .find((l) => l.includes('listening'))
      : undefined;
    if (line) return (JSON.parse(line) as { port: number }).port;
    try {
      process.kill(pid, 0);
    } catch {
      throw new Error(`operator exited: ${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('operator did not start');
}

async function waitAll(
  custom: k8s.CustomObjectsApi,
  n: number,
  done: (s: { phase?: string; stable?: { modelVersion?: string } } | undefined) => boolean,
  what: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  for (;;) {
    const list = (await custom.listNamespacedCustomObject({ ...MRO, namespace: NS })) as {
      items: { status?: { phase?: string; stable?: { modelVersion?: string } } }[];
    };
    const count = list.items.filter((i) => done(i.status)).length;
    if (count !== last) process.stdout.write(`  ${what}: ${count}/${n}\r`);
    last = count;
    if (count >= n) return void process.stdout.write('\n');
    if (Date.now() > deadline) throw new Error(`only ${count}/${n} ${what} after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

console.log('building the operator (tsc -p operator/tsconfig.json)…');
execFileSync(process.execPath, [path.join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', path.join(repoRoot, 'operator/tsconfig.json')], {
  stdio: 'inherit',
});
for (const n of counts) await runOnce(n);
