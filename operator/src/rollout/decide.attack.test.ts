import { describe, expect, it } from 'vitest';
import { decide } from './decide.js';
import {
  acceptsShortfall,
  CANDIDATE,
  cloneWorld,
  expectNoShortfallAfterEach,
  OTHER,
  spec,
  STABLE,
  startRollout,
  World,
} from './simulated-cluster.test-support.js';
import type { Action, RolloutSpec } from './types.js';
import { seededRandom } from '../analysis/breaker-simulation.test-support.js';

expectNoShortfallAfterEach();

// ---------------------------------------------------------------- attacks (issue 12)

function slowWorld(over: Partial<RolloutSpec> = {}, delay = 20_000): World {
  const w = new World(spec({ replicas: 4, steps: [50, 100], stepDurationMs: 60_000, ...over }), STABLE);
  w.readyDelayMs = delay;
  w.settled();
  w.log = [];
  return startRollout(w);
}

describe('attack: pause or invalid spec while a restart returns traffic from the old candidate', () => {
  it('paused: the old candidate loses pods, its weight must drop in the same reconcile', () => {
    const w = slowWorld();
    w.run((x) => x.route.candidateWeight === 50 && x.deployments[STABLE]?.desiredReplicas === 2);
    startRollout(w, OTHER, 'v4'); // a new template: traffic returns from CANDIDATE at stable's pace
    w.step();
    expect(w.route.candidateWeight).toBe(50); // stable has 2 ready: it cannot take more yet
    w.controls = { paused: true };
    w.step();
    w.losePods(CANDIDATE, 1); // old candidate: 1 ready for 50 % (needs 2)
    acceptsShortfall.add(w); // stable has 2 of 4 ready: the overload policy splits by ready pods
    w.step();
    expect(w.violations.every((v) => v.side === 'stable' && v.after.kind === 'setTraffic')).toBe(true);
    // Expected: weights follow ready capacity even while paused (hold() does this for the current candidate).
    expect(w.route.candidateWeight).toBeLessThanOrEqual(33);
  });

  it('paused: once stable is ready again, the old candidate (1 ready) still carries 50 % for as long as the pause lasts', () => {
    const w = slowWorld();
    w.run((x) => x.route.candidateWeight === 50 && x.deployments[STABLE]?.desiredReplicas === 2);
    startRollout(w, OTHER, 'v4');
    w.step();
    w.controls = { paused: true };
    w.losePods(CANDIDATE, 1);
    acceptsShortfall.add(w); // the overload policy while stable is short, as above
    for (let i = 0; i < 120; i++) {
      w.step();
      w.now += 1000;
    }
    expect(w.violations.every((v) => v.side === 'stable' && v.after.kind === 'setTraffic')).toBe(true);
    expect(w.deployments[STABLE]?.readyReplicas).toBe(4);
    expect(w.unsafe()).toEqual([]);
  });

  it('invalid spec: same hole (frozen hold skips moveTraffic when the candidate Service is on the old candidate)', () => {
    const w = slowWorld();
    w.run((x) => x.route.candidateWeight === 50 && x.deployments[STABLE]?.desiredReplicas === 2);
    startRollout(w, OTHER, 'v4');
    w.step();
    w.losePods(CANDIDATE, 0);
    const d = decide({ ...w.input(), spec: undefined, specErrors: ['x'] });
    expect(d.actions).toContainEqual(expect.objectContaining({ kind: 'setTraffic', candidateWeight: 0 }));
  });
});

// ---------------------------------------------------------------- randomized flows

interface Finding {
  seed: number;
  pass: number;
  kind: string;
  detail: string;
  trace: string[];
}

type FuzzOpts = { stale: boolean; events: number; crashes: boolean };

