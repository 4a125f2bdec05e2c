// The dashboard's JSON: a ModelRollout (with its Deployments and events) shaped for the page. Pure: objects in,
// plain data out; the server reads the objects (kube-source.ts). Shares the text view's readings (cli/detail.ts).
import type * as k8s from '@kubernetes/client-node';
import type { ExperimentStatus } from '../analysis/experiment-gate.js';
import { parseAnalysis, type StoredAnalysis } from '../analysis/spec.js';
import type { Bounds, MetricVerdict } from '../analysis/types.js';
import { LABEL_REVISION, type ModelRollout } from '../api/index.js';
import { eventTime } from '../cli/detail.js';

/** One row of the list: what `kubectl modelrollout get` shows. */
export interface RolloutSummary {
  name: string;
  namespace: string;
  phase: string;
  message: string;
  step?: { index: number; weight: number; label: string };
  weights?: { stable: number; candidate: number; mirrorPercent?: number };
  replicas?: { stable: { desired: number; ready: number }; candidate: { desired: number; ready: number } };
  stable?: { revision: string; modelVersion: string };
  candidate?: { revision: string; modelVersion: string };
  failure?: { reason: string; message: string; at: string };
}

export interface MetricView {
  name: string;
  kind: 'step' | 'breaker';
  verdict: MetricVerdict;
  /** The candidate's value; `raw` when it was not a finite number. */
  value?: number;
  raw?: string;
  baseline?: number;
  samples?: number;
  /** The metric's bounds in words ("≤ 2.5; fail > 3"), from the spec's rule; "-" when the spec has none for it. */
  bounds: string;
  time: string;
  message: string;
}

export interface EventView {
  time: string;
  type: string;
  reason: string;
  message: string;
}

/** The rollout page: the summary, the step plan, Deployments, analysis, experiment, history and events. */
export interface RolloutView extends RolloutSummary {
  steps: number[];
  conditions: { type: string; status: string; reason: string; message: string }[];
  deployments: { role: 'stable' | 'candidate'; revision: string; name?: string; ready: number; desired: number }[];
  metrics: MetricView[];
  /** Each metric's judged values over time (status.analysis.history), oldest first. */
  metricHistory: { time: string; kind: 'step' | 'breaker'; name: string; verdict: MetricVerdict; value?: number }[];
  breaches: { metric: string; since: string }[];
  experiment?: ExperimentStatus;
  /** Phase changes with the candidate's weight at each (status.history), oldest first. */
  history: { time: string; phase: string; reason: string; message: string; weight?: number }[];
  events: EventView[];
}

const EVENTS_SHOWN = 12;

export function summarize(ro: ModelRollout): RolloutSummary {
  const s = ro.status ?? {};
  return {
    name: ro.metadata.name ?? '',
    namespace: ro.metadata.namespace ?? 'default',
    phase: s.phase ?? 'Unknown',
    message: s.message ?? '',
    ...(s.currentStep ? { step: { index: s.currentStep.index, weight: s.currentStep.weight, label: s.currentStep.label } } : {}),
    ...(s.weights ? { weights: s.weights } : {}),
    ...(s.replicas ? { replicas: { stable: { ...s.replicas.stable }, candidate: { ...s.replicas.candidate } } } : {}),
    ...(s.stable ? { stable: s.stable } : {}),
    ...(s.candidate ? { candidate: s.candidate } : {}),
    ...(s.failure ? { failure: s.failure } : {}),
  };
}

