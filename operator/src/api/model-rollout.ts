// The ModelRollout object as the operator, the CLI and the tests read it: the generated spec type (from the
// CRD's schema, `npm run generate`) plus the status the pure core keeps (rollout/types.ts: status as memory).
import type { IModelRollout } from '../generated/modelrollout.dev/v1alpha1/ModelRollout.js';
import type { RolloutStatus } from '../rollout/types.js';
import type { API_VERSION, KIND } from './names.js';

export type ModelRolloutSpec = IModelRollout['spec'];

/** The object metadata the operator reads from its custom resources (ModelRollout, StyleRollout). */
export interface RolloutMetadata {
  name?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  annotations?: Record<string, string>;
  finalizers?: string[];
  deletionTimestamp?: string | Date;
  [key: string]: unknown;
}

export interface ModelRollout {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: RolloutMetadata;
  spec: ModelRolloutSpec;
  status?: RolloutStatus;
}
