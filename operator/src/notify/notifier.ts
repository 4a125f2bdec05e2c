// Notifications on a rollout's transitions (#22): a generic JSON webhook and a Slack-compatible message, sent
// from a queue per receiver so that a slow or dead receiver never holds a reconcile nor another receiver. What is
// sent comes from the status.history entries a reconcile has just written (so a replica that is not the leader,
// writing nothing, sends nothing). Delivery is at most `attempts` tries per receiver with growing pauses; a notification that
// still fails is logged and dropped (a rollout never waits for it).
//
// Configured globally (operator env, the chart reads the URLs from a Secret):
//   MODELROLLOUT_NOTIFY_WEBHOOK_URL   generic JSON receiver (body: RolloutNotification)
//   MODELROLLOUT_NOTIFY_SLACK_URL     Slack incoming webhook (body: {text})
//   MODELROLLOUT_NOTIFY_SECRET        when set, X-ModelRollout-Signature: sha256=<hex HMAC-SHA256 of the body>
// and per rollout (spec.notifications: a Secret's webhookUrl, slackUrl, signingSecret, and an events filter), told in
// addition to the global ones (the controller reads the Secret: Receivers). docs/notifications.md lists the events.
// p-queue (a queue per receiver, bounded, in order) and p-retry (retries with exponential backoff) are the
// well-kept libraries for the two halves; this file only says what is sent when. It sits outside controller/:
// delivery runs on real time (timeouts, retry pauses) beside the reconciles, not in them; its test uses a real
// local receiver.
import crypto from 'node:crypto';
import PQueue from 'p-queue';
import pRetry, { AbortError } from 'p-retry';
import type { NotificationEvent } from '../api/names.js';
import { scrubCredentials } from '../rollout/webhook-gates.js';
import { redirectMessage } from '../webhooks/gate-caller.js';
import type { ExperimentStatus } from '../analysis/experiment-gate.js';
import type { StyleHistoryEntry, StylePhase } from '../rollout/style-types.js';
import type { HistoryEntry, Phase, RolloutStatus } from '../rollout/types.js';

/** One set of receivers: the global ones (operator env) or a rollout's (spec.notifications' Secret). */
export interface Receivers {
  webhookUrl?: string;
  slackUrl?: string;
  /** Key of the body's HMAC-SHA256 signature (header X-ModelRollout-Signature). */
  secret?: string;
  /** Only these events; all when absent. */
  events?: readonly NotificationEvent[];
}

/** An experiment-verdict notification's `experiment` (the A/B experiment's final verdict, status.analysis.experiment). */
export interface ExperimentNotice {
  verdict: 'Win' | 'NonInferior' | 'Loss' | 'Invalid';
  reason?: string;
  /** The goal metric's effect (treatment − control, in the metric's unit) and its confidence sequence. */
  goal?: { metric: string; effect: number; cs: [number, number]; p: number };
}

/** The generic webhook's JSON body (version 1). */
export interface RolloutNotification {
  apiVersion: 'modelrollout.dev/notification/v1';
  /** Which object moved: a model rollout, or a style adapter's (StyleRollout, ADR 0005). */
  kind: 'ModelRollout' | 'StyleRollout';
  event: NotificationEvent;
  namespace: string;
  name: string;
  /** status.phase after the transition. */
  phase: Phase | StylePhase;
  /** The history entry's reason (a phase reason, `StepPassed`, or the failed analysis rule for a rollback). */
  reason: string;
  message: string;
  /** When the operator recorded it (RFC 3339). */
  time: string;
  /** The candidate's weight (percent) at that moment, when known. */
  weight?: number;
  stableRevision?: string;
  candidateRevision?: string;
  /** StyleRollout: the style's stable and candidate versions as pins (`ink-wash@v1`). */
  stableVersion?: string;
  candidateVersion?: string;
  /** experiment-verdict only: the verdict, why, and the goal metric's effect. */
  experiment?: ExperimentNotice;
}

const FINAL_VERDICTS: readonly ExperimentNotice['verdict'][] = ['Win', 'NonInferior', 'Loss', 'Invalid'];

/** The experiment's verdict when this pass made it final (a new Win, NonInferior, Loss or Invalid); else undefined. */
export function verdictReached(before: RolloutStatus, after: RolloutStatus): ExperimentNotice | undefined {
  const exp: ExperimentStatus | undefined = after.analysis?.experiment;
  const verdict = exp?.verdict as ExperimentNotice['verdict'] | undefined;
  if (!exp || !verdict || !FINAL_VERDICTS.includes(verdict)) return undefined;
  if (before.analysis?.experiment?.verdict === verdict && before.candidate?.revision === after.candidate?.revision) return undefined;
  const goal = exp.metrics?.find((m) => m.role === 'goal');
  return {
    verdict,
    ...(exp.reason ? { reason: exp.reason } : {}),
    ...(goal ? { goal: { metric: goal.name, effect: goal.effect, cs: goal.cs, p: goal.p } } : {}),
  };
}

