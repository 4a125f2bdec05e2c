// Turns the stored spec into the state machine's RolloutSpec, with the checks CEL cannot express.
// The API server already enforced the schema; this guards against what it lets through (and against
// objects stored before a schema change). Every error names the field, the value and what is allowed.
import { candidateServiceName, LABEL_MODEL_VERSION, LABEL_NAME, LABEL_REVISION, NAME_LIMIT } from '../api/names.js';
import { parseDuration } from './duration.js';
import { revisionOf } from './revision.js';
import type { RolloutSpec } from './types.js';
import { checkNotifications, gatePollMs, parseWebhooks } from './webhook-gates.js';

/** Longest spec.service.name: its candidate Service's name must fit a Service name. */
const SERVICE_NAME_MAX = NAME_LIMIT - candidateServiceName('').length;

/** The stored spec as the API server returns it (defaults applied); fields typed loosely on purpose. */
export interface StoredSpec {
  replicas?: number;
  model?: { name?: string; version?: string };
  gpu?: { resourceName?: string; perReplica?: number; container?: string };
  template?: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: StoredPodSpec };
  service?: { name?: string; port?: number; targetPort?: number };
  trafficRouting?: unknown;
  strategy?: {
    steps?: number[];
    stepDuration?: string;
    progressDeadline?: string;
    manualGates?: number[];
    shadow?: { mirrorPercent?: number; duration?: string };
    stableScale?: string;
  };
  analysis?: unknown;
  notifications?: unknown;
  webhooks?: unknown;
}

interface StoredPodSpec {
  containers?: { name?: string; resources?: { limits?: Record<string, unknown>; requests?: Record<string, unknown> } }[];
  [key: string]: unknown;
}

export interface ParsedSpec {
  spec: RolloutSpec | undefined;
  errors: string[];
  /** The revision the spec's template names; '' when the spec is invalid. */
  revision: string;
}

/** Labels the operator puts on pods; a template may not set them. */
export const RESERVED_LABELS = [LABEL_NAME, LABEL_REVISION, LABEL_MODEL_VERSION];

export function parseSpec(stored: StoredSpec): ParsedSpec {
  const errors: string[] = [];
  const strategy = stored.strategy ?? {};
  const steps = strategy.steps ?? [1, 5, 20, 50, 100];
  checkSteps(steps, errors);
  const stepDurationMs = durationField('spec.strategy.stepDuration', strategy.stepDuration ?? '5m', errors);
  const progressDeadlineMs = durationField('spec.strategy.progressDeadline', strategy.progressDeadline ?? '10m', errors);
  const manualGates = strategy.manualGates ?? [];
  for (const gate of manualGates) {
    if (!steps.includes(gate)) errors.push(`spec.strategy.manualGates: ${gate} is not one of the step weights [${steps.join(', ')}]`);
  }
  let shadow: RolloutSpec['shadow'];
  if (strategy.shadow) {
    const mirrorPercent = strategy.shadow.mirrorPercent ?? 100;
    if (!(mirrorPercent > 0 && mirrorPercent <= 100)) errors.push(`spec.strategy.shadow.mirrorPercent: ${mirrorPercent} must be in (0, 100]`);
    const durationMs = durationField('spec.strategy.shadow.duration', strategy.shadow.duration ?? '10m', errors);
    shadow = { mirrorPercent, durationMs: durationMs ?? 0 };
  }
  const stableScale = strategy.stableScale ?? 'Dynamic';
  if (stableScale !== 'Dynamic' && stableScale !== 'Full') errors.push(`spec.strategy.stableScale: "${stableScale}" must be Dynamic or Full`);
  const replicas = stored.replicas ?? 1;
  if (!Number.isInteger(replicas) || replicas < 1) errors.push(`spec.replicas: ${replicas} must be an integer ≥ 1`);
  const gpusPerReplica = stored.gpu?.perReplica ?? 1;
  if (!Number.isInteger(gpusPerReplica) || gpusPerReplica < 1)
    errors.push(`spec.gpu.perReplica: ${gpusPerReplica} must be at least 1 (a text-to-video replica needs a GPU)`);
  checkTemplate(stored, errors);
  const webhooks = parseWebhooks(stored.webhooks, errors);
  checkNotifications(stored.notifications, errors);
  if (!stored.model?.name) errors.push('spec.model.name: required');
  if (!stored.model?.version) errors.push('spec.model.version: required');
  if (!stored.service?.name) errors.push('spec.service.name: required');
  // "<name>-candidate" must fit a Service name (63); the CRD says so too, but older objects may predate that rule.
  else if (candidateServiceName(stored.service.name).length > NAME_LIMIT)
    errors.push(
      `spec.service.name: "${stored.service.name}" is ${stored.service.name.length} characters; at most ${SERVICE_NAME_MAX}, so that "${candidateServiceName(`${stored.service.name.slice(0, 10)}…`)}" fits a Service name (${NAME_LIMIT})`,
    );

  if (errors.length > 0) return { spec: undefined, errors, revision: '' };
  return {
    errors,
    revision: revisionOf(revisionInputs(stored)),
    spec: {
      replicas,
      modelName: stored.model!.name!,
      modelVersion: stored.model!.version!,
      gpuResource: stored.gpu?.resourceName ?? 'nvidia.com/gpu',
      gpusPerReplica,
      steps,
      stepDurationMs: stepDurationMs!,
      progressDeadlineMs: progressDeadlineMs!,
      manualGates,
      shadow,
      stableScale: stableScale as RolloutSpec['stableScale'],
      ...(webhooks.length > 0 ? { webhooks, gateIntervalMs: gateIntervalOf(stored.analysis) } : {}),
    },
  };
}

