// Shared by the analysis runner's tests: a rollout at one canary step with the given spec.analysis.
import type { ModelRollout } from './model-rollout.js';

export const T0 = Date.parse('2026-01-01T00:00:00Z');

/** Stable revision aaaa, candidate bbbb, at step index `step` since T0 with `stableWeight` % on stable. */
export function rolloutWithAnalysis(analysis: Record<string, unknown>, stableWeight = 95, step = 0): ModelRollout {
  return {
    apiVersion: 'modelrollout.dev/v1alpha1', kind: 'ModelRollout',
    metadata: { name: 'ro', namespace: 'ns', annotations: {} },
    spec: { service: { name: 'svc' }, model: { name: 'm', version: 'v2' }, analysis: { prometheus: { address: 'http://127.0.0.1:9' }, ...analysis } } as never,
    status: {
      phase: 'Progressing',
      stable: { revision: 'aaaa', modelVersion: 'v1' },
      candidate: { revision: 'bbbb', modelVersion: 'v2' },
      currentStep: { index: step, weight: 100 - stableWeight, label: `${step + 1}/5`, trafficShiftedAt: new Date(T0).toISOString() },
      weights: { stable: stableWeight, candidate: 100 - stableWeight },
    },
  } as ModelRollout;
}