/** Runs one random flow; returns what went wrong (outside the documented policies). */
function fuzzOne(seed: number, opts: FuzzOpts): Finding[] {
  const r = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const replicas = pick([1, 2, 3, 4, 5, 7]);
  const gpus = pick([1, 1, 2]);
  const steps = pick([
    [1, 5, 20, 50, 100],
    [1, 100],
    [33, 66, 100],
    [50, 100],
    [10, 25, 75, 100],
  ]);
  const stableScale = pick(['Dynamic', 'Dynamic', 'Full'] as const);
  const shadow = r() < 0.3 ? { mirrorPercent: pick([10, 50, 100]), durationMs: 30_000 } : undefined;
  const manualGates = r() < 0.3 ? [pick(steps)] : [];
  const s = spec({ replicas, gpusPerReplica: gpus, steps, stableScale, shadow, manualGates, stepDurationMs: 20_000, progressDeadlineMs: 300_000 });
  const w = new World(s, STABLE);
  acceptsShortfall.add(w);
  w.totalGpus = gpus * (stableScale === 'Full' ? 2 * replicas : replicas + pick([1, 2, replicas]));
  w.readyDelayMs = pick([1_000, 5_000, 20_000]);
  w.gpuStrict = process.env.FUZZ_STRICT === '1' || (process.env.FUZZ_STRICT !== '0' && r() < 0.4);
  w.settled();
  w.log = [];
  w.violations = [];
  const trace: string[] = [
    `replicas ${replicas} gpus ${gpus} steps ${JSON.stringify(steps)} ${stableScale} shadow ${JSON.stringify(shadow)} gates ${JSON.stringify(manualGates)} totalGpus ${w.totalGpus} delay ${w.readyDelayMs} strict ${w.gpuStrict}`,
  ];
  const findings: Finding[] = [];
  let revCounter = 0;
  const newRev = () => `rev${(++revCounter).toString().padStart(7, '0')}`;
  startRollout(w, CANDIDATE, 'v3');
  trace.push('start CANDIDATE');
  let token = 0;
  const lost = new Set<string>();
  const restore = (rev: string) => {
    const keep = w.readyLimit[rev];
    delete w.readyLimit[rev];
    const p = w.pods[rev];
    if (p && keep !== undefined) {
      p.readyAt.sort((a, b) => a - b);
      p.readyAt = p.readyAt.map((t, i) => (i < keep ? t : Math.max(t, w.now + w.readyDelayMs)));
    }
    lost.delete(rev);
  };
  let pass = 0;
  let prevServices = { ...w.services };
  let prevRoute = { ...w.route };
  const onePass = (phaseName: string) => {
    const before = w.violations.length;
    const inp = w.input();
    const deps = inp.deployments;
    const d = decide(inp);
    // A crash: the operator dies after a prefix of this pass's writes; its status patch is lost.
    const crash = opts.crashes && phaseName === 'events' && r() < 0.15;
    const actions = crash ? d.actions.slice(0, Math.floor(r() * (d.actions.length + 1))) : d.actions;
    if (!crash) w.status = d.status;
    prevServices = { ...w.services };
    prevRoute = { ...w.route };
    // Per revision (a revision both Services select carries the sum): a write that moves a shortfall from one Service to the other on the same pods is not a new one.
    const byRev = () => {
      const out = new Map<string, { weight: number; ready: number }>();
      const deps2 = w.deployments;
      for (const [rev, wt] of [
        [w.services.stableSelects, w.route.stableWeight ?? 100],
        [w.services.candidateSelects, w.route.candidateWeight ?? 0],
      ] as const) {
        if (!rev || !wt) continue;
        const e = out.get(rev) ?? { weight: 0, ready: deps2[rev]?.readyReplicas ?? 0 };
        e.weight += wt;
        out.set(rev, e);
      }
      return out;
    };
    const revViolations: { after: Action; rev: string; weight: number; ready: number }[] = [];
    for (const a of actions) {
      const b = byRev();
      w.apply(a);
      for (const [rev, e] of byRev()) {
        const needed = Math.max(1, Math.ceil((e.weight * replicas) / 100));
        if (e.ready >= needed) continue;
        const was = b.get(rev);
        if (!was || e.weight > was.weight || e.ready < was.ready) revViolations.push({ after: a, rev, weight: e.weight, ready: e.ready });
      }
    }
    // Classify new violations: drain (RolledBack) and overload (neither side can carry) are policy.
    const realStable = w.services.stableSelects,
      realCand = w.services.candidateSelects;
    const cr = realCand ? (deps[realCand]?.readyReplicas ?? 0) : 0;
    const sr = realStable ? (deps[realStable]?.readyReplicas ?? 0) : 0;
    const carried = (n: number) => (n <= 0 ? 0 : n >= replicas ? 100 : Math.floor((100 * n) / replicas));
    // The GPU-swap policy on the way back: stable starved of GPUs takes one replica's share more than it has ready.
    const stableDep = realStable ? deps[realStable] : undefined;
    const starved = !!stableDep && (stableDep.unschedulableReplicas ?? 0) > 0;
    const swap = starved && realCand !== realStable && (w.route.stableWeight ?? 0) <= carried(sr + 1);
    const overload = (realCand !== realStable && 100 - carried(sr) > carried(cr)) || swap;
    const stale = !!w.staleServices || !!w.staleRoute;
    void before;
    for (const v of revViolations) {
      if (v.after.kind === 'setTraffic' && (d.status.phase === 'RolledBack' || overload)) continue;
      findings.push({
        seed,
        pass,
        kind: `${stale ? 'stale:' : ''}shortfall-by-write(${v.after.kind})`,
        detail: `${phaseName} phase ${d.status.phase}: ${JSON.stringify(v)} deps ${JSON.stringify(deps)} svc ${JSON.stringify(w.services)}`,
        trace: [...trace],
      });
    }
    // Weights follow capacity within the pass: a candidate-side shortfall left when a feasible split existed.
    if (!crash && !stale && realCand && realCand !== realStable && !overload && d.status.phase !== 'RolledBack') {
      const cw = w.route.candidateWeight ?? 0;
      if (cw > 0 && cr < Math.max(1, Math.ceil((cw * replicas) / 100))) {
        const known = (w.controls.paused || w.invalid) && realCand !== d.status.candidate?.revision;
        findings.push({
          seed,
          pass,
          kind: known ? 'candidate-shortfall-not-followed (hold during restart, known)' : 'candidate-shortfall-not-followed',
          detail: `${phaseName} phase ${d.status.phase} route ${JSON.stringify(w.route)} svc ${JSON.stringify(w.services)} candReady ${cr} stableReady ${sr} paused ${w.controls.paused} invalid ${w.invalid}`,
          trace: [...trace],
        });
      }
    }
    w.staleServices = undefined;
    w.staleRoute = undefined;
    w.now += Math.min(d.requeueAfterMs ?? 1000, 1000);
    pass++;
    return d;
  };
  for (let e = 0; e < opts.events; e++) {
    const quiet = Math.floor(r() * 40);
    for (let i = 0; i < quiet && !w.finalizerRemoved; i++) onePass('events');
    if (w.finalizerRemoved) break;
    const ev = pick([
      'abort',
      'pause',
      'unpause',
      'resume',
      'promote',
      'retry',
      'revert',
      'newTemplate',
      'breaker',
      'fail',
      'losePods',
      'losePods',
      'restorePods',
      'invalid',
      'valid',
      'steps',
      'delete',
      'stale',
      'prevStable',
      'gpuSqueeze',
      'routeGone',
    ] as const);
    if (ev === 'delete' && r() < 0.7) continue; // rarer
    switch (ev) {
      case 'abort':
        w.controls = { ...w.controls, abort: `a${++token}` };
        break;
      case 'pause':
        w.controls = { ...w.controls, paused: true };
        break;
      case 'unpause':
        w.controls = { ...w.controls, paused: false };
        break;
      case 'resume':
        w.controls = { ...w.controls, resume: `r${++token}` };
        break;
      case 'promote':
        w.controls = { ...w.controls, promote: `p${++token}` };
        break;
      case 'retry':
        w.controls = { ...w.controls, retry: `t${++token}` };
        break;
      case 'revert':
        w.revision = w.status.stable?.revision ?? w.revision;
        break;
      case 'newTemplate':
        startRollout(w, newRev(), `v${10 + revCounter}`);
        break;
      case 'prevStable':
        if (w.status.previousStable) w.revision = w.status.previousStable.revision;
        break;
      case 'breaker':
        w.breaker = { tripped: true, reason: 'ErrorRate', message: 'breaker' };
        onePass('breaker');
        w.breaker = { tripped: false };
        break;
      case 'fail':
        w.analysis = { result: 'fail', reason: 'Latency', message: 'bad' };
        onePass('fail');
        w.analysis = { result: 'pass' };
        break;
      case 'losePods': {
        const revs = Object.keys(w.pods).filter((k) => w.pods[k]!.desired > 0);
        if (revs.length === 0) break;
        const rev = pick(revs);
        const keep = Math.floor(r() * w.pods[rev]!.desired);
        w.losePods(rev, keep);
        lost.add(rev);
        trace.push(`pass ${pass}: losePods ${rev} keep ${keep}`);
        continue;
      }
      case 'restorePods':
        for (const rev of [...lost]) restore(rev);
        break;
      case 'invalid':
        w.invalid = true;
        break;
      case 'valid':
        w.invalid = false;
        break;
      case 'steps':
        w.spec = {
          ...w.spec,
          steps: pick([
            [1, 5, 20, 50, 100],
            [1, 100],
            [33, 66, 100],
            [50, 100],
            [10, 25, 75, 100],
          ]),
        };
        break;
      case 'delete':
        w.deleting = true;
        break;
      case 'gpuSqueeze':
        w.totalGpus = Math.max(gpus * (replicas + Number(process.env.FUZZ_HEADROOM ?? 0)), w.totalGpus - gpus);
        break;
      case 'routeGone': {
        const saved = { ...w.route };
        w.route = { ...w.route, found: false } as typeof w.route;
        onePass('routeGone');
        w.route = saved;
        break;
      }
      case 'stale':
        if (opts.stale) {
          w.staleServices = { ...prevServices };
          w.staleRoute = { ...prevRoute };
        }
        break;
    }
    trace.push(
      `pass ${pass}: ${ev}${ev === 'newTemplate' || ev === 'revert' || ev === 'prevStable' ? ` → ${w.revision}` : ''}${ev === 'steps' ? ` → ${JSON.stringify(w.spec.steps)}` : ''}`,
    );
  }
  // Calm: faults cleared; the rollout must end where it should and then stay quiet.
  for (const rev of [...lost]) restore(rev);
  w.controls = { ...w.controls, paused: false };
  w.invalid = false;
  w.breaker = { tripped: false };
  w.analysis = { result: 'pass' };
  trace.push(`pass ${pass}: calm`);
  const done = (x: World): boolean => {
    if (x.deleting) return x.finalizerRemoved;
    const nonStable = Object.entries(x.pods).filter(([k, p]) => k !== x.status.stable?.revision && p.desired > 0);
    if (x.revision === x.status.stable?.revision)
      return x.status.phase === 'Healthy' && x.condition('Ready') === 'True' && nonStable.length === 0 && x.route.candidateWeight === 0;
    if ((x.status.phase === 'Aborted' || x.status.phase === 'RolledBack') && x.status.candidate?.revision === x.revision)
      return x.route.candidateWeight === 0 && nonStable.length === 0;
    return false;
  };
  let ended = false;
  onePass('calm');
  for (let i = 0; i < 6000; i++) {
    if (done(w)) {
      ended = true;
      break;
    }
    // Gates stop a rollout for a person: give the resume.
    if (w.status.phase === 'Paused') w.controls = { ...w.controls, resume: `r${++token}` };
    onePass('calm');
  }
  if (!ended) {
    const deletingStuck = w.deleting && w.gpuStrict;
    const frozenBelow =
      (w.status.currentStep ? w.status.currentStep.weight : 0) < (w.route.candidateWeight ?? 0) &&
      (w.status.phase === 'Progressing' || w.status.phase === 'Shadowing' || w.status.phase === 'Paused');
    findings.push({
      seed,
      pass,
      kind: frozenBelow ? 'no-end (step below route weight: retry freeze, known)' : deletingStuck ? 'no-end (deleting, tight GPUs, known?)' : 'no-end',
      detail: `phase ${w.status.phase}: ${w.status.message}; route ${JSON.stringify(w.route)} svc ${JSON.stringify(w.services)} pods ${JSON.stringify(Object.fromEntries(Object.entries(w.deployments).map(([k, v]) => [k, [v.desiredReplicas, v.readyReplicas]])))} status.stable ${w.status.stable?.revision} cand ${w.status.candidate?.revision} template ${w.revision} lastActions ${JSON.stringify(w.log.slice(-4))}`,
      trace,
    });
  } else if (!w.deleting) {
    const st = w.status.stable!.revision;
    const extra = Object.keys(w.pods).filter((k) => k !== st && k !== w.status.previousStable?.revision && k !== w.status.candidate?.revision);
    if (w.pods[st]?.desired !== w.spec.replicas || extra.length > 0)
      findings.push({
        seed,
        pass,
        kind: w.pods[st]?.desired !== w.spec.replicas ? 'bad-end-state' : 'leftover-deployment',
        detail: `stable ${st} desired ${w.pods[st]?.desired}; leftover ${extra.join(',')}; phase ${w.status.phase}`,
        trace,
      });
    const start = w.log.length;
    for (let i = 0; i < 30; i++) onePass('quiet');
    const writes = w.log.slice(start).filter((a) => a.kind !== 'event');
    if (writes.length > 0) findings.push({ seed, pass, kind: 'writes-after-end', detail: JSON.stringify(writes.slice(0, 4)), trace });
  }
  acceptsShortfall.add(w); // the fuzzer classifies shortfalls itself (policy or finding)
  return findings;
}

