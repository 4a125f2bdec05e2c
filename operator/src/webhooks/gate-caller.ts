// Asks gate webhooks (spec.webhooks, #22) outside any reconcile: a reconcile reads the cached answers (answersFor)
// and, when decide() says a gate holds the rollout (status.webhookGate), asks that gate type's webhooks (ask), which
// starts the calls and returns at once. When an answer comes, onAnswer(key) requeues the rollout. One call per
// rollout+gate at a time; a gate is asked again once its last answer is older than the interval or than the hold.
// Answers are kept per rollout+gate+candidate revision: another revision's answer is replaced, never used
// (rollout/webhook-gates.ts also checks). Runs on real time (the timeout), so it sits outside controller/.
import type { WebhookGateType } from '../api/names.js';
import { scrubCredentials, type WebhookAnswer, type WebhookGate } from '../rollout/webhook-gates.js';

/** The POST body, as Flagger's webhooks get it (checksum: the candidate revision). */
export interface GateRequest {
  name: string;
  namespace: string;
  /** status.phase of the rollout when asked. */
  phase: string;
  type: WebhookGateType;
  checksum: string;
  metadata: Record<string, string>;
}

export interface GateCallerOptions {
  /** Called with the rollout's key (`namespace/name`) when an answer arrives: requeue it. */
  onAnswer: (key: string) => void;
  now?: () => Date;
  fetch?: typeof fetch;
}

/** The rollout a gate is asked about. `since`: when the hold began (an older answer is stale). */
export interface GateSubject {
  namespace: string;
  name: string;
  phase: string;
  revision: string;
  since: string;
  /** A gate that answered is asked again after this long while it still holds (ms): spec.gateIntervalMs. */
  intervalMs: number;
}

interface Cached extends WebhookAnswer {
  askedAt: number;
}

export class GateCaller {
  private readonly answers = new Map<string, Cached>();
  private readonly inFlight = new Set<string>();

  constructor(private readonly opts: GateCallerOptions) {}

  /** The cached answers of a rollout's gates (any revision; decide() keeps only the candidate's). */
  answersFor(key: string): WebhookAnswer[] {
    return [...this.answers.entries()].filter(([k]) => k.startsWith(`${key}|`)).map(([, { askedAt: _, ...answer }]) => answer);
  }

  /** Starts a call to each gate whose answer is missing, about another revision, older than the hold or than the interval. */
  ask(key: string, subject: GateSubject, gates: readonly WebhookGate[]): void {
    const now = (this.opts.now ?? (() => new Date()))();
    for (const gate of gates) {
      const k = `${key}|${gate.name}`;
      if (this.inFlight.has(k)) continue;
      const cached = this.answers.get(k);
      const fresh = cached?.revision === subject.revision && cached.askedAt >= Date.parse(subject.since) && now.getTime() - cached.askedAt < subject.intervalMs;
      if (fresh) continue;
      this.inFlight.add(k);
      const body: GateRequest = {
        name: subject.name,
        namespace: subject.namespace,
        phase: subject.phase,
        type: gate.type,
        checksum: subject.revision,
        metadata: gate.metadata,
      };
      void callGate(gate, body, this.opts.fetch).then(({ ok, message }) => {
        this.inFlight.delete(k);
        const at = (this.opts.now ?? (() => new Date()))();
        this.answers.set(k, { name: gate.name, type: gate.type, revision: subject.revision, ok, message, at: at.toISOString(), askedAt: now.getTime() });
        this.opts.onAnswer(key);
      });
    }
  }

  /** The rollout is gone: its answers go too. */
  forget(key: string): void {
    for (const k of [...this.answers.keys()]) if (k.startsWith(`${key}|`)) this.answers.delete(k);
  }
}

/**
 * POSTs the body to the gate within its timeout. Never throws: 2xx is `ok`; anything else is a message for the
 * status ("HTTP 403: not approved", "timed out after 10 s", "connection refused (ECONNREFUSED)"). Redirects are
 * not followed: a 3xx (an SSO proxy sending to its login page) is a "no", "HTTP 302 (redirect to /login not
 * followed)" — following would turn the POST into a GET whose 200 opens the gate (docs/attack-22.md F1).
 */
export async function callGate(gate: WebhookGate, body: GateRequest, fetchImpl: typeof fetch = fetch): Promise<{ ok: boolean; message: string }> {
  try {
    const res = await fetchImpl(gate.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'modelrollout-operator' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(gate.timeoutMs),
      redirect: 'manual',
    });
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel();
      return { ok: false, message: redirectMessage(res) };
    }
    const text = (await res.text().catch(() => '')).trim().replace(/\s+/g, ' ').slice(0, 200);
    return { ok: res.ok, message: `HTTP ${res.status}${text ? `: ${text}` : ''}` };
  } catch (err) {
    return { ok: false, message: failureOf(err, gate.timeoutMs) };
  }
}

/** "HTTP 302 (redirect to https://sso.example/login not followed)": what a 3xx answer says, for a status or a log. */
export function redirectMessage(res: Response): string {
  const location = res.headers.get('location');
  return `HTTP ${res.status} (${location ? `redirect to ${location.slice(0, 150)}` : 'redirect'} not followed)`;
}

function failureOf(err: unknown, timeoutMs: number): string {
  const name = (err as { name?: string }).name;
  if (name === 'TimeoutError' || name === 'AbortError') return `no answer within ${timeoutMs / 1000} s`;
  const code = (err as { cause?: { code?: string } }).cause?.code;
  if (code === 'ECONNREFUSED') return 'connection refused (ECONNREFUSED)';
  return `request failed: ${code ?? scrubCredentials(err instanceof Error ? err.message : String(err))}`;
}
