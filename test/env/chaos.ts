// Randomized chaos runs for issue 12's invariant: one seeded run = one ModelRollout in its own
// namespace, the real operator (one or two replicas), a random sequence of world and user events,
// a wait for a terminal state, and the InvariantSampler's verdict. Same seed, same sequence of
// decisions (timings on a shared machine still vary, so a replay reproduces the scenario, not the
// exact interleaving; each event draws from its own seeded stream, so timing cannot shift later events).
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as k8s from '@kubernetes/client-node';
import { annotationsFor } from '../../operator/src/cli/commands.js';
import { cordonNodes, crashLoopPods, gpuNodeNames, losePods, revisionSelector, uncordonNodes } from './chaos-actions.js';
import { InvariantSampler, type InvariantReport } from './invariant-sampler.js';
import { formatViolation } from './invariant.js';
import { TEST_READY_DELAY_ANNOTATION, TEST_READY_DELAY_MAX_ANNOTATION } from './kwok-stages.js';
import { launchOperator, type OperatorReplica } from './operator-launcher.js';
import { ProcessGroup } from './process-group.js';
import { API_VERSION, candidateServiceName, KIND, MODEL_ROLLOUT_RESOURCE as MRO, stableServiceName } from '../../operator/src/api/index.js';

export type ChaosEventKind =
  | 'abort'
  | 'pause-resume'
  | 'template-change'
  | 'template-revert'
  | 'steps-edit'
  | 'candidate-pods-lost'
  | 'node-cordon'
  | 'operator-sigkill'
  | 'leader-handover'
  | 'crash-loop';

export const ALL_EVENT_KINDS: readonly ChaosEventKind[] = [
  'abort',
  'pause-resume',
  'template-change',
  'template-revert',
  'steps-edit',
  'candidate-pods-lost',
  'node-cordon',
  'operator-sigkill',
  'leader-handover',
  'crash-loop',
];

/** mulberry32: a 32-bit seeded PRNG, uniform in [0, 1). Enough for picking events; not for crypto. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Dice {
  constructor(readonly next: () => number) {}
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
}

export interface ChaosRunOptions {
  kc: k8s.KubeConfig;
  kubeconfigPath: string;
  seed: number;
  /** Chaos events after the rollout starts. Default 4. */
  events?: number;
  /** Kinds to draw from. Default ALL_EVENT_KINDS. */
  kinds?: readonly ChaosEventKind[];
  /** spec.replicas. Default 4 (with the default 4 nodes × 2 GPUs, stable and candidate fit side by side). */
  replicas?: number;
  /** How long the run may take to reach a terminal state after the last event. Default 180 s. */
  settleTimeoutMs?: number;
  /**
   * How long a Service may fall short after the world took its pods (deleted or crash-looping): the
   * operator's breaker interval (10 s default) plus reaction time. Default 15 s.
   */
  graceMs?: number;
  /**
   * 'random' (default): the seeded event sequence. 'issue12-case1': the issue's first case, scripted —
   * 4 replicas, steps [50, 100], 20 s readiness, abort during the 100 % step.
   */
  scenario?: 'random' | 'issue12-case1';
  /** Router of the run; drawn from the seed by default. */
  router?: 'gateway-api' | 'istio';
  /** Fixed readiness delay for every template (the test-ready-delay annotation, e.g. "20s"); random per template by default. */
  readyDelay?: string;
  /** Operator logs go here; kept when the run fails, removed when it passes. Default a temp dir named after the namespace. */
  logDir?: string;
  log?: (line: string) => void;
}

export interface ChaosRunResult {
  seed: number;
  namespace: string;
  /** What was done, with seconds since the rollout started. */
  events: string[];
  report: InvariantReport;
  /** How the rollout ended, or why the run could not tell. */
  terminal: string;
  /** Set when the run itself failed (no terminal state within the deadline, a start-up error). */
  error?: string;
  /** True when the run ended in a terminal state with no counted violation and no sampler error. */
  ok: boolean;
  durationMs: number;
}