describe('attack: randomized flows', () => {
  const N = Number(process.env.FUZZ_N ?? 300);
  for (const [stale, crashes] of [
    [false, false],
    [true, false],
    [false, true],
  ] as const) {
    it(`${N} random flows${stale ? ' with lagging observations' : ''}${crashes ? ' with crashes after any prefix of a pass' : ''}: no shortfall outside policy, every flow ends, then stays quiet`, () => {
      const all: Finding[] = [];
      for (let seed = 1; seed <= N; seed++) all.push(...fuzzOne(seed + (stale ? 100_000 : 0) + (crashes ? 200_000 : 0), { stale, events: 12, crashes }));
      const byKind = new Map<string, Finding[]>();
      for (const f of all) byKind.set(f.kind, [...(byKind.get(f.kind) ?? []), f]);
      const summary = [...byKind.entries()].map(
        ([k, fs]) =>
          `${k}: ${fs.length} (seeds ${[...new Set(fs.map((f) => f.seed))].slice(0, 8).join(', ')})\n  first: seed ${fs[0]!.seed} pass ${fs[0]!.pass}: ${fs[0]!.detail}\n  trace: ${fs[0]!.trace.join(' | ')}`,
      );
      if (process.env.FUZZ_PRINT) console.log(summary.join('\n'));
      expect(summary).toEqual([]);
    }, 120_000);
  }
});

