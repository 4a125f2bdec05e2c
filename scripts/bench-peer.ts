// npm run bench:peer [-- --scenarios 1,2,3,4 --runs 1 --tools modelrollout,argo,flagger --scale 100]
// ModelRollout side by side with Argo Rollouts and Flagger (built by hack/build-peers.sh) on one local control
// plane, one Prometheus and the same backends (kwok pods with one GPU each; a stand-in serves their metrics),
// one tool at a time, each with its own ServiceAccount so the API server's audit log counts its requests.
//   1 healthy candidate: template change → 100 % on it; API requests per step; CPU seconds; peak RSS
//   2 severe breach (50 % errors) at the 20 % step: breach visible in Prometheus → 0 % on the candidate
//   3 slow pods (20–22 s readiness), breach at the last step: traffic beyond ready capacity, in request-seconds
//   4 N rollouts at once (--scale, default 100): time to promote them all, API requests per step, CPU, RSS
// A benchmark, not a test: nothing here asserts a time. It prints one table per scenario, each tool's figure and
// ModelRollout's ratio to the best peer (below 1: ModelRollout lower), and the versions and settings used.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { installCrds } from '../test/env/crds.js';
import { ModelMetricsStandIn, type Behaviour } from '../test/env/model-metrics-standin.js';
import { repoRoot } from '../test/env/paths.js';
import { ProcessGroup } from '../test/env/process-group.js';
import { startPrometheus, type PrometheusServer } from '../test/env/prometheus.js';
import { parseBenchArgs } from './bench-peer/args.js';
import { controllerIdentity, startBenchCluster, type BenchCluster } from './bench-peer/cluster.js';
import { crashLine, watchExit } from './bench-peer/crash.js';
import {
  DidNotHoldUp,
  SLOW_READY,
  gpuMeter,
  promote,
  rollbackAt,
  sampleCapacity,
  settleOnV1,
  waitBackOnStable,
  waitFor,
  waitPodsReleased,
  type RunContext,
} from './bench-peer/measure.js';
import { printTable, type Row } from './bench-peer/report.js';
import { gpuSampleMs, metricsPages, scrapeIntervalMs, servesLatencyHistogram, listPollMs } from './bench-peer/scale.js';
import { TOOLS, peerPaths, type BenchSettings, type RolloutRef, type Tool } from './bench-peer/tools.js';

// Checked before anything starts (scripts/bench-peer/args.ts): a bad flag names itself instead of running nothing.
let opts: ReturnType<typeof parseBenchArgs>;
try {
  opts = parseBenchArgs(process.argv.slice(2));
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}
const { scenarios, runs, scale: scaleN, capMinutes, knobs } = opts;
/** Every tool's query window (s). */
const WINDOW_SECONDS = 10;
const tools = TOOLS.filter((t) => opts.tools.includes(t.key));
const healthy: Behaviour = { requestsPerSecond: 40, errorRate: 0, latencySeconds: 0.2 };
/** The run's largest N: scenario 4's --scale when it runs. One Prometheus and one metrics stand-in serve every scenario, sized for it. */
const largestN = scenarios.includes(4) ? scaleN : 1;
const metricsPlan = {
  scrapeMs: scrapeIntervalMs(largestN, WINDOW_SECONDS),
  pages: metricsPages(largestN),
  latencyHistogram: servesLatencyHistogram(largestN),
  podRefreshMs: listPollMs(largestN),
};

interface Bench {
  cluster: BenchCluster;
  prometheus: PrometheusServer;
  standIn: ModelMetricsStandIn;
  identities: Map<string, { user: string; kubeconfigPath: string }>;
  broken: Set<string>;
}

function settingsFor(b: Bench, extra: Partial<BenchSettings> = {}): BenchSettings {
  return {
    replicas: 4,
    stepSeconds: 10,
    checkSeconds: 2,
    windowSeconds: WINDOW_SECONDS,
    prometheus: b.prometheus.address,
    podAnnotations: {},
    stableVersion: 'v1',
    candidateVersion: 'v2',
    knobs,
    many: false,
    ...extra,
  };
}

/** A tool's run that ended without figures: its table cell ("crashed", "did not hold up") and the line that says why. */
interface Failed {
  failed: string;
  line: string;
}

const isFailed = (res: object): res is Failed => 'failed' in res;