const ROLLOUT = 't2v';
const SERVICE = 't2v';
const STEP_SETS: number[][] = [
  [50, 100],
  [1, 5, 20, 50, 100],
  [25, 50, 100],
  [20, 100],
  [10, 40, 70, 100],
];
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

interface RolloutView {
  metadata: k8s.V1ObjectMeta;
  spec: Record<string, unknown>;
  status?: {
    phase?: string;
    stable?: { revision: string; modelVersion: string };
    candidate?: { revision: string; modelVersion: string };
    weights?: { stable: number; candidate: number };
  };
}

/** One chaos run. Never throws for what happens on the cluster: failures are in the result. */
export async function runChaos(opts: ChaosRunOptions): Promise<ChaosRunResult> {
  const run = new ChaosRun(opts);
  return run.execute();
}

class ChaosRun {
  /** The run's draws; each event gets its own stream (see randomEvents). */
  private dice: Dice;
  private readonly log: (line: string) => void;
  private readonly namespace: string;
  private readonly group: ProcessGroup;
  private readonly replicas: OperatorReplica[] = [];
  private readonly events: string[] = [];
  private readonly custom: k8s.CustomObjectsApi;
  private readonly graceMs: number;
  private readonly templates = new Map<string, Record<string, unknown>>();
  private sampler: InvariantSampler | undefined;
  private started = Date.now();
  private versionCounter = 1;
  private identityCounter = 0;
  private lastVersion = 'v1';
  private router: 'gateway-api' | 'istio' = 'gateway-api';

  constructor(private readonly opts: ChaosRunOptions) {
    this.dice = new Dice(mulberry32(opts.seed));
    this.log = opts.log ?? (() => {});
    this.namespace = `chaos-${opts.seed}-${crypto.randomBytes(2).toString('hex')}`;
    this.group = new ProcessGroup(opts.logDir ?? path.join(os.tmpdir(), `modelrollout-${this.namespace}`));
    this.custom = opts.kc.makeApiClient(k8s.CustomObjectsApi);
    this.graceMs = opts.graceMs ?? 15_000;
  }

  async execute(): Promise<ChaosRunResult> {
    const t0 = Date.now();
    let terminal = 'not reached';
    let error: string | undefined;
    const core = this.opts.kc.makeApiClient(k8s.CoreV1Api);
    try {
      await core.createNamespace({ body: { metadata: { name: this.namespace } } });
      this.group.armWatchdog(process.pid);
      this.sampler = await InvariantSampler.start(this.opts.kc, { namespace: this.namespace, rollout: ROLLOUT });
      this.router = this.opts.router ?? (this.opts.scenario === 'issue12-case1' ? 'gateway-api' : this.dice.pick(['gateway-api', 'istio'] as const));
      await this.createRoute();
      if (this.opts.scenario === 'issue12-case1') await this.issue12Case1();
      else await this.randomEvents();
      await this.settleWorld();
      terminal = await this.waitTerminal(this.opts.settleTimeoutMs ?? 180_000);
      // The terminal state must also have the pods it needs: wait (bounded) until the invariant holds for
      // 3 s; a shortfall still open then is reported as such.
      if (!(await this.sampler.waitUntilHolds(3000, 90_000))) this.note('the invariant did not hold for 3 s within 90 s of the terminal state');
    } catch (err) {
      error = (err as Error).message;
    }
    await this.cleanUp().catch((err: unknown) => {
      error ??= `clean-up: ${(err as Error).message}`;
    });
    const report = this.sampler
      ? await this.sampler.stop()
      : { violations: [], counted: [], armedAt: undefined, eventsApplied: 0, outOfOrder: 0, errors: ['sampler never started'] };
    if (report.armedAt === undefined) error ??= 'the invariant never held (the first stable never came up behind the route)';
    const ok = !error && report.counted.length === 0 && report.errors.length === 0;
    if (ok) fs.rmSync(this.group.logDir, { recursive: true, force: true });
    else this.events.push(`operator logs: ${this.group.logDir}`);
    return {
      seed: this.opts.seed,
      namespace: this.namespace,
      events: this.events,
      report,
      terminal,
      ...(error ? { error } : {}),
      ok,
      durationMs: Date.now() - t0,
    };
  }