describe('attack: retry while an abort is still returning traffic', () => {
  it('retry before stable is back: the first step is below the current weight, stable is shrunk again and the rollout freezes', () => {
    const w = slowWorld({ steps: [25, 50, 100] });
    w.run((x) => x.route.candidateWeight === 100 && x.deployments[STABLE]?.desiredReplicas === 1);
    w.controls = { paused: false, abort: 'a1' };
    w.step();
    expect(w.route).toMatchObject({ stableWeight: 25, candidateWeight: 75 });
    expect(w.deployments[STABLE]?.desiredReplicas).toBe(4); // abort scaled stable back to full
    w.controls = { paused: false, abort: 'a1', retry: 'r1' };
    w.now += 1000;
    w.step();
    expect(w.status.currentStep?.weight).toBe(25);
    // Stable must not be shrunk below what the step's 75 % needs, or the route can never come down to 25 %.
    const shrunk = w.deployments[STABLE]?.desiredReplicas;
    // (observed: 1 — see the run below for the consequence)
    // And the rollout must get somewhere: the route down to the step weight (or the step re-derived), then promotion.
    let err = '';
    try {
      w.run((x) => x.status.stable?.revision === CANDIDATE && x.condition('Ready') === 'True', 3000);
    } catch (e) {
      err = String(e);
    }
    expect({ shrunk, err }).toEqual({ shrunk: 4, err: '' });
  });
});

