// The ModelRollout object as the operator reads it: the generated spec type plus our status type.
import type { IModelRollout } from '../generated/modelrollout.dev/v1alpha1/ModelRollout.js';
import type { RolloutStatus } from '../rollout/types.js';

export type ModelRolloutSpec = IModelRollout['spec'];

export interface ModelRollout {
  apiVersion: 'modelrollout.dev/v1alpha1';
  kind: 'ModelRollout';
  metadata: {
    name?: string;
    namespace?: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
    annotations?: Record<string, string>;
    finalizers?: string[];
    deletionTimestamp?: string | Date;
    [key: string]: unknown;
  };
  spec: ModelRolloutSpec;
  status?: RolloutStatus;
}
