// A simulated cluster for the pure state machine's tests (not a test file itself; excluded from the build).
// Pods take time to become ready, GPUs can be short, observations can lag, and the invariant of issue 12 is
// checked after every single write. Shared by decide.test.ts and decide.attack.test.ts.
import { afterEach, expect } from 'vitest';
import { decide } from './decide.js';
import { listedFrom, type Transitioned } from './transitions.js';
import type { Action, AnalysisVerdict, DecideInput, Decision, DeploymentObservation, RolloutSpec, RolloutStatus } from './types.js';

export const T0 = Date.parse('2026-11-24T10:00:00Z');
export const STABLE = 'aaaaaaaaaa';
export const CANDIDATE = 'bbbbbbbbbb';
export const OTHER = 'cccccccccc';

export function spec(over: Partial<RolloutSpec> = {}): RolloutSpec {
  return {
    replicas: 4,
    modelName: 'wan',
    modelVersion: 'v2',
    gpuResource: 'nvidia.com/gpu',
    gpusPerReplica: 1,
    steps: [1, 5, 20, 50, 100],
    stepDurationMs: 60_000,
    progressDeadlineMs: 600_000,
    manualGates: [],
    shadow: undefined,
    stableScale: 'Dynamic',
    ...over,
  };
}

/** A Service-carried weight without the ready replicas for it, seen after some write. */
export interface Violation {
  after: Action;
  side: 'stable' | 'candidate';
  revision: string;
  weight: number;
  ready: number;
  needed: number;
}

/**
 * A small simulated cluster, as unkind as a real one: a pod becomes ready `readyDelayMs` after it is
 * created (never, past `readyLimit`), pods can be lost, and after EVERY single write (not every pass)
 * the invariant is checked — so a pass whose writes are safe only as a whole shows up here.
 */
export class World {
  now = T0;
  status: RolloutStatus = {};
  /** Per revision: desired replicas and the time each of its pods becomes ready. */
  pods: Record<string, { desired: number; readyAt: number[]; gpus: number }> = {};
  services: { stableSelects?: string; candidateSelects?: string } = {};
  route = { found: true, stableWeight: undefined as number | undefined, candidateWeight: undefined as number | undefined, mirrorPercent: 0 };
  totalGpus = 16;
  readyDelayMs = 3_000;
  analysis: AnalysisVerdict = { result: 'pass' };
  breaker: DecideInput['breaker'] = { tripped: false };
  controls: DecideInput['controls'] = { paused: false };
  readyLimit: Record<string, number> = {};
  log: Action[] = [];
  /** Every phase change decide() made in this world. */
  transitions: Transitioned[] = [];
  violations: Violation[] = [];
  deleting = false;
  /** The gate webhooks' cached answers decide() sees (spec.webhooks). */
  webhookAnswers: NonNullable<DecideInput['webhookAnswers']> = [];
  /** Pods need a free GPU to be scheduled (FIFO); an unscheduled pod has readyAt Infinity. */
  gpuStrict = false;
  gpusUsed(): number {
    return Object.values(this.pods).reduce((s, p) => s + p.readyAt.filter((t) => Number.isFinite(t)).length * p.gpus, 0);
  }
  schedule(): void {
    if (!this.gpuStrict) return;
    for (const p of Object.values(this.pods)) {
      for (let i = 0; i < p.readyAt.length; i++) {
        if (Number.isFinite(p.readyAt[i]!)) continue;
        if (this.totalGpus - this.gpusUsed() < p.gpus) return;
        p.readyAt[i] = this.now + this.readyDelayMs;
      }
    }
  }
  invalid = false;
  staleRoute: DecideInput['route'] | undefined;
  finalizerRemoved = false;
  /** When set, decide() sees these Services (an informer that has not caught up). */
  staleServices: { stableSelects?: string; candidateSelects?: string } | undefined;
  constructor(
    public spec: RolloutSpec,
    public revision: string,
  ) {
    worlds.push(this);
  }

