// Issue 12's four cases on the real control plane, with pods that take time to become ready (kwok's
// pod-ready stage delayed per pod) and an invariant sampler that replays every watch event in
// resourceVersion order: no weighted Service may ever have fewer ready pods than its share needs.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { cordonNodes, deletePods, gpuNodeNames, revisionSelector, taintNodes, uncordonNodes, untaintNodes } from '../env/chaos-actions.js';
import { GPU_TAINT, GPU_TOLERATION } from '../env/gpu-nodes.js';
import { formatViolation } from '../env/invariant.js';
import { InvariantSampler } from '../env/invariant-sampler.js';
import { TEST_READY_DELAY_ANNOTATION } from '../env/kwok-stages.js';
import { startOperator } from './operator-process.js';
import { RolloutFixture } from './rollout-fixtures.js';
import { kubeConfig, testNamespace } from './support.js';

const kc = kubeConfig();
const kubeconfigPath = inject('kubeconfigPath');
/**
 * Per-pod readiness delay: a GPU pod loading its model (minutes in production). 8 s spans several of the
 * operator's reconciles and most of a step (10 s), so every scale-up is seen half-ready (12 s and 15 s steps before:
 * the same cases, 80 s more of CI); MODELROLLOUT_TEST_READY_DELAY_SECONDS raises it.
 */
const READY_DELAY_S = Number(process.env.MODELROLLOUT_TEST_READY_DELAY_SECONDS ?? 8);
const undo: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const u of undo.splice(0).reverse()) await u();
});

async function slowRollout(prefix: string, over: Record<string, unknown> = {}, podSpec: Record<string, unknown> = {}) {
  const ns = await testNamespace(kc, prefix);
  const fx = new RolloutFixture(kc, ns, 't2v', 'wan-t2v', 'gateway-api');
  await fx.createRoute();
  const sampler = await InvariantSampler.start(kc, { namespace: ns, rollout: 't2v' });
  undo.push(async () => void (await sampler.stop().catch(() => undefined)));
  const operator = await startOperator(kubeconfigPath, ns);
  const template = {
    metadata: { annotations: { [TEST_READY_DELAY_ANNOTATION]: `${READY_DELAY_S}s` } },
    spec: { containers: [{ name: 'server', image: 'example.invalid/t2v:v1' }], ...podSpec },
  };
  await fx.create(fx.spec({ replicas: 4, strategy: { steps: [50, 100], stepDuration: '10s', progressDeadline: '5m' }, template, ...over }));
  const ro = await fx.waitFor('stable Ready', (r) => fx.condition(r, 'Ready')?.status === 'True', 180_000);
  return { ns, fx, operator, sampler, stable: ro.status!.stable!.revision };
}

async function newVersion(fx: RolloutFixture, version: string): Promise<void> {
  await fx.patch({
    spec: { model: { name: fx.modelName, version }, template: { spec: { containers: [{ name: 'server', image: `example.invalid/t2v:${version}` }] } } },
  });
}

function expectNoCountedViolations(report: Awaited<ReturnType<InvariantSampler['stop']>>): void {
  expect(report.errors).toEqual([]);
  expect(report.eventsApplied).toBeGreaterThan(10);
  expect(report.counted.map(formatViolation)).toEqual([]);
}

