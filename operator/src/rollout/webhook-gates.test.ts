import { describe, expect, it } from 'vitest';
import { CANDIDATE, expectNoShortfallAfterEach, OTHER, spec, stableWorld, startRollout, type World } from './simulated-cluster.test-support.js';
import { parseSpec } from './spec.js';
import { GATE_POLL_DEFAULT_MS, type WebhookAnswer, type WebhookGate } from './webhook-gates.js';

expectNoShortfallAfterEach();

const preRollout: WebhookGate = { name: 'load-test', type: 'pre-rollout', url: 'http://tests.ml/pre', timeoutMs: 10_000, metadata: {} };
const confirm: WebhookGate = { name: 'approval', type: 'confirm-promotion', url: 'http://approve.ml/', timeoutMs: 10_000, metadata: {} };

/** What the gate caller would have cached: an answer given now, about `revision`. */
function answer(w: World, gate: WebhookGate, ok: boolean, revision = CANDIDATE): WebhookAnswer {
  return { name: gate.name, type: gate.type, revision, ok, message: ok ? 'HTTP 200' : 'HTTP 403: not yet', at: new Date(w.now).toISOString() };
}

/** Runs passes for `ms` of simulated time. */
function runFor(w: World, ms: number): void {
  const end = w.now + ms;
  w.run((x) => x.now >= end);
}

describe('pre-rollout webhook', () => {
  it('holds the candidate at 0 % (replicas ready) while the gate says no, and moves once it says yes', () => {
    const w = startRollout(stableWorld(spec({ webhooks: [preRollout] })));
    runFor(w, 60_000);
    expect(w.route.candidateWeight).toBe(0);
    expect(w.deployments[CANDIDATE]?.readyReplicas).toBe(1);
    expect(w.status.webhookGate).toMatchObject({ type: 'pre-rollout', name: 'load-test', lastAnswer: 'not asked yet' });
    expect(w.reason('Progressing')).toBe('WebhookGateHeld');

    w.webhookAnswers = [answer(w, preRollout, false)];
    runFor(w, 30_000);
    expect(w.route.candidateWeight).toBe(0);
    expect(w.status.webhookGate?.lastAnswer).toMatch(/^HTTP 403: not yet at /);
    expect(w.conditionMessage('Progressing')).toContain('pre-rollout webhook "load-test" holds the rollout before its first traffic: HTTP 403');
    // A hold is not waiting for capacity: progressDeadline (10 m) does not abort it.
    runFor(w, 15 * 60_000);
    expect(w.status.phase).toBe('Progressing');

    w.webhookAnswers = [answer(w, preRollout, true)];
    w.run((x) => x.route.candidateWeight === 1);
    expect(w.status.preRolloutPassed).toBe(true);
    expect(w.status.webhookGate).toBeUndefined();
  });

  it('asks again after a retry: an answer older than the hold does not open it', () => {
    const w = startRollout(stableWorld(spec({ webhooks: [preRollout] })));
    runFor(w, 5_000);
    w.webhookAnswers = [answer(w, preRollout, true)];
    w.run((x) => x.route.candidateWeight === 1);
    w.controls = { paused: false, abort: 'a1' };
    w.run((x) => x.status.phase === 'Aborted' && x.route.candidateWeight === 0);
    w.now += 1_000;
    w.controls = { paused: false, abort: 'a1', retry: 'r1' };
    runFor(w, 30_000);
    expect(w.status.phase).toBe('Progressing');
    expect(w.route.candidateWeight).toBe(0);
    expect(w.status.webhookGate?.name).toBe('load-test');
  });

  it('forgets answers about an earlier candidate revision', () => {
    const w = startRollout(stableWorld(spec({ webhooks: [preRollout] })));
    runFor(w, 5_000);
    w.webhookAnswers = [answer(w, preRollout, true, CANDIDATE)];
    startRollout(w, OTHER, 'v4');
    runFor(w, 30_000);
    expect(w.status.candidate?.revision).toBe(OTHER);
    expect(w.route.candidateWeight).toBe(0);
    expect(w.status.webhookGate).toMatchObject({ name: 'load-test', lastAnswer: 'not asked yet' });
    w.webhookAnswers = [answer(w, preRollout, true, OTHER)];
    w.run((x) => x.route.candidateWeight === 1);
  });
});

