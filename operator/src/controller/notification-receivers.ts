// A rollout's own notification receivers (spec.notifications, #22): read from a Secret in its namespace, as
// Flagger's AlertProvider reads its address. Read when there is something to send, never on the decision's path; a
// missing Secret or key blocks nothing: a Warning event names them and the global receivers are told anyway.
import type * as k8s from '@kubernetes/client-node';
import { NOTIFICATION_RECEIVERS_MISSING, type ModelRollout, type NotificationEvent } from '../api/index.js';
import { statusCodeOf } from '../kube/errors.js';
import type { Receivers } from '../notify/notifier.js';

/** The Secret's keys (each optional, but one of the two URLs must be there). */
export const RECEIVER_KEYS = { webhookUrl: 'webhookUrl', slackUrl: 'slackUrl', signingSecret: 'signingSecret' } as const;

export interface ReceiverDeps {
  core: Pick<k8s.CoreV1Api, 'readNamespacedSecret'>;
  /** A Warning event on the rollout (reason NotificationReceiversMissing). */
  warn: (reason: typeof NOTIFICATION_RECEIVERS_MISSING, message: string) => void;
  onRequest?: () => void;
}

/**
 * The receivers spec.notifications names, or undefined when it names none or they cannot be read (then `warn` was
 * told which Secret and key). Throws nothing: an API error other than 404/403 is warned about too.
 */
export async function rolloutReceivers(ro: ModelRollout, deps: ReceiverDeps): Promise<Receivers | undefined> {
  const spec = (ro.spec as { notifications?: { secretRef?: { name?: string }; events?: NotificationEvent[] } }).notifications;
  const name = spec?.secretRef?.name;
  if (!name) return undefined;
  const namespace = ro.metadata.namespace!;
  const unread = (why: string) => {
    deps.warn(NOTIFICATION_RECEIVERS_MISSING, `spec.notifications.secretRef: ${why}; only the operator's global receivers are told`);
    return undefined;
  };
  let secret: k8s.V1Secret;
  try {
    deps.onRequest?.();
    secret = await deps.core.readNamespacedSecret({ name, namespace });
  } catch (err) {
    const code = statusCodeOf(err);
    if (code === 404) return unread(`Secret ${namespace}/${name} not found`);
    if (code === 403) return unread(`the operator may not read Secret ${namespace}/${name} (chart value rbac.readSecrets)`);
    return unread(`Secret ${namespace}/${name} could not be read: ${err instanceof Error ? err.message : String(err)}`);
  }
  const value = (key: string) => {
    const raw = secret.data?.[key];
    return raw ? Buffer.from(raw, 'base64').toString('utf8').trim() || undefined : undefined;
  };
  const webhookUrl = value(RECEIVER_KEYS.webhookUrl);
  const slackUrl = value(RECEIVER_KEYS.slackUrl);
  if (!webhookUrl && !slackUrl) return unread(`Secret ${namespace}/${name} has neither key ${RECEIVER_KEYS.webhookUrl} nor key ${RECEIVER_KEYS.slackUrl}`);
  const secretKey = value(RECEIVER_KEYS.signingSecret);
  return {
    ...(webhookUrl ? { webhookUrl } : {}),
    ...(slackUrl ? { slackUrl } : {}),
    ...(secretKey ? { secret: secretKey } : {}),
    ...(spec.events ? { events: spec.events } : {}),
  };
}
