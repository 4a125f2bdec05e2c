// One pod's process as a kubelet keeps one container: start, probe readiness, restart after an exit
// with back-off, stop on deletion; every change is written to the pod's status subresource.
import fs from 'node:fs';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import * as k8s from '@kubernetes/client-node';
import type { ReadinessProbe } from './pod-env.js';
import type { PodNetwork } from './pod-network.js';
import { isAlive, signal, type ManagedProcess, type ProcessGroup } from './process-group.js';
import { isNotFound } from '../../operator/src/kube/errors.js';

const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

export interface PodCommand {
  command: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
}

/** The kubelet's CrashLoopBackOff: 10 s doubling to 5 min, forgotten after 10 min without a failure. */
export interface RestartBackoff {
  initialMs: number;
  maxMs: number;
  resetMs: number;
}

export interface PodProcessInfo {
  namespace: string;
  name: string;
  uid: string;
  ip: string;
  port: number;
  /** The running process; undefined while it is backing off after an exit. */
  pid: number | undefined;
  restarts: number;
  ready: boolean;
  /** When the current process was started / first passed its readiness probe (ms since epoch). */
  startedAt: number | undefined;
  readyAt: number | undefined;
  /** Resident memory of the current process (VmRSS), when it runs. */
  rssBytes: number | undefined;
  logFile: string;
}

interface Terminated {
  exitCode: number;
  /** The signal number, when a signal ended the process. */
  signal?: number;
  reason: string;
  startedAt: Date;
  finishedAt: Date;
}

export interface PodProcessDeps {
  pod: k8s.V1Pod;
  ip: string;
  port: number;
  probe: ReadinessProbe;
  group: ProcessGroup;
  network: PodNetwork;
  core: k8s.CoreV1Api;
  command: () => PodCommand;
  backoff: RestartBackoff;
  onError: (message: string) => void;
  log: (line: string) => void;
}

export class PodProcess {
  pod: k8s.V1Pod;
  readonly uid: string;
  readonly ip: string;
  terminating = false;
  private proc: ManagedProcess | undefined;
  private restarts = 0;
  private crashesInARow = 0;
  private ready = false;
  private probeFailures = 0;
  private startedAt: number | undefined;
  private readyAt: number | undefined;
  private lastTerminated: Terminated | undefined;
  private waitingUntil: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private writes: Promise<void> = Promise.resolve();
  private logFile = '';

  constructor(private readonly d: PodProcessDeps) {
    this.pod = d.pod;
    this.uid = d.pod.metadata!.uid!;
    this.ip = d.ip;
  }

  private get label(): string {
    return `${this.pod.metadata!.namespace}.${this.pod.metadata!.name}`;
  }

  /** Set once terminate() was called; resolves when the process is gone. */
  terminated: Promise<void> | undefined;

  /**
   * Routes the pod IP here, then starts the process; after `previous` (kwok hands a deleted pod's IP to the
   * next pod at once: its process must be gone first, or the new one could not bind and would count a restart).
   */
  begin(previous: Promise<void> = Promise.resolve()): void {
    void previous
      .then(() => this.d.network.addPodIp(this.ip))
      .then(
        () => this.spawn(),
        (err: unknown) => {
          this.d.onError(`pod IP ${this.ip} not routed: ${String(err)}`);
        },
      );
  }

