import { describe, expect, it } from 'vitest';
import { InvariantChecker, InvariantModel, countedViolations, formatViolation, type ClusterEvent, type KubeObject, type WatchedKind } from './invariant.js';

/** A scripted cluster: each call is one write at the next revision, one second after the previous. */
class Script {
  private rv = 100n;
  private t = 1_000_000;
  readonly events: ClusterEvent[] = [];

  private emit(kind: WatchedKind, type: ClusterEvent['type'], object: KubeObject): this {
    this.rv += 1n;
    this.t += 1000;
    this.events.push({
      kind,
      type,
      object: { ...object, metadata: { ...object.metadata, resourceVersion: String(this.rv) } },
      resourceVersion: this.rv,
      at: this.t,
    });
    return this;
  }

  rollout(replicas: number, router: 'gateway-api' | 'istio' = 'gateway-api'): this {
    const trafficRouting =
      router === 'istio' ? { istio: { virtualService: 'edge-vs', routeName: 'primary' } } : { gatewayAPI: { httpRoute: 'edge-route', ruleIndex: 1 } };
    return this.emit('ModelRollout', 'ADDED', { metadata: { name: 't2v' }, spec: { replicas, trafficRouting } });
  }

  deleteRollout(): this {
    return this.emit('ModelRollout', 'DELETED', { metadata: { name: 't2v' } });
  }

  service(name: string, revision: string): this {
    return this.emit('Service', 'ADDED', { metadata: { name }, spec: { selector: { 'modelrollout.dev/name': 't2v', 'modelrollout.dev/revision': revision } } });
  }

  /** HTTPRoute with an unrelated rule 0 and the managed rule 1. */
  route(weights: Record<string, number | undefined>): this {
    const refs = Object.entries(weights).map(([name, weight]) => (weight === undefined ? { name, port: 80 } : { name, port: 80, weight }));
    return this.emit('HTTPRoute', 'MODIFIED', {
      metadata: { name: 'edge-route' },
      spec: { rules: [{ backendRefs: [{ name: 'other', port: 80, weight: 100 }] }, { backendRefs: refs }] },
    });
  }

  virtualService(weights: Record<string, number | undefined>): this {
    const route = Object.entries(weights).map(([host, weight]) => (weight === undefined ? { destination: { host } } : { destination: { host }, weight }));
    return this.emit('VirtualService', 'MODIFIED', {
      metadata: { name: 'edge-vs' },
      spec: {
        http: [
          { name: 'health', route: [{ destination: { host: 'other' } }] },
          { name: 'primary', route },
        ],
      },
    });
  }