describe('attack: pods that a scale-down already doomed are counted as ready', () => {
  it('abort right after stable was scaled 4→2, before the ReplicaSet has marked the extra pods terminating: traffic must not move onto them', () => {
    const w = slowWorld({ steps: [50, 100] });
    w.run((x) => x.route.candidateWeight === 50 && x.deployments[STABLE]?.desiredReplicas === 2);
    // The Deployment says 2, but the ReplicaSet controller has not yet deleted the other 2 pods: they are
    // still Ready and not terminating, exactly what observeDeployments() counts (pods, not the Deployment).
    const input = w.input();
    input.deployments[STABLE] = { ...input.deployments[STABLE]!, desiredReplicas: 2, readyReplicas: 4 };
    input.controls = { paused: false, abort: 'now' };
    const d = decide(input);
    const traffic = d.actions.find((a) => a.kind === 'setTraffic');
    // Stable will have 2 pods: it can carry 50 %, not 100 %.
    expect(traffic && traffic.kind === 'setTraffic' ? traffic.stableWeight : 50).toBeLessThanOrEqual(50);
  });
});

describe('attack: a tight GPU cluster (just enough GPUs, pods need a free GPU to be scheduled)', () => {
  const tight = (over: Partial<RolloutSpec> = {}) => {
    const w = new World(spec({ replicas: 4, steps: [50, 100], stepDurationMs: 60_000, ...over }), STABLE);
    w.gpuStrict = true;
    w.totalGpus = 6; // just enough: 4 stable + 2 candidate at 50 %, 2 + 4 at 100 %
    w.readyDelayMs = 5_000;
    w.settled();
    w.log = [];
    startRollout(w);
    w.run((x) => x.route.candidateWeight === 100 && x.deployments[STABLE]?.desiredReplicas === 1 && x.deployments[STABLE]?.readyReplicas === 1);
    return w;
  };

  it('abort at 100 % ends (the candidate gives its GPUs back as traffic leaves it)', () => {
    const w = tight();
    w.controls = { paused: false, abort: 'a' };
    w.run((x) => x.route.candidateWeight === 0 && x.deployments[CANDIDATE]?.desiredReplicas === 0);
  });

  it('template reverted at 100 % ends', () => {
    const w = tight();
    w.revision = STABLE;
    w.settled();
  });

  it('deletion (finalizer) at 100 % ends: the finalizer is released once traffic is back on stable', () => {
    const w = tight();
    w.deleting = true;
    let err = '';
    try {
      w.run((x) => x.finalizerRemoved, 1500);
    } catch (e) {
      err = String(e).slice(0, 600);
    }
    expect(err).toBe('');
  });
});

