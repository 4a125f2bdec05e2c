import { describe, expect, it } from 'vitest';
import type { BlockedWrite, Decision } from '../rollout/types.js';
import { settle } from './reconciler.js';

const NOW = new Date('2026-01-01T00:01:00.000Z');
const BLOCKED: BlockedWrite = {
  reason: 'TemplateRefused',
  object: 'Deployment t2v-abc',
  message: 'the API server refused the pod template',
  code: 422,
  since: '2026-01-01T00:00:00.000Z',
  lastAttempt: '2026-01-01T00:00:58.000Z',
  attempts: 2,
};

function decision(requeueAfterMs: number | undefined, status: Decision['status'] = { phase: 'Progressing' }): Decision {
  return { status: structuredClone(status), actions: [], requeueAfterMs };
}

describe('settle: the execution outcome in status', () => {
  it('a refused write sets blockedWrite and condition ReconcileError with the message, and waits out the backoff', () => {
    const d = decision(0);
    const requeue = settle(d, { kind: 'blocked', blocked: BLOCKED }, 3, NOW);
    expect(d.status.blockedWrite).toEqual(BLOCKED);
    expect(d.status.conditions).toEqual([
      expect.objectContaining({ type: 'ReconcileError', status: 'True', reason: 'TemplateRefused', message: BLOCKED.message, observedGeneration: 3 }),
    ]);
    // decide asked for "at once"; the second attempt's backoff is 10 s, and the rollout's own wait (5 s) is shorter.
    expect(requeue).toBe(1_000);
    expect(settle(decision(5_000), { kind: 'blocked', blocked: BLOCKED }, 3, NOW)).toBe(5_000);
    expect(settle(decision(undefined), { kind: 'blocked', blocked: BLOCKED }, 3, NOW)).toBe(10_000);
  });

  it('a write still backing off keeps the condition and looks again when the backoff ends', () => {
    const d = decision(undefined);
    expect(settle(d, { kind: 'backingOff', blocked: BLOCKED, retryInMs: 8_000 }, 3, NOW)).toBe(8_000);
    expect(d.status.blockedWrite).toEqual(BLOCKED);
    expect(d.status.conditions?.[0]?.status).toBe('True');
  });

  it('a pass that makes every write clears blockedWrite and flips ReconcileError to False', () => {
    const blocked = decision(undefined);
    settle(blocked, { kind: 'blocked', blocked: BLOCKED }, 3, NOW);
    const d = decision(2_000, blocked.status);
    expect(settle(d, { kind: 'done' }, 4, NOW)).toBe(2_000);
    expect(d.status.blockedWrite).toBeUndefined();
    expect(d.status.conditions).toEqual([
      expect.objectContaining({ type: 'ReconcileError', status: 'False', reason: 'ReconcileSucceeded', observedGeneration: 4 }),
    ]);
  });

  it('adds no condition to a rollout that never had a blocked write', () => {
    const d = decision(undefined);
    settle(d, { kind: 'done' }, 1, NOW);
    expect(d.status.conditions).toBeUndefined();
  });

  it('a transient failure leaves status as decide made it (the error is thrown after the status patch)', () => {
    const d = decision(0, { phase: 'Progressing', blockedWrite: BLOCKED });
    expect(settle(d, { kind: 'failed', error: new Error('503') }, 1, NOW)).toBe(0);
    expect(d.status.blockedWrite).toEqual(BLOCKED);
  });
});
