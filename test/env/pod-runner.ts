// Pods that are real processes: a small local kubelet for kwok pods annotated
// `modelrollout.dev/test-runner: process`. For each such pod, once bound and given an IP by kwok, it
// makes the IP reachable (pod-network.ts), starts one process with the pod's env bound to podIP:port,
// and owns the pod's status from then on: Ready follows the container's readiness probe, an exit is a
// container restart (restartCount, lastState, CrashLoopBackOff back-off), and a deleted pod's process is
// stopped. kube-controller-manager builds the EndpointSlices from those pods as from any other.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { TEST_RUNNER_ANNOTATION, TEST_RUNNER_PROCESS } from './kwok-stages.js';
import { containerEnv, mainContainer, readinessProbe, servingPort } from './pod-env.js';
import { createPodNetwork, type PodNetwork } from './pod-network.js';
import { PodProcess, type PodCommand, type PodProcessInfo, type RestartBackoff } from './pod-process.js';
import { ProcessGroup } from './process-group.js';

export type { PodCommand, PodProcessInfo, RestartBackoff } from './pod-process.js';

/** pkg/kubelet/kubelet.go: backOffPeriod 10 s, MaxContainerBackOff 5 min; the back-off is forgotten after 2 × max. */
export const KUBELET_BACKOFF: RestartBackoff = { initialMs: 10_000, maxMs: 300_000, resetMs: 600_000 };

export interface PodCommandContext {
  ip: string;
  port: number;
  /** The container's env as the kubelet would resolve it (values and downward-API fields). */
  env: Record<string, string>;
}

export interface PodRunnerOptions {
  /** Only pods of this namespace (all namespaces by default). */
  namespace?: string;
  /** What to run for a pod; e.g. inferenceRuntimeCommand(...) (pod-commands.ts). */
  command: (pod: k8s.V1Pod, ctx: PodCommandContext) => PodCommand;
  /** Process logs (`<namespace>.<pod>.log`, appended across restarts); a temp dir by default. */
  logDir?: string;
  /**
   * Restart back-off after an exit: the first restarts at once, each further one within `resetMs` waits
   * `initialMs` doubled per crash up to `maxMs` (CrashLoopBackOff). Default: the kubelet's 10 s / 5 min / 10 min.
   */
  backoff?: Partial<RestartBackoff>;
  /** Cap on the pod's terminationGracePeriodSeconds when stopping its process (SIGTERM → SIGKILL). */
  maxGraceMs?: number;
  log?: (line: string) => void;
}

export interface PodRunner {
  network: PodNetwork;
  logDir: string;
  /** One entry per pod the runner serves now. */
  processes(): PodProcessInfo[];
  /** Failures the runner met (status writes, watch ends, unsupported env); a test can assert it empty. */
  errors: string[];
  stop(): Promise<void>;
}

/** Whether a pod asks to be served by a real process. */
export function isProcessPod(pod: k8s.V1Pod): boolean {
  return pod.metadata?.annotations?.[TEST_RUNNER_ANNOTATION] === TEST_RUNNER_PROCESS;
}

export async function startPodRunner(kc: k8s.KubeConfig, opts: PodRunnerOptions): Promise<PodRunner> {
  const network = await createPodNetwork();
  const logDir = opts.logDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'modelrollout-pods-'));
  const group = new ProcessGroup(logDir);
  group.armWatchdog(process.pid);
  const runner = new Runner(kc, opts, network, group);
  try {
    await runner.start();
  } catch (err) {
    await runner.stop();
    throw err;
  }
  return { network, logDir, errors: runner.errors, processes: () => runner.infos(), stop: () => runner.stop() };
}

class Runner {
  readonly errors: string[] = [];
  private readonly slots = new Map<string, PodProcess>();
  private readonly core: k8s.CoreV1Api;
  private abort: AbortController | undefined;
  private stopped = false;

  constructor(
    private readonly kc: k8s.KubeConfig,
    private readonly opts: PodRunnerOptions,
    private readonly network: PodNetwork,
    private readonly group: ProcessGroup,
  ) {
    this.core = kc.makeApiClient(k8s.CoreV1Api);
  }

  async start(): Promise<void> {
    await this.relistAndWatch();
  }