/** Which event a history entry is, or undefined for those nobody is told about (settling, invalid spec, ...). */
export function eventOf(entry: HistoryEntry): NotificationEvent | undefined {
  if (entry.phase === 'RolledBack') return 'rolled-back';
  if (entry.phase === 'Aborted') return 'aborted';
  if (entry.reason === 'Promoted') return 'promoted';
  if (entry.reason === 'StepPassed' || entry.reason === 'ShadowPassed') return 'step-passed';
  if (entry.phase === 'Paused') return 'paused';
  if (entry.reason === 'ShadowStarted') return 'shadow-started';
  if (entry.reason === 'RolloutStarted' || entry.reason === 'Restarted' || entry.reason === 'Retried') return 'started';
  if (entry.reason === 'WebhookGateHeld') return 'gate-held';
  return undefined;
}

/** Which event a StyleRollout's history entry is (its phases change only on transitions: no step-passed). */
export function eventOfStyle(entry: StyleHistoryEntry): NotificationEvent | undefined {
  if (entry.phase === 'RolledBack' && entry.reason !== 'SpecFixed') return 'rolled-back';
  if (entry.reason === 'Promoted') return 'promoted';
  if (entry.phase === 'Paused') return 'paused';
  if (entry.reason === 'RolloutStarted') return 'started';
  return undefined;
}

/** The Slack message for a notification: one line of text (Slack's incoming-webhook `text`). */
export function slackText(n: RolloutNotification): string {
  const icon = {
    started: ':rocket:',
    'shadow-started': ':ghost:',
    'step-passed': ':white_check_mark:',
    paused: ':double_vertical_bar:',
    promoted: ':tada:',
    'rolled-back': ':rotating_light:',
    aborted: ':no_entry:',
    'experiment-verdict': ':bar_chart:',
    'gate-held': ':raised_hand:',
  }[n.event];
  const weight = n.weight === undefined ? '' : ` at ${n.weight} %`;
  return `${icon} ${n.kind} ${n.namespace}/${n.name} ${n.event}${weight}: ${n.reason} — ${n.message}`;
}

export interface NotifierLog {
  warn(fields: object, message: string): void;
  debug(fields: object, message: string): void;
}

export interface NotifierOptions extends Receivers {
  /** Where undelivered and dropped notifications are said (pino's logger fits). */
  log: NotifierLog;
  /** Per try; default 5 s. */
  timeoutMs?: number;
  /** Tries per receiver; default 3. */
  attempts?: number;
  /** First pause between tries (doubling); default 1 s. */
  minRetryMs?: number;
  /**
   * Notifications waiting for one receiver beyond this are dropped (and logged): a dead receiver must not grow
   * memory. Default 1000.
   */
  maxQueued?: number;
  /** Told of each dropped notification with its receiver's origin (`https://hooks.slack.com`): a metric counts them. */
  onDropped?: (receiver: string) => void;
  fetch?: typeof fetch;
}

/**
 * One queue per receiver URL, one request at a time (a receiver gets its notifications in order): a receiver that
 * hangs or fails delays and drops only its own, never another rollout's or the global ones (docs/attack-22.md F6).
 * A queue goes when it is empty, so a tenant's many URLs cost nothing once delivered or given up.
 */
export class Notifier {
  private readonly queues = new Map<string, PQueue>();
  private dropped = 0;

  constructor(private readonly opts: NotifierOptions) {}

  /** Whether any receiver is configured. */
  get enabled(): boolean {
    return Boolean(this.opts.webhookUrl || this.opts.slackUrl);
  }

  /**
   * Queues the notifications for the history entries a reconcile just wrote; returns at once. `rollout`: the
   * rollout's own receivers (spec.notifications), told besides the global ones.
   */
  notifyHistory(
    rollout: { namespace: string; name: string; stableRevision?: string; candidateRevision?: string },
    added: readonly HistoryEntry[],
    own?: Receivers,
  ): void {
    const about = { stableRevision: rollout.stableRevision, candidateRevision: rollout.candidateRevision };
    this.sendEntries('ModelRollout', { ...rollout, about, own }, added, eventOf);
  }

  /** Queues an experiment-verdict notification (verdictReached said the verdict is new). */
  notifyVerdict(rollout: { namespace: string; name: string; status: RolloutStatus; time: string }, experiment: ExperimentNotice, own?: Receivers): void {
    const { status } = rollout;
    this.send(
      {
        apiVersion: 'modelrollout.dev/notification/v1',
        kind: 'ModelRollout',
        event: 'experiment-verdict',
        namespace: rollout.namespace,
        name: rollout.name,
        phase: status.phase ?? 'Progressing',
        reason: experiment.verdict,
        message: experiment.reason ?? `experiment verdict: ${experiment.verdict}`,
        time: status.analysis?.experiment?.lastLook ?? rollout.time,
        ...(status.weights ? { weight: status.weights.candidate } : {}),
        ...(status.stable ? { stableRevision: status.stable.revision } : {}),
        ...(status.candidate ? { candidateRevision: status.candidate.revision } : {}),
        experiment,
      },
      own,
    );
  }

