// Issue 13, cases 1 and 6 on the real control plane: strategy edited mid-rollout, and a pause that
// must not count toward progressDeadline.
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, inject, it } from 'vitest';
import { startOperator } from './operator-process.js';
import { RolloutFixture, WeightRecorder } from './rollout-fixtures.js';
import { kubeConfig, testNamespace } from './support.js';

const kc = kubeConfig();
const kubeconfigPath = inject('kubeconfigPath');

async function stableRollout(prefix: string, strategy: Record<string, unknown>, replicas = 4) {
  const ns = await testNamespace(kc, prefix);
  const fx = new RolloutFixture(kc, ns);
  await fx.createRoute();
  await startOperator(kubeconfigPath, ns);
  await fx.create(fx.spec({ replicas, strategy }));
  await fx.waitFor('stable Ready', (r) => fx.condition(r, 'Ready')?.status === 'True');
  return fx;
}

describe('spec changes mid-rollout', () => {
  it('steps edited at the 5 % step to [50, 100]: the rollout goes on to 50 % and 100 % before promoting, and says so', async () => {
    const fx = await stableRollout('spec-steps', { steps: [1, 5, 20, 50, 100], stepDuration: '4s' });
    const recorder = new WeightRecorder(fx, 4);
    recorder.start();
    await fx.setVersion('v2');
    await fx.waitFor('at 5 %', (r) => r.status?.weights?.candidate === 5);
    await fx.patch({ spec: { strategy: { steps: [50, 100] } } });
    const edited = await fx.waitFor('position re-derived', (r) => r.status?.currentStep?.label === '1/2');
    expect(edited.status?.currentStep?.weight).toBe(50);
    expect(edited.status?.stable?.modelVersion).toBe('v1');
    await fx.waitFor('promotion', (r) => r.status?.stable?.modelVersion === 'v2' && fx.condition(r, 'Ready')?.status === 'True', 180_000);
    await recorder.stop();
    expect(recorder.weights).toEqual([0, 1, 5, 50, 100, 0]);
    expect(recorder.violations).toEqual([]);
    expect((await fx.events()).map((e) => e.reason)).toContain('StepsChanged');
  });

  it('a step list the CRD refuses mid-rollout (not ascending, not ending at 100) is rejected with the field named', async () => {
    const fx = await stableRollout('spec-badsteps', { steps: [1, 5, 20, 50, 100], stepDuration: '30s' });
    await fx.setVersion('v2');
    await fx.waitFor('at 1 %', (r) => r.status?.weights?.candidate === 1);
    for (const steps of [
      [50, 20, 100],
      [5, 50],
      [0, 100],
      [50, 150],
    ]) {
      const refused = await fx.patch({ spec: { strategy: { steps } } }).then(
        () => 'accepted',
        (err: { body?: string }) => String(err.body ?? err),
      );
      expect(refused, JSON.stringify(steps)).toMatch(/spec\.strategy\.steps/);
    }
    expect((await fx.get()).status?.weights?.candidate).toBe(1);
  });
});

describe('progressDeadline counts only active waiting', () => {
  it('paused while waiting for GPUs and resumed after the deadline has passed on the clock: the wait goes on, then aborts on active time', async () => {
    const fx = await stableRollout('spec-deadline', { stepDuration: '1s', progressDeadline: '20s' }, 2);
    // 3 GPUs per replica: no 2-GPU node can take one, so the candidate waits for GPUs.
    await fx.patch({
      spec: {
        model: { name: fx.modelName, version: 'v2' },
        gpu: { perReplica: 3 },
        template: { spec: { containers: [{ name: 'server', image: 'example.invalid/t2v:v2' }] } },
      },
    });
    await fx.waitFor('waiting for GPUs', (r) => fx.condition(r, 'Progressing')?.reason === 'InsufficientGPU');
    const waitStarted = Date.now();
    await sleep(5_000);
    await fx.annotate({ 'modelrollout.dev/paused': 'true' });
    await fx.waitFor('paused', (r) => r.status?.phase === 'Paused');
    const pausedAt = Date.now();
    await sleep(25_000); // longer than progressDeadline
    await fx.annotate({ 'modelrollout.dev/paused': null });
    const resumedAt = Date.now();
    const resumed = await fx.waitFor('waiting again', (r) => r.status?.phase === 'Progressing' && fx.condition(r, 'Progressing')?.reason === 'InsufficientGPU');
    expect(resumed.status?.failure).toBeUndefined();
    await sleep(3_000);
    expect((await fx.get()).status?.phase).toBe('Progressing');
    const aborted = await fx.waitFor('aborted on active waiting time', (r) => r.status?.phase === 'Aborted', 60_000);
    expect(aborted.status?.failure?.reason).toBe('ProgressDeadlineExceeded');
    const activeWaitS = (pausedAt - waitStarted + Date.now() - resumedAt) / 1000;
    // About 20 s of active waiting (plus reconcile and poll latency), though over 45 s passed on the clock.
    expect(activeWaitS).toBeGreaterThanOrEqual(18);
    expect(await fx.weights()).toEqual([100, 0]);
  });
});
