// Issue 12's invariant, judged on a stream of watch events (no I/O here, so it is unit-tested on
// synthetic sequences): each Service that the managed rule gives w % of the traffic has at least
// max(1, ceil(w/100 × spec.replicas)) ready pods behind it, at every resourceVersion.
//
// "Ready pod" = matches the Service's selector, condition Ready=True, no deletionTimestamp: what the
// EndpointSlice controller counts as a ready endpoint (and what a mesh sends requests to).

export type WatchedKind = 'Pod' | 'Service' | 'HTTPRoute' | 'VirtualService' | 'ModelRollout';

export interface KubeObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string>; deletionTimestamp?: unknown };
  spec?: unknown;
  status?: unknown;
}

/** One watch event: what changed, at which etcd revision, and when it reached the sampler (ms since epoch). */
export interface ClusterEvent {
  kind: WatchedKind;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KubeObject;
  resourceVersion: bigint;
  at: number;
}

export interface WeightedBackend {
  service: string;
  /** Share of the managed rule's traffic, in percent (Gateway API weights are relative; they are normalised). */
  percent: number;
  /** Ready pods a share needs: max(1, ceil(weight / sum × replicas)), computed in integers. */
  needed: number;
}

export interface Shortfall {
  service: string;
  percent: number;
  ready: number;
  needed: number;
}

/**
 * The world (not the operator) took pods at `from` (ms since epoch): a shortfall of `services` that starts
 * within `startWithinMs` after it and ends within `graceMs` after it is excused.
 */
export interface Excuse {
  /** Services whose shortfall is excused; empty means every Service. */
  services: string[];
  from: number;
  graceMs: number;
  /** How long after `from` the shortfall may start to count as caused by it. Default graceMs. */
  startWithinMs?: number;
  reason: string;
}

export interface Violation {
  service: string;
  /** Highest share the Service carried while short. */
  percent: number;
  /** Fewest ready pods seen while short, against the most needed. */
  ready: number;
  needed: number;
  start: number;
  end: number;
  durationMs: number;
  startResourceVersion: string;
  endResourceVersion: string;
  /** Still short when the sampler stopped (end = stop time). */
  open: boolean;
  /** The events that led to it, oldest first (the one that opened it last). */
  lastEvents: string[];
  /** The event that ended it ('' while open or when the sampler stopped first). */
  endEvent: string;
  /** Set when a world event excuses it: the excuse's reason. */
  excusedBy?: string;
  /** Set when a world event started it but it lasted longer than the grace given. */
  outlastedGrace?: string;
}

interface PodView {
  labels: Record<string, string>;
  ready: boolean;
}

interface RouteTarget {
  kind: 'HTTPRoute' | 'VirtualService';
  name: string;
  /** HTTPRoute: index of the rule; VirtualService: name of the http route (undefined: the first). */
  ruleIndex: number;
  routeName: string | undefined;
}

/** The cluster as the events so far describe it: just what the invariant reads. */
export class InvariantModel {
  private readonly pods = new Map<string, PodView>();
  private readonly selectors = new Map<string, Record<string, string> | undefined>();
  private readonly routes = new Map<string, KubeObject>();
  private rollout: KubeObject | undefined;

  constructor(readonly rolloutName: string) {}

  apply(e: ClusterEvent): void {
    const name = e.object.metadata?.name ?? '';
    const gone = e.type === 'DELETED';
    switch (e.kind) {
      case 'Pod':
        if (gone) this.pods.delete(name);
        else this.pods.set(name, podView(e.object));
        break;
      case 'Service':
        if (gone) this.selectors.delete(name);
        else this.selectors.set(name, (e.object.spec as { selector?: Record<string, string> } | undefined)?.selector);
        break;
      case 'HTTPRoute':
      case 'VirtualService':
        if (gone) this.routes.delete(`${e.kind}/${name}`);
        else this.routes.set(`${e.kind}/${name}`, e.object);
        break;
      case 'ModelRollout':
        if (name === this.rolloutName) this.rollout = gone ? undefined : e.object;
        break;
    }
  }

  /** True while the rollout exists: without it nobody manages the rule (before creation, after deletion). */
  get managed(): boolean {
    return this.rollout !== undefined;
  }

  replicas(): number {
    return (this.rollout?.spec as { replicas?: number } | undefined)?.replicas ?? 1;
  }

  /** Backends of the managed rule with a share above 0; [] when the rollout or the route is missing. */
  weightedBackends(): WeightedBackend[] {
    const target = this.rollout && routeTarget(this.rollout);
    const route = target && this.routes.get(`${target.kind}/${target.name}`);
    if (!target || !route) return [];
    const weights = target.kind === 'HTTPRoute' ? httpRouteWeights(route, target.ruleIndex) : virtualServiceWeights(route, target.routeName);
    const sum = weights.reduce((s, w) => s + w.weight, 0);
    if (sum <= 0) return [];
    const replicas = this.replicas();
    return weights
      .filter((w) => w.weight > 0)
      .map((w) => ({
        service: w.service,
        percent: (100 * w.weight) / sum,
        needed: Math.max(1, Math.ceil((w.weight * replicas) / sum - 1e-9)),
      }));
  }