describe('a hold in history and events', () => {
  it('records the hold once when it begins, its first "no" once (not every re-ask), and its end', () => {
    const w = startRollout(stableWorld(spec({ webhooks: [preRollout], gateIntervalMs: 5_000 })));
    w.run((x) => x.status.webhookGate !== undefined);
    expect(w.step().requeueAfterMs).toBeLessThanOrEqual(5_000);
    for (const no of [1, 2, 3]) {
      w.webhookAnswers = [answer(w, preRollout, false)];
      runFor(w, no * 5_000);
    }
    w.webhookAnswers = [answer(w, preRollout, true)];
    w.run((x) => x.route.candidateWeight === 1);
    const told = w.log.flatMap((a) => (a.kind === 'event' && a.message.includes('"load-test"') ? [`${a.reason}: ${a.message.replace(/ at \S+$/, '')}`] : []));
    expect(told).toEqual([
      'WebhookGateHeld: pre-rollout webhook "load-test" holds the rollout before its first traffic until it answers 2xx: asking it now',
      'WebhookGateHeld: pre-rollout webhook "load-test" holds the rollout before its first traffic: it answered HTTP 403: not yet',
      'WebhookGateOpened: pre-rollout webhooks "load-test" answered 2xx: the rollout goes on',
    ]);
    expect(w.status.history?.filter((h) => h.reason.startsWith('WebhookGate')).map((h) => h.reason)).toEqual(['WebhookGateHeld', 'WebhookGateOpened']);
  });
});

describe('confirm-promotion webhook', () => {
  it('holds the step before the last (weights unchanged), asked again every interval, until it says yes', () => {
    const w = startRollout(stableWorld(spec({ webhooks: [confirm] })));
    w.run((x) => x.status.currentStep?.weight === 50 && x.status.webhookGate !== undefined);
    const held = w.step();
    expect(held.requeueAfterMs).toBeLessThanOrEqual(GATE_POLL_DEFAULT_MS);
    expect(w.status.webhookGate).toMatchObject({ type: 'confirm-promotion', name: 'approval' });
    w.webhookAnswers = [answer(w, confirm, false)];
    runFor(w, 20 * 60_000);
    expect(w.route.candidateWeight).toBe(50);
    expect(w.status.currentStep?.label).toBe('4/5');
    expect(w.conditionMessage('Progressing')).toContain('confirm-promotion webhook "approval" holds the rollout at step 4/5 (50 %): HTTP 403');
    // A promote given while held waits for the gate too.
    w.controls = { paused: false, promote: 'p1' };
    runFor(w, 20_000);
    expect(w.route.candidateWeight).toBe(50);

    w.webhookAnswers = [answer(w, confirm, true)];
    w.run((x) => x.status.stable?.revision === CANDIDATE && x.condition('Ready') === 'True');
    expect(w.status.history?.map((h) => h.reason)).toContain('Promoted');
  });

  it('is not asked before the step before the last: earlier steps pass on their own', () => {
    const w = startRollout(stableWorld(spec({ webhooks: [confirm] })));
    w.run((x) => x.status.currentStep?.weight === 50);
    expect(w.status.webhookGate).toBeUndefined();
  });
});

describe('spec.webhooks and spec.notifications validation', () => {
  const base = {
    model: { name: 'm', version: 'v1' },
    service: { name: 's' },
    template: { spec: { containers: [{ name: 'c' }] } },
  };

  it('names the field, the value and what is allowed', () => {
    const { errors } = parseSpec({
      ...base,
      webhooks: [
        { name: 'a', type: 'pre-rollout', url: 'http://x/' },
        { name: 'a', type: 'post-rollout', url: 'ftp://x', timeoutSeconds: 0 },
      ],
      notifications: { secretRef: {}, events: ['promoted', 'exploded'] },
    });
    expect(errors).toEqual([
      'spec.webhooks[1].name: "a" is used by an earlier webhook; names must be unique',
      'spec.webhooks[1].type: "post-rollout" must be one of pre-rollout, confirm-promotion',
      'spec.webhooks[1].url: "ftp://x" must be an http:// or https:// URL with a host',
      'spec.webhooks[1].timeoutSeconds: 0 must be an integer in [1, 60]',
      "spec.notifications.secretRef.name: required (a Secret in the rollout's namespace)",
      'spec.notifications.events[1]: "exploded" must be one of started, shadow-started, step-passed, paused, promoted, rolled-back, aborted, experiment-verdict, gate-held',
    ]);
  });

  it('parses valid gates with their defaults', () => {
    const { spec: parsed, errors } = parseSpec({ ...base, webhooks: [{ name: 'a', type: 'confirm-promotion', url: 'https://x/', metadata: { team: 'ml' } }] });
    expect(errors).toEqual([]);
    expect(parsed?.webhooks).toEqual([{ name: 'a', type: 'confirm-promotion', url: 'https://x/', timeoutMs: 10_000, metadata: { team: 'ml' } }]);
  });

  it('asks a held gate again every analysis interval (spec.analysis.interval, default 30 s), at least every 2 s', () => {
    const webhooks = [{ name: 'a', type: 'confirm-promotion', url: 'https://x/' }];
    const intervalOf = (analysis?: object) => parseSpec({ ...base, webhooks, ...(analysis ? { analysis } : {}) }).spec?.gateIntervalMs;
    expect([intervalOf(), intervalOf({ interval: '1m' }), intervalOf({ interval: '5s' }), intervalOf({ interval: '500ms' })]).toEqual([
      30_000, 60_000, 5_000, 2_000,
    ]);
  });
});
