// The analysis settings this project added for honest judgement (confidence, no-data deadline and action,
// counts metrics): the API server refuses what the schema can express, naming the field.
import { describe, expect, it } from 'vitest';
import { MRO, RolloutFixture } from './rollout-fixtures.js';
import { apiErrorCode, apiErrorMessage, kubeConfig, testNamespace } from './support.js';
import { API_VERSION, KIND } from '../../operator/src/api/index.js';

const kc = kubeConfig();
const prometheus = { address: 'http://127.0.0.1:9' };

describe('analysis settings the API server refuses', () => {
  it.each([
    ['a confidence of 1 (no bound could ever be decided)', { confidence: 1 }, /spec\.analysis\.confidence: Invalid value: 1: .*less than 1/],
    ['a confidence at or below 0.5', { confidence: 0.5 }, /spec\.analysis\.confidence: Invalid value: 0\.5: .*greater than 0\.5/],
    ['an unknown no-data action', { onNoData: 'Ignore' }, /spec\.analysis\.onNoData: Unsupported value: "Ignore".*"Pause", "Rollback"/],
    ['a no-data deadline that is not a duration', { noDataDeadline: 'soon' }, /spec\.analysis\.noDataDeadline: Invalid value.*positive duration/],
    [
      'counts without trials',
      { metrics: [{ name: 'c', counts: { events: 'sum(x)' }, max: 0.1 }] },
      /spec\.analysis\.metrics\[0\]\.counts\.trials: Required value/,
    ],
    [
      'an unknown template',
      { metrics: [{ template: 'error-ratio' }] },
      /spec\.analysis\.metrics\[0\]\.template: Unsupported value: "error-ratio".*"overload-rate"/,
    ],
  ])('refuses %s, naming the field', async (_what, over, message) => {
    const ns = await testNamespace(kc, 'mro-bad-analysis');
    const fx = new RolloutFixture(kc, ns);
    const spec = fx.spec({ analysis: { prometheus, metrics: [{ template: 'error-rate' }], ...over } });
    const err = await fx.custom
      .createNamespacedCustomObject({
        ...MRO,
        namespace: ns,
        body: { apiVersion: API_VERSION, kind: KIND, metadata: { name: 'bad' }, spec },
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err, `accepted: ${JSON.stringify(over)}`).toBeDefined();
    expect(apiErrorCode(err)).toBe(422);
    expect(apiErrorMessage(err)).toMatch(message);
  });

  it('accepts a counts metric and the overload template, with defaults filled in', async () => {
    const ns = await testNamespace(kc, 'mro-ok-analysis');
    const fx = new RolloutFixture(kc, ns);
    await fx.create(
      fx.spec({
        analysis: { prometheus, metrics: [{ name: 'vllm-errors', counts: { events: 'sum(a)', trials: 'sum(b)' }, max: 0.02 }, { template: 'overload-rate' }] },
      }),
    );
    const analysis = (await fx.get()).spec.analysis as Record<string, unknown>;
    expect(analysis).toMatchObject({ confidence: 0.95, noDataDeadline: '10m', onNoData: 'Pause' });
  });
});
