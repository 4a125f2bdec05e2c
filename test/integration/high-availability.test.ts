// Two operator replicas against one control plane: a Lease elects one; the other takes over when the
// leader dies (within the lease duration) or steps down (at once), resuming at the same step.
import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { startOperator, type OperatorProcess } from './operator-process.js';
import { RolloutFixture, WeightRecorder } from './rollout-fixtures.js';
import { kubeConfig, testNamespace, waitUntil } from './support.js';

const kc = kubeConfig();
const kubeconfigPath = inject('kubeconfigPath');

function reconciles(metrics: string): number {
  return Number(/modelrollout_reconcile_duration_seconds_count\{result="ok"\} (\d+)/.exec(metrics)?.[1] ?? 0);
}

async function leaderOf(ns: string): Promise<string | undefined> {
  const lease = await kc.makeApiClient(k8s.CoordinationV1Api).readNamespacedLease({ name: 'modelrollout-operator', namespace: ns });
  return lease.spec?.holderIdentity ?? undefined;
}

describe('operator high availability', () => {
  it('exactly one replica acts; killing the leader mid-rollout hands over within the lease and resumes at the same step', async () => {
    const ns = await testNamespace(kc, 'ha-kill');
    const fx = new RolloutFixture(kc, ns);
    await fx.createRoute();
    const a = await startOperator(kubeconfigPath, ns, { POD_NAME: 'replica-a' });
    await waitUntil('a leads', async () => ((await leaderOf(ns).catch(() => undefined)) === 'replica-a' ? true : undefined));
    const b = await startOperator(kubeconfigPath, ns, { POD_NAME: 'replica-b' });
    await fx.create(fx.spec({ strategy: { stepDuration: '4s' } }));
    await fx.waitFor('stable Ready', (r) => fx.condition(r, 'Ready')?.status === 'True');
    expect(reconciles(await a.metrics())).toBeGreaterThan(0);
    expect(reconciles(await b.metrics())).toBe(0);
    expect(b.log()).not.toContain('became leader');

    const recorder = new WeightRecorder(fx, 2);
    recorder.start();
    await fx.setVersion('v2');
    const before = await fx.waitFor('at 20 %', (r) => r.status?.weights?.candidate === 20);
    const killedAt = Date.now();
    await a.kill();
    await waitUntil('b leads', async () => ((await leaderOf(ns)) === 'replica-b' ? true : undefined), 30_000, 100);
    const tookOverInMs = Date.now() - killedAt;
    expect(tookOverInMs).toBeLessThan(6_000 + 4_000); // lease duration + one retry period and some slack
    // b goes on from the step a was in: the next step after it, never the first again.
    const resumed = await fx.waitFor('b moves to the next step', (r) => (r.status?.currentStep?.index ?? 0) > before.status!.currentStep!.index, 30_000);
    expect(resumed.status!.currentStep!.index).toBe(before.status!.currentStep!.index + 1);
    await fx.waitFor('promoted by b', (r) => r.status?.stable?.modelVersion === 'v2' && fx.condition(r, 'Ready')?.status === 'True');
    await recorder.stop();
    expect(recorder.weights).toEqual([0, 1, 5, 20, 50, 100, 0]);
    expect(recorder.violations).toEqual([]);
    expect(reconciles(await b.metrics())).toBeGreaterThan(0);
  });

  it('a leader that shuts down gracefully releases the lease and the standby takes over at once', async () => {
    const ns = await testNamespace(kc, 'ha-release');
    const a: OperatorProcess = await startOperator(kubeconfigPath, ns, { POD_NAME: 'replica-a', MODELROLLOUT_LEASE_DURATION_SECONDS: '60' });
    await waitUntil('a leads', async () => ((await leaderOf(ns).catch(() => undefined)) === 'replica-a' ? true : undefined));
    await startOperator(kubeconfigPath, ns, { POD_NAME: 'replica-b', MODELROLLOUT_LEASE_DURATION_SECONDS: '60' });
    const stoppedAt = Date.now();
    await a.stop();
    await waitUntil('b leads', async () => ((await leaderOf(ns)) === 'replica-b' ? true : undefined), 30_000, 100);
    // Far less than the 60 s lease: the lease was released, not left to expire.
    expect(Date.now() - stoppedAt).toBeLessThan(15_000);
    expect(a.log()).toContain('released leadership');
  });
});
