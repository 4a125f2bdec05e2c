// What the experiment-look tests share: a look's input for a parsed spec.experiment at a given minute.
import { expect } from 'vitest';
import type { ExperimentStatus } from '../analysis/experiment-gate.js';
import { parseExperiment, type StoredExperiment } from '../analysis/experiment-spec.js';
import type { MetricsProvider } from '../metric-providers/index.js';
import type { LookInput } from './experiment-look.js';

export const T0 = Date.parse('2026-12-01T10:00:00Z');
export const at = (minutes: number) => new Date(T0 + minutes * 60_000);

/**
 * A look at `minute` (arms since minute 0, a one-minute interval, the candidate at 20 %) of `stored`, which must
 * parse without errors; treatment reads revision rev-c, control rev-s.
 */
export function lookInputFor(
  stored: StoredExperiment,
  provider: MetricsProvider,
  previous: ExperimentStatus | undefined,
  minute: number,
  over: Partial<LookInput> = {},
): LookInput {
  const errors: string[] = [];
  const config = parseExperiment(stored, errors)!;
  expect(errors).toEqual([]);
  return {
    config,
    provider,
    uid: 'uid-1',
    candidateRevision: 'rev-c',
    routeWeight: 20,
    armsSince: at(0).toISOString(),
    vars: (arm, intervalMs) => ({
      namespace: 'ns',
      name: 'ro',
      service: 'svc',
      model: 'm',
      version: arm === 'treatment' ? 'v2' : 'v1',
      revision: arm === 'treatment' ? 'rev-c' : 'rev-s',
      stableRevision: 'rev-s',
      candidateRevision: 'rev-c',
      role: arm === 'treatment' ? 'candidate' : 'stable',
      intervalMs,
    }),
    intervalMs: 60_000,
    previous,
    now: at(minute),
    ...over,
  };
}
