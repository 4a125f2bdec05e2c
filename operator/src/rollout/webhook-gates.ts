// Gate webhooks (spec.webhooks, #22), Flagger's pre-rollout and confirm-promotion: pure. The HTTP call happens at
// the edge (webhooks/gate-caller.ts) outside any reconcile; decide() reads its cached answers as an input
// (DecideInput.webhookAnswers) and says in status.webhookGate which gate it waits on, so that the controller asks
// it. An answer counts only for the candidate revision it was given for and only when given after the hold began
// (a retry asks again). A gate that says no, or has not answered, holds the rollout where it is, indefinitely;
// abort still works.
import { NOTIFICATION_EVENTS, WEBHOOK_GATE_TYPES, type WebhookGateType } from '../api/names.js';
import type { DecisionPass } from './decision-pass.js';
import type { RolloutSpec } from './types.js';

/**
 * How often a held gate is asked again (ms), and how often a held rollout looks again: the rollout's analysis
 * interval (spec.analysis.interval, default 30 s), as Flagger re-runs its webhooks every analysis interval, but
 * never more often than every GATE_POLL_FLOOR_MS (an approval service is not polled in a tight loop).
 */
export const GATE_POLL_DEFAULT_MS = 30_000;
export const GATE_POLL_FLOOR_MS = 2_000;

const NOT_ASKED = 'not asked yet';

/** spec.analysis.interval (already a duration in ms, or undefined) → the gates' re-ask interval. */
export function gatePollMs(analysisIntervalMs: number | undefined): number {
  return Math.max(GATE_POLL_FLOOR_MS, analysisIntervalMs ?? GATE_POLL_DEFAULT_MS);
}

/** One validated spec.webhooks entry. */
export interface WebhookGate {
  name: string;
  type: WebhookGateType;
  url: string;
  /** Longest wait for an answer (ms); default 10 s. */
  timeoutMs: number;
  metadata: Record<string, string>;
}

/** The last answer of one gate, as the gate caller cached it. */
export interface WebhookAnswer {
  name: string;
  type: WebhookGateType;
  /** The candidate revision the gate was asked about. */
  revision: string;
  /** 2xx. */
  ok: boolean;
  /** "HTTP 403: not approved", "timed out after 10 s", "connection refused". */
  message: string;
  /** When the answer came (RFC 3339). */
  at: string;
}

/** status.webhookGate: the gate type that holds the rollout, since when, and what its gates last said. */
export interface WebhookGateHold {
  type: WebhookGateType;
  /** The first gate of the type that has not said yes. */
  name: string;
  since: string;
  /** Its last answer, or "not asked yet". */
  lastAnswer: string;
}

interface StoredWebhook {
  name?: string;
  type?: string;
  url?: string;
  timeoutSeconds?: number;
  metadata?: Record<string, unknown>;
}

/** spec.webhooks → the gates; every error names the field, the value and what is allowed. */
export function parseWebhooks(stored: unknown, errors: string[]): WebhookGate[] {
  if (stored === undefined) return [];
  if (!Array.isArray(stored)) {
    errors.push('spec.webhooks: must be a list');
    return [];
  }
  const seen = new Set<string>();
  return (stored as StoredWebhook[]).flatMap((w, i) => {
    const before = errors.length;
    const timeoutSeconds = w?.timeoutSeconds ?? 10;
    checkWebhook(w ?? {}, `spec.webhooks[${i}]`, seen, errors);
    if (errors.length > before) return [];
    return [
      { name: w.name!, type: w.type as WebhookGateType, url: w.url!, timeoutMs: timeoutSeconds * 1000, metadata: (w.metadata ?? {}) as Record<string, string> },
    ];
  });
}

function checkWebhook(w: StoredWebhook, field: string, seen: Set<string>, errors: string[]): void {
  if (!w.name) errors.push(`${field}.name: required`);
  else if (seen.has(w.name)) errors.push(`${field}.name: "${w.name}" is used by an earlier webhook; names must be unique`);
  else seen.add(w.name);
  if (!WEBHOOK_GATE_TYPES.includes(w.type as WebhookGateType)) errors.push(`${field}.type: "${w.type}" must be one of ${WEBHOOK_GATE_TYPES.join(', ')}`);
  const urlProblem = gateUrlProblem(w.url);
  if (urlProblem) errors.push(`${field}.url: ${urlProblem}`);
  const timeoutSeconds = w.timeoutSeconds ?? 10;
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > 60)
    errors.push(`${field}.timeoutSeconds: ${timeoutSeconds} must be an integer in [1, 60]`);
  for (const [key, value] of Object.entries(w.metadata ?? {})) {
    if (typeof value !== 'string') errors.push(`${field}.metadata.${key}: ${JSON.stringify(value)} must be a string`);
  }
}

/**
 * What is wrong with a gate URL, or undefined: it must parse (WHATWG URL, as fetch parses it) as http or https with
 * a host, and carry no user name or password (fetch refuses such URLs, and the URL is shown in status).
 */
function gateUrlProblem(url: string | undefined): string | undefined {
  const parsed = URL.parse(url ?? '');
  if ((parsed?.protocol !== 'http:' && parsed?.protocol !== 'https:') || parsed.hostname === '')
    return `"${scrubCredentials(url ?? '')}" must be an http:// or https:// URL with a host`;
  if (parsed.username !== '' || parsed.password !== '')
    return 'must not carry a user name or password (fetch refuses such URLs, and the URL is shown in status)';
  return undefined;
}

