// operator/src/api/: the one home of the ModelRollout API's vocabulary — names, labels, annotations,
// condition types, reasons and the typed object. Pure data: imports no I/O (eslint.config.js).
// The status shape is the pure core's (rollout/types.ts: status is decide()'s memory); it is re-exported here
// so that the CLI, scripts and tests read one place.
export * from './names.js';
export * from './reasons.js';
export type { ModelRollout } from './model-rollout.js';
export type { RolloutStatus } from '../rollout/types.js';
export * from './style-rollout.js';