  private async randomEvents(): Promise<void> {
    const kinds = this.opts.kinds ?? ALL_EVENT_KINDS;
    const plan = Array.from({ length: this.opts.events ?? 4 }, () => this.dice.pick(kinds));
    // Each event draws from its own stream, seeded up front: how many draws one event makes depends on
    // timing (whether a rollout is in flight, ...), and must not shift the draws of the events after it.
    const streams = plan.map(() => Math.floor(this.dice.next() * 2 ** 32));
    const gaps = plan.map(() => this.dice.int(500, 6000));
    // Two replicas from the start when the plan hands leadership over; otherwise one.
    await this.startReplica();
    if (plan.includes('leader-handover')) await this.startReplica();
    await this.createRollout();
    await this.waitFor('first stable Healthy', (r) => r.status?.phase === 'Healthy' && !!r.status.stable, 120_000);
    this.started = Date.now();
    await this.changeTemplate('rollout start');
    for (const [i, kind] of plan.entries()) {
      await sleep(gaps[i]!);
      this.dice = new Dice(mulberry32(streams[i]!));
      await this.perform(kind);
    }
  }

  /** Issue 12, case 1: abort at the 100 % step while stable has been scaled down and its pods need 20 s to load. */
  private async issue12Case1(): Promise<void> {
    await this.startReplica();
    await this.createRollout({ steps: [50, 100], stepDuration: '60s', replicas: 4 });
    await this.waitFor('first stable Healthy', (r) => r.status?.phase === 'Healthy' && !!r.status.stable, 120_000);
    this.started = Date.now();
    await this.changeTemplate('rollout start');
    const at100 = await this.waitFor('the 100 % step', (r) => r.status?.weights?.candidate === 100, 150_000);
    await sleep(2000);
    this.note(`abort (phase ${at100.status?.phase}, weights ${JSON.stringify(at100.status?.weights)})`);
    await this.patch({ metadata: { annotations: annotationsFor('abort', new Date()) } });
  }

  private note(what: string): void {
    const line = `+${((Date.now() - this.started) / 1000).toFixed(1)}s ${what}`;
    this.events.push(line);
    this.log(`[seed ${this.opts.seed}] ${line}`);
  }

  // ---- cluster objects ----

  /** The user's route: an unrelated first rule and the one the rollout manages (Gateway API or Istio, drawn per run). */
  private async createRoute(): Promise<void> {
    if (this.router === 'istio') {
      await this.custom.createNamespacedCustomObject({
        group: 'networking.istio.io',
        version: 'v1',
        plural: 'virtualservices',
        namespace: this.namespace,
        body: {
          apiVersion: 'networking.istio.io/v1',
          kind: 'VirtualService',
          metadata: { name: 'edge-vs' },
          spec: {
            hosts: ['t2v.example.com'],
            http: [
              { name: 'health', match: [{ uri: { prefix: '/healthz' } }], route: [{ destination: { host: 'other' } }] },
              { name: 'primary', route: [{ destination: { host: stableServiceName(SERVICE) } }] },
            ],
          },
        },
      });
      return;
    }
    await this.custom.createNamespacedCustomObject({
      group: 'gateway.networking.k8s.io',
      version: 'v1',
      plural: 'httproutes',
      namespace: this.namespace,
      body: {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        metadata: { name: 'edge-route' },
        spec: {
          parentRefs: [{ name: 'edge' }],
          rules: [
            { matches: [{ path: { type: 'PathPrefix', value: '/healthz' } }], backendRefs: [{ name: 'other', port: 80 }] },
            { backendRefs: [{ name: stableServiceName(SERVICE), port: 80 }] },
          ],
        },
      },
    });
  }

