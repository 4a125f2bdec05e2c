// The A/B scenarios' viewers (issue 16): a fixed set of user ids visited in turn by a few request loops. Each
// viewer assigns itself to an arm with the salt and bucket ranges the operator publishes (the ConfigMap
// `<rollout>-experiment`, read again every second), sends X-ModelRollout-Arm through the real proxy, and
// "completes playback" with a chance that depends only on the version that answered (the simulated truth). Their
// counters — playbacks started and completed per arm and answering version, users assigned per arm — are on a
// local /metrics the demo's Prometheus scrapes: the experiment's goal and units. (Adapted from
// test/integration/experiment.test.ts, less its stickiness bookkeeping.)
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { Counter, Gauge, Registry } from 'prom-client';
import { armOf, bucketOf } from '../../operator/src/analysis/experiment-assignment.js';
import type { PublishedAssignment } from '../../operator/src/analysis/experiment-gate.js';
import { ARM_HEADER, type Arm } from '../../operator/src/api/index.js';
import { isNotFound } from '../../operator/src/kube/errors.js';
import { emptyCounts, type VersionCounts } from './load-generator.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ViewersOptions {
  core: k8s.CoreV1Api;
  namespace: string;
  /** The ModelRollout whose experiment ConfigMap (`<rollout>-experiment`) the viewers assign by. */
  rollout: string;
  proxyUrl: string;
  /** The simulated truth: the chance a playback completes, by the model version that answered. */
  completion: Record<string, number>;
  users: number;
  concurrency: number;
}

export class Viewers {
  readonly total = emptyCounts();
  /** Counts per period label (the rollout's step and weights), as the load generator keeps them. */
  readonly byPeriod = new Map<string, VersionCounts>();
  period = 'start';
  /** host:port of the viewers' /metrics, once started. */
  target = '';
  private readonly registry = new Registry();
  private readonly started = new Counter({
    name: 'player_started_total',
    help: 'Playbacks started, by experiment arm and the model version that answered',
    labelNames: ['arm', 'model_version'],
    registers: [this.registry],
  });
  private readonly completed = new Counter({
    name: 'player_completed_total',
    help: 'Playbacks watched to the end, by experiment arm and the model version that answered',
    labelNames: ['arm', 'model_version'],
    registers: [this.registry],
  });
  private readonly assigned = new Gauge({
    name: 'player_assigned_users',
    help: 'Distinct viewers assigned to each arm of the current experiment (the sample-ratio check counts users)',
    labelNames: ['arm'],
    registers: [this.registry],
  });
  private assignment: PublishedAssignment | undefined;
  private users = { salt: '', treatment: new Set<string>(), control: new Set<string>() };
  private stopped = false;
  private next = 0;
  private loops: Promise<void>[] = [];
  private server: http.Server | undefined;

  constructor(private readonly opts: ViewersOptions) {}

  /** Serves /metrics on 127.0.0.1 (every series the goal reads exists from the start at 0, so increase() counts from 0). */
  async start(): Promise<void> {
    for (const arm of ['treatment', 'control']) {
      for (const version of Object.keys(this.opts.completion)) {
        this.started.labels(arm, version).inc(0);
        this.completed.labels(arm, version).inc(0);
      }
      this.assigned.labels(arm).set(0);
    }
    this.server = http.createServer((_req, res) => {
      void this.registry.metrics().then((text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.target = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Starts the request loops and the assignment refresh. */
  play(): void {
    this.loops.push(this.refreshLoop());
    for (let i = 0; i < this.opts.concurrency; i++) this.loops.push(this.requestLoop(i));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** The counts of a period (made empty when new). */
  countsFor(period: string): VersionCounts {
    let c = this.byPeriod.get(period);
    if (!c) this.byPeriod.set(period, (c = emptyCounts()));
    return c;
  }

  private async refreshLoop(): Promise<void> {
    while (!this.stopped) {
      const cm = await this.opts.core
        .readNamespacedConfigMap({ namespace: this.opts.namespace, name: `${this.opts.rollout}-experiment` })
        .catch((err: unknown) => {
          if (isNotFound(err)) return undefined;
          throw err;
        });
      const json = cm?.data?.['assignment.json'];
      if (json) this.assignment = JSON.parse(json) as PublishedAssignment;
      await sleep(1000);
    }
  }

  /** The arm of `user` under the assignment held now (`none` outside both ranges); undefined: send no header. */
  private armFor(user: string): { arm: Arm; salt: string } | undefined {
    const a = this.assignment;
    if (!a || a.ended) return undefined;
    return { arm: armOf(bucketOf(a.salt, user), a.weight) ?? 'none', salt: a.salt };
  }

  /** Counts `user` among its arm's distinct users (a new salt is a new experiment: the counts start over). */
  private note(user: string, arm: Arm, salt: string): void {
    if (this.users.salt !== salt) {
      this.users = { salt, treatment: new Set(), control: new Set() };
      this.assigned.labels('treatment').set(0);
      this.assigned.labels('control').set(0);
    }
    if (arm === 'none') return;
    this.users[arm].add(user);
    this.assigned.labels(arm).set(this.users[arm].size);
  }

  private async requestLoop(loop: number): Promise<void> {
    for (let i = 0; !this.stopped; i++) {
      const user = `viewer-${this.next++ % this.opts.users}`;
      const assigned = this.armFor(user);
      if (assigned) this.note(user, assigned.arm, assigned.salt);
      const period = this.period;
      const answer = await this.generate(assigned ? { [ARM_HEADER]: assigned.arm } : {}, loop * 100_000 + i);
      this.count(period, answer);
      const chance = answer.version === undefined ? undefined : this.opts.completion[answer.version];
      if (answer.status !== 200 || chance === undefined) {
        await sleep(200);
        continue;
      }
      const label = assigned?.arm ?? 'unassigned';
      this.started.labels(label, answer.version!).inc();
      if (Math.random() < chance) this.completed.labels(label, answer.version!).inc();
    }
  }

  private count(period: string, { status, version, why }: { status: number; version?: string; why: string }): void {
    for (const c of [this.total, this.countsFor(period)]) {
      if (version === undefined) {
        c.unanswered++;
        c.unansweredWhy[why] = (c.unansweredWhy[why] ?? 0) + 1;
      } else {
        c.answered[version] = (c.answered[version] ?? 0) + 1;
        if (status < 200 || status >= 300) c.failed[version] = (c.failed[version] ?? 0) + 1;
      }
    }
  }

  /** One generation through the proxy (raw frames, one step: the cheapest request the runtime serves). */
  private async generate(headers: Record<string, string>, seed: number): Promise<{ status: number; version?: string; why: string }> {
    try {
      const res = await fetch(`${this.opts.proxyUrl}/v1/generate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/x-t2v-rgb24', ...headers },
        body: JSON.stringify({ prompt: 'a lighthouse in a storm', seed, steps: 1 }),
        signal: AbortSignal.timeout(30_000),
      });
      await res.arrayBuffer();
      return { status: res.status, version: res.headers.get('x-model-version') ?? undefined, why: `HTTP ${res.status}` };
    } catch (err) {
      return { status: 0, why: err instanceof Error ? err.name : String(err) };
    }
  }
}