describe('attack: a candidate found failing while traffic is already returning', () => {
  const at100 = () => {
    const w = slowWorld({ steps: [50, 100] });
    w.run((x) => x.route.candidateWeight === 100 && x.deployments[STABLE]?.desiredReplicas === 1);
    return w;
  };

  it('abort at 100 %, then the breaker trips during the return: the failing candidate is not drained (keeps 75 %)', () => {
    const w = at100();
    w.controls = { paused: false, abort: 'a' };
    w.step();
    expect(w.route.candidateWeight).toBe(75);
    w.breaker = { tripped: true, reason: 'ErrorRate', message: '60 % errors' };
    w.now += 1000;
    acceptsShortfall.add(w); // the drain policy puts 100 % on stable before it is ready
    w.step();
    expect(w.violations.map((v) => [v.side, v.after.kind])).toEqual([['stable', 'setTraffic']]);
    expect({ phase: w.status.phase, candidateWeight: w.route.candidateWeight }).toEqual({ phase: 'RolledBack', candidateWeight: 0 });
  });

  it('template reverted at 100 %, then the breaker trips: steady() ignores it, the failing candidate keeps its traffic', () => {
    const w = at100();
    w.revision = STABLE;
    w.step();
    expect(w.route.candidateWeight).toBe(75);
    w.breaker = { tripped: true, reason: 'ErrorRate', message: '60 % errors' };
    w.now += 1000;
    acceptsShortfall.add(w); // the drain policy, as above
    w.step();
    expect(w.violations.map((v) => [v.side, v.after.kind])).toEqual([['stable', 'setTraffic']]);
    expect(w.route.candidateWeight).toBe(0);
  });

  it('an abort records CandidateCapacityLost although the candidate has every replica it needs (stable is what limits)', () => {
    const w = at100();
    w.controls = { paused: false, abort: 'a' };
    w.step();
    expect(w.deployments[CANDIDATE]?.readyReplicas).toBe(4);
    expect({ lost: w.status.candidateCapacityLost, events: w.log.filter((a) => a.kind === 'event' && a.reason === 'CandidateCapacityLost').length }).toEqual({
      lost: undefined,
      events: 0,
    });
  });
});