/** How long settling a tool's rollouts, then promoting them, may each take: scenario 4's cap (--cap-minutes); scenarios 1–3 end well inside an hour. */
const RUN_CAP_MS = { one: 3_600_000, many: capMinutes * 60_000 };

/**
 * Starts the tool's controller, runs `fn` against N fresh rollouts in a fresh namespace, then stops it and deletes
 * the namespace. A controller that exits during the run, or a run past its cap (DidNotHoldUp), ends that tool's
 * run at once with a Failed result instead of figures.
 */
async function withTool<T extends object>(
  b: Bench,
  tool: Tool,
  label: string,
  n: number,
  settings: BenchSettings,
  fn: (ctx: RunContext) => Promise<T>,
): Promise<T | Failed> {
  const ns = `${tool.key}-${label}`;
  const core = b.cluster.kc.makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: ns } } });
  const rollouts: RolloutRef[] = Array.from({ length: n }, (_, i) => ({ ns, name: `t2v-${i}`, model: `${ns}-${i}` }));
  const broken = `:${settings.candidateVersion}`;
  b.standIn.follow(core, ns, (pod) => (pod.image.endsWith(broken) && b.broken.has(ns) ? { ...healthy, errorRate: 0.5 } : healthy));
  const identity = b.identities.get(tool.key)!;
  const group = new ProcessGroup(path.join(b.cluster.cp.dir, 'logs', ns));
  group.armWatchdog(process.pid);
  activeGroups.add(group);
  const abort = new AbortController();
  try {
    const { pid, metricsUrl } = await tool.launch(group, identity.kubeconfigPath, settings);
    const proc = group.processes.find((p) => p.pid === pid)!;
    const capMs = settings.many ? RUN_CAP_MS.many : RUN_CAP_MS.one;
    const run = fn({ cluster: b.cluster, tool, pid, metricsUrl, user: identity.user, settings, rollouts, signal: abort.signal, capMs });
    // After a crash the run's waits throw on the aborted signal; nothing is left to read from them.
    run.catch(() => undefined);
    const outcome = await Promise.race([run.then((value) => ({ value })), watchExit(proc).then((exit) => ({ exit }))]);
    if ('value' in outcome) return outcome.value;
    abort.abort();
    // Ctrl-C stops the controllers too: that is not a crash, and the signal handler is already reporting.
    if (interrupted) return await new Promise<never>(() => undefined);
    const line = crashLine(tool.label, outcome.exit, proc.logFile);
    console.error(`\n${line}`);
    return { failed: 'crashed', line: line.split('\n')[0]! };
  } catch (err) {
    if (interrupted) throw err;
    if (err instanceof DidNotHoldUp) {
      console.error(`\n${tool.label} ${label}: ${err.message}`);
      return { failed: 'did not hold up', line: err.message };
    }
    // Any other failure of one tool's run (a wait past its timeout, a refused object) is that tool's: the others carry on.
    const line = `failed: ${(err as Error).message.split('\n')[0]}; its log: ${group.processes.map((p) => p.logFile).join(', ')}`;
    console.error(`\n${tool.label} ${label} ${line}`);
    return { failed: 'failed', line };
  } finally {
    abort.abort();
    await group.stopAll();
    activeGroups.delete(group);
    b.standIn.unfollow(ns);
    await core.deleteNamespace({ name: ns });
    // GPUs are shared by every run: the next one needs this run's pods gone.
    // Not fatal: at N = 1,000 on a busy machine deletion can lag; the next run then starts with fewer free GPUs, as said here.
    await waitFor(
      `${ns}: pods gone`,
      async () => ((await core.listNamespacedPod({ namespace: ns })).items.length === 0 ? true : undefined),
      600_000,
      1000,
    ).catch((err: unknown) => console.error(`\n${String(err)}: the next run starts beside them`));
  }
}

const mib = (bytes: number) => bytes / 2 ** 20;

/** One row per tool and run: its figures, or, when its run failed, its "crashed" / "did not hold up" cell and why. */
function pushRow<T extends object>(rows: Row[], tool: Tool, run: number, res: T | Failed, row: (res: T) => Pick<Row, 'values' | 'note'>): void {
  rows.push(isFailed(res) ? { tool: tool.label, run, values: {}, failed: res.failed, note: res.line } : { tool: tool.label, run, ...row(res) });
}