  pod(name: string, revision: string, ready: boolean, extra: { terminating?: boolean } = {}): this {
    return this.emit('Pod', 'MODIFIED', {
      metadata: {
        name,
        labels: { 'modelrollout.dev/name': 't2v', 'modelrollout.dev/revision': revision },
        ...(extra.terminating ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
      },
      status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
    });
  }

  deletePod(name: string): this {
    return this.emit('Pod', 'DELETED', { metadata: { name } });
  }

  get now(): number {
    return this.t;
  }
}

function run(script: Script): InvariantChecker {
  const checker = new InvariantChecker('t2v');
  for (const e of script.events) checker.apply(e);
  return checker;
}

/** Stable revision "a" with 4 ready pods behind t2v-stable at 100 %, candidate "b" Service present. */
function healthy(): Script {
  const s = new Script().rollout(4).service('t2v-stable', 'a').service('t2v-candidate', 'b');
  for (let i = 0; i < 4; i++) s.pod(`a-${i}`, 'a', true);
  return s.route({ 't2v-stable': 100, 't2v-candidate': 0 });
}

describe('InvariantModel', () => {
  it('needs max(1, ceil(share × replicas)) ready pods per weighted Service, normalising Gateway API weights', () => {
    const model = new InvariantModel('t2v');
    for (const e of new Script().rollout(4).route({ 't2v-stable': 99, 't2v-candidate': 1 }).events) model.apply(e);
    expect(model.weightedBackends()).toEqual([
      { service: 't2v-stable', percent: 99, needed: 4 },
      { service: 't2v-candidate', percent: 1, needed: 1 },
    ]);
    const relative = new InvariantModel('t2v');
    // Weights 1 and 3 are 25 % and 75 %: 1 and 3 of 4 replicas.
    for (const e of new Script().rollout(4).route({ 't2v-stable': 1, 't2v-candidate': 3 }).events) relative.apply(e);
    expect(relative.weightedBackends().map((b) => [b.service, b.percent, b.needed])).toEqual([
      ['t2v-stable', 25, 1],
      ['t2v-candidate', 75, 3],
    ]);
  });

  it('gives a backendRef without weight the Gateway API default of 1, and a lone Istio destination all traffic', () => {
    const gw = new InvariantModel('t2v');
    for (const e of new Script().rollout(2).route({ 't2v-stable': undefined }).events) gw.apply(e);
    expect(gw.weightedBackends()).toEqual([{ service: 't2v-stable', percent: 100, needed: 2 }]);
    const istio = new InvariantModel('t2v');
    for (const e of new Script().rollout(2, 'istio').virtualService({ 't2v-stable.ns.svc.cluster.local': undefined }).events) istio.apply(e);
    expect(istio.weightedBackends()).toEqual([{ service: 't2v-stable', percent: 100, needed: 2 }]);
  });

  it('counts only pods that match the selector, are Ready=True and are not terminating', () => {
    const model = new InvariantModel('t2v');
    const s = new Script()
      .service('t2v-stable', 'a')
      .pod('a-0', 'a', true)
      .pod('a-1', 'a', false)
      .pod('a-2', 'a', true, { terminating: true })
      .pod('b-0', 'b', true);
    for (const e of s.events) model.apply(e);
    expect(model.readyBehind('t2v-stable')).toBe(1);
    expect(model.readyBehind('t2v-missing')).toBe(0);
  });
});

describe('InvariantChecker', () => {
  it('arms only once the invariant first holds (the first stable coming up is not a violation)', () => {
    const s = new Script().rollout(2).route({ 't2v-stable': undefined }).service('t2v-stable', 'a').pod('a-0', 'a', false).pod('a-0', 'a', true);
    expect(run(s).armedAt).toBeUndefined();
    s.pod('a-1', 'a', true);
    const checker = run(s);
    expect(checker.armedAt).toBe(s.now);
    expect(checker.finish()).toEqual([]);
  });

  it('reports issue 12 case 1: abort sends 100 % to a stable with 1 of 4 ready pods until the others become ready', () => {
    const s = new Script().rollout(4).service('t2v-stable', 'a').service('t2v-candidate', 'b');
    s.pod('a-0', 'a', true).pod('b-0', 'b', true).pod('b-1', 'b', true).pod('b-2', 'b', true).pod('b-3', 'b', true);
    s.route({ 't2v-stable': 0, 't2v-candidate': 100 });
    // Abort: weights flip at once, stable's three new pods are still loading.
    s.route({ 't2v-stable': 100, 't2v-candidate': 0 });
    const start = s.now;
    s.pod('a-1', 'a', false).pod('a-2', 'a', false).pod('a-3', 'a', false).pod('a-1', 'a', true).pod('a-2', 'a', true).pod('a-3', 'a', true);
    const violations = run(s).finish();
    expect(violations).toHaveLength(1);
    expect(violations[0]).toMatchObject({
      service: 't2v-stable',
      percent: 100,
      ready: 1,
      needed: 4,
      start,
      end: s.now,
      durationMs: s.now - start,
      open: false,
    });
    expect(violations[0]!.lastEvents.at(-1)).toMatch(/HTTPRoute edge-route shares=t2v-stable:100%/);
    expect(violations[0]!.endEvent).toMatch(/MODIFIED Pod a-3 ready=true/);
    expect(countedViolations(violations)).toHaveLength(1);
    expect(formatViolation(violations[0]!)).toMatch(/t2v-stable carried 100 % with 1\/4 ready for 6000 ms .* COUNTS/);
  });

  it('sees no violation when the operator scales up, waits for readiness, then shifts (scale up → wait ready → shift)', () => {
    const s = healthy().pod('b-0', 'b', false).pod('b-0', 'b', true).route({ 't2v-stable': 80, 't2v-candidate': 20 });
    s.pod('b-1', 'b', false).pod('b-1', 'b', true).route({ 't2v-stable': 50, 't2v-candidate': 50 });
    // Stable scales down only after the shift: 2 of 4 still carry 50 %.
    s.deletePod('a-3').deletePod('a-2');
    expect(run(s).finish()).toEqual([]);
  });

  it('judges each revision: a shift written one revision before the pods were ready is a violation however short', () => {
    const s = healthy().pod('b-0', 'b', false).route({ 't2v-stable': 80, 't2v-candidate': 20 }).pod('b-0', 'b', true);
    const violations = run(s).finish();
    expect(violations).toHaveLength(1);
    expect(violations[0]).toMatchObject({ service: 't2v-candidate', percent: 20, ready: 0, needed: 1, durationMs: 1000 });
  });

  it('reports issue 12 case 3: the candidate loses its pods at 50 % and the weight stays; still open at the end', () => {
    const s = healthy().pod('b-0', 'b', true).pod('b-1', 'b', true).route({ 't2v-stable': 50, 't2v-candidate': 50 });
    const lost = s.now;
    s.pod('b-0', 'b', true, { terminating: true }).deletePod('b-0').deletePod('b-1').pod('b-2', 'b', false);
    const checker = run(s);
    checker.excuse({ services: ['t2v-candidate'], from: lost, graceMs: 1500, reason: 'candidate pods deleted' });
    const [v] = checker.finish(s.now + 60_000);
    expect(v).toMatchObject({ service: 't2v-candidate', ready: 0, needed: 2, open: true, durationMs: 60_000 + 3000 });
    expect(v!.excusedBy).toBeUndefined();
    expect(v!.endEvent).toBe('');
    expect(v!.outlastedGrace).toMatch(/candidate pods deleted: grace ended 500 ms after the violation started/);
    expect(countedViolations([v!])).toHaveLength(1);
  });

  it('excuses a shortfall the world caused on the named Service when the operator reacts within the grace', () => {
    const s = healthy().pod('b-0', 'b', true).pod('b-1', 'b', true).route({ 't2v-stable': 50, 't2v-candidate': 50 });
    const lost = s.now + 1;
    s.deletePod('b-0').deletePod('b-1').route({ 't2v-stable': 100, 't2v-candidate': 0 });
    const checker = run(s);
    checker.excuse({ services: ['t2v-candidate'], from: lost, graceMs: 5000, reason: 'candidate pods deleted' });
    const violations = checker.finish();
    expect(violations).toHaveLength(1);
    expect(violations[0]).toMatchObject({ service: 't2v-candidate', excusedBy: 'candidate pods deleted', durationMs: 2000 });
    expect(countedViolations(violations)).toEqual([]);
  });

  it('excuses only a shortfall that starts within startWithinMs, however long the grace', () => {
    const s = healthy().pod('b-0', 'b', true).pod('b-1', 'b', true).route({ 't2v-stable': 50, 't2v-candidate': 50 }).deletePod('a-3').deletePod('a-2');
    const cordoned = s.now;
    // 10 s later (well inside the 60 s grace, outside the 5 s start window) stable is sent 100 % on 2 of 4.
    for (let i = 0; i < 9; i++) s.pod('b-0', 'b', true);
    s.route({ 't2v-stable': 100, 't2v-candidate': 0 }).pod('a-2', 'a', true).pod('a-3', 'a', true);
    const checker = run(s);
    checker.excuse({ services: ['t2v-stable'], from: cordoned, graceMs: 60_000, startWithinMs: 5000, reason: 'nodes cordoned' });
    const violations = checker.finish();
    expect(violations).toHaveLength(1);
    expect(violations[0]).toMatchObject({ service: 't2v-stable', ready: 2, needed: 4, start: cordoned + 10_000 });
    expect(countedViolations(violations)).toHaveLength(1);
    checker.excuse({ services: ['t2v-stable'], from: cordoned, graceMs: 60_000, reason: 'start window = grace' });
    expect(countedViolations(checker.violations())).toEqual([]);
  });

  it('does not excuse the other Service, nor a shortfall that began before the world event', () => {
    const s = healthy().route({ 't2v-stable': 50, 't2v-candidate': 50 }); // candidate has no pods: operator's fault
    const before = s.now;
    s.pod('b-0', 'b', true).pod('b-1', 'b', true);
    const checker = run(s);
    checker.excuse({ services: ['t2v-candidate'], from: before + 1, graceMs: 60_000, reason: 'late excuse' });
    checker.excuse({ services: ['t2v-stable'], from: before - 5000, graceMs: 60_000, reason: 'wrong side' });
    const violations = checker.finish();
    expect(violations).toHaveLength(1);
    expect(violations[0]!.excusedBy).toBeUndefined();
    expect(countedViolations(violations)).toHaveLength(1);
  });

  it('stops judging once the rollout is deleted (its Services go with it)', () => {
    const s = healthy().deleteRollout().deletePod('a-0').deletePod('a-1');
    expect(run(s).finish()).toEqual([]);
  });

  it('counts events that arrive below a revision already applied', () => {
    const s = healthy();
    const checker = new InvariantChecker('t2v');
    const [first, second, ...rest] = s.events;
    for (const e of [second!, first!, ...rest]) checker.apply(e);
    expect(checker.outOfOrder).toBe(1);
  });
});
