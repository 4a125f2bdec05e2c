// runAdapter: an adapter version judged with ModelRollout's breaker and step judgement, on the per-adapter series.
import { describe, expect, it } from 'vitest';
import type { Measurement } from '../analysis/types.js';
import { scriptedRunner, T0 } from './analysis-runner.test-support.js';
import type { AdapterSubject } from './analysis-runner.js';

const subject = (status: AdapterSubject['status']): AdapterSubject => ({
  namespace: 'ml',
  name: 'ink-wash',
  style: 'ink-wash',
  model: 'wan',
  service: 't2v',
  stableVersion: 'v1',
  candidateVersion: 'v2',
  analysis: { prometheus: { address: 'http://127.0.0.1:9' }, minRequests: 5, metrics: [{ template: 'error-rate' }] } as never,
  status,
});
const atStep = { currentStep: { index: 0, weight: 20, label: '1/3', trafficShiftedAt: new Date(T0).toISOString() }, weights: { stable: 80, candidate: 20 } };

/** 1000 requests per window for each version; `failing` of the candidate's fail. */
const prometheus =
  (failing: number) =>
  (q: string): Measurement => {
    const candidate = q.includes('adapter_version="v2"');
    if (q.includes('outcome=~"server_error|timeout"')) return { kind: 'value', value: candidate ? failing : 0 };
    if (/outcome="(overloaded|client_error|cancelled)"/.test(q)) return { kind: 'value', value: 0 };
    return { kind: 'value', value: 1000 };
  };

describe('AnalysisRunner.runAdapter', () => {
  it('queries only the adapter series of the two versions, and passes a healthy version once baked', async () => {
    const queries: string[] = [];
    const runner = scriptedRunner(prometheus(0), queries);
    const out = await runner.runAdapter(subject(atStep), 60_000, new Date(T0 + 61_000));
    expect(out.breaker).toEqual({ tripped: false });
    expect(out.analysis).toEqual({ result: 'pass' });
    expect(out.status?.revision).toBe('ink-wash@v2');
    expect(queries.length).toBeGreaterThan(0);
    for (const q of queries) expect(q).toMatch(/t2v_adapter_requests_total\{model_name="wan",adapter_name="ink-wash",adapter_version="v[12]"/);
    expect(queries.some((q) => q.includes('adapter_version="v2"'))).toBe(true);
  });

  it('trips the breaker on a failing version at once, and fails the step', async () => {
    const runner = scriptedRunner(prometheus(600));
    const early = await runner.runAdapter(subject(atStep), 60_000, new Date(T0 + 5_000));
    expect(early.breaker).toMatchObject({ tripped: true, reason: 'error-rate' });
    const baked = await runner.runAdapter(subject(atStep), 60_000, new Date(T0 + 61_000));
    expect(baked.analysis).toMatchObject({ result: 'fail', reason: 'error-rate' });
  });

  it('keeps no state of another version, and holds an invalid analysis out (the controller reports it as the spec error)', async () => {
    const runner = scriptedRunner(prometheus(0));
    const stale = { ...atStep, analysis: { revision: 'ink-wash@v9', breaches: { 'error-rate': new Date(T0).toISOString() } } };
    const out = await runner.runAdapter(subject(stale), 60_000, new Date(T0 + 1_000));
    expect(out.status?.revision).toBe('ink-wash@v2');
    expect(out.status?.breaches ?? {}).toEqual({});
    const invalid = { ...subject(atStep), analysis: { metrics: [{ template: 'cost-per-clip', max: 1 }] } as never };
    expect(await runner.runAdapter(invalid, 60_000, new Date(T0 + 61_000))).toEqual({ analysis: { result: 'pass' }, breaker: { tripped: false } });
  });
});