async function scenarioHealthy(b: Bench): Promise<void> {
  const rows: Row[] = [];
  for (let run = 1; run <= runs; run++)
    for (const tool of tools) {
      const res = await withTool(b, tool, `s1-r${run}`, 1, settingsFor(b), promote);
      pushRow(rows, tool, run, res, (res) => ({
        values: {
          'to 100 % (s)': res.seconds,
          'API requests / step': res.requestsPerStep,
          'API requests / step until old pods gone': res.requestsPerStepToRelease,
          "same, with the Deployment controller's for it": res.requestsPerStepToRelease + res.deploymentControllerPerStep,
          'CPU s': res.usage.cpuSeconds,
          'CPU s until old pods gone': res.usageToRelease.cpuSeconds,
          'peak RSS (MiB)': mib(res.usage.peakRssBytes),
          'GPU-seconds held': res.gpuSeconds,
          'GPU-s until old pods gone': res.gpuSecondsToRelease,
          'peak GPUs held': res.peakGpus,
        },
        note: `old pods gone ${res.releasedAfterSeconds.toFixed(1)} s after settled; ${verbs(res.usage.byVerb)}`,
      }));
    }
  printTable('Scenario 1: healthy candidate, 1→5→20→50→100 %, 10 s steps, 4 replicas (lower is better)', rows);
}

async function scenarioBreach(b: Bench): Promise<void> {
  const rows: Row[] = [];
  for (let run = 1; run <= runs; run++)
    for (const tool of tools) {
      const label = `s2-r${run}`;
      const res = await withTool(b, tool, label, 1, settingsFor(b), (ctx) =>
        rollbackAt(ctx, 20, () => b.broken.add(ctx.rollouts[0]!.ns), b.prometheus.address),
      );
      pushRow(rows, tool, run, res, (res) => ({
        values: {
          'breach visible → 0 % candidate (s)': res.seconds,
          'API requests, change → 0 % candidate': res.usage.requests,
          "same, with the Deployment controller's for it": res.usage.requests + res.usage.deploymentControllerRequests,
        },
        note: `breach visible ${res.visibleAfterSeconds.toFixed(1)} s after it began`,
      }));
    }
  printTable('Scenario 2: 50 % server errors from the 20 % step on (lower is better)', rows);
}

async function scenarioSlowPods(b: Bench): Promise<void> {
  const rows: Row[] = [];
  for (let run = 1; run <= runs; run++)
    for (const tool of tools) {
      const settings = settingsFor(b, { podAnnotations: SLOW_READY });
      const res = await withTool(b, tool, `s3-r${run}`, 1, settings, async (ctx) => {
        const r = ctx.rollouts[0]!;
        await settleOnV1(ctx);
        const { kc } = ctx.cluster;
        const drive = (async () => {
          await tool.setVersion(kc, r, settings, settings.candidateVersion);
          const last = tool.lastStepWeight;
          await waitFor(
            `${tool.label}: candidate at ${last} %`,
            async () => ((await tool.candidateWeight(kc, r)) >= last ? true : undefined),
            900_000,
            100,
            ctx.signal,
          );
          b.broken.add(r.ns);
          await waitBackOnStable(ctx);
        })();
        const gpus = gpuMeter(ctx);
        const capacity = await sampleCapacity(ctx, drive).finally(() => drive);
        const gpuSecondsAtStable = gpus.sofar();
        const releasedAfterSeconds = await waitPodsReleased(ctx);
        const { gpuSeconds, peakGpus } = await gpus.stop();
        return { ...capacity, gpuSeconds: gpuSecondsAtStable, gpuSecondsToRelease: gpuSeconds, peakGpus, releasedAfterSeconds };
      });
      pushRow(rows, tool, run, res, (res) => ({
        values: {
          'traffic beyond ready capacity (req·s)': res.excessRequestSeconds,
          'worst share without ready replicas (%)': res.worstShare * 100,
          'GPU-seconds held': res.gpuSeconds,
          'GPU-s until old pods gone': res.gpuSecondsToRelease,
          'peak GPUs held': res.peakGpus,
        },
        note: `candidate pods gone ${res.releasedAfterSeconds.toFixed(1)} s after back on stable; last step ${tool.lastStepWeight} %; change → back on stable ${res.seconds.toFixed(0)} s; short of ready capacity for ${res.shortSeconds.toFixed(1)} s; worst at ${res.worstMoment}`,
      }));
    }
  printTable('Scenario 3: 20–22 s readiness, breach at the last step; load 1 req/s per replica (lower is better)', rows);
}

