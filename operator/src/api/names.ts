// The ModelRollout API's names: what the CRD (crds/modelrollout.dev_modelrollouts.yaml), the operator, the CLI,
// the scripts and the tests all have to spell the same way. Nothing else spells them.
import { createHash } from 'node:crypto';

export const GROUP = 'modelrollout.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}` as const;
export const KIND = 'ModelRollout';
export const PLURAL = 'modelrollouts';
/** The arguments CustomObjectsApi takes for a ModelRollout (`{ ...MODEL_ROLLOUT_RESOURCE, namespace, name }`). */
export const MODEL_ROLLOUT_RESOURCE = { group: GROUP, version: VERSION, plural: PLURAL } as const;

/** Held on a ModelRollout until its traffic is back on stable (the deletion path restores the route first). */
export const FINALIZER = `${GROUP}/traffic-restore`;

// Labels on everything a rollout creates (Deployments, pods, Services, ControllerRevisions).
export const LABEL_NAME = `${GROUP}/name`;
export const LABEL_REVISION = `${GROUP}/revision`;
export const LABEL_MODEL_VERSION = `${GROUP}/model-version`;
export const LABEL_MODEL_NAME = `${GROUP}/model-name`;
/** On the two Services: `stable` or `candidate`. */
export const LABEL_ROLE = `${GROUP}/role`;

// Control annotations a user (or `kubectl modelrollout`) sets on the ModelRollout.
export const ANNOTATION_PAUSED = `${GROUP}/paused`;
export const ANNOTATION_RESUME = `${GROUP}/resume`;
export const ANNOTATION_PROMOTE = `${GROUP}/promote`;
export const ANNOTATION_ABORT = `${GROUP}/abort`;
export const ANNOTATION_RETRY = `${GROUP}/retry`;

/** Condition types in status.conditions, in the order they are listed. */
export const CONDITION_TYPES = ['Ready', 'Available', 'Progressing', 'Paused', 'Degraded', 'InvalidSpec', 'ReconcileError'] as const;
/**
 * `ReconcileError` is the controller's, not decide()'s: True while a write is refused by the API server or
 * an object the rollout would change belongs to someone else (see RolloutStatus.blockedWrite).
 */
export type ConditionType = (typeof CONDITION_TYPES)[number];

// Names of what the operator creates for a ModelRollout: the Services a route points at and the revisions'
// Deployments, which users, the CLI, routes and tests name too.

/** Service that selects the stable revision's pods: `<spec.service.name>-stable`. */
export function stableServiceName(service: string): string {
  return `${service}-stable`;
}

/** Service that selects the candidate revision's pods: `<spec.service.name>-candidate`. */
export function candidateServiceName(service: string): string {
  return `${service}-candidate`;
}

/**
 * Longest name of a Service and longest label value (a DNS-1123 label / label value: 63 characters).
 * Generated Deployment and ControllerRevision names are held to it too, so they can serve as label
 * values and stay readable in `kubectl get`. https://kubernetes.io/docs/concepts/overview/working-with-objects/names/
 */
export const NAME_LIMIT = 63;
/** Characters of the rollout name's hash added when the rollout name had to be cut. */
const NAME_HASH_LENGTH = 6;

/**
 * Name of a revision's Deployment and ControllerRevision: `<rollout>-<revision>`, at most 63 characters.
 * The revision hash is always kept whole; when the pair does not fit, the rollout name is cut (never
 * leaving a trailing '-' or '.') and a hash of the whole rollout name is added, so two long names that
 * share their first characters still get different objects: `<cut rollout>-<name hash>-<revision>`.
 * `rollout` is the ModelRollout's metadata.name (a DNS-1123 subdomain, 1–253 characters); `revision`
 * a revision hash (lower-case hex, see rollout/revision.ts).
 * @throws NameError when the revision alone leaves no room for a prefix.
 */
export function revisionObjectName(rollout: string, revision: string): string {
  if (revision.length === 0 || revision.length > NAME_LIMIT - NAME_HASH_LENGTH - 3) {
    throw new NameError(`revision "${revision}" must be 1–${NAME_LIMIT - NAME_HASH_LENGTH - 3} characters to fit a ${NAME_LIMIT}-character name`);
  }
  const whole = `${rollout}-${revision}`;
  if (whole.length <= NAME_LIMIT) return whole;
  const room = NAME_LIMIT - revision.length - NAME_HASH_LENGTH - 2;
  const cut = rollout.slice(0, room).replace(/[-.]+$/, '');
  const hash = createHash('sha256').update(rollout).digest('hex').slice(0, NAME_HASH_LENGTH);
  return cut ? `${cut}-${hash}-${revision}` : `${hash}-${revision}`;
}