  private trafficRouting(): Record<string, unknown> {
    return this.router === 'istio' ? { istio: { virtualService: 'edge-vs', routeName: 'primary' } } : { gatewayAPI: { httpRoute: 'edge-route', ruleIndex: 1 } };
  }

  /** A template for `version` whose pods take a random readiness delay (drawn once per version, per pod by kwok). */
  private templateFor(version: string): Record<string, unknown> {
    const known = this.templates.get(version);
    if (known) return known;
    const min = this.dice.int(0, 8);
    const max = min + this.dice.int(1, 6);
    const annotations = this.opts.readyDelay
      ? { [TEST_READY_DELAY_ANNOTATION]: this.opts.readyDelay }
      : { [TEST_READY_DELAY_ANNOTATION]: `${min}s`, [TEST_READY_DELAY_MAX_ANNOTATION]: `${max}s` };
    const template = {
      metadata: { annotations },
      spec: { containers: [{ name: 'server', image: `example.invalid/t2v:${version}` }] },
    };
    this.templates.set(version, template);
    return template;
  }

  private async createRollout(fixed: { steps?: number[]; stepDuration?: string; replicas?: number } = {}): Promise<void> {
    const steps = fixed.steps ?? this.dice.pick(STEP_SETS);
    const spec = {
      replicas: fixed.replicas ?? this.opts.replicas ?? 4,
      model: { name: 'wan-t2v', version: 'v1' },
      service: { name: SERVICE },
      trafficRouting: this.trafficRouting(),
      strategy: { steps, stepDuration: fixed.stepDuration ?? `${this.dice.int(2, 5)}s`, progressDeadline: '90s' },
      template: this.templateFor('v1'),
    };
    this.events.push(
      `create router=${this.router} replicas=${spec.replicas} steps=${JSON.stringify(steps)} stepDuration=${spec.strategy.stepDuration} v1 ready delay ${JSON.stringify(spec.template.metadata)}`,
    );
    await this.custom.createNamespacedCustomObject({
      ...MRO,
      namespace: this.namespace,
      body: { apiVersion: API_VERSION, kind: KIND, metadata: { name: ROLLOUT }, spec },
    });
  }

  private async get(): Promise<RolloutView> {
    return (await this.custom.getNamespacedCustomObject({ ...MRO, namespace: this.namespace, name: ROLLOUT })) as RolloutView;
  }

  private async patch(body: Record<string, unknown>): Promise<void> {
    await this.custom.patchNamespacedCustomObject({ ...MRO, namespace: this.namespace, name: ROLLOUT, body }, mergePatch);
  }

  private async setVersion(version: string): Promise<void> {
    this.lastVersion = version;
    await this.patch({ spec: { model: { name: 'wan-t2v', version }, template: this.templateFor(version) } });
  }

  private async changeTemplate(why: string): Promise<void> {
    const version = `v${++this.versionCounter}`;
    this.note(`${why}: template → ${version} ready delay ${JSON.stringify((this.templateFor(version).metadata as { annotations: unknown }).annotations)}`);
    await this.setVersion(version);
  }

