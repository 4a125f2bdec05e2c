// Pods that are real processes (issue 15): kwok pods annotated modelrollout.dev/test-runner=process are
// served by the real inference runtime on their pod IP. Readiness is the runtime's own readiness probe
// (model load and warm-up), a killed process is a container restart, a deleted pod's process stops, and
// kube-controller-manager's EndpointSlices follow the pods.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { buildTinyModel } from '../../inference-image/scripts/lib/tiny-model.js';
import { LABEL_MODEL_VERSION } from '../../operator/src/api/index.js';
import { GPU_TOLERATION } from '../env/gpu-nodes.js';
import { TEST_RUNNER_ANNOTATION, TEST_RUNNER_PROCESS } from '../env/kwok-stages.js';
import { inferenceRuntimeCommand } from '../env/pod-commands.js';
import { startPodRunner, type PodProcessInfo, type PodRunner, type RestartBackoff } from '../env/pod-runner.js';
import { revisionSelector } from '../env/chaos-actions.js';
import { formatViolation } from '../env/invariant.js';
import { InvariantSampler } from '../env/invariant-sampler.js';
import { isAlive } from '../env/process-group.js';
import { startOperator } from './operator-process.js';
import { RolloutFixture } from './rollout-fixtures.js';
import { createGpuDeployment, kubeConfig, testNamespace, waitUntil } from './support.js';

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const apps = kc.makeApiClient(k8s.AppsV1Api);
const discovery = kc.makeApiClient(k8s.DiscoveryV1Api);
const MODEL_VERSION = 'v1-pods';
const LOAD_TIMEOUT_MS = 180_000;

let tmp: string;
const modelDirs: Record<string, string> = {};
let runner: PodRunner;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'modelrollout-pod-runner-'));
  for (const version of [MODEL_VERSION, 'v2']) {
    modelDirs[version] = path.join(tmp, `model-${version}`);
    buildTinyModel(modelDirs[version], { version });
  }
});

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** A runner for the test's namespace (each test its own network namespace), stopped when the test ends. */
async function startRunner(ns: string, backoff?: Partial<RestartBackoff>): Promise<PodRunner> {
  // The operator labels each pod with its model version; a plain Deployment's pods get MODEL_VERSION.
  const modelDir = (pod: k8s.V1Pod) => modelDirs[pod.metadata?.labels?.[LABEL_MODEL_VERSION] ?? MODEL_VERSION]!;
  runner = await startPodRunner(kc, {
    namespace: ns,
    command: inferenceRuntimeCommand({ modelDir }),
    logDir: path.join(tmp, 'logs', ns),
    ...(backoff ? { backoff } : {}),
  });
  onTestFinished(() => runner.stop());
  return runner;
}

