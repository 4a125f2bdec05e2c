// The operator end to end against the real control plane: Deployments, Services and the HTTPRoute it
// drives, with kwok-backed Pods that the real scheduler places on fake GPU nodes.
import { describe, expect, it } from 'vitest';
import { startOperator } from './operator-process.js';
import { RolloutFixture, WeightRecorder, type RouterKind } from './rollout-fixtures.js';
import { kubeConfig, testNamespace, waitUntil } from './support.js';
import { inject } from 'vitest';
import { MODEL_ROLLOUT_RESOURCE } from '../../operator/src/api/index.js';

const kc = kubeConfig();
const kubeconfigPath = inject('kubeconfigPath');

async function stableRollout(router: RouterKind, prefix: string, spec: Record<string, unknown> = {}) {
  const ns = await testNamespace(kc, `${prefix}-${router === 'istio' ? 'is' : 'gw'}`);
  const fx = new RolloutFixture(kc, ns, 't2v', 'wan-t2v', router);
  await fx.createRoute();
  const operator = await startOperator(kubeconfigPath, ns);
  await fx.create(fx.spec(spec));
  const ro = await fx.waitFor('stable Ready', (r) => fx.condition(r, 'Ready')?.status === 'True');
  return { ns, fx, operator, stable: ro.status!.stable!.revision };
}