describe('attack: crash after any write, exhaustively, in flows the existing test does not replay', () => {
  type Scenario = { name: string; over: Partial<RolloutSpec>; setup: (w: World) => void; done: (w: World) => boolean; drain?: boolean };
  const healthyOn = (rev: string) => (x: World) =>
    x.status.stable?.revision === rev &&
    x.status.phase === 'Healthy' &&
    x.condition('Ready') === 'True' &&
    Object.entries(x.pods).every(([k, p]) => k === rev || p.desired === 0);
  const backOnStable = (x: World) =>
    (x.status.phase === 'Aborted' || x.status.phase === 'RolledBack') &&
    x.route.candidateWeight === 0 &&
    (x.pods[CANDIDATE]?.desired ?? 0) === 0 &&
    x.pods[STABLE]?.desired === x.spec.replicas;
  const scenarios: Scenario[] = [
    { name: 'replicas 3, steps [33, 66, 100], promotion', over: { replicas: 3, steps: [33, 66, 100] }, setup: () => {}, done: healthyOn(CANDIDATE) },
    {
      name: 'replicas 5, gpus 2, steps [1, 100], promotion',
      over: { replicas: 5, gpusPerReplica: 2, steps: [1, 100] },
      setup: (x) => {
        x.totalGpus = 20;
      },
      done: healthyOn(CANDIDATE),
    },
    {
      name: 'replicas 7, abort at 66 %',
      over: { replicas: 7, steps: [33, 66, 100] },
      setup: (x) => {
        x.run((y) => y.route.candidateWeight === 66 && y.deployments[STABLE]?.desiredReplicas === 3);
        x.controls = { paused: false, abort: 'a' };
      },
      done: backOnStable,
    },
    {
      name: 'replicas 1, abort at 100 %',
      over: { replicas: 1, steps: [50, 100] },
      setup: (x) => {
        x.run((y) => y.route.candidateWeight === 100);
        x.controls = { paused: false, abort: 'a' };
      },
      done: backOnStable,
    },
    {
      name: 'shadow + abort',
      over: { replicas: 3, shadow: { mirrorPercent: 50, durationMs: 60_000 } },
      setup: (x) => {
        x.run((y) => y.route.mirrorPercent === 50);
        x.controls = { paused: false, abort: 'a' };
      },
      done: backOnStable,
    },
    {
      name: 'manual gate + abort',
      over: { replicas: 5, steps: [20, 50, 100], manualGates: [50] },
      setup: (x) => {
        x.run((y) => y.status.phase === 'Paused');
        x.controls = { paused: false, abort: 'a' };
      },
      done: backOnStable,
    },
    {
      name: 'restart (new template) at 66 %',
      over: { replicas: 3, steps: [33, 66, 100] },
      setup: (x) => {
        x.run((y) => y.route.candidateWeight === 66 && y.deployments[STABLE]?.desiredReplicas === 2);
        startRollout(x, OTHER, 'v4');
      },
      done: healthyOn(OTHER),
    },
    {
      name: 'restart while an abort returns',
      over: { replicas: 4 },
      setup: (x) => {
        x.run((y) => y.route.candidateWeight === 100 && y.deployments[STABLE]?.desiredReplicas === 1);
        x.controls = { paused: false, abort: 'a' };
        x.step();
        startRollout(x, OTHER, 'v4');
      },
      done: healthyOn(OTHER),
    },
    {
      name: 'revert during an abort return',
      over: { replicas: 5 },
      setup: (x) => {
        x.run((y) => y.route.candidateWeight === 100 && y.deployments[STABLE]?.desiredReplicas === 1);
        x.controls = { paused: false, abort: 'a' };
        x.step();
        x.revision = STABLE;
      },
      done: healthyOn(STABLE),
    },
    {
      name: 'abort during a revert',
      over: { replicas: 5 },
      setup: (x) => {
        x.run((y) => y.route.candidateWeight === 100 && y.deployments[STABLE]?.desiredReplicas === 1);
        x.revision = STABLE;
        x.step();
        x.controls = { paused: false, abort: 'a' };
      },
      done: healthyOn(STABLE),
    },
    {
      name: 'revert to the previous stable after a promotion',
      over: { replicas: 3 },
      setup: (x) => {
        x.run(healthyOn(CANDIDATE));
        x.revision = STABLE;
        x.spec = { ...x.spec, modelVersion: 'v2' };
      },
      done: healthyOn(STABLE),
    },
    {
      name: 'delete mid-abort',
      over: { replicas: 5 },
      setup: (x) => {
        x.run((y) => y.route.candidateWeight === 100 && y.deployments[STABLE]?.desiredReplicas === 1);
        x.controls = { paused: false, abort: 'a' };
        x.step();
        x.deleting = true;
      },
      done: (x) => x.finalizerRemoved,
    },
    {
      name: 'stableScale Full, breaker at 100 %',
      over: { replicas: 3, stableScale: 'Full' },
      setup: (x) => {
        x.run((y) => y.route.candidateWeight === 100);
        x.breaker = { tripped: true, reason: 'E', message: 'e' };
      },
      done: backOnStable,
    },
    {
      name: 'breaker at 100 % (Dynamic: drain policy)',
      over: { replicas: 3 },
      setup: (x) => {
        x.run((y) => y.route.candidateWeight === 100 && y.deployments[STABLE]?.desiredReplicas === 1);
        x.breaker = { tripped: true, reason: 'E', message: 'e' };
      },
      done: backOnStable,
      drain: true,
    },
    {
      name: 'stable loses pods at 50 %, candidate too',
      over: { replicas: 4, steps: [50, 100] },
      setup: (x) => {
        x.run((y) => y.route.candidateWeight === 50 && y.deployments[STABLE]?.desiredReplicas === 2);
        x.losePods(STABLE, 1);
        x.step();
        delete x.readyLimit[STABLE];
        x.pods[STABLE]!.readyAt = x.pods[STABLE]!.readyAt.map((t, i) => (i === 0 ? t : x.now + 20_000));
      },
      done: healthyOn(CANDIDATE),
    },
  ];
  for (const sc of scenarios) {
    it(sc.name, () => {
      const base = slowWorld({ steps: [1, 5, 20, 50, 100], ...sc.over }, 7_000);
      acceptsShortfall.add(base);
      sc.setup(base);
      const problems: string[] = [];
      let crashes = 0;
      for (let pass = 0; pass < 400 && !sc.done(base); pass++) {
        const d = decide(base.input());
        for (let k = 0; k <= d.actions.length; k++) {
          const crashed = cloneWorld(base);
          acceptsShortfall.add(crashed);
          for (const a of d.actions.slice(0, k)) {
            const b = crashed.unsafe();
            crashed.apply(a);
            crashed.check(a, b);
          }
          crashed.now += 1000;
          try {
            crashed.run(sc.done, 3000);
          } catch (e) {
            problems.push(`pass ${pass}, crash after write ${k}: ${String(e).slice(0, 400)}`);
          }
          const bad = crashed.violations.filter((v) => !(sc.drain && v.after.kind === 'setTraffic' && v.side === 'stable'));
          if (bad.length) problems.push(`pass ${pass}, crash after write ${k}: ${JSON.stringify(bad[0])}`);
          crashes++;
        }
        base.step();
        base.now += Math.min(d.requeueAfterMs ?? 1000, 1000);
      }
      expect(sc.done(base)).toBe(true);
      expect(problems.slice(0, 3)).toEqual([]);
      expect(crashes).toBeGreaterThan(3);
    });
  }
});