describe('traffic never outruns ready capacity (slow readiness)', () => {
  it('abort at the 100 % step: traffic returns to stable only as its replicas become ready', async () => {
    const { fx, sampler } = await slowRollout('cap-abort');
    await newVersion(fx, 'v2');
    await fx.waitFor(
      '100 % on the candidate with stable shrunk to 1',
      (r) => r.status?.weights?.candidate === 100 && r.status.replicas?.stable.desired === 1,
      240_000,
    );
    const abortedAt = Date.now();
    await fx.annotate({ 'modelrollout.dev/abort': 'now' });
    // Mid-way the status says how far the return is and how long it should take.
    const midway = await fx.waitFor(
      'returnToStable in status',
      (r) => (r.status as { returnToStable?: unknown } | undefined)?.returnToStable !== undefined,
      30_000,
    );
    expect((midway.status as { returnToStable?: Record<string, unknown> }).returnToStable).toMatchObject({ stableNeeded: 4 });
    expect(midway.status?.weights?.candidate).toBeGreaterThan(0);
    const back = await fx.waitFor('100 % stable', (r) => r.status?.phase === 'Aborted' && r.status.weights?.candidate === 0, 120_000);
    console.log(`[capacity] abort at 100 % → 100 % stable in ${((Date.now() - abortedAt) / 1000).toFixed(1)} s with ${READY_DELAY_S} s readiness`);
    expect(back.status?.replicas?.stable.ready).toBe(4);
    expectNoCountedViolations(await sampler.stop());
  });

  it('template reverted to stable at 50 %: traffic goes back to stable only as its replicas become ready', async () => {
    const { fx, sampler, stable } = await slowRollout('cap-revert');
    await newVersion(fx, 'v2');
    await fx.waitFor('50/50 with stable shrunk to 2', (r) => r.status?.weights?.candidate === 50 && r.status.replicas?.stable.desired === 2, 240_000);
    await newVersion(fx, 'v1');
    const settled = await fx.waitFor('settled on stable', (r) => r.status?.phase === 'Healthy' && fx.condition(r, 'Ready')?.status === 'True', 120_000);
    expect(settled.status?.stable?.revision).toBe(stable);
    expect(settled.status?.history?.some((h) => h.reason === 'CandidateAbandoned')).toBe(true);
    expectNoCountedViolations(await sampler.stop());
  });

  it('candidate loses its pods at 50 % (nodes cordoned): its weight drops to 0 within one breaker interval, then the rollout goes on', async () => {
    const { fx, sampler } = await slowRollout('cap-lost', {}, {});
    await newVersion(fx, 'v2');
    const at50 = await fx.waitFor(
      '50/50 with stable shrunk to 2',
      (r) => r.status?.weights?.candidate === 50 && r.status.replicas?.stable.desired === 2,
      240_000,
    );
    const candidate = at50.status!.candidate!.revision;
    const nodes = await gpuNodeNames(kc);
    await cordonNodes(kc, nodes);
    undo.push(() => uncordonNodes(kc, nodes));
    // The world takes the candidate's pods; with stable scaled to its share, stable is short too until the
    // nodes come back. Both Services are excused while the nodes are cordoned; the operator must still act.
    sampler.excuse(['t2v-candidate', 't2v-stable'], 60_000, 'candidate pods lost on cordoned nodes');
    const lostAt = Date.now();
    await deletePods(kc, fx.namespace, revisionSelector('t2v', candidate));
    const dropped = await fx.waitFor('candidate weight 0', (r) => r.status?.weights?.candidate === 0, 30_000);
    const reactedInS = (Date.now() - lostAt) / 1000;
    console.log(`[capacity] candidate pods lost → weight 0 in ${reactedInS.toFixed(1)} s`);
    expect(reactedInS).toBeLessThan(10); // one breaker interval (10 s default)
    expect(await fx.weights()).toEqual([100, 0]);
    expect(dropped.status?.history?.some((h) => h.reason === 'CandidateCapacityLost')).toBe(true);
    expect((await fx.events()).map((e) => e.reason)).toContain('CandidateCapacityLost');
    await sleep(2_000);
    await uncordonNodes(kc, nodes);
    const done = await fx.waitFor(
      'promotion after the pods came back',
      (r) => r.status?.stable?.revision === candidate && fx.condition(r, 'Ready')?.status === 'True',
      240_000,
    );
    expect(done.status?.phase).toBe('Healthy');
    expectNoCountedViolations(await sampler.stop());
  });

  it('GPU nodes tainted nvidia.com/gpu=present:NoSchedule: a template that tolerates the taint rolls out', async () => {
    const nodes = await gpuNodeNames(kc);
    await taintNodes(kc, nodes, GPU_TAINT);
    undo.push(() => untaintNodes(kc, nodes, GPU_TAINT));
    // The bake is not what this case is about (scheduling past the taint is): short steps keep the suite in budget.
    const short = { strategy: { steps: [50, 100], stepDuration: '3s', progressDeadline: '5m' } };
    const { fx, sampler, stable } = await slowRollout('cap-taint', short, { tolerations: [GPU_TOLERATION] });
    await newVersion(fx, 'v2');
    const done = await fx.waitFor('promotion', (r) => r.status?.stable?.revision !== stable && fx.condition(r, 'Ready')?.status === 'True', 240_000);
    expect(done.status?.history?.some((h) => h.reason === 'Promoted')).toBe(true);
    expect((await fx.events()).map((e) => e.reason)).not.toContain('ProgressDeadlineExceeded');
    expectNoCountedViolations(await sampler.stop());
  });

  it('a nodeSelector no GPU node matches holds with InsufficientGPU and says so', async () => {
    const { fx, sampler } = await slowRollout('cap-selector');
    await fx.patch({
      spec: {
        model: { name: fx.modelName, version: 'v2' },
        template: { spec: { nodeSelector: { 'nvidia.com/gpu.product': 'NOT-THERE' }, containers: [{ name: 'server', image: 'example.invalid/t2v:v2' }] } },
      },
    });
    const held = await fx.waitFor('InsufficientGPU', (r) => fx.condition(r, 'Progressing')?.reason === 'InsufficientGPU', 60_000);
    expect(fx.condition(held, 'Progressing')?.message).toContain('0 free on nodes the template can be scheduled on');
    expect(await fx.weights()).toEqual([100, 0]);
    expectNoCountedViolations(await sampler.stop());
  });
});
