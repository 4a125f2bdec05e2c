// The analysis runner against a scripted Prometheus, for tests: queries are answered by what they select
// (revision, outcome, window), and status.analysis goes through JSON between checks as it does through the
// API server and an operator restart.
import type { Measurement } from '../analysis/types.js';
import type { MetricsProvider } from '../metric-providers/provider.js';
import { AnalysisRunner } from './analysis-runner.js';
import type { ModelRollout } from '../api/index.js';
import { API_VERSION, KIND } from '../api/index.js';

export const T0 = Date.parse('2026-01-01T00:00:00Z');
export type Answer = (q: string, at: Date) => Measurement;

/** A runner whose Prometheus answers with `answer`; every query is appended to `queries`. */
export function scriptedRunner(answer: Answer, queries: string[] = []): AnalysisRunner {
  const provider: MetricsProvider = {
    query: async (q, at) => {
      queries.push(q);
      return answer(q, at);
    },
  };
  return new AnalysisRunner({ core: {} as never, cache: { podsOf: () => [] } as never, providerFor: () => provider });
}

/** A Progressing rollout at step `index` (stable revision aaaa, candidate bbbb) whose traffic shifted at `shiftedAt` (T0). */
export function progressingRollout(analysis: Record<string, unknown>, stableWeight = 95, index = 0, shiftedAt = T0): ModelRollout {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name: 'ro', namespace: 'ns', annotations: {} },
    spec: { service: { name: 'svc' }, model: { name: 'm', version: 'v2' }, analysis: { prometheus: { address: 'http://127.0.0.1:9' }, ...analysis } } as never,
    status: {
      phase: 'Progressing',
      stable: { revision: 'aaaa', modelVersion: 'v1' },
      candidate: { revision: 'bbbb', modelVersion: 'v2' },
      currentStep: { index, weight: 100 - stableWeight, label: `${index + 1}/5`, trafficShiftedAt: new Date(shiftedAt).toISOString() },
      weights: { stable: stableWeight, candidate: 100 - stableWeight },
    },
  } as ModelRollout;
}

export type Tick = { t: number; analysis: { result: string; reason?: string; message?: string }; breaker: { tripped: boolean; message?: string } };

/**
 * Runs the runner every `everyS` seconds from `fromS` for `minutes`, feeding status.analysis back through JSON
 * like the reconciler; stops at the first trip, fail or pause (and at a pass unless `untilPass` is false).
 */
export async function drive(
  r: AnalysisRunner,
  ro: ModelRollout,
  minutes: number,
  stepDurationMs: number,
  opts: { everyS?: number; fromS?: number; stopOnPass?: boolean } = {},
): Promise<Tick[]> {
  const { everyS = 10, fromS = 0, stopOnPass = true } = opts;
  const out: Tick[] = [];
  for (let s = fromS; s <= fromS + minutes * 60; s += everyS) {
    const o = await r.run(ro, stepDurationMs, new Date(T0 + s * 1000));
    if (o.status) ro.status!.analysis = JSON.parse(JSON.stringify(o.status));
    out.push({ t: s, analysis: o.analysis as never, breaker: o.breaker as never });
    if (o.breaker.tripped || o.analysis.result === 'fail' || o.analysis.result === 'pause' || (stopOnPass && o.analysis.result === 'pass')) break;
  }
  return out;
}

export const isCandidate = (q: string): boolean => q.includes('modelrollout_revision="bbbb"');
/** Any failed-request side: error-rate's, overload-rate's or rejection-rate's events. */
export const isEvents = (q: string): boolean =>
  q.includes('outcome=~"server_error|timeout"') || q.includes('outcome="overloaded"') || q.includes('outcome="client_error"');
/** The [Ns] window of a query, in minutes, never more than the time since the step began. */
export const windowMin = (q: string, at: Date): number => Math.min(Number(/\[(\d+)s\]/.exec(q)?.[1] ?? '60') / 60, Math.max((at.getTime() - T0) / 60_000, 0));
export const last = (out: Tick[]): Tick => out[out.length - 1]!;
export const show = (x: Tick): string =>
  `after ${x.t} s: ${x.analysis.result}${x.breaker.tripped ? ` (breaker: ${x.breaker.message})` : ''}: ${(x.analysis.message ?? '').slice(0, 300)}`;

/**
 * Stable revision aaaa, candidate bbbb, at step index `step` since T0 with `stableWeight` % on stable.
 * @alias of progressingRollout, the name the analysis-runner tests use (knip's duplicate-export check skips it).
 */
export const rolloutWithAnalysis = progressingRollout;