  private async waitFor(what: string, check: (r: RolloutView) => boolean, timeoutMs: number): Promise<RolloutView> {
    const deadline = Date.now() + timeoutMs;
    let last: RolloutView | undefined;
    while (Date.now() < deadline) {
      last = await this.get().catch(() => last);
      if (last && check(last)) return last;
      await sleep(250);
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last status ${JSON.stringify(last?.status)?.slice(0, 1500)}`);
  }

  // ---- operator replicas ----

  private async startReplica(): Promise<OperatorReplica> {
    const replica = await launchOperator(this.group, {
      kubeconfigPath: this.opts.kubeconfigPath,
      namespace: this.namespace,
      identity: `${this.namespace}-op-${this.identityCounter++}`,
    });
    this.replicas.push(replica);
    return replica;
  }

  private live(): OperatorReplica[] {
    return this.replicas.filter((r) => r.alive());
  }

  private async leader(): Promise<OperatorReplica | undefined> {
    const lease = await this.opts.kc
      .makeApiClient(k8s.CoordinationV1Api)
      .readNamespacedLease({ name: 'modelrollout-operator', namespace: this.namespace })
      .catch(() => undefined);
    return this.live().find((r) => r.identity === lease?.spec?.holderIdentity) ?? this.live()[0];
  }

  // ---- events ----

  /** Events that act on a rollout in flight start a new one first when the last has ended (a run should not idle on Healthy). */
  private static readonly NEEDS_CANDIDATE: readonly ChaosEventKind[] = [
    'abort',
    'pause-resume',
    'template-revert',
    'steps-edit',
    'candidate-pods-lost',
    'crash-loop',
  ];

  private async perform(kind: ChaosEventKind): Promise<void> {
    let ro = await this.get();
    if (ChaosRun.NEEDS_CANDIDATE.includes(kind) && !inFlight(ro)) {
      await this.changeTemplate(`new rollout for ${kind} (phase ${ro.status?.phase})`);
      ro = await this.waitFor('a candidate', (r) => inFlight(r), 30_000);
    }
    if (inFlight(ro)) ro = await this.reachRandomWeight(ro);
    const candidate = ro.status?.candidate?.revision;
    switch (kind) {
      case 'abort':
        this.note(`abort (phase ${ro.status?.phase}, weights ${JSON.stringify(ro.status?.weights)})`);
        await this.patch({ metadata: { annotations: annotationsFor('abort', new Date()) } });
        return;
      case 'pause-resume': {
        this.note(`pause (phase ${ro.status?.phase})`);
        await this.patch({ metadata: { annotations: annotationsFor('pause', new Date()) } });
        await sleep(this.dice.int(1000, 6000));
        this.note('resume');
        await this.patch({ metadata: { annotations: annotationsFor('resume', new Date()) } });
        return;
      }
      case 'template-change':
        return this.changeTemplate(`template change (phase ${ro.status?.phase}, weights ${JSON.stringify(ro.status?.weights)})`);
      case 'template-revert': {
        const stable = ro.status?.stable?.modelVersion ?? 'v1';
        this.note(`template reverted to the stable template ${stable} (phase ${ro.status?.phase}, weights ${JSON.stringify(ro.status?.weights)})`);
        await this.setVersion(stable);
        return;
      }
      case 'steps-edit': {
        const steps = this.dice.pick(STEP_SETS);
        this.note(`steps edited → ${JSON.stringify(steps)} (step weight ${ro.status?.weights?.candidate})`);
        await this.patch({ spec: { strategy: { steps } } });
        return;
      }
      case 'candidate-pods-lost':
        return this.loseCandidatePods(candidate, ro);
      case 'node-cordon': {
        const nodes = await gpuNodeNames(this.opts.kc);
        const node = this.dice.pick(nodes);
        this.note(`cordon ${node}`);
        await cordonNodes(this.opts.kc, [node]);
        await sleep(this.dice.int(2000, 10_000));
        this.note(`uncordon ${node}`);
        await uncordonNodes(this.opts.kc, [node]);
        return;
      }
      case 'operator-sigkill': {
        const victim = await this.leader();
        const pause = this.dice.int(0, 3000);
        this.note(`SIGKILL operator ${victim?.identity ?? '(none alive)'}; new replica in ${pause} ms`);
        await victim?.kill();
        await sleep(pause);
        await this.startReplica();
        return;
      }
      case 'leader-handover': {
        const leader = await this.leader();
        if (this.live().length < 2) await this.startReplica();
        this.note(`leader handover: SIGTERM ${leader?.identity ?? '(none alive)'}`);
        await leader?.stop();
        await this.startReplica();
        return;
      }
      case 'crash-loop': {
        if (!candidate) return this.note(`crash-loop skipped: no candidate (phase ${ro.status?.phase})`);
        this.excuse(candidateServiceName(SERVICE), 'candidate containers crash-looping');
        // The documented drain policy: a crash-looping candidate trips the breaker and is drained at once, so stable
        // may carry more than its ready pods until its scale-up is ready (starting within the grace).
        if ((ro.status?.weights?.candidate ?? 0) > 0) {
          this.sampler?.excuse(
            [stableServiceName(SERVICE)],
            this.maxReadyDelayMs(ro.status?.stable?.modelVersion) + this.graceMs,
            'drain policy: a failing candidate is drained before stable is ready',
            { startWithinMs: this.graceMs },
          );
        }
        const pods = await crashLoopPods(this.opts.kc, this.namespace, revisionSelector(ROLLOUT, candidate));
        this.note(`crash-loop ${pods.length} candidate pod(s) of ${candidate} (weights ${JSON.stringify(ro.status?.weights)})`);
        return;
      }
    }
  }

  /**
   * The issue's failures happen at high weights (abort at 100 %, revert or lost pods at 50 %), which an
   * event drawn at a random time rarely meets: half the time, wait (up to 60 s) for a candidate weight
   * drawn from the steps before acting.
   */
  private async reachRandomWeight(ro: RolloutView): Promise<RolloutView> {
    if (this.dice.next() < 0.5) return ro;
    const steps = (ro.spec.strategy as { steps?: number[] } | undefined)?.steps ?? [1, 5, 20, 50, 100];
    const target = this.dice.pick(steps);
    return this.waitFor(`candidate weight ${target}`, (r) => (r.status?.weights?.candidate ?? 0) >= target || !inFlight(r), 60_000).catch(() => ro);
  }

  private excuse(service: string, reason: string): void {
    this.sampler?.excuse([service], this.graceMs, reason);
  }

  /**
   * Issue 12 case 3. With every node cordoned nobody can add pods, so whatever weights the operator
   * picks, some Service may fall short until the nodes come back: the candidate's shortfall is excused
   * for the grace (its weight must drop by then), stable's until the nodes are back, its replacements
   * had their readiness delay, plus the grace.
   */
  private async loseCandidatePods(candidate: string | undefined, ro: RolloutView): Promise<void> {
    if (!candidate) return this.note(`candidate pods lost skipped: no candidate (phase ${ro.status?.phase})`);
    const holdMs = this.dice.int(3000, 20_000);
    const stableDelayMs = this.maxReadyDelayMs(ro.status?.stable?.modelVersion);
    this.excuse(candidateServiceName(SERVICE), 'candidate pods deleted with every node cordoned');
    // Stable falls short only because the candidate's share must move to it while no node takes pods: so only
    // when the candidate carried weight, and only a shortfall that starts while the operator reacts (the grace).
    if ((ro.status?.weights?.candidate ?? 0) > 0) {
      this.sampler?.excuse(
        [stableServiceName(SERVICE)],
        holdMs + stableDelayMs + this.graceMs,
        "every node cordoned: stable cannot scale up to take the candidate's share",
        { startWithinMs: this.graceMs },
      );
    }
    const lost = await losePods(this.opts.kc, this.namespace, ROLLOUT, candidate);
    this.note(
      `lost ${lost.deleted.length} candidate pod(s) of ${candidate}, ${lost.cordoned.length} nodes cordoned for ${holdMs} ms (weights ${JSON.stringify(ro.status?.weights)})`,
    );
    await sleep(holdMs);
    this.note('nodes uncordoned');
    await lost.restore();
  }

  /** Upper bound of the readiness delay of a version's pods, from its template's annotations (kwok-pod-stages.yaml semantics). */
  private maxReadyDelayMs(version: string | undefined): number {
    const annotations = ((version && this.templates.get(version)?.metadata) as { annotations?: Record<string, string> } | undefined)?.annotations ?? {};
    const seconds = (v: string | undefined) => (v && /^\d+s$/.test(v) ? Number(v.slice(0, -1)) : undefined);
    const max = seconds(annotations[TEST_READY_DELAY_MAX_ANNOTATION]) ?? (seconds(annotations[TEST_READY_DELAY_ANNOTATION]) ?? 1) + 2;
    return max * 1000;
  }

  /** Nothing the world did may stay: nodes schedulable, no pause left behind. */
  private async settleWorld(): Promise<void> {
    await uncordonNodes(this.opts.kc, await gpuNodeNames(this.opts.kc));
    if (this.live().length === 0) await this.startReplica();
  }

  /**
   * Terminal: Healthy on the last template's version with no candidate, or RolledBack/Aborted with
   * all traffic on stable. Returns a one-line description; throws with the last status on timeout.
   */
  private async waitTerminal(timeoutMs: number): Promise<string> {
    const ro = await this.waitFor(
      `a terminal state (Healthy on ${this.lastVersion}, or RolledBack/Aborted at 100 % stable)`,
      (r) => {
        const s = r.status;
        if (s?.phase === 'Healthy') return s.stable?.modelVersion === this.lastVersion && !s.candidate && s.weights?.stable === 100;
        return (s?.phase === 'RolledBack' || s?.phase === 'Aborted') && s.weights?.stable === 100 && s.weights.candidate === 0;
      },
      timeoutMs,
    );
    const line = `${ro.status?.phase} stable=${ro.status?.stable?.modelVersion} weights=${JSON.stringify(ro.status?.weights)}`;
    this.note(`terminal: ${line}`);
    return line;
  }

  private async cleanUp(): Promise<void> {
    const core = this.opts.kc.makeApiClient(k8s.CoreV1Api);
    await uncordonNodes(this.opts.kc, await gpuNodeNames(this.opts.kc)).catch(() => undefined);
    // The finalizer needs a live operator: delete the rollout first (the sampler keeps judging the deletion).
    if (this.live().length === 0) await this.startReplica().catch(() => undefined);
    await this.custom.deleteNamespacedCustomObject({ ...MRO, namespace: this.namespace, name: ROLLOUT }).catch(() => undefined);
    const gone = Date.now() + 30_000;
    while (
      Date.now() < gone &&
      (await this.get().then(
        () => true,
        () => false,
      ))
    )
      await sleep(250);
    if (
      await this.get().then(
        () => true,
        () => false,
      )
    ) {
      this.note('rollout still there 30 s after delete: removing the finalizer by hand');
      await this.patch({ metadata: { finalizers: null } }).catch(() => undefined);
    }
    await this.group.stopAll();
    await core.deleteNamespace({ name: this.namespace }).catch(() => undefined);
    // GPUs are shared with the next run: wait until this namespace's pods hold none.
    const deadline = Date.now() + 60_000;
    while (
      Date.now() < deadline &&
      (await core.listNamespacedPod({ namespace: this.namespace }).then(
        (l) => l.items.length,
        () => 0,
      )) > 0
    )
      await sleep(250);
  }
}

/** A candidate is being rolled out (not Healthy, RolledBack, Aborted or Invalid). */
function inFlight(r: RolloutView): boolean {
  return !!r.status?.candidate && ['Progressing', 'Paused', 'Shadowing'].includes(r.status.phase ?? '');
}

/** Human-readable summary of one run: seed, events, terminal state, violations. */
export function formatRun(r: ChaosRunResult): string {
  const lines = [`seed ${r.seed} (${r.namespace}, ${(r.durationMs / 1000).toFixed(0)} s): ${r.ok ? 'OK' : 'FAILED'} — ${r.terminal}`];
  if (r.error) lines.push(`  error: ${r.error}`);
  lines.push(...r.events.map((e) => `  ${e}`));
  lines.push(
    `  sampler: ${r.report.eventsApplied} events applied, ${r.report.outOfOrder} out of order, ${r.report.violations.length} violation(s), ${r.report.counted.length} counted`,
  );
  for (const e of r.report.errors) lines.push(`  sampler error: ${e}`);
  for (const v of r.report.violations)
    lines.push(
      formatViolation(v)
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n'),
    );
  return lines.join('\n');
}
