// A StyleRollout's stored spec → StyleSpec, with the checks the CRD schema cannot make. Steps and their bake
// time are parsed as a ModelRollout's are (rollout/spec.ts); errors name the field, the value and what is allowed.
import { checkSteps, durationField } from './spec.js';
import type { StyleSpec } from './style-types.js';

/** The stored spec as the API server returns it (defaults applied); typed loosely on purpose. */
export interface StoredStyleSpec {
  style?: string;
  version?: string;
  model?: string;
  service?: { name?: string; port?: number };
  trafficRouting?: { gatewayAPI?: { httpRoute?: string; ruleIndex?: number } };
  strategy?: { steps?: number[]; stepDuration?: string; preload?: boolean; assignment?: string };
  analysis?: unknown;
}

/** An adapter name as the runtime's library lists it (`<name>@v<N>` directories). */
const STYLE_NAME = /^[a-z0-9]([-a-z0-9_.]{0,61}[a-z0-9])?$/;
/** `v<N>` without leading zeros: the runtime reads `v01` as v1, so two spellings would name one version. */
const VERSION = /^v(0|[1-9][0-9]{0,8})$/;

export function parseStyleSpec(stored: StoredStyleSpec): { spec: StyleSpec | undefined; errors: string[] } {
  const errors: string[] = [];
  const style = stored.style ?? '';
  if (!STYLE_NAME.test(style))
    errors.push(`spec.style: "${style}" must be an adapter name of the library (lower-case letters, digits, '-', '_', '.'; e.g. ink-wash)`);
  const version = stored.version ?? '';
  if (!VERSION.test(version)) errors.push(`spec.version: "${version}" must be v<N> without leading zeros, an adapter version of the library (e.g. v2)`);
  checkWhere(stored, errors);
  const steps = stored.strategy?.steps ?? [10, 50, 100];
  checkSteps(steps, errors);
  const stepDurationMs = durationField('spec.strategy.stepDuration', stored.strategy?.stepDuration ?? '2m', errors);
  const assignment = stored.strategy?.assignment ?? 'weighted';
  if (assignment !== 'weighted' && assignment !== 'sticky')
    errors.push(`spec.strategy.assignment: "${assignment}" must be weighted (a draw per request) or sticky (a user keeps a version: X-Adapter-Assignment-Key)`);
  if (errors.length > 0) return { spec: undefined, errors };
  return {
    spec: {
      style,
      version,
      steps,
      stepDurationMs: stepDurationMs!,
      preload: stored.strategy?.preload ?? true,
      assignment: assignment as StyleSpec['assignment'],
    },
    errors,
  };
}

/** Where the style is served and routed: the model, the Service and the route. */
function checkWhere(stored: StoredStyleSpec, errors: string[]): void {
  if (!stored.model) errors.push("spec.model: required (the base model the adapter was trained for: the runtime's model_name label)");
  if (!stored.service?.name) errors.push('spec.service.name: required (the Service whose pods serve the style)');
  const port = stored.service?.port ?? 80;
  if (!Number.isInteger(port) || port < 1 || port > 65535) errors.push(`spec.service.port: ${port} must be an integer port in 1…65535`);
  if (!stored.trafficRouting?.gatewayAPI?.httpRoute)
    errors.push('spec.trafficRouting.gatewayAPI.httpRoute: required (the HTTPRoute whose rule carries the style)');
}

/** The value of X-Adapter-Version that pins `version` of `style` (inference-image/README.md, "Routed versions"). */
export function pinOf(style: string, version: string): string {
  return `${style}@${version}`;
}