  get deployments(): Record<string, DeploymentObservation> {
    const out: Record<string, DeploymentObservation> = {};
    for (const [revision, p] of Object.entries(this.pods)) {
      const limit = this.readyLimit[revision] ?? Infinity;
      const ready = Math.min(limit, p.readyAt.filter((t) => t <= this.now).length);
      out[revision] = {
        revision,
        exists: true,
        desiredReplicas: p.desired,
        readyReplicas: ready,
        gpusPerReplica: p.gpus,
        ...(ready > 0 ? { readySeconds: this.readyDelayMs / 1000 } : {}),
        // A pod the GPUs could not place is Pending with PodScheduled=False, as the scheduler reports it.
        podProblems:
          limit < p.desired || p.readyAt.some((t) => !Number.isFinite(t)) ? ['Unschedulable: 0/1 nodes are available: Insufficient nvidia.com/gpu'] : [],
        ...(p.readyAt.some((t) => !Number.isFinite(t)) ? { unschedulableReplicas: p.readyAt.filter((t) => !Number.isFinite(t)).length } : {}),
      };
    }
    return out;
  }

  input(): DecideInput {
    this.schedule();
    const used = this.gpuStrict
      ? this.gpusUsed()
      : Object.entries(this.pods).reduce((s, [rev, p]) => s + Math.min(p.desired, this.readyLimit[rev] ?? Infinity) * p.gpus, 0);
    return {
      now: new Date(this.now),
      generation: 1,
      spec: this.invalid ? undefined : this.spec,
      specErrors: this.invalid ? ['invalid'] : [],
      specRevision: this.invalid ? '' : this.revision,
      status: this.status,
      deployments: structuredClone(this.deployments),
      services: { ...(this.staleServices ?? this.services) },
      route: { ...(this.staleRoute ?? this.route) },
      gpus: { freePerNode: [this.totalGpus - used] },
      analysis: this.analysis,
      breaker: this.breaker,
      controls: this.controls,
      deleting: this.deleting,
      ...(this.webhookAnswers.length > 0 ? { webhookAnswers: this.webhookAnswers } : {}),
    };
  }

  step(): Decision {
    const d = decide(this.input());
    // Every phase change is one the transition table lists from the phase it came from (docs/architecture.md).
    for (const t of d.transitions ?? []) expect(listedFrom(t), `transition ${t.from} → ${t.to} (${t.reason}) is not listed from ${t.from}`).toBe(true);
    this.transitions.push(...(d.transitions ?? []));
    this.status = d.status;
    for (const a of d.actions) {
      const before = this.unsafe();
      this.apply(a);
      this.check(a, before);
    }
    return d;
  }

  apply(a: Action): void {
    this.log.push(a);
    switch (a.kind) {
      case 'ensureDeployment':
      case 'scaleDeployment': {
        const gpus = a.revision === this.revision ? this.spec.gpusPerReplica : (this.pods[a.revision]?.gpus ?? 1);
        const p = this.pods[a.revision] ?? { desired: 0, readyAt: [], gpus };
        // A ReplicaSet removes not-ready pods first, then the newest.
        p.readyAt.sort((x, y) => x - y);
        while (p.readyAt.length > a.replicas) p.readyAt.pop();
        while (p.readyAt.length < a.replicas) p.readyAt.push(this.gpuStrict ? Infinity : this.now + this.readyDelayMs);
        this.pods[a.revision] = p;
        this.schedule();
        p.desired = a.replicas;
        this.pods[a.revision] = p;
        break;
      }
      case 'deleteDeployment':
        delete this.pods[a.revision];
        break;
      case 'ensureServices':
        this.services = { stableSelects: a.stableRevision, candidateSelects: a.candidateRevision };
        break;
      case 'removeFinalizer':
        this.finalizerRemoved = true;
        break;
      case 'setTraffic':
        this.route = { found: true, stableWeight: a.stableWeight, candidateWeight: a.candidateWeight, mirrorPercent: a.mirrorPercent };
        break;
      default:
        break;
    }
  }