/**
 * Why a ModelRollout name cannot be used, or undefined. The name is the value of label
 * modelrollout.dev/name on everything the rollout creates, and label values hold at most 63 characters;
 * the CRD refuses longer names with the same reason (x-kubernetes-validations on metadata.name).
 */
export function rolloutNameProblem(name: string): string | undefined {
  if (name.length <= NAME_LIMIT) return undefined;
  return `metadata.name: "${name.slice(0, 20)}…" is ${name.length} characters; at most ${NAME_LIMIT} are allowed because the name is the value of label ${LABEL_NAME} on the rollout's Deployments, Services and pods`;
}

/** A name that cannot be built within the limits. */
export class NameError extends Error {
  readonly code = 'NameError';
}

/**
 * On an HTTPRoute: the StyleRollout (its metadata.name, same namespace) that manages rule `ruleIndex`, e.g.
 * `modelrollout.dev/style-rule-1: ink-wash`. Written with the StyleRollout's first write to the rule and removed
 * when it is deleted; another StyleRollout, or a ModelRollout, leaves a claimed rule alone (ADR 0005).
 */
export function styleRuleClaimAnnotation(ruleIndex: number): string {
  return `${GROUP}/style-rule-${ruleIndex}`;
}

/** The annotation keys of every claim (`modelrollout.dev/style-rule-<i>` → i). */
export const STYLE_RULE_CLAIM_KEY = new RegExp(`^${GROUP.replace(/\./g, '\\.')}/style-rule-(\\d+)$`);

/**
 * What tells a rule from the others of its HTTPRoute when rules are inserted or reordered: `name:<rule name>`
 * when the rule has a name (Gateway API v1.2+), else 8 hex digits of SHA-256 of its `matches`.
 */
export function ruleFingerprint(rule: object): string {
  const { name, matches } = rule as { name?: unknown; matches?: unknown };
  if (typeof name === 'string' && name !== '') return `name:${name}`;
  return createHash('sha256')
    .update(JSON.stringify(matches ?? []))
    .digest('hex')
    .slice(0, 8);
}

/** A claim's value: `<StyleRollout name>/<rule fingerprint>` (a name has no '/'). */
export function styleRuleClaim(owner: string, rule: object): string {
  return `${owner}/${ruleFingerprint(rule)}`;
}

/** A claim's value read back: its owner, and the fingerprint of the rule it was written on (absent in a bare name). */
export function parseStyleRuleClaim(value: string): { owner: string; fingerprint?: string } {
  const i = value.indexOf('/');
  return i < 0 ? { owner: value } : { owner: value.slice(0, i), fingerprint: value.slice(i + 1) };
}

/**
 * The request header that carries an A/B experiment's arm (#16, docs/experiment.md): apps set it from the published
 * salt and bucket ranges, the route's arm rules match it, the runtime labels its series `arm` by it
 * (inference-image/src/experiment-arm.ts reads the same name and values).
 */
export const ARM_HEADER = 'X-ModelRollout-Arm';
/** The arm header's values: `none` is a participating app's user outside both arms (served by stable). */
export const ARMS = ['treatment', 'control', 'none'] as const;
export type Arm = (typeof ARMS)[number];

/**
 * The events a notification receiver gets (docs/notifications.md lists each with its body). The one list: the
 * CRD's spec.notifications.events enum, the spec validator and the notifier spell them from here.
 */
export const NOTIFICATION_EVENTS = [
  'started',
  'shadow-started',
  'step-passed',
  'paused',
  'promoted',
  'rolled-back',
  'aborted',
  'experiment-verdict',
  'gate-held',
] as const;
export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];

/** Gate webhook types (spec.webhooks[].type), as Flagger names them. */
export const WEBHOOK_GATE_TYPES = ['pre-rollout', 'confirm-promotion'] as const;
export type WebhookGateType = (typeof WEBHOOK_GATE_TYPES)[number];