  private spawn(): void {
    if (this.terminating) return;
    this.waitingUntil = undefined;
    let cmd: PodCommand;
    try {
      cmd = this.d.command();
    } catch (err) {
      this.d.onError(`no command: ${String(err)}`);
      return;
    }
    const wrapped = this.d.network.wrap(cmd.command, cmd.args);
    const proc = this.d.group.start(this.label, wrapped.command, wrapped.args, { env: cmd.env ?? {}, ...(cmd.cwd ? { cwd: cmd.cwd } : {}) });
    this.proc = proc;
    this.logFile = proc.logFile;
    this.startedAt = Date.now();
    this.readyAt = undefined;
    this.probeFailures = 0;
    this.d.log(`${this.label}: started pid ${proc.pid} on ${this.ip}:${this.d.port}`);
    proc.child?.once('exit', (code, sig) => this.onExit(proc, code, sig));
    this.writeStatus();
    this.schedule(this.d.probe.initialDelayMs);
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.probeOnce(), ms);
  }

  private async probeOnce(): Promise<void> {
    const proc = this.proc;
    if (this.terminating || !proc) return;
    const ok = await httpOk(`http://${this.ip}:${this.d.probe.port}${this.d.probe.path}`, this.d.probe.timeoutMs);
    if (this.terminating || this.proc !== proc) return;
    if (ok) {
      this.probeFailures = 0;
      if (!this.ready) {
        this.ready = true;
        this.readyAt = Date.now();
        this.d.log(`${this.label}: ready after ${this.readyAt - this.startedAt!} ms`);
        this.writeStatus();
      }
    } else if (this.ready && ++this.probeFailures >= this.d.probe.failureThreshold) {
      this.ready = false;
      this.writeStatus();
    }
    this.schedule(this.d.probe.periodMs);
  }

  /** An exit not asked for is a container restart: Ready=False, restartCount+1, lastState, back-off. */
  private onExit(proc: ManagedProcess, code: number | null, sig: NodeJS.Signals | null): void {
    if (this.terminating || this.proc !== proc) return;
    clearTimeout(this.timer);
    const now = Date.now();
    // The kubelet forgets a container's back-off once it has not failed for a while (2 × the 5 min cap).
    this.crashesInARow = this.lastTerminated && now - this.lastTerminated.finishedAt.getTime() > this.d.backoff.resetMs ? 1 : this.crashesInARow + 1;
    this.proc = undefined;
    this.ready = false;
    this.restarts += 1;
    const exitCode = code ?? 128 + (sig ? os.constants.signals[sig] : 0);
    this.lastTerminated = {
      exitCode,
      ...(sig ? { signal: os.constants.signals[sig] } : {}),
      reason: exitCode === 0 ? 'Completed' : 'Error',
      startedAt: new Date(this.startedAt!),
      finishedAt: new Date(now),
    };
    // As the kubelet: the first exit restarts at once; a repeat within the reset window waits (CrashLoopBackOff).
    const delay = this.crashesInARow === 1 ? 0 : Math.min(this.d.backoff.maxMs, this.d.backoff.initialMs * 2 ** (this.crashesInARow - 2));
    this.waitingUntil = now + delay;
    this.d.log(`${this.label}: pid ${proc.pid} exited (${sig ?? code}); restart ${this.restarts} in ${delay} ms`);
    this.writeStatus();
    this.timer = setTimeout(() => this.spawn(), delay);
  }

  /** SIGTERM, SIGKILL after `graceMs`; the pod IP is unrouted unless `keepIp` says a newer pod has it. */
  terminate(graceMs: number, keepIp: (ip: string) => boolean): Promise<void> {
    this.terminated ??= this.stopProcess(graceMs, keepIp);
    return this.terminated;
  }

  private async stopProcess(graceMs: number, keepIp: (ip: string) => boolean): Promise<void> {
    this.terminating = true;
    clearTimeout(this.timer);
    const pid = this.proc?.pid;
    if (pid !== undefined && isAlive(pid)) {
      signal(pid, 'SIGTERM');
      const deadline = Date.now() + graceMs;
      while (isAlive(pid) && Date.now() < deadline) await sleep(50);
      if (isAlive(pid)) signal(pid, 'SIGKILL');
      while (isAlive(pid)) await sleep(20);
      this.d.log(`${this.label}: pid ${pid} stopped`);
    }
    await this.writes;
    if (!keepIp(this.ip)) await this.d.network.removePodIp(this.ip);
  }

  info(): PodProcessInfo {
    const pid = this.proc?.pid;
    return {
      namespace: this.pod.metadata!.namespace!,
      name: this.pod.metadata!.name!,
      uid: this.uid,
      ip: this.ip,
      port: this.d.port,
      pid,
      restarts: this.restarts,
      ready: this.ready,
      startedAt: this.startedAt,
      readyAt: this.readyAt,
      rssBytes: pid === undefined ? undefined : residentBytes(pid),
      logFile: this.logFile,
    };
  }

  /** Queues one status write of the state as it is when the write runs (later writes supersede). */
  private writeStatus(): void {
    this.writes = this.writes.then(async () => {
      if (this.terminating) return;
      try {
        await this.d.core.patchNamespacedPodStatus(
          { name: this.pod.metadata!.name!, namespace: this.pod.metadata!.namespace!, body: { status: this.status() } },
          mergePatch,
        );
      } catch (err) {
        if (!isNotFound(err)) this.d.onError(`status write failed: ${String(err)}`);
      }
    });
  }

  private status(): k8s.V1PodStatus {
    const now = new Date();
    const running = this.proc !== undefined;
    const notReady = running
      ? { reason: 'ContainersNotReady', message: 'readiness probe has not passed' }
      : { reason: 'ContainersNotReady', message: 'container exited; back-off restarting' };
    const condition = (type: string, status: boolean, extra: object = {}): k8s.V1PodCondition => {
      const previous = this.pod.status?.conditions?.find((c) => c.type === type);
      const wanted = status ? 'True' : 'False';
      return {
        type,
        status: wanted,
        lastTransitionTime: previous?.status === wanted && previous.lastTransitionTime ? previous.lastTransitionTime : now,
        ...(status ? {} : extra),
      };
    };
    const [main, ...sidecars] = this.pod.spec!.containers;
    return {
      phase: 'Running',
      conditions: [
        condition('PodScheduled', true),
        condition('Initialized', true),
        condition('ContainersReady', this.ready, notReady),
        condition('Ready', this.ready, notReady),
      ],
      containerStatuses: [
        {
          name: main!.name,
          image: main!.image ?? '',
          imageID: '',
          ready: this.ready,
          started: running,
          restartCount: this.restarts,
          ...(running ? { containerID: `process://${this.proc!.pid}` } : {}),
          state: running
            ? { running: { startedAt: new Date(this.startedAt!) } }
            : this.waitingUntil !== undefined && this.waitingUntil > now.getTime()
              ? {
                  waiting: {
                    reason: 'CrashLoopBackOff',
                    message: `back-off restarting failed container ${main!.name} until ${new Date(this.waitingUntil).toISOString()}`,
                  },
                }
              : { waiting: { reason: 'ContainerCreating' } },
          ...(this.lastTerminated ? { lastState: { terminated: this.lastTerminated } } : {}),
        },
        // Only the first container runs; the others (sidecars) are reported running and ready.
        ...sidecars.map((c) => ({
          name: c.name,
          image: c.image ?? '',
          imageID: '',
          ready: true,
          started: true,
          restartCount: 0,
          state: { running: { startedAt: new Date(this.startedAt!) } },
        })),
      ],
    };
  }
}

async function httpOk(url: string, timeoutMs: number): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return res.status >= 200 && res.status < 400;
  } catch {
    return false;
  }
}

function residentBytes(pid: number): number | undefined {
  try {
    const kb = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}
