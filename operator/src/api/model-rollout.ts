// The ModelRollout object as the operator, the CLI and the tests read it: the generated spec type (from the
// CRD's schema, `npm run generate`) plus the status the pure core keeps (rollout/types.ts: status as memory).
import type { IModelRollout } from '../generated/modelrollout.dev/v1alpha1/ModelRollout.js';
import type { RolloutStatus } from '../rollout/types.js';
import type { API_VERSION, KIND } from './names.js';

export type ModelRolloutSpec = IModelRollout['spec'];

export interface ModelRollout {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
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