  /** Ready pods behind a Service: selector matches, Ready=True, not terminating. 0 when the Service is missing or selects nothing. */
  readyBehind(service: string): number {
    const selector = this.selectors.get(service);
    if (!selector || Object.keys(selector).length === 0) return 0;
    let n = 0;
    for (const pod of this.pods.values()) {
      if (pod.ready && Object.entries(selector).every(([k, v]) => pod.labels[k] === v)) n++;
    }
    return n;
  }

  shortfalls(): Shortfall[] {
    if (!this.managed) return [];
    return this.weightedBackends()
      .map((b) => ({ service: b.service, percent: b.percent, needed: b.needed, ready: this.readyBehind(b.service) }))
      .filter((s) => s.ready < s.needed);
  }

  /** One line for an event's report: what it changed, in the invariant's terms. */
  describe(e: ClusterEvent): string {
    const name = e.object.metadata?.name;
    const head = `rv=${e.resourceVersion} ${e.type} ${e.kind} ${name}`;
    switch (e.kind) {
      case 'Pod': {
        const p = podView(e.object);
        const terminating = e.object.metadata?.deletionTimestamp ? ' terminating' : '';
        return `${head} ready=${p.ready}${terminating}`;
      }
      case 'Service':
        return `${head} selector=${JSON.stringify((e.object.spec as { selector?: unknown } | undefined)?.selector ?? {})}`;
      case 'ModelRollout': {
        const s = e.object.status as { phase?: string; weights?: { stable: number; candidate: number }; currentStep?: { index: number } } | undefined;
        return `${head} phase=${s?.phase} step=${s?.currentStep?.index} status.weights=${JSON.stringify(s?.weights)}`;
      }
      default:
        return `${head} shares=${this.weightedBackends()
          .map((b) => `${b.service}:${round(b.percent)}%`)
          .join(',')}`;
    }
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

function podView(pod: KubeObject): PodView {
  const conditions = (pod.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? [];
  const ready = !pod.metadata?.deletionTimestamp && conditions.some((c) => c.type === 'Ready' && c.status === 'True');
  return { labels: pod.metadata?.labels ?? {}, ready };
}

function routeTarget(rollout: KubeObject): RouteTarget | undefined {
  const tr = (
    rollout.spec as
      { trafficRouting?: { gatewayAPI?: { httpRoute: string; ruleIndex?: number }; istio?: { virtualService: string; routeName?: string } } } | undefined
  )?.trafficRouting;
  if (tr?.gatewayAPI) return { kind: 'HTTPRoute', name: tr.gatewayAPI.httpRoute, ruleIndex: tr.gatewayAPI.ruleIndex ?? 0, routeName: undefined };
  if (tr?.istio) return { kind: 'VirtualService', name: tr.istio.virtualService, ruleIndex: 0, routeName: tr.istio.routeName || undefined };
  return undefined;
}

/** Gateway API: backendRef weight defaults to 1 (gateway.networking.k8s.io/v1 BackendRef.weight); only Service refs count. */
function httpRouteWeights(route: KubeObject, ruleIndex: number): { service: string; weight: number }[] {
  const rules = (route.spec as { rules?: { backendRefs?: { name: string; kind?: string; group?: string; weight?: number }[] }[] } | undefined)?.rules ?? [];
  const refs = rules[ruleIndex]?.backendRefs ?? [];
  return refs.filter((r) => (r.kind ?? 'Service') === 'Service' && !r.group).map((r) => ({ service: r.name, weight: r.weight ?? 1 }));
}

/** Istio: a lone destination takes all traffic; otherwise the weights (a missing one is 0). Host "svc" or "svc.ns.svc..." names the Service. */
function virtualServiceWeights(vs: KubeObject, routeName: string | undefined): { service: string; weight: number }[] {
  const http = (vs.spec as { http?: { name?: string; route?: { destination: { host: string }; weight?: number }[] }[] } | undefined)?.http ?? [];
  const rule = routeName === undefined ? http[0] : http.find((h) => h.name === routeName);
  const dests = rule?.route ?? [];
  return dests.map((d) => ({ service: d.destination.host.split('.')[0]!, weight: dests.length === 1 ? (d.weight ?? 100) : (d.weight ?? 0) }));
}

export interface InvariantCheckerOptions {
  /** How many events to keep for a violation's report. Default 12. */
  historySize?: number;
}

/**
 * Replays events in resourceVersion order and records every interval during which a weighted
 * Service had fewer ready pods than its share needs. The check is armed the first time the
 * invariant holds with the rollout present (the first stable has to come up before there is
 * anything to keep), so callers must also check that the rollout reached a terminal state.
 */
export class InvariantChecker {
  readonly model: InvariantModel;
  private readonly history: string[] = [];
  private readonly historySize: number;
  private readonly open = new Map<string, Violation>();
  private readonly closed: Violation[] = [];
  private readonly excuses: Excuse[] = [];
  private lastRv = 0n;
  private lastAt = 0;
  /** Time of the event that armed the check; undefined while not armed. */
  armedAt: number | undefined;
  eventsApplied = 0;
  /** Events that came with a resourceVersion below one already applied (the watermark was too short). */
  outOfOrder = 0;

  constructor(rolloutName: string, opts: InvariantCheckerOptions = {}) {
    this.model = new InvariantModel(rolloutName);
    this.historySize = opts.historySize ?? 12;
  }

  /** Applies one event and judges the state it leaves. Events must come in resourceVersion order. */
  apply(e: ClusterEvent): void {
    if (e.resourceVersion < this.lastRv) this.outOfOrder++;
    this.lastRv = e.resourceVersion > this.lastRv ? e.resourceVersion : this.lastRv;
    this.lastAt = Math.max(this.lastAt, e.at);
    this.eventsApplied++;
    this.model.apply(e);
    this.history.push(this.model.describe(e));
    if (this.history.length > this.historySize) this.history.shift();
    this.judge(e);
  }

  /** True when armed and no weighted Service is short in the state applied so far. */
  holds(): boolean {
    return this.armedAt !== undefined && this.model.shortfalls().length === 0;
  }

  /** Applies events without judging (the initial list of each resource, before the watches line up). */
  seed(e: ClusterEvent): void {
    this.model.apply(e);
    this.lastRv = e.resourceVersion > this.lastRv ? e.resourceVersion : this.lastRv;
  }

  excuse(x: Excuse): void {
    this.excuses.push(x);
  }

  private judge(e: ClusterEvent): void {
    const short = this.model.shortfalls();
    if (this.armedAt === undefined) {
      if (this.model.managed && this.model.weightedBackends().length > 0 && short.length === 0) this.armedAt = e.at;
      return;
    }
    const now = new Map(short.map((s) => [s.service, s]));
    for (const [service, v] of this.open) {
      if (now.has(service)) continue;
      v.endEvent = this.history.at(-1) ?? '';
      this.close(v, e.at, String(e.resourceVersion), false);
      this.open.delete(service);
    }
    for (const s of short) {
      const v = this.open.get(s.service);
      if (v) {
        v.percent = Math.max(v.percent, s.percent);
        v.ready = Math.min(v.ready, s.ready);
        v.needed = Math.max(v.needed, s.needed);
        continue;
      }
      this.open.set(s.service, {
        service: s.service,
        percent: s.percent,
        ready: s.ready,
        needed: s.needed,
        start: e.at,
        end: e.at,
        durationMs: 0,
        startResourceVersion: String(e.resourceVersion),
        endResourceVersion: '',
        open: true,
        lastEvents: [...this.history],
        endEvent: '',
      });
    }
  }

  private close(v: Violation, at: number, rv: string, open: boolean): void {
    v.end = at;
    v.durationMs = at - v.start;
    v.endResourceVersion = rv;
    v.open = open;
    v.percent = round(v.percent);
    this.closed.push(v);
  }

  /** Closes what is still open at `at` (marked open) and returns every violation, excuses applied, in start order. */
  finish(at = this.lastAt): Violation[] {
    for (const v of this.open.values()) this.close(v, Math.max(at, v.start), String(this.lastRv), true);
    this.open.clear();
    return this.violations();
  }

  /** Violations closed so far, each judged against the excuses. */
  violations(): Violation[] {
    return this.closed.map((v) => this.judgeExcuse(v)).sort((a, b) => a.start - b.start);
  }

  private judgeExcuse(v: Violation): Violation {
    const out: Violation = { ...v };
    delete out.excusedBy;
    delete out.outlastedGrace;
    const causes = this.excuses.filter(
      (x) => (x.services.length === 0 || x.services.includes(v.service)) && x.from <= v.start && v.start <= x.from + (x.startWithinMs ?? x.graceMs),
    );
    if (causes.length === 0) return out;
    const excusedUntil = Math.max(...causes.map((x) => x.from + x.graceMs));
    const reasons = causes.map((x) => x.reason).join('; ');
    if (!v.open && v.end <= excusedUntil) out.excusedBy = reasons;
    else out.outlastedGrace = `${reasons}: grace ended ${excusedUntil - v.start} ms after the violation started`;
    return out;
  }
}

/** Violations that count: not excused by a world event, or longer than its grace. */
export function countedViolations(violations: Violation[]): Violation[] {
  return violations.filter((v) => v.excusedBy === undefined);
}

/** A multi-line report of one violation. */
export function formatViolation(v: Violation): string {
  const state = v.excusedBy ? `excused (${v.excusedBy})` : v.outlastedGrace ? `COUNTS: outlasted grace (${v.outlastedGrace})` : 'COUNTS';
  return [
    `${v.service} carried ${v.percent} % with ${v.ready}/${v.needed} ready for ${v.durationMs} ms${v.open ? ' (still open at stop)' : ''} ` +
      `[${new Date(v.start).toISOString()} → ${new Date(v.end).toISOString()}, rv ${v.startResourceVersion}→${v.endResourceVersion}] ${state}`,
    ...v.lastEvents.map((l) => `    ${l}`),
    ...(v.endEvent ? [`    ended by: ${v.endEvent}`] : []),
  ].join('\n');
}