/** The gates' re-ask interval from spec.analysis.interval; a bad interval is refused by the analysis's own check. */
function gateIntervalOf(analysis: unknown): number {
  const interval = (analysis as { interval?: unknown } | undefined)?.interval;
  return gatePollMs(typeof interval === 'string' ? durationField('spec.analysis.interval', interval, []) : undefined);
}

/** What makes a revision: everything that ends up in the pods. Replicas and strategy do not. */
export function revisionInputs(stored: StoredSpec): unknown {
  return { model: stored.model, gpu: stored.gpu, template: stored.template, targetPort: stored.service?.targetPort ?? 8080 };
}

export function checkSteps(steps: number[], errors: string[]): void {
  if (steps.length === 0) errors.push('spec.strategy.steps: must not be empty');
  steps.forEach((w, i) => {
    if (!Number.isInteger(w) || w <= 0 || w > 100) errors.push(`spec.strategy.steps[${i}]: ${w} must be an integer in (0, 100]`);
    if (i > 0 && w <= steps[i - 1]!) errors.push(`spec.strategy.steps[${i}]: ${w} must be greater than the step before it (${steps[i - 1]})`);
  });
  if (steps.length > 0 && steps[steps.length - 1] !== 100) errors.push(`spec.strategy.steps: the last step is ${steps[steps.length - 1]}; it must be 100`);
}

export function durationField(field: string, text: string, errors: string[]): number | undefined {
  const ms = parseDuration(text);
  if (ms === undefined) errors.push(`${field}: "${text}" is not a positive duration (e.g. 30s, 5m, 1h30m)`);
  return ms;
}

function checkTemplate(stored: StoredSpec, errors: string[]): void {
  const containers = stored.template?.spec?.containers;
  if (!Array.isArray(containers) || containers.length === 0) {
    errors.push('spec.template.spec.containers: at least one container is required');
    return;
  }
  containers.forEach((c, i) => {
    if (!c?.name) errors.push(`spec.template.spec.containers[${i}].name: required`);
  });
  const wanted = stored.gpu?.container;
  if (wanted && !containers.some((c) => c.name === wanted)) {
    errors.push(`spec.gpu.container: "${wanted}" is not a container of the template (have: ${containers.map((c) => c.name).join(', ')})`);
  }
  for (const label of RESERVED_LABELS) {
    if (stored.template?.metadata?.labels?.[label] !== undefined) errors.push(`spec.template.metadata.labels["${label}"]: set by the operator; remove it`);
  }
}
