// Re-attack on #22's gate holds (docs/reattack-22.md R1): a hold is told when it begins — also when a new
// candidate (held) or another gate of the same type (R1) is what holds the rollout now.
import { describe, expect, it } from 'vitest';
import { CANDIDATE, expectNoShortfallAfterEach, OTHER, spec, stableWorld, startRollout, type World } from './simulated-cluster.test-support.js';
import type { WebhookAnswer, WebhookGate } from './webhook-gates.js';

expectNoShortfallAfterEach();

const gate = (name: string): WebhookGate => ({ name, type: 'pre-rollout', url: `http://tests.ml/${name}`, timeoutMs: 10_000, metadata: {} });
const loadTest = gate('load-test');
const security = gate('security-scan');

function answer(w: World, g: WebhookGate, ok: boolean, revision = CANDIDATE): WebhookAnswer {
  return { name: g.name, type: g.type, revision, ok, message: ok ? 'HTTP 200' : 'HTTP 403: not yet', at: new Date(w.now).toISOString() };
}

function runFor(w: World, ms: number): void {
  const end = w.now + ms;
  w.run((x) => x.now >= end);
}

const heldEntries = (w: World) => (w.status.history ?? []).filter((h) => h.reason === 'WebhookGateHeld');

describe('reattack22: a gate hold is told for every candidate it holds', () => {
  // Held: a new candidate that arrives while the old one is held by the same gate type passes through starting
  // (no hold) first, so its hold is a new one with its own history entry (and gate-held notification).
  it('records a WebhookGateHeld history entry for a new candidate held by the same gate', () => {
    const w = startRollout(stableWorld(spec({ webhooks: [loadTest], gateIntervalMs: 5_000 })));
    w.run((x) => x.status.webhookGate !== undefined);
    w.webhookAnswers = [answer(w, loadTest, false)];
    runFor(w, 10_000);
    expect(heldEntries(w)).toHaveLength(1);

    startRollout(w, OTHER, 'v4');
    w.run((x) => x.status.candidate?.revision === OTHER && x.status.webhookGate !== undefined);
    runFor(w, 10_000);
    expect(w.status.webhookGate).toMatchObject({ name: 'load-test', lastAnswer: 'not asked yet' });
    expect(heldEntries(w)).toHaveLength(2);
    // The new candidate's hold began when it arrived, not when the old candidate's did.
    expect(Date.parse(w.status.webhookGate!.since)).toBeGreaterThan(Date.parse(heldEntries(w)[0]!.time));
  });
});

describe('reattack22: the gate that holds is the one named', () => {
  // R1: with two gates of one type, the hold is announced naming the first ("load-test"). When load-test says yes
  // and security-scan still says no, status.webhookGate names security-scan, but no event or history entry ever
  // does: `kubectl describe` and the dashboard's timeline still say load-test holds the rollout.
  it('records an event naming the second gate once it is the one holding the rollout', () => {
    const w = startRollout(stableWorld(spec({ webhooks: [loadTest, security], gateIntervalMs: 5_000 })));
    w.run((x) => x.status.webhookGate !== undefined);
    w.webhookAnswers = [answer(w, loadTest, false), answer(w, security, false)];
    runFor(w, 10_000);
    w.webhookAnswers = [answer(w, loadTest, true), answer(w, security, false)];
    runFor(w, 10_000);
    expect(w.status.webhookGate?.name).toBe('security-scan');
    const told = w.log.filter((a) => a.kind === 'event' && a.message.includes('"security-scan"'));
    expect(told.length).toBeGreaterThanOrEqual(1);
  });
});