  infos(): PodProcessInfo[] {
    return [...this.slots.values()].filter((s) => !s.terminating).map((s) => s.info());
  }

  private get path(): string {
    return this.opts.namespace ? `/api/v1/namespaces/${this.opts.namespace}/pods` : '/api/v1/pods';
  }

  /** List, reconcile every pod (and forget pods gone meanwhile), then watch from the list's revision. */
  private async relistAndWatch(): Promise<void> {
    if (this.stopped) return;
    const list = this.opts.namespace ? await this.core.listNamespacedPod({ namespace: this.opts.namespace }) : await this.core.listPodForAllNamespaces();
    const seen = new Set(list.items.map((p) => p.metadata?.uid));
    for (const [uid, slot] of this.slots) if (!seen.has(uid)) this.terminate(slot);
    for (const pod of list.items) this.onPod('MODIFIED', pod);
    const onDone = (err: unknown) => {
      if (this.stopped) return;
      if (err) this.errors.push(`pod watch ended: ${String(err)}; relisting`);
      setTimeout(() => void this.relistAndWatch().catch((e: unknown) => onDone(e)), 500);
    };
    this.abort = await new k8s.Watch(this.kc).watch(
      this.path,
      { resourceVersion: list.metadata?.resourceVersion, allowWatchBookmarks: true },
      (type: string, pod: k8s.V1Pod) => {
        if (type === 'ERROR') this.errors.push(`pod watch error: ${JSON.stringify(pod).slice(0, 300)}`);
        else if (type !== 'BOOKMARK') this.onPod(type, pod);
      },
      onDone,
    );
  }

  private onPod(type: string, pod: k8s.V1Pod): void {
    if (this.stopped || !isProcessPod(pod)) return;
    const uid = pod.metadata!.uid!;
    const slot = this.slots.get(uid);
    if (type === 'DELETED' || pod.metadata?.deletionTimestamp) {
      if (slot) this.terminate(slot);
      return;
    }
    if (slot) {
      slot.pod = pod;
      return;
    }
    const ip = pod.status?.podIP;
    if (!ip || !pod.spec?.nodeName) return;
    this.slots.set(uid, this.newSlot(pod, ip));
  }

  private newSlot(pod: k8s.V1Pod, ip: string): PodProcess {
    const container = mainContainer(pod);
    const port = servingPort(container);
    const { env, unsupported } = containerEnv(pod, container);
    const name = `${pod.metadata!.namespace}/${pod.metadata!.name}`;
    if (unsupported.length > 0) this.errors.push(`${name}: env not supported by the runner: ${unsupported.join(', ')}`);
    const slot: PodProcess = new PodProcess({
      pod,
      ip,
      port,
      probe: readinessProbe(container),
      group: this.group,
      network: this.network,
      core: this.core,
      command: (): PodCommand => this.opts.command(slot.pod, { ip, port, env }),
      backoff: { ...KUBELET_BACKOFF, ...this.opts.backoff },
      onError: (message) => this.errors.push(`${name}: ${message}`),
      log: this.opts.log ?? (() => {}),
    });
    const previous = [...this.slots.values()].find((s) => s.terminating && s.ip === ip)?.terminated;
    slot.begin(previous);
    return slot;
  }

  private terminate(slot: PodProcess): void {
    if (slot.terminating) return;
    const graceMs = Math.min(1000 * (slot.pod.spec?.terminationGracePeriodSeconds ?? 30), this.opts.maxGraceMs ?? 10_000);
    void slot
      .terminate(graceMs, (ip) => this.ipStillServed(slot, ip))
      .finally(() => {
        if (this.slots.get(slot.uid) === slot) this.slots.delete(slot.uid);
      });
  }

  /** kwok recycles a deleted pod's IP: a newer pod may already be served on it. */
  private ipStillServed(leaving: PodProcess, ip: string): boolean {
    return [...this.slots.values()].some((s) => s !== leaving && !s.terminating && s.ip === ip);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    await Promise.all([...this.slots.values()].map((s) => s.terminate(this.opts.maxGraceMs ?? 10_000, () => true)));
    this.slots.clear();
    await this.group.stopAll();
    await this.network.close();
  }
}