/** spec.notifications: checked here so a bad value names its field; the controller reads the stored object. */
export function checkNotifications(stored: unknown, errors: string[]): void {
  if (stored === undefined) return;
  const n = stored as { secretRef?: { name?: unknown }; events?: unknown };
  if (typeof n?.secretRef?.name !== 'string' || n.secretRef.name === '')
    errors.push("spec.notifications.secretRef.name: required (a Secret in the rollout's namespace)");
  if (n?.events === undefined) return;
  if (!Array.isArray(n.events)) {
    errors.push('spec.notifications.events: must be a list');
    return;
  }
  n.events.forEach((e: unknown, i) => {
    if (!NOTIFICATION_EVENTS.includes(e as never))
      errors.push(`spec.notifications.events[${i}]: "${String(e)}" must be one of ${NOTIFICATION_EVENTS.join(', ')}`);
  });
}

/**
 * Whether the gates of `type` let the rollout on. No gate of the type: yes. Otherwise every one must have said yes
 * (2xx) about this candidate since the hold began; until then status.webhookGate names the first that has not, the
 * Progressing condition says so, the progress-deadline clock stands still and the rollout looks again after spec.gateIntervalMs (gatePollMs).
 * `where` completes "holds the rollout …" ("before its first traffic", "at step 4/5 (50 %)").
 */
export function gateOpen(pass: DecisionPass, spec: RolloutSpec, type: WebhookGateType, where: string): boolean {
  const { status, input } = pass;
  const gates = (spec.webhooks ?? []).filter((w) => w.type === type);
  if (gates.length === 0) return true;
  const held = input.status.webhookGate;
  const since = held?.type === type ? held.since : pass.now;
  const revision = status.candidate?.revision;
  const answerOf = (gate: WebhookGate) =>
    input.webhookAnswers?.find((a) => a.name === gate.name && a.type === type && a.revision === revision && Date.parse(a.at) >= Date.parse(since));
  const closed = gates.find((g) => !answerOf(g)?.ok);
  if (!closed) {
    delete status.webhookGate;
    announceOpen(pass, held, type, gates);
    return true;
  }
  const answer = answerOf(closed);
  const lastAnswer = answer ? `${answer.message} at ${answer.at}` : NOT_ASKED;
  const pollMs = spec.gateIntervalMs ?? GATE_POLL_DEFAULT_MS;
  status.webhookGate = { type, name: closed.name, since, lastAnswer };
  const message = `${type} webhook "${closed.name}" holds the rollout ${where}: ${lastAnswer}; asked again every ${pollMs / 1000} s`;
  pass.condition({ type: 'Progressing', status: 'True', reason: 'WebhookGateHeld', message });
  status.message = message;
  announceHold(pass, held, status.webhookGate, where);
  pass.defer('promote');
  pass.wakeIn(pollMs);
  return false;
}

/**
 * A hold is told once when it begins (history entry and event WebhookGateHeld) and once when its first "no"
 * comes (an event naming the answer), not at every re-ask: `kubectl describe`, the plugin's events and the
 * dashboard's timeline show which gate holds the rollout and what it said.
 */
function announceHold(pass: DecisionPass, before: WebhookGateHold | undefined, now: WebhookGateHold, where: string): void {
  const gate = `${now.type} webhook "${now.name}"`;
  const said = now.lastAnswer === NOT_ASKED ? 'asking it now' : `it answered ${now.lastAnswer}`;
  if (before?.type !== now.type) {
    pass.note('WebhookGateHeld', `${gate} holds the rollout ${where} until it answers 2xx: ${said}`);
  } else if (before.name !== now.name) {
    // Another gate of the same type holds it now (the one named before said yes): told once, naming this one.
    pass.event('Normal', 'WebhookGateHeld', `${gate} holds the rollout ${where} now ("${before.name}" said yes): ${said}`);
  } else if (before.lastAnswer === NOT_ASKED && now.lastAnswer !== NOT_ASKED) {
    pass.event('Normal', 'WebhookGateHeld', `${gate} holds the rollout ${where}: it answered ${now.lastAnswer}`);
  }
}

/** The end of a hold: the gates of `type` all said yes about this candidate. */
function announceOpen(pass: DecisionPass, before: WebhookGateHold | undefined, type: WebhookGateType, gates: readonly WebhookGate[]): void {
  if (before?.type !== type) return;
  pass.note('WebhookGateOpened', `${type} webhooks ${gates.map((g) => `"${g.name}"`).join(', ')} answered 2xx: the rollout goes on`);
}

/** Whether leaving step `index` takes the candidate to the last step (100 %) and promotion: confirm-promotion's place. */
export function beforePromotion(spec: RolloutSpec, index: number): boolean {
  return spec.steps.length === 1 || index === spec.steps.length - 2;
}

/**
 * The text with any URL's userinfo (`//user:password@`) replaced by `//***@`: fetch's errors quote the whole URL,
 * and these texts reach status and logs.
 */
export function scrubCredentials(text: string): string {
  return text.replace(/\/\/[^/\s@]*@/g, '//***@');
}