async function scenarioScale(b: Bench): Promise<void> {
  const rows: Row[] = [];
  for (let run = 1; run <= runs; run++)
    for (const tool of tools) {
      const res = await withTool(b, tool, `s4-r${run}`, scaleN, settingsFor(b, { replicas: 1, many: true }), promote);
      pushRow(rows, tool, run, res, (res) => ({
        values: {
          'all promoted (s)': res.seconds,
          'API requests / step': res.requestsPerStep,
          'API requests / step until old pods gone': res.requestsPerStepToRelease,
          "same, with the Deployment controller's for it": res.requestsPerStepToRelease + res.deploymentControllerPerStep,
          'CPU s': res.usage.cpuSeconds,
          'CPU s until old pods gone': res.usageToRelease.cpuSeconds,
          'peak RSS (MiB)': mib(res.usage.peakRssBytes),
          'GPU-seconds held': res.gpuSeconds,
          'GPU-s until old pods gone': res.gpuSecondsToRelease,
          ...(res.reconcile ? { 'reconcile p50 (ms)': res.reconcile.p50 * 1000, 'reconcile p99 (ms)': res.reconcile.p99 * 1000 } : {}),
        },
        note: `${res.reconcile ? `${res.reconcile.count} reconciles; ${floorNote(res.reconcile.floors)}` : 'reconcile latency: not exposed; '}${verbs(res.usage.byVerb)}; ${res.scrapes}`,
      }));
    }
  printTable(`Scenario 4: ${scaleN} rollouts at once, 1 replica each, 10 s steps, each tool capped at ${capMinutes} min (lower is better)`, rows);
}

/** Quantiles past the controller's top finite histogram bucket print that bound: say it is a floor. */
function floorNote(floors: string[]): string {
  return floors.length ? `reconcile ${floors.join(', ')} beyond its histogram's top finite bucket: the figure is a floor (≥); ` : '';
}

function verbs(byVerb: Record<string, number>): string {
  return Object.entries(byVerb)
    .sort((a, b) => b[1] - a[1])
    .map(([v, c]) => `${v} ${c}`)
    .join(', ');
}

function printSettings(b: Bench): void {
  const s = settingsFor(b);
  console.log(`\nVersions and settings (same control plane, Prometheus ${metricsPlan.scrapeMs / 1000} s scrape, stand-in backends, one tool at a time):`);
  console.log(`- the bench: ${benchLines(s).join('; ')}`);
  for (const tool of tools) {
    console.log(`- ${tool.label} ${tool.version}`);
    for (const line of tool.settings(s)) console.log(`    ${line}`);
  }
}

/** What the bench itself does that grows with N (scripts/bench-peer/scale.ts): every tool sees the same. */
function benchLines(s: BenchSettings): string[] {
  return [
    `Prometheus scrape interval and timeout ${metricsPlan.scrapeMs / 1000} s (1 s up to N = 100, longer with N, at most a quarter of the ${s.windowSeconds} s query window)`,
    `metrics stand-in on ${metricsPlan.pages} target${metricsPlan.pages === 1 ? '' : 's'}, following the pods every ${metricsPlan.podRefreshMs / 1000} s; a gone pod's series leave its page${metricsPlan.latencyHistogram ? '' : '; request counters only (the latency histogram, which no query here reads, is left out above N = 100)'}`,
    ...(scenarios.includes(4)
      ? [
          `scenario 4: 1 replica per rollout (the replicas named below are scenarios 1–3's), the GPU meter lists the pods every ${gpuSampleMs(scaleN) / 1000} s, the rollouts are listed every ${listPollMs(scaleN) / 1000} s to see which are settled`,
        ]
      : []),
  ];
}