describe.each(['gateway-api', 'istio'] as const)('ModelRollout operator with %s', (router) => {
  it('takes the first template as stable: Deployment, two Services, 100/0 on the managed rule only', async () => {
    const { fx, stable } = await stableRollout(router, 'mro-init');
    const ro = await fx.get();
    expect(ro.status).toMatchObject({ phase: 'Healthy', observedGeneration: 1, stable: { modelVersion: 'v1' } });
    expect(ro.metadata.finalizers).toContain('modelrollout.dev/traffic-restore');
    for (const c of ro.status!.conditions!) expect(c.observedGeneration).toBe(1);
    const dep = await fx.deploymentOf(stable);
    expect(dep?.status?.readyReplicas).toBe(2);
    expect(dep?.spec?.template.spec?.containers[0]?.resources?.limits?.['nvidia.com/gpu']).toBe('1');
    expect(dep?.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'ModelRollout', name: 't2v', controller: true });
    const svc = await fx.core.readNamespacedService({ name: 't2v-stable', namespace: fx.namespace });
    expect(svc.spec?.selector).toEqual({ 'modelrollout.dev/name': 't2v', 'modelrollout.dev/revision': stable });
    expect(await fx.weights()).toEqual([100, 0]);
    // The other rule/route (not ours) is untouched.
    expect(await fx.untouchedRoute()).toEqual(['other']);
  });

  it('rolls out 1→5→20→50→100 with ready replicas ahead of every weight, then promotes', async () => {
    const { fx, stable, operator } = await stableRollout(router, 'mro-full', { replicas: 4 });
    const recorder = new WeightRecorder(fx, 4);
    recorder.start();
    await fx.setVersion('v2');
    const done = await fx.waitFor('promotion', (r) => r.status?.stable?.modelVersion === 'v2' && fx.condition(r, 'Ready')?.status === 'True');
    await recorder.stop();
    expect(recorder.weights).toEqual([0, 1, 5, 20, 50, 100, 0]);
    expect(recorder.violations).toEqual([]);
    expect(done.status).toMatchObject({ phase: 'Healthy', previousStable: { revision: stable }, weights: { stable: 100, candidate: 0 } });
    expect(done.status!.candidate).toBeUndefined();
    expect(fx.condition(done, 'Progressing')?.reason).toBe('RolloutComplete');
    const newStable = done.status!.stable!.revision;
    expect((await fx.deploymentOf(newStable))?.status?.readyReplicas).toBe(4);
    await waitUntil('old stable at zero', async () => ((await fx.deploymentOf(stable))?.spec?.replicas === 0 ? true : undefined));
    const svc = await fx.core.readNamespacedService({ name: 't2v-stable', namespace: fx.namespace });
    expect(svc.spec?.selector?.['modelrollout.dev/revision']).toBe(newStable);
    const reasons = (await fx.events()).map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['RolloutStarted', 'Step1', 'StepPassed', 'Promoted']));
    const metrics = await operator.metrics();
    expect(metrics).toMatch(/modelrollout_transitions_total\{reason="Promoted"\} 1/);
    expect(metrics).toMatch(/modelrollout_reconcile_duration_seconds_count\{result="ok"\} \d+/);
  });

  it('shadow phase mirrors to the candidate, then removes the mirror at step 1', async () => {
    const { fx } = await stableRollout(router, 'mro-shadow', { strategy: { stepDuration: '1s', shadow: { mirrorPercent: 50, duration: '2s' } } });
    await fx.setVersion('v2');
    await fx.waitFor('shadowing', (r) => r.status?.phase === 'Shadowing' && r.status.weights?.mirrorPercent === 50);
    expect(await fx.mirror()).toEqual({ target: 't2v-candidate', percent: 50 });
    expect(await fx.weights()).toEqual([100, 0]);
    await fx.waitFor('step 1', (r) => (r.status?.weights?.candidate ?? 0) >= 1);
    expect(await fx.mirror()).toBeUndefined();
  });

  // Router-independent (a manual gate, GPU capacity, an unschedulable candidate, a template change): one router is
  // enough; the tests around them cover how each router's route is read and written (and the suite's time stays in
  // its budget).
  if (router === 'gateway-api') {
    it('pauses before a manual gate and resumes on the resume annotation', async () => {
      const { fx } = await stableRollout(router, 'mro-gate', { strategy: { stepDuration: '1s', manualGates: [20] } });
      await fx.setVersion('v2');
      const paused = await fx.waitFor('gate', (r) => r.status?.phase === 'Paused');
      expect(paused.status?.currentStep?.weight).toBe(20);
      expect(fx.condition(paused, 'Paused')).toMatchObject({ status: 'True', reason: 'ManualGate' });
      await new Promise((r) => setTimeout(r, 3000));
      expect(await fx.weights()).toEqual([95, 5]);
      await fx.annotate({ 'modelrollout.dev/resume': 'now' });
      await fx.waitFor('past the gate', (r) => (r.status?.weights?.candidate ?? 0) >= 20);
      await fx.waitFor('promotion', (r) => r.status?.stable?.modelVersion === 'v2');
    });

    it('holds traffic on stable when the candidate needs more GPUs than any node has, then aborts at the deadline', async () => {
      const { fx, stable } = await stableRollout(router, 'mro-nogpu', { strategy: { stepDuration: '1s', progressDeadline: '6s' } });
      await fx.setVersion('v2', { gpu: { perReplica: 3 } });
      const holding = await fx.waitFor('InsufficientGPU', (r) => fx.condition(r, 'Progressing')?.reason === 'InsufficientGPU');
      expect(fx.condition(holding, 'Progressing')?.message).toMatch(/needs 1 more candidate replica\(s\) × 3 nvidia.com\/gpu = 3 GPUs; \d+ free/);
      expect(await fx.weights()).toEqual([100, 0]);
      const aborted = await fx.waitFor('aborted', (r) => r.status?.phase === 'Aborted');
      expect(aborted.status?.failure?.reason).toBe('ProgressDeadlineExceeded');
      expect(fx.condition(aborted, 'Ready')?.status).toBe('False');
      expect(fx.condition(aborted, 'Degraded')?.status).toBe('True');
      expect(await fx.weights()).toEqual([100, 0]);
      expect((await fx.deploymentOf(stable))?.status?.readyReplicas).toBe(2);
    });

    it('never moves traffic to a candidate whose pods stay Unschedulable, and aborts at the deadline', async () => {
      const { fx } = await stableRollout(router, 'mro-unsched', { strategy: { stepDuration: '1s', progressDeadline: '6s' } });
      // More CPU than any node has: GPUs fit (the operator's check passes) but the scheduler refuses the pods.
      await fx.patch({
        spec: {
          model: { name: 'wan-t2v', version: 'v2' },
          template: { spec: { containers: [{ name: 'server', image: 'example.invalid/t2v:v2', resources: { requests: { cpu: '1000' } } }] } },
        },
      });
      const waiting = await fx.waitFor('waiting for candidate', (r) => /Unschedulable/.test(fx.condition(r, 'Progressing')?.message ?? ''));
      expect(waiting.status?.weights?.candidate).toBe(0);
      const aborted = await fx.waitFor('aborted', (r) => r.status?.phase === 'Aborted');
      expect(aborted.status?.failure?.message).toMatch(/Unschedulable/);
      expect(await fx.weights()).toEqual([100, 0]);
      const candidate = await fx.deploymentOf(aborted.status!.candidate!.revision);
      await waitUntil('candidate scaled to zero', async () =>
        (await fx.deploymentOf(aborted.status!.candidate!.revision))?.spec?.replicas === 0 ? true : undefined,
      );
      expect(candidate).toBeDefined();
    });

    it('restarts from the first step when the template changes mid-rollout', async () => {
      const { fx } = await stableRollout(router, 'mro-restart', { strategy: { stepDuration: '3s' } });
      await fx.setVersion('v2');
      const mid = await fx.waitFor('at 20 %', (r) => (r.status?.weights?.candidate ?? 0) >= 20);
      const firstCandidate = mid.status!.candidate!.revision;
      await fx.setVersion('v3');
      const restarted = await fx.waitFor('restarted', (r) => r.status?.candidate?.modelVersion === 'v3');
      expect(restarted.status?.history?.some((h) => h.reason === 'Restarted')).toBe(true);
      await fx.waitFor(
        'v3 at step 1',
        (r) => r.status?.candidate?.modelVersion === 'v3' && r.status.currentStep?.index === 0 && r.status.weights?.candidate === 1,
      );
      await waitUntil('first candidate deleted', async () => ((await fx.deploymentOf(firstCandidate)) === undefined ? true : undefined));
      const done = await fx.waitFor('v3 promoted', (r) => r.status?.stable?.modelVersion === 'v3' && fx.condition(r, 'Ready')?.status === 'True');
      expect(done.status?.weights).toMatchObject({ stable: 100, candidate: 0 });
    });
  }

  it('on delete mid-rollout returns the route to 100 % stable before the object goes away', async () => {
    const { fx } = await stableRollout(router, 'mro-delete', { strategy: { stepDuration: '30s' } });
    await fx.setVersion('v2');
    await fx.waitFor('at 1 %', (r) => r.status?.weights?.candidate === 1);
    expect(await fx.weights()).toEqual([99, 1]);
    await fx.custom.deleteNamespacedCustomObject({ ...MODEL_ROLLOUT_RESOURCE, namespace: fx.namespace, name: fx.name });
    await waitUntil(
      'rollout gone',
      async () =>
        await fx.get().then(
          () => undefined,
          () => true,
        ),
    );
    expect(await fx.weights()).toEqual([100, 0]);
  });

  it('resumes at the same step after the operator is killed mid-step, no weight going backwards', async () => {
    const { fx, operator, ns } = await stableRollout(router, 'mro-crash', { strategy: { stepDuration: '4s' } });
    const recorder = new WeightRecorder(fx, 2);
    recorder.start();
    await fx.setVersion('v2');
    const before = await fx.waitFor('at 20 %', (r) => r.status?.weights?.candidate === 20);
    await operator.kill();
    await new Promise((r) => setTimeout(r, 1500));
    const during = await fx.get();
    // The same step (trafficShiftedAt may have been added once the route confirmed the weights).
    expect(during.status?.currentStep).toMatchObject(before.status!.currentStep!);
    await startOperator(kubeconfigPath, ns);
    const after = await fx.waitFor(
      'next reconcile',
      (r) => r.status?.currentStep?.index !== before.status?.currentStep?.index || r.status?.weights?.candidate === 20,
    );
    expect(after.status!.currentStep!.index).toBeGreaterThanOrEqual(before.status!.currentStep!.index);
    await fx.waitFor('promotion', (r) => r.status?.stable?.modelVersion === 'v2' && fx.condition(r, 'Ready')?.status === 'True');
    await recorder.stop();
    expect(recorder.weights).toEqual([0, 1, 5, 20, 50, 100, 0]);
    expect(recorder.violations).toEqual([]);
  });
});
