// The ModelRollout API's names: what the CRD (crds/modelrollout.dev_modelrollouts.yaml), the operator, the CLI,
// the scripts and the tests all have to spell the same way. Nothing else spells them.

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

/** Reasons of status.blockedWrite and of the ReconcileError condition, set by the controller. */
export const BLOCKED_WRITE_REASONS = ['ObjectNotOwned', 'WriteRefused', 'TemplateRefused', 'RevisionTemplateLost'] as const;
export type BlockedWriteReason = (typeof BLOCKED_WRITE_REASONS)[number];
/** The ReconcileError condition's reason once writes go through again. */
export const RECONCILE_SUCCEEDED = 'ReconcileSucceeded';