/** The binaries and CRDs of the selected peers only: `--tools modelrollout,flagger` needs no Argo Rollouts build. */
function peerFiles(): { binaries: string[]; crds: string[] } {
  // binaries: what must exist (the Argo CRD directory too); crds: the files to install.
  const keys = new Set(tools.map((t) => t.key));
  const argo = keys.has('argo');
  const flagger = keys.has('flagger');
  return {
    binaries: [...(argo ? [peerPaths.argo, peerPaths.argoCrds] : []), ...(flagger ? [peerPaths.flagger] : [])],
    crds: [
      ...(argo && fs.existsSync(peerPaths.argoCrds) ? fs.readdirSync(peerPaths.argoCrds).map((f) => path.join(peerPaths.argoCrds, f)) : []),
      ...(flagger ? [peerPaths.flaggerCrds] : []),
    ],
  };
}

function checkBinaries(): void {
  const missing = [...peerFiles().binaries, ...peerFiles().crds].filter((p) => !fs.existsSync(p));
  if (missing.length) {
    console.error(`peer binaries missing (${missing.join(', ')}): run npm run peers:build (bash hack/build-peers.sh)`);
    process.exit(1);
  }
}

// What to stop, newest first, when the run ends, fails or is interrupted. Ctrl-C (SIGINT) or SIGTERM used to end
// the process at once: the watchdogs stopped the processes, but the scratch directory (control plane, audit
// log: ~70 MB) and Prometheus's were left in the temp dir on every interrupted run.
const cleanups: (() => Promise<void>)[] = [];
const activeGroups = new Set<ProcessGroup>();

let cleaning: Promise<void> | undefined;
let interrupted = false;

/** Once: the signal handler and main's finally (the interrupted scenario fails too) share one clean-up. */
function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    for (const group of activeGroups) await group.stopAll().catch(() => undefined);
    for (const step of cleanups.splice(0).reverse()) await step().catch((err: unknown) => console.error(`clean-up: ${String(err)}`));
  })();
  return cleaning;
}

// `on`, not `once`: Ctrl-C reaches this process twice (from the terminal, and relayed by the tsx wrapper that
// got it too); with `once` the second one killed the process in the middle of the clean-up.
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\n${sig}: stopping the controller, the control plane and Prometheus; removing the scratch directory…`);
    void cleanUp().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  });

async function main(): Promise<void> {
  checkBinaries();
  console.log('building the operator (tsc -p operator/tsconfig.json)…');
  execFileSync(process.execPath, [path.join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', path.join(repoRoot, 'operator/tsconfig.json')], {
    stdio: 'inherit',
  });
  const nodes = Math.max(4, Math.ceil((scenarios.includes(4) ? scaleN * 2 : 16) / 32));
  const cluster = await startBenchCluster({ count: nodes, gpusPerNode: 32 });
  cleanups.push(async () => {
    await cluster.cp.stop();
    if (opts.keep) console.log(`\nlogs kept in ${path.dirname(cluster.cp.dir)}`);
    else fs.rmSync(path.dirname(cluster.cp.dir), { recursive: true, force: true });
  });
  const standIn = new ModelMetricsStandIn({
    shards: metricsPlan.pages,
    latencyHistogram: metricsPlan.latencyHistogram,
    // Nothing here reads served(); kept, it grows by 40 entries per pod and second for the whole run.
    keepLog: false,
    // Each run's pods leave the pages with them: a later tool's scrapes do not carry an earlier tool's series.
    dropGoneSeries: true,
    podRefreshMs: metricsPlan.podRefreshMs,
  });
  try {
    await installCrds(cluster.kc, peerFiles().crds);
    await standIn.start();
    cleanups.push(() => standIn.stop());
    const prometheus = await startPrometheus(standIn.targets, `${metricsPlan.scrapeMs}ms`);
    cleanups.push(() => prometheus.stop());
    const identities = new Map<string, { user: string; kubeconfigPath: string }>();
    for (const tool of tools) identities.set(tool.key, await controllerIdentity(cluster, tool.key));
    const b: Bench = { cluster, prometheus, standIn, identities, broken: new Set() };
    printSettings(b);
    if (scenarios.includes(1)) await scenarioHealthy(b);
    if (scenarios.includes(2)) await scenarioBreach(b);
    if (scenarios.includes(3)) await scenarioSlowPods(b);
    if (scenarios.includes(4)) await scenarioScale(b);
  } finally {
    await cleanUp();
  }
}

// An interrupted run's scenario fails as its control plane goes away: the signal handler reports and exits.
await main().catch((err: unknown) => {
  if (interrupted) return new Promise<never>(() => undefined);
  throw err;
});