  /** Sides that carry more weight than their ready replicas can, right now. */
  unsafe(): Omit<Violation, 'after'>[] {
    const deps = this.deployments;
    // A rule that names only the stable backend, without weights, sends it everything (Gateway API: weight 1 of 1).
    const sides = [
      ['stable', this.services.stableSelects, this.route.stableWeight ?? 100],
      ['candidate', this.services.candidateSelects, this.route.candidateWeight],
    ] as const;
    const out: Omit<Violation, 'after'>[] = [];
    for (const [side, revision, weight] of sides) {
      if (!weight) continue;
      // A weight on a Service that does not exist yet reaches no pod at all.
      const ready = revision ? (deps[revision]?.readyReplicas ?? 0) : 0;
      const needed = Math.max(1, Math.ceil((weight * this.spec.replicas) / 100));
      if (ready < needed) out.push({ side, revision: revision ?? '', weight, ready, needed });
    }
    return out;
  }

  /**
   * The invariant, right after one write: a write may not create a shortfall, nor deepen one the world
   * caused (pods lost). Shortfalls the world caused are for the test to follow up.
   */
  check(after: Action, before: Omit<Violation, 'after'>[]): void {
    for (const v of this.unsafe()) {
      const was = before.find((b) => b.side === v.side);
      if (!was || v.weight > was.weight || v.ready < was.ready) this.violations.push({ after, ...v });
    }
  }

  /** Pods lost (deleted and not coming back while `readyLimit` holds them down). */
  losePods(revision: string, keep: number): void {
    this.readyLimit[revision] = keep;
  }

  /** Runs passes, advancing the clock by each requested requeue (at most 1 s, so pods' readiness is seen), until `until` holds. */
  run(until: (w: World) => boolean, max = 2000): void {
    for (let i = 0; i < max; i++) {
      if (until(this)) return;
      const d = this.step();
      this.now += Math.min(d.requeueAfterMs ?? 1000, 1000);
    }
    throw new Error(
      `not reached after ${max} passes; phase ${this.status.phase}: ${this.status.message}; route ${JSON.stringify(this.route)}, services ${JSON.stringify(this.services)}, deployments ${JSON.stringify(this.deployments)}, last actions ${JSON.stringify(this.log.slice(-4))}`,
    );
  }

  settled(): World {
    this.run((w) => w.status.phase === 'Healthy' && w.condition('Ready') === 'True');
    return this;
  }

  condition(type: string): string | undefined {
    return this.status.conditions?.find((c) => c.type === type)?.status;
  }

  conditionMessage(type: string): string | undefined {
    return this.status.conditions?.find((c) => c.type === type)?.message;
  }

  reason(type: string): string | undefined {
    return this.status.conditions?.find((c) => c.type === type)?.reason;
  }
}

const worlds: World[] = [];
/** Tests that accept operator-made shortfalls (the drain policy for a failing candidate) say so here. */
export const acceptsShortfall = new WeakSet<World>();
/** Registers the check every test file using World needs: no write made a shortfall, unless the test accepted one. */
export function expectNoShortfallAfterEach(): void {
  afterEach(() => {
    for (const w of worlds.splice(0)) if (!acceptsShortfall.has(w)) expect(w.violations, process.env.DEBUG_WORLD ? JSON.stringify(w.log) : '').toEqual([]);
  });
}

export function stableWorld(s = spec()): World {
  const w = new World(s, STABLE);
  w.settled();
  w.log = [];
  return w;
}

export function startRollout(w: World, revision = CANDIDATE, version = 'v3'): World {
  w.revision = revision;
  w.spec = { ...w.spec, modelVersion: version };
  return w;
}
export function cloneWorld(w: World): World {
  const c = new World(structuredClone(w.spec), w.revision);
  Object.assign(c, {
    now: w.now,
    status: structuredClone(w.status),
    pods: structuredClone(w.pods),
    services: { ...w.services },
    route: { ...w.route },
    totalGpus: w.totalGpus,
    deleting: w.deleting,
    gpuStrict: w.gpuStrict,
    readyDelayMs: w.readyDelayMs,
    analysis: w.analysis,
    breaker: w.breaker,
    controls: { ...w.controls },
    readyLimit: { ...w.readyLimit },
  });
  return c;
}