async function processDeployment(ns: string, name: string, replicas: number): Promise<void> {
  await core.createNamespacedService({
    namespace: ns,
    body: { metadata: { name }, spec: { selector: { app: name }, ports: [{ port: 80, targetPort: 'http' }] } },
  });
  await createGpuDeployment(kc, ns, name, replicas, {
    annotations: { [TEST_RUNNER_ANNOTATION]: TEST_RUNNER_PROCESS },
    tolerations: [GPU_TOLERATION],
    terminationGracePeriodSeconds: 5,
    container: {
      ports: [{ name: 'http', containerPort: 8080 }],
      env: [
        { name: 'T2V_MODEL_DIR', value: '/models/current' },
        { name: 'T2V_MAX_QUEUE', value: '2' },
        { name: 'MODELROLLOUT_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      ],
      readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 1, failureThreshold: 1 },
    },
  });
}

async function livePods(ns: string, app: string): Promise<k8s.V1Pod[]> {
  return (await core.listNamespacedPod({ namespace: ns, labelSelector: `app=${app}` })).items.filter((p) => !p.metadata?.deletionTimestamp);
}

const isReady = (p: k8s.V1Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
const readySince = (p: k8s.V1Pod) => new Date(p.status!.conditions!.find((c) => c.type === 'Ready')!.lastTransitionTime!).getTime();

async function allReady(ns: string, app: string, count: number): Promise<k8s.V1Pod[]> {
  return waitUntil(
    `${count} ${app} pods Ready`,
    async () => {
      const pods = await livePods(ns, app);
      return pods.length === count && pods.every(isReady) ? pods : undefined;
    },
    LOAD_TIMEOUT_MS,
    500,
  );
}

function processOf(pod: k8s.V1Pod): PodProcessInfo | undefined {
  return runner.processes().find((p) => p.uid === pod.metadata!.uid);
}

async function endpoints(ns: string, service: string): Promise<k8s.V1Endpoint[]> {
  const slices = await discovery.listNamespacedEndpointSlice({ namespace: ns, labelSelector: `kubernetes.io/service-name=${service}` });
  return slices.items.flatMap((s) => s.endpoints ?? []);
}

/** Every (address, ready) an EndpointSlice of `service` listed while the recorder ran. */
async function recordEndpoints(ns: string, service: string): Promise<{ seen: { ip: string; ready: boolean | undefined }[]; stop(): void }> {
  const seen: { ip: string; ready: boolean | undefined }[] = [];
  const abort = await new k8s.Watch(kc).watch(
    `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`,
    { labelSelector: `kubernetes.io/service-name=${service}` },
    (_type: string, slice: k8s.V1EndpointSlice) => {
      for (const e of slice.endpoints ?? []) for (const ip of e.addresses) seen.push({ ip, ready: e.conditions?.ready });
    },
    () => undefined,
  );
  return { seen, stop: () => abort.abort() };
}

/**
 * For every pod event that says Ready=True: whether the runner's process had passed its readiness probe
 * by the time the event arrived. kwok (or anything else) marking a pod Ready early shows up as false.
 */
async function recordReadyEvents(ns: string): Promise<{ seen: { pod: string; processWasReady: boolean }[]; stop(): void }> {
  const seen: { pod: string; processWasReady: boolean }[] = [];
  const abort = await new k8s.Watch(kc).watch(
    `/api/v1/namespaces/${ns}/pods`,
    {},
    (_type: string, pod: k8s.V1Pod) => {
      if (isReady(pod)) seen.push({ pod: pod.metadata!.name!, processWasReady: processOf(pod)?.readyAt !== undefined });
    },
    () => undefined,
  );
  return { seen, stop: () => abort.abort() };
}

describe('pods that are real processes', () => {
  it('become Ready only when their process passes its readiness probe, and serve generations on the pod IP', async () => {
    const ns = await testNamespace(kc, 'pods-ready');
    await startRunner(ns);
    const readyEvents = await recordReadyEvents(ns);
    await processDeployment(ns, 't2v', 2);

    // While the model loads, the pod has an IP and a process but is not Ready (kwok's timed stage skips it).
    const loading = await waitUntil('a process started', async () => (await livePods(ns, 't2v')).find((p) => processOf(p)?.pid !== undefined), 60_000);
    const loadingNow = await core.readNamespacedPod({ namespace: ns, name: loading.metadata!.name! });
    if (processOf(loadingNow)?.readyAt === undefined) expect(isReady(loadingNow)).toBe(false);

    const pods = await allReady(ns, 't2v', 2);
    readyEvents.stop();
    expect(readyEvents.seen.length).toBeGreaterThan(0);
    expect(readyEvents.seen.filter((e) => !e.processWasReady)).toEqual([]);
    for (const pod of pods) {
      const proc = processOf(pod)!;
      expect(proc).toMatchObject({ ip: pod.status!.podIP, port: 8080, restarts: 0, ready: true });
      expect(isAlive(proc.pid!)).toBe(true);
      // Ready=True was written after the process started and passed its probe (timestamps are whole seconds).
      expect(proc.readyAt!).toBeGreaterThan(proc.startedAt!);
      expect(readySince(pod)).toBeGreaterThanOrEqual(Math.floor(proc.startedAt! / 1000) * 1000);
      expect(pod.status?.containerStatuses?.[0]).toMatchObject({ ready: true, restartCount: 0, state: { running: expect.any(Object) } });
      console.log(
        `[pod-runner] ${pod.metadata!.name} on ${proc.ip}: ready ${((proc.readyAt! - proc.startedAt!) / 1000).toFixed(1)} s after start, RSS ${Math.round((proc.rssBytes ?? 0) / 2 ** 20)} MiB`,
      );

      // The pod's env reached the process: the downward-API namespace labels its metrics.
      const health = (await (await fetch(`http://${proc.ip}:8080/healthz`)).json()) as { ready: boolean; model: { version: string } };
      expect(health).toMatchObject({ ready: true, model: { version: MODEL_VERSION } });
      const metrics = await (await fetch(`http://${proc.ip}:8080/metrics`)).text();
      expect(metrics).toContain(`namespace="${ns}"`);
    }

    const clip = await fetch(`http://${pods[0]!.status!.podIP}:8080/v1/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'a red cat running on the beach', seconds: 1, seed: 7 }),
    });
    expect(clip.status).toBe(200);
    expect(clip.headers.get('content-type')).toBe('video/mp4');
    expect((await clip.arrayBuffer()).byteLength).toBeGreaterThan(0);

    // kube-controller-manager lists exactly the pod IPs, ready.
    const ips = pods.map((p) => p.status!.podIP).sort();
    const listed = await waitUntil('EndpointSlice lists both pods ready', async () => {
      const eps = await endpoints(ns, 't2v');
      return eps.length === 2 && eps.every((e) => e.conditions?.ready) ? eps : undefined;
    });
    expect(listed.flatMap((e) => e.addresses).sort()).toEqual(ips);
    expect(runner.errors).toEqual([]);
  });

  it('shows a killed process as a container restart (unready, endpoint not ready, restarted, Ready again) and a second kill as CrashLoopBackOff', async () => {
    const ns = await testNamespace(kc, 'pods-kill');
    await startRunner(ns, { initialMs: 3000 });
    await processDeployment(ns, 't2v', 2);
    const [victim, bystander] = await allReady(ns, 't2v', 2);
    const before = processOf(victim!)!;
    const recorder = await recordEndpoints(ns, 't2v');

    process.kill(before.pid!, 'SIGKILL');
    const restarted = await waitUntil('victim restartCount 1', async () => {
      const p = await core.readNamespacedPod({ namespace: ns, name: victim!.metadata!.name! });
      return p.status?.containerStatuses?.[0]?.restartCount === 1 ? p : undefined;
    });
    expect(isReady(restarted)).toBe(false);
    expect(restarted.status?.containerStatuses?.[0]?.lastState?.terminated).toMatchObject({ exitCode: 137, signal: 9, reason: 'Error' });
    expect(isAlive(before.pid!)).toBe(false);

    const back = await waitUntil(
      'victim Ready again',
      async () => {
        const p = await core.readNamespacedPod({ namespace: ns, name: victim!.metadata!.name! });
        return isReady(p) ? p : undefined;
      },
      LOAD_TIMEOUT_MS,
      500,
    );
    const after = processOf(back)!;
    expect(after.pid).not.toBe(before.pid);
    expect(after).toMatchObject({ ip: before.ip, restarts: 1, ready: true });
    expect((await fetch(`http://${after.ip}:8080/readyz`)).status).toBe(200);
    await waitUntil('victim endpoint ready again', async () =>
      (await endpoints(ns, 't2v')).find((e) => e.addresses.includes(after.ip))?.conditions?.ready ? true : undefined,
    );
    recorder.stop();
    // The endpoint went unready in between; the bystander never did.
    expect(recorder.seen.some((e) => e.ip === before.ip && e.ready === false)).toBe(true);
    expect(recorder.seen.filter((e) => e.ip === bystander!.status!.podIP).every((e) => e.ready === true)).toBe(true);
    expect(processOf(bystander!)).toMatchObject({ restarts: 0, ready: true, pid: processOf(bystander!)!.pid });

    // A second exit soon after the first is a crash loop: the kubelet (and the runner) backs off first.
    process.kill(after.pid!, 'SIGKILL');
    const looping = await waitUntil('victim in CrashLoopBackOff', async () => {
      const p = await core.readNamespacedPod({ namespace: ns, name: victim!.metadata!.name! });
      return p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff' ? p : undefined;
    });
    expect(looping.status?.containerStatuses?.[0]).toMatchObject({ restartCount: 2, ready: false });
    expect(processOf(looping)?.pid).toBeUndefined();
    await waitUntil(
      'victim Ready after the back-off',
      async () => (isReady(await core.readNamespacedPod({ namespace: ns, name: victim!.metadata!.name! })) ? true : undefined),
      LOAD_TIMEOUT_MS,
      500,
    );
    expect(processOf(looping)).toMatchObject({ restarts: 2, ready: true });
    expect(runner.errors).toEqual([]);
  });

  it('stops the process of a deleted pod and of every pod a scale-down removes', async () => {
    const ns = await testNamespace(kc, 'pods-stop');
    await startRunner(ns);
    await processDeployment(ns, 't2v', 1);
    const [pod] = await allReady(ns, 't2v', 1);
    const first = processOf(pod!)!;

    await core.deleteNamespacedPod({ namespace: ns, name: pod!.metadata!.name! });
    await waitUntil("deleted pod's process gone", async () => (!isAlive(first.pid!) && !processOf(pod!) ? true : undefined));
    // The Deployment replaces the pod; its process starts on the new pod's IP (kwok may hand out the old one again).
    const [replacement] = await allReady(ns, 't2v', 1);
    const second = processOf(replacement!)!;
    expect(replacement!.metadata!.uid).not.toBe(pod!.metadata!.uid);
    expect(second.ip).toBe(replacement!.status!.podIP);
    expect((await fetch(`http://${second.ip}:8080/readyz`)).status).toBe(200);

    await apps.patchNamespacedDeploymentScale(
      { namespace: ns, name: 't2v', body: { spec: { replicas: 0 } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await waitUntil('no process left in the namespace', async () =>
      runner.processes().every((p) => p.namespace !== ns) && !isAlive(second.pid!) ? true : undefined,
    );
    expect(runner.errors).toEqual([]);
  });

  it('a candidate process killed mid-step: the pod restarts, the operator drops its weight while it is unready, then goes on', async () => {
    const ns = await testNamespace(kc, 'pods-rollout');
    await startRunner(ns);
    const fx = new RolloutFixture(kc, ns, 't2v', 'wan-t2v', 'gateway-api');
    await fx.createRoute();
    const sampler = await InvariantSampler.start(kc, { namespace: ns, rollout: 't2v' });
    onTestFinished(async () => void (await sampler.stop().catch(() => undefined)));
    await startOperator(inject('kubeconfigPath'), ns);
    const template = {
      metadata: { annotations: { [TEST_RUNNER_ANNOTATION]: TEST_RUNNER_PROCESS } },
      spec: {
        tolerations: [GPU_TOLERATION],
        terminationGracePeriodSeconds: 5,
        // A GPU model takes minutes to load; the small one a second. initialDelaySeconds keeps a (re)started
        // container unready for a while, as the kubelet does, so the operator has something to react to.
        containers: [
          {
            name: 'server',
            image: 'example.invalid/t2v:v1',
            ports: [{ name: 'http', containerPort: 8080 }],
            readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, initialDelaySeconds: 10, periodSeconds: 1, failureThreshold: 1 },
          },
        ],
      },
    };
    await fx.create(fx.spec({ replicas: 2, strategy: { steps: [50, 100], stepDuration: '10s', progressDeadline: '5m' }, template }, MODEL_VERSION));
    await fx.waitFor('stable Ready', (r) => fx.condition(r, 'Ready')?.status === 'True', LOAD_TIMEOUT_MS);
    await fx.patch({
      spec: {
        model: { name: fx.modelName, version: 'v2' },
        template: { spec: { containers: [{ ...template.spec.containers[0], image: 'example.invalid/t2v:v2' }] } },
      },
    });
    const at50 = await fx.waitFor('50 % on the candidate', (r) => r.status?.weights?.candidate === 50, LOAD_TIMEOUT_MS);
    const candidate = at50.status!.candidate!.revision;

    const [victimPod] = (await core.listNamespacedPod({ namespace: ns, labelSelector: revisionSelector('t2v', candidate) })).items.filter(isReady);
    const victim = processOf(victimPod!)!;
    expect(victim).toMatchObject({ ready: true, restarts: 0 });
    // The candidate's model version reached the process (the operator's pod labels chose its model).
    expect(await (await fetch(`http://${victim.ip}:8080/healthz`)).json()).toMatchObject({ model: { version: 'v2' } });
    // Stable was shrunk to its 50 % share, so it is short too until its scale-up is ready (as in capacity.test.ts).
    sampler.excuse(['t2v-candidate', 't2v-stable'], 60_000, 'candidate process killed', { startWithinMs: 15_000 });
    process.kill(victim.pid!, 'SIGKILL');

    const dropped = await fx.waitFor('candidate weight 0', (r) => r.status?.weights?.candidate === 0, 30_000);
    expect(dropped.status?.history?.some((h) => h.reason === 'CandidateCapacityLost')).toBe(true);
    expect(await fx.weights()).toEqual([100, 0]);
    const restarted = await core.readNamespacedPod({ namespace: ns, name: victimPod!.metadata!.name! });
    // One exit is a restart, not a crash loop: the operator does not roll back for it.
    expect(restarted.status?.containerStatuses?.[0]).toMatchObject({ restartCount: 1, lastState: { terminated: { exitCode: 137 } } });
    expect(restarted.status?.containerStatuses?.[0]?.state?.waiting?.reason).not.toBe('CrashLoopBackOff');

    const done = await fx.waitFor(
      'promotion once the restarted candidate is ready',
      (r) => r.status?.stable?.revision === candidate && fx.condition(r, 'Ready')?.status === 'True',
      LOAD_TIMEOUT_MS,
    );
    expect(done.status?.phase).toBe('Healthy');
    expect(processOf(restarted)).toMatchObject({ restarts: 1, ip: victim.ip });
    const report = await sampler.stop();
    expect(report.errors).toEqual([]);
    expect(report.counted.map(formatViolation)).toEqual([]);
    expect(runner.errors).toEqual([]);
  });
});
