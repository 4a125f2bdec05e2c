// Names and labels of what the operator creates for a ModelRollout.
export const GROUP = 'modelrollout.dev';
export const VERSION = 'v1alpha1';
export const PLURAL = 'modelrollouts';
export const KIND = 'ModelRollout';
export const FINALIZER = 'modelrollout.dev/traffic-restore';
export const FIELD_MANAGER = 'modelrollout-operator';

export const LABEL_NAME = 'modelrollout.dev/name';
export const LABEL_REVISION = 'modelrollout.dev/revision';
export const LABEL_MODEL_VERSION = 'modelrollout.dev/model-version';
export const LABEL_MODEL_NAME = 'modelrollout.dev/model-name';

export const ANNOTATION_PAUSED = 'modelrollout.dev/paused';
export const ANNOTATION_RESUME = 'modelrollout.dev/resume';
export const ANNOTATION_PROMOTE = 'modelrollout.dev/promote';
export const ANNOTATION_ABORT = 'modelrollout.dev/abort';
export const ANNOTATION_RETRY = 'modelrollout.dev/retry';

export function deploymentName(rollout: string, revision: string): string {
  return `${rollout}-${revision}`.slice(0, 63);
}

export function stableServiceName(service: string): string {
  return `${service}-stable`;
}

export function candidateServiceName(service: string): string {
  return `${service}-candidate`;
}