  /** As notifyHistory, for the history entries a StyleRollout's pass just wrote. */
  notifyStyleHistory(
    rollout: { namespace: string; name: string; style: string; stableVersion?: string; candidateVersion?: string },
    added: readonly StyleHistoryEntry[],
  ): void {
    const pin = (version: string | undefined) => (version ? `${rollout.style}@${version}` : undefined);
    const about = { stableVersion: pin(rollout.stableVersion), candidateVersion: pin(rollout.candidateVersion) };
    this.sendEntries('StyleRollout', { ...rollout, about }, added, eventOfStyle);
  }

  /**
   * One notification per entry that is an event; `rollout.about` (revisions or versions) goes in when set, and
   * `rollout.own` (its own receivers) is told too.
   */
  private sendEntries<E extends HistoryEntry | StyleHistoryEntry>(
    kind: RolloutNotification['kind'],
    rollout: {
      namespace: string;
      name: string;
      about: Partial<Record<'stableRevision' | 'candidateRevision' | 'stableVersion' | 'candidateVersion', string | undefined>>;
      own?: Receivers;
    },
    added: readonly E[],
    eventFor: (entry: E) => NotificationEvent | undefined,
  ): void {
    const { about, own } = rollout;
    const set = Object.fromEntries(Object.entries(about).filter(([, v]) => v));
    for (const entry of added) {
      const event = eventFor(entry);
      if (!event) continue;
      this.send(
        {
          apiVersion: 'modelrollout.dev/notification/v1',
          kind,
          event,
          namespace: rollout.namespace,
          name: rollout.name,
          phase: entry.phase,
          reason: entry.reason,
          message: entry.message,
          time: entry.time,
          ...(entry.weight === undefined ? {} : { weight: entry.weight }),
          ...set,
        },
        own,
      );
    }
  }

  /** Resolves once everything queued has been delivered or given up (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.queues.size > 0) await Promise.all([...this.queues.values()].map((q) => q.onIdle()));
  }

  /** The queue of one receiver, made when first needed and removed once it has nothing left to send. */
  private queueFor(url: string): PQueue {
    let queue = this.queues.get(url);
    if (!queue) {
      const made = new PQueue({ concurrency: 1 });
      made.on('idle', () => {
        if (this.queues.get(url) === made) this.queues.delete(url);
      });
      this.queues.set(url, made);
      queue = made;
    }
    return queue;
  }

  /** To the global receivers and the rollout's own (those whose events filter lets it through). */
  private send(n: RolloutNotification, own?: Receivers): void {
    const maxQueued = this.opts.maxQueued ?? 1000;
    const targets: [string, unknown, string | undefined][] = [];
    for (const r of [this.opts, own]) {
      if (!r || (r.events && !r.events.includes(n.event))) continue;
      if (r.webhookUrl) targets.push([r.webhookUrl, n, r.secret]);
      if (r.slackUrl) targets.push([r.slackUrl, { text: slackText(n) }, r.secret]);
    }
    for (const [url, body, secret] of targets) {
      const queue = this.queueFor(url);
      if (queue.size >= maxQueued) {
        this.dropped++;
        this.opts.onDropped?.(redact(url));
        this.opts.log.warn(
          { event: n.event, rollout: `${n.namespace}/${n.name}`, url: redact(url), dropped: this.dropped },
          'notification queue full: dropped',
        );
        continue;
      }
      void queue.add(() => this.deliver(url, JSON.stringify(body), n, secret));
    }
  }

  private async deliver(url: string, body: string, n: RolloutNotification, secret: string | undefined): Promise<void> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'modelrollout-operator' };
    if (secret) headers['x-modelrollout-signature'] = `sha256=${crypto.createHmac('sha256', secret).update(body).digest('hex')}`;
    const post = async (): Promise<void> => {
      // Not followed: a 3xx (a moved or SSO-fronted receiver) is not delivery, and no retry changes it.
      const res = await (this.opts.fetch ?? fetch)(url, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 5000),
        redirect: 'manual',
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.status >= 300 && res.status < 400) throw new AbortError(redirectMessage(res));
      // 4xx other than 408/429: the receiver refuses this message; trying again will not change that.
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) throw new AbortError(`HTTP ${res.status}`);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
    };
    try {
      await pRetry(post, { retries: (this.opts.attempts ?? 3) - 1, minTimeout: this.opts.minRetryMs ?? 1000, factor: 2, randomize: true });
      this.opts.log.debug({ event: n.event, rollout: `${n.namespace}/${n.name}`, url: redact(url) }, 'notification sent');
    } catch (err) {
      this.opts.log.warn(
        { event: n.event, rollout: `${n.namespace}/${n.name}`, url: redact(url), err: scrubCredentials(String(err)) },
        'notification not delivered',
      );
    }
  }
}

/** Webhook URLs carry their credential (Slack's path): log only the origin. */
function redact(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid URL)';
  }
}
