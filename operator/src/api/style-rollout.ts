// The StyleRollout API (ADR 0005): an adapter version rolled out on the pods that already serve the style.
// Its spec type is generated from crds/modelrollout.dev_stylerollouts.yaml; its status is the pure core's.
import type { IStyleRollout } from '../generated/modelrollout.dev/v1alpha1/StyleRollout.js';
import type { StyleRolloutStatus } from '../rollout/style-types.js';
import { API_VERSION, GROUP, VERSION } from './names.js';
import type { RolloutMetadata } from './model-rollout.js';

export const STYLE_KIND = 'StyleRollout';
export const STYLE_PLURAL = 'stylerollouts';
/** The arguments CustomObjectsApi takes for a StyleRollout (`{ ...STYLE_ROLLOUT_RESOURCE, namespace, name }`). */
export const STYLE_ROLLOUT_RESOURCE = { group: GROUP, version: VERSION, plural: STYLE_PLURAL } as const;

export type StyleRolloutSpec = IStyleRollout['spec'];

export interface StyleRollout {
  apiVersion: typeof API_VERSION;
  kind: typeof STYLE_KIND;
  metadata: RolloutMetadata;
  spec: StyleRolloutSpec;
  status?: StyleRolloutStatus;
}
