// Bad specs: the API server refuses what the schema and CEL can express, naming the field; the
// operator reports the rest as InvalidSpec with an event, and changes nothing.
import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { startOperator } from './operator-process.js';
import { MRO, RolloutFixture } from './rollout-fixtures.js';
import { apiErrorCode, apiErrorMessage, kubeConfig, testNamespace } from './support.js';
import { API_VERSION, KIND } from '../../operator/src/api/index.js';

const kc = kubeConfig();

async function refusal(fx: RolloutFixture, spec: Record<string, unknown>): Promise<{ code?: number; message: string }> {
  const err = await fx.custom
    .createNamespacedCustomObject({
      ...MRO,
      namespace: fx.namespace,
      body: { apiVersion: API_VERSION, kind: KIND, metadata: { name: 'bad' }, spec },
    })
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  expect(err, `accepted: ${JSON.stringify(spec)}`).toBeDefined();
  return { code: apiErrorCode(err), message: apiErrorMessage(err) };
}

describe('invalid ModelRollout specs', () => {
  it.each([
    ['steps not strictly increasing', { strategy: { steps: [5, 1, 100] } }, /spec\.strategy\.steps: Invalid value.*strictly increasing/],
    ['a step outside (0, 100]', { strategy: { steps: [0, 50, 100] } }, /spec\.strategy\.steps: Invalid value.*\(0, 100\]/],
    ['steps not ending at 100', { strategy: { steps: [1, 50] } }, /spec\.strategy\.steps: Invalid value.*last step must be 100/],
    ['a negative duration', { strategy: { stepDuration: '-5m' } }, /spec\.strategy\.stepDuration: Invalid value.*positive duration/],
    ['an unparseable duration', { strategy: { progressDeadline: 'ten minutes' } }, /spec\.strategy\.progressDeadline: Invalid value.*positive duration/],
    ['zero GPUs per replica', { gpu: { perReplica: 0 } }, /spec\.gpu\.perReplica: Invalid value.*at least 1/],
    ['no route reference', { trafficRouting: {} }, /spec\.trafficRouting: Invalid value.*exactly one of gatewayAPI, istio or traefik/],
    ['a route reference without a name', { trafficRouting: { gatewayAPI: {} } }, /spec\.trafficRouting\.gatewayAPI\.httpRoute: Required value/],
    [
      'a manual gate that is not a step',
      { strategy: { steps: [10, 100], manualGates: [50] } },
      /spec\.strategy\.manualGates: Invalid value.*one of the step weights/,
    ],
  ])('refuses %s, naming the field', async (_what, over, message) => {
    const ns = await testNamespace(kc, 'mro-bad');
    const fx = new RolloutFixture(kc, ns);
    const { code, message: text } = await refusal(fx, fx.spec(over));
    expect(code).toBe(422);
    expect(text).toMatch(message);
  });

  it('reports what CEL cannot check as InvalidSpec with an event, and changes nothing', async () => {
    const ns = await testNamespace(kc, 'mro-invalid');
    const fx = new RolloutFixture(kc, ns);
    await fx.createRoute();
    await startOperator(inject('kubeconfigPath'), ns);
    await fx.create(fx.spec());
    const healthy = await fx.waitFor('stable Ready', (r) => fx.condition(r, 'Ready')?.status === 'True');
    // "0s" passes the duration pattern but is not a usable bake time; the GPU container does not exist.
    await fx.patch({ spec: { model: { name: 'wan-t2v', version: 'v2' }, strategy: { stepDuration: '0s' }, gpu: { container: 'sidecar' } } });
    const invalid = await fx.waitFor('InvalidSpec', (r) => fx.condition(r, 'InvalidSpec')?.status === 'True');
    const condition = fx.condition(invalid, 'InvalidSpec')!;
    expect(condition.observedGeneration).toBe(2);
    expect(condition.message).toContain('spec.strategy.stepDuration: "0s" is not a positive duration');
    expect(condition.message).toContain('spec.gpu.container: "sidecar" is not a container of the template');
    expect(invalid.status?.phase).toBe('Invalid');
    expect(invalid.status?.stable).toEqual(healthy.status?.stable);
    expect(invalid.status?.candidate).toBeUndefined();
    expect(await fx.weights()).toEqual([100, 0]);
    const deployments = await fx.apps.listNamespacedDeployment({ namespace: ns });
    expect(deployments.items).toHaveLength(1);
    const events = await fx.events();
    expect(events.some((e) => e.reason === 'InvalidSpec' && e.type === 'Warning')).toBe(true);
    // Fixing the spec resumes normal work: the new version rolls out.
    await fx.patch({ spec: { strategy: { stepDuration: '1s' }, gpu: { container: 'server' } } });
    await fx.waitFor('v2 promoted', (r) => r.status?.stable?.modelVersion === 'v2' && fx.condition(r, 'Ready')?.status === 'True');
  });
});