export function rolloutView(o: { rollout: ModelRollout; deployments: k8s.V1Deployment[]; events: k8s.CoreV1Event[] }): RolloutView {
  const ro = o.rollout;
  const s = ro.status ?? {};
  const a = s.analysis;
  const bounds = boundsByMetric(ro);
  return {
    ...summarize(ro),
    steps: s.lastValidSpec?.steps ?? [],
    conditions: (s.conditions ?? []).map((c) => ({ type: c.type, status: c.status, reason: c.reason, message: c.message })),
    deployments: deploymentsOf(ro, o.deployments),
    metrics: (a?.metrics ?? []).map((m) => ({
      name: m.name,
      kind: m.kind,
      verdict: m.verdict,
      ...(m.value === undefined ? {} : { value: m.value }),
      ...(m.raw === undefined ? {} : { raw: m.raw }),
      ...(m.baseline === undefined ? {} : { baseline: m.baseline }),
      ...(m.samples === undefined ? {} : { samples: m.samples }),
      bounds: bounds.get(m.name) ?? '-',
      time: m.time,
      message: m.message,
    })),
    metricHistory: (a?.history ?? []).map((h) => ({
      time: h.time,
      kind: h.kind,
      name: h.name,
      verdict: h.verdict,
      ...(h.value === undefined ? {} : { value: h.value }),
    })),
    breaches: Object.entries(a?.breaches ?? {}).map(([metric, since]) => ({ metric, since })),
    ...(a?.experiment ? { experiment: a.experiment } : {}),
    history: (s.history ?? []).map((h) => ({
      time: h.time,
      phase: h.phase,
      reason: h.reason,
      message: h.message,
      ...(h.weight === undefined ? {} : { weight: h.weight }),
    })),
    events: eventsOf(o.events),
  };
}

function deploymentsOf(ro: ModelRollout, deployments: k8s.V1Deployment[]): RolloutView['deployments'] {
  const s = ro.status ?? {};
  const sides = [
    ['stable', s.stable?.revision],
    ['candidate', s.candidate?.revision],
  ] as const;
  return sides.flatMap(([role, revision]) => {
    if (!revision) return [];
    const d = deployments.find((x) => x.metadata?.labels?.[LABEL_REVISION] === revision);
    return [{ role, revision, ...(d?.metadata?.name ? { name: d.metadata.name } : {}), ready: d?.status?.readyReplicas ?? 0, desired: d?.spec?.replicas ?? 0 }];
  });
}

function eventsOf(list: k8s.CoreV1Event[]): EventView[] {
  return [...list]
    .sort((a, b) => eventTime(a).localeCompare(eventTime(b)))
    .slice(-EVENTS_SHOWN)
    .map((e) => ({ time: eventTime(e), type: e.type ?? '', reason: e.reason ?? '', message: e.message ?? '' }));
}

/**
 * The bounds of each metric the spec judges, in words, as the operator reads them (templates filled in). The spec
 * read is the user's current one; one that does not parse gives no bounds rather than an error here.
 */
function boundsByMetric(ro: ModelRollout): Map<string, string> {
  const stored = (ro.spec as { analysis?: StoredAnalysis }).analysis;
  // The Prometheus address is irrelevant to bounds; a placeholder keeps a spec that relies on the operator's default readable.
  const config = parseAnalysis(stored, [], { prometheusAddress: 'http://unused.invalid' });
  const out = new Map<string, string>();
  for (const rule of config?.metrics ?? []) {
    const parts = [boundsText(rule.bounds, ''), rule.relative ? boundsText(rule.relative, 'candidate ÷ stable ') : ''];
    if (rule.breaker) parts.push(`breaker ${rule.breaker.below ? '<' : '>'} ${rule.breaker.threshold}`);
    const text = parts.filter((p) => p).join('; ');
    out.set(rule.name, text || '-');
  }
  return out;
}

/** "≥ 0.9, ≤ 2.5 (fail > 3)"; empty when no bound is set. */
export function boundsText(b: Bounds, prefix: string): string {
  const pass = [b.min === undefined ? '' : `≥ ${b.min}`, b.max === undefined ? '' : `≤ ${b.max}`].filter((x) => x);
  const fail = [b.failMin === undefined ? '' : `< ${b.failMin}`, b.failMax === undefined ? '' : `> ${b.failMax}`].filter((x) => x);
  if (pass.length === 0 && fail.length === 0) return '';
  return `${prefix}${pass.join(', ')}${fail.length > 0 ? `${pass.length > 0 ? ' ' : ''}(fail ${fail.join(', ')})` : ''}`;
}