describe('attack: the overload split counts as reaching a step', () => {
  it('stable loses pods at 20 % while the candidate cannot grow: the split pushes the candidate up the steps (1 ready for 50 %) and it is promoted short', () => {
    const w = slowWorld({ steps: [20, 50, 100] }, 5_000);
    w.run((x) => x.route.candidateWeight === 20 && x.status.currentStep?.trafficShiftedAt !== undefined);
    acceptsShortfall.add(w);
    w.readyLimit[CANDIDATE] = 1; // the candidate's other pods never become ready (say, Unschedulable)
    w.losePods(STABLE, 1);
    const weights: number[] = [];
    for (let i = 0; i < 400 && w.status.stable?.revision !== CANDIDATE; i++) {
      const d = w.step();
      if (weights.at(-1) !== w.route.candidateWeight) weights.push(w.route.candidateWeight!);
      w.now += Math.min(d.requeueAfterMs ?? 1000, 1000);
    }
    // Expected: hold (or abort after progressDeadline) at 20 % — a step is applied only when the candidate has the ready replicas for it.
    expect({ weights, promoted: w.status.stable?.revision === CANDIDATE, candidateReady: w.deployments[CANDIDATE]?.readyReplicas }).toEqual({
      weights: [20],
      promoted: false,
      candidateReady: 1,
    });
  });
});

describe('attack: what a rolled-back restart leaves behind', () => {
  it("restart at 50 %, the new candidate fails before the candidate Service moved: the old candidate's Deployment (and the Service on it) stay forever", () => {
    const w = slowWorld({ steps: [50, 100] }, 5_000);
    w.run((x) => x.route.candidateWeight === 50 && x.deployments[STABLE]?.desiredReplicas === 2);
    startRollout(w, OTHER, 'v4');
    w.step();
    w.controls = { paused: false, abort: 'a' }; // or the breaker/analysis on the new candidate
    w.run((x) => x.status.phase === 'Aborted' && x.route.candidateWeight === 0 && (x.pods[CANDIDATE]?.desired ?? 0) === 0);
    for (let i = 0; i < 50; i++) {
      w.step();
      w.now += 1000;
    }
    // The old candidate is retired; the candidate Service rests on the aborted candidate (0 % weight), as after any abort.
    expect({ old: w.pods[CANDIDATE] !== undefined, candidateService: w.services.candidateSelects }).toEqual({ old: false, candidateService: OTHER });
  });
});

describe('attack: an invalid spec while a revert (or a promotion) still moves traffic', () => {
  it("revert at 100 %, then the spec turns invalid: the return stops and the abandoned candidate's weight no longer follows its ready pods", () => {
    const w = slowWorld({ steps: [50, 100] });
    w.run((x) => x.route.candidateWeight === 100 && x.deployments[STABLE]?.desiredReplicas === 1);
    w.revision = STABLE;
    w.step();
    expect(w.route.candidateWeight).toBe(75);
    expect(w.status.candidate).toBeUndefined();
    w.invalid = true;
    w.losePods(CANDIDATE, 1); // 1 ready for 75 %
    w.now += 25_000; // stable's 4 replicas are ready by now
    const d = w.step();
    expect(w.status.phase).toBe('Invalid');
    // Expected: the traffic keeps returning (stable has 4 ready) — or at least the candidate's weight drops to what 1 pod carries.
    expect(w.route.candidateWeight).toBe(0);
    expect(d.actions).toContainEqual({ kind: 'setTraffic', stableWeight: 100, candidateWeight: 0, mirrorPercent: 0 });
  });
});

describe('attack: steps edited while the route is below the step weight', () => {
  it('route at 20 % (the 50 % step still waits for candidate pods), steps edited to [10, 30, 100]: the position comes from the step weight, so 30 % is skipped and the next move is 20 → 100', () => {
    const w = slowWorld({ steps: [20, 50, 100] }, 20_000);
    w.run((x) => x.status.currentStep?.weight === 50 && x.route.candidateWeight === 20);
    expect(w.deployments[CANDIDATE]!.readyReplicas).toBeLessThan(2);
    w.spec = { ...w.spec, steps: [10, 30, 100] };
    w.step();
    // "steps edited mid-rollout re-derive the position from the current weight": the current weight is 20 %, so step 2/3 (30 %).
    expect(w.status.currentStep).toMatchObject({ weight: 30, label: '2/3' });
  });
});
