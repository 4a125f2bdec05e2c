// spec.experiment → the plan experiment-verdict.ts judges and the PromQL that reads each arm's counters.
// An A/B experiment (#16): the candidate is the treatment arm, a slice of stable of the same size the control
// arm (apps assign users by the published salt and bucket ranges, docs/experiment.md); every look reads
// cumulative counters per arm since the experiment started and updates always-valid statistics.
import { parseDuration } from '../rollout/duration.js';
import type { ExperimentMetric, ExperimentPlan } from './experiment-verdict.js';
import { IDENTITY_LABELS, QUERY_VARIABLES } from './spec.js';

/** The counters of one metric per arm, as PromQL over {{interval}} (the time since the experiment started). */
export type ExperimentQueries =
  | { kind: 'proportion'; events: string; units: string }
  | { kind: 'mean'; count: string; sum: string; sumSquares: string }
  | { kind: 'ratio'; units: string; sumX: string; sumY: string; sumXX: string; sumYY: string; sumXY: string };

export interface ExperimentMetricSpec extends ExperimentMetric {
  queries: ExperimentQueries;
}

export interface ExperimentConfig {
  plan: ExperimentPlan;
  goal: ExperimentMetricSpec;
  guardrails: ExperimentMetricSpec[];
  /** Units per arm for the sample-ratio check (default: the runtime's requests with that arm). */
  unitsQuery: string;
  /** Inconclusive this long after the experiment started, at its last step: pause for a person. */
  maxDurationMs: number;
  /** How users get their arm: the app by user key (the arm header), or the route by weight with a cookie. */
  assignment: 'userKey' | 'cookie';
  /** Declared segments (every value of every segment label), in spec order; empty without spec.experiment.segments. */
  segments: Segment[];
  /** Guardrails whose queries select {{segment}}: judged in every segment as well as overall. */
  segmentedGuardrails: string[];
  /** Whether the units query selects {{segment}} (units per segment: the coverage rule and status). */
  unitsPerSegment: boolean;
  /** A step above `aboveWeight` % starts only once every segment has `minUnits` units in each arm. */
  coverage?: { minUnits: number; aboveWeight: number };
}

/** One declared segment: a label on the experiment's series and one of its values, e.g. tier="pro". */
export interface Segment {
  label: string;
  value: string;
  /** `label=value`: the segment's name in status and reasons. */
  key: string;
}

interface StoredExperimentMetric {
  name?: string;
  template?: string;
  better?: string;
  mde?: number;
  tolerance?: number;
  proportion?: { events?: string; units?: string };
  mean?: { count?: string; sum?: string; sumSquares?: string };
  ratio?: { units?: string; sumX?: string; sumY?: string; sumXX?: string; sumYY?: string; sumXY?: string };
}

export interface StoredExperiment {
  assignment?: string;
  test?: string;
  spending?: string;
  goal?: StoredExperimentMetric;
  guardrails?: StoredExperimentMetric[];
  decision?: string;
  margin?: number;
  alpha?: number;
  minDuration?: string;
  maxDuration?: string;
  units?: string;
  srmPValue?: number;
  segments?: { label?: string; values?: string[] }[];
  coverage?: { minUnits?: number; aboveWeight?: number };
}

/** The runtime's series of one arm: the arm's revision (candidate for treatment, stable for control) and its arm label. */
const BY_ARM = `${IDENTITY_LABELS.namespace}="{{namespace}}",${IDENTITY_LABELS.name}="{{name}}",${IDENTITY_LABELS.revision}="{{revision}}",arm="{{arm}}"`;
const requests = (matchers: string) => `sum(increase(t2v_requests_total{${BY_ARM}${matchers}}[{{interval}}]))`;

/** Default units of the sample-ratio check: requests of the arm the runtime answered or refused. */
export const DEFAULT_UNITS_QUERY = requests('');

/** Built-in experiment metrics over the runtime's own series (an app's business metrics need their own queries). */
const TEMPLATES: Record<string, { better: 'higher' | 'lower'; queries: ExperimentQueries }> = {
  'error-rate': {
    better: 'lower',
    queries: { kind: 'proportion', events: requests(',outcome=~"server_error|timeout"'), units: requests(',outcome=~"ok|server_error|timeout"') },
  },
};

/**
 * Experiment queries may use the analysis variables, {{arm}} and {{segment}}; {{interval}} is the time since the
 * experiment started.
 */
export const EXPERIMENT_VARIABLES = [...QUERY_VARIABLES, 'arm', 'segment'] as const;

const SEGMENT_VARIABLE = /\{\{\s*segment\s*\}\}/g;
const selectsSegment = (text: string): boolean => new RegExp(SEGMENT_VARIABLE.source).test(text);

/**
 * The label matcher {{segment}} stands for, inside a selector's braces: `label="value"` for one segment, and for
 * the experiment as a whole a matcher every series passes, `<wholeLabel>=~".*"` (the empty value matches series
 * without the label too; a `__name__` matcher would clash with the selector's metric name), so one query serves both.
 */
export function segmentMatcher(segment: Segment | undefined, wholeLabel: string): string {
  if (!segment) return `${wholeLabel}=~".*"`;
  return `${segment.label}="${segment.value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** A query with {{segment}} filled for one segment (or for the whole experiment). */
export function withSegment(query: string, segment: Segment | undefined, wholeLabel: string): string {
  return query.replace(SEGMENT_VARIABLE, () => segmentMatcher(segment, wholeLabel));
}

/** Every query of a metric, for the checks that look at them all. */
const queriesOf = (q: ExperimentQueries): string[] =>
  Object.entries(q)
    .filter(([k]) => k !== 'kind')
    .map(([, v]) => v as string);

const DURATION_WITH_DAYS = /^(\d+(?:\.\d+)?)d(.*)$/;

/** A Go duration, or one that starts with days ("7d", "1d12h"): experiments run for weekly cycles. */
export function parseLongDuration(text: string): number | undefined {
  const days = DURATION_WITH_DAYS.exec(text);
  if (!days) return parseDuration(text);
  const rest = days[2] ? parseDuration(days[2]) : 0;
  if (rest === undefined) return undefined;
  const ms = Number(days[1]) * 86_400_000 + rest;
  return ms > 0 ? Math.round(ms) : undefined;
}

function checkQuery(field: string, text: unknown, errors: string[]): string {
  if (typeof text !== 'string' || text.trim() === '') {
    errors.push(`${field}: required (PromQL over {{interval}}, the time since the experiment started, with {{arm}})`);
    return '';
  }
  const unknown = [...new Set([...text.matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((x) => x[1]!))].filter(
    (v) => !(EXPERIMENT_VARIABLES as readonly string[]).includes(v),
  );
  if (unknown.length > 0)
    errors.push(`${field}: unknown variable ${unknown.map((v) => `{{${v}}}`).join(', ')} (known: ${EXPERIMENT_VARIABLES.map((v) => `{{${v}}}`).join(' ')})`);
  else if (!/\{\{\s*arm\s*\}\}/.test(text)) errors.push(`${field}: must select the arm with {{arm}} (e.g. arm="{{arm}}"), or both arms read the same number`);
  return text;
}

const QUERY_FIELDS = {
  proportion: ['events', 'units'],
  mean: ['count', 'sum', 'sumSquares'],
  ratio: ['units', 'sumX', 'sumY', 'sumXX', 'sumYY', 'sumXY'],
} as const;

function metricQueries(field: string, m: StoredExperimentMetric, errors: string[]): ExperimentQueries | undefined {
  const kinds = (['proportion', 'mean', 'ratio'] as const).filter((k) => m[k] !== undefined);
  if (m.template !== undefined) {
    const template = TEMPLATES[m.template];
    if (!template) errors.push(`${field}.template: "${m.template}" is not a built-in experiment metric (have: ${Object.keys(TEMPLATES).join(', ')})`);
    if (kinds.length > 0) errors.push(`${field}: set template or ${kinds.join('/')}, not both`);
    return template?.queries;
  }
  if (kinds.length !== 1) {
    errors.push(`${field}: set exactly one of template, proportion, mean, ratio${kinds.length > 1 ? ` (have ${kinds.join(', ')})` : ''}`);
    return undefined;
  }
  const kind = kinds[0]!;
  const stored = (m[kind] ?? {}) as Record<string, unknown>;
  const queries: Record<string, string> = {};
  for (const key of QUERY_FIELDS[kind]) queries[key] = checkQuery(`${field}.${kind}.${key}`, stored[key], errors);
  const extra = Object.keys(stored).filter((k) => !(QUERY_FIELDS[kind] as readonly string[]).includes(k));
  if (extra.length > 0) errors.push(`${field}.${kind}: unknown field ${extra.join(', ')} (have: ${QUERY_FIELDS[kind].join(', ')})`);
  return { kind, ...queries } as ExperimentQueries;
}

function finite(field: string, value: unknown, errors: string[], check: (x: number) => boolean, rule: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || !check(value)) {
    errors.push(`${field}: ${JSON.stringify(value)} ${rule}`);
    return undefined;
  }
  return value;
}

function identity(field: string, m: StoredExperimentMetric, errors: string[]): { name?: string; better?: 'higher' | 'lower' } {
  const name = m.name ?? m.template;
  if (!name) errors.push(`${field}.name: required (used in status and events)`);
  else if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(name)) errors.push(`${field}.name: "${name}" must be a DNS label (lower case, digits, -)`);
  const better = m.better ?? (m.template ? TEMPLATES[m.template]?.better : undefined);
  if (better === 'higher' || better === 'lower') return { name, better };
  errors.push(`${field}.better: ${better === undefined ? 'required' : `"${better}" must be`} higher or lower`);
  return { name };
}

/** The goal's minimum detectable effect, or a guardrail's tolerated regression (default 0). */
function effectOf(field: string, m: StoredExperimentMetric, role: 'goal' | 'guardrail', errors: string[]): number | undefined {
  if (role === 'guardrail') {
    if (m.mde !== undefined) errors.push(`${field}.mde: only the goal has one (a guardrail has tolerance)`);
    return finite(`${field}.tolerance`, m.tolerance, errors, (x) => x >= 0, 'must be ≥ 0 (the regression tolerated, absolute)') ?? 0;
  }
  if (m.tolerance !== undefined) errors.push(`${field}.tolerance: only guardrails have one (the goal has mde)`);
  if (m.mde === undefined) errors.push(`${field}.mde: required (the minimum detectable effect, absolute, in the metric’s unit)`);
  return finite(`${field}.mde`, m.mde, errors, (x) => x > 0, 'must be > 0 (the minimum detectable effect, absolute, in the metric’s unit)');
}

function experimentMetric(
  field: string,
  m: StoredExperimentMetric | undefined,
  role: 'goal' | 'guardrail',
  errors: string[],
): ExperimentMetricSpec | undefined {
  if (!m || typeof m !== 'object') {
    errors.push(`${field}: required`);
    return undefined;
  }
  const queries = metricQueries(field, m, errors);
  const { name, better } = identity(field, m, errors);
  const effect = effectOf(field, m, role, errors);
  if (!queries || !name || !better || effect === undefined) return undefined;
  return { name, better, effect, queries };
}

function decisionOf(f: string, stored: StoredExperiment, errors: string[]): ExperimentPlan['decision'] {
  const text = stored.decision ?? 'win';
  if (text === 'nonInferiority') {
    const margin = finite(`${f}.margin`, stored.margin, errors, (x) => x > 0, 'must be > 0 (how much worse the goal may be, absolute)');
    if (stored.margin === undefined) errors.push(`${f}.margin: required with decision nonInferiority (how much worse the goal may be, absolute)`);
    return { rule: 'nonInferiority', margin: margin ?? 0 };
  }
  if (text !== 'win') errors.push(`${f}.decision: "${text}" must be win or nonInferiority`);
  else if (stored.margin !== undefined) errors.push(`${f}.margin: only with decision nonInferiority`);
  return { rule: 'win' };
}

function testOf(f: string, stored: StoredExperiment, errors: string[]): ExperimentPlan['test'] {
  const test = stored.test ?? 'alwaysValid';
  if (test === 'groupSequential') {
    const spending = stored.spending ?? 'obrienFleming';
    if (spending !== 'obrienFleming' && spending !== 'pocock') errors.push(`${f}.spending: "${spending}" must be obrienFleming or pocock`);
    return { kind: 'groupSequential', spending: spending === 'pocock' ? 'pocock' : 'obrienFleming' };
  }
  if (test !== 'alwaysValid') errors.push(`${f}.test: "${test}" must be alwaysValid or groupSequential`);
  else if (stored.spending !== undefined) errors.push(`${f}.spending: only with test groupSequential`);
  return { kind: 'alwaysValid' };
}

function durationsOf(f: string, stored: StoredExperiment, errors: string[]): { minDurationMs: number; maxDurationMs: number } {
  const duration = (field: string, text: string | undefined, fallback: string): number => {
    const ms = parseLongDuration(text ?? fallback);
    if (ms === undefined) errors.push(`${f}.${field}: "${text}" is not a positive duration (e.g. 7d, 1d12h, 30m)`);
    return ms ?? 0;
  };
  const minDurationMs = duration('minDuration', stored.minDuration, '7d');
  const maxDurationMs = duration('maxDuration', stored.maxDuration, '28d');
  if (minDurationMs > 0 && maxDurationMs > 0 && maxDurationMs < minDurationMs)
    errors.push(`${f}.maxDuration: ${stored.maxDuration ?? '28d'} is shorter than minDuration ${stored.minDuration ?? '7d'}`);
  return { minDurationMs, maxDurationMs };
}

/** At most this many segment values in all: each is read and judged at every look (Bonferroni divides α by them). */
export const MAX_SEGMENTS = 32;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** spec.experiment.segments: label names Prometheus accepts (not `arm`, not `__…`), values non-empty and distinct. */
function segmentsOf(f: string, stored: StoredExperiment, errors: string[]): Segment[] {
  if (stored.segments === undefined) return [];
  if (!Array.isArray(stored.segments)) {
    errors.push(`${f}.segments: must be a list of {label, values}`);
    return [];
  }
  const out: Segment[] = [];
  const labels = new Set<string>();
  stored.segments.forEach((seg, i) => {
    const field = `${f}.segments[${i}]`;
    const label = seg?.label;
    if (typeof label !== 'string' || !LABEL_NAME.test(label) || label.startsWith('__') || label === 'arm')
      errors.push(`${field}.label: ${JSON.stringify(label)} must be a Prometheus label name (not arm, not starting with __)`);
    else if (labels.has(label)) errors.push(`${field}.label: "${label}" is declared twice`);
    const values = seg?.values;
    if (!Array.isArray(values) || values.length === 0) errors.push(`${field}.values: required, at least one value of ${label ?? 'the label'}`);
    else {
      // Control characters (a newline) cannot stand in a PromQL string: every look would fail.
      const control = (v: string) => [...v].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f);
      const bad = values.filter((v) => typeof v !== 'string' || v.trim() === '' || v.length > 63 || control(v));
      if (bad.length > 0)
        errors.push(
          `${field}.values: ${bad.map((v) => JSON.stringify(v)).join(', ')} must be non-empty strings of at most 63 characters without control characters`,
        );
      const twice = values.filter((v, j) => values.indexOf(v) !== j);
      if (twice.length > 0) errors.push(`${field}.values: ${[...new Set(twice)].map((v) => `"${v}"`).join(', ')} listed twice`);
    }
    if (typeof label === 'string' && Array.isArray(values)) {
      labels.add(label);
      for (const value of values) if (typeof value === 'string') out.push({ label, value, key: `${label}=${value}` });
    }
  });
  if (out.length > MAX_SEGMENTS) errors.push(`${f}.segments: ${out.length} values in all, at most ${MAX_SEGMENTS} (each is queried and judged at every look)`);
  return out;
}

/** spec.experiment.coverage: minUnits a positive integer, aboveWeight a weight in [0, 50]. */
function coverageOf(f: string, stored: StoredExperiment, segments: Segment[], errors: string[]): ExperimentConfig['coverage'] {
  const c = stored.coverage;
  if (c === undefined) return undefined;
  if (segments.length === 0) errors.push(`${f}.coverage: needs ${f}.segments (the segments each must reach minUnits)`);
  const minUnits = finite(
    `${f}.coverage.minUnits`,
    c.minUnits,
    errors,
    (x) => Number.isInteger(x) && x >= 1,
    'must be an integer ≥ 1 (units per segment and arm)',
  );
  if (c.minUnits === undefined) errors.push(`${f}.coverage.minUnits: required (units each segment needs in each arm)`);
  const aboveWeight = finite(
    `${f}.coverage.aboveWeight`,
    c.aboveWeight,
    errors,
    (x) => x >= 0 && x <= 50,
    'must be a weight in [0, 50] (the experiment runs up to 50 %)',
  );
  if (c.aboveWeight === undefined) errors.push(`${f}.coverage.aboveWeight: required (a step above this weight waits for the coverage)`);
  return minUnits !== undefined && aboveWeight !== undefined ? { minUnits, aboveWeight } : undefined;
}

/**
 * Which guardrails are judged per segment (those whose queries select {{segment}}; all of a metric's queries or
 * none), and whether the units are counted per segment; a {{segment}} without declared segments is an error.
 */
function segmentUse(
  f: string,
  stored: StoredExperiment,
  declared: { metrics: { field: string; spec: ExperimentMetricSpec | undefined; role: 'goal' | 'guardrail' }[]; unitsQuery: string; segments: Segment[] },
  errors: string[],
): { segmentedGuardrails: string[]; unitsPerSegment: boolean } {
  const { metrics, unitsQuery, segments } = declared;
  const segmentedGuardrails: string[] = [];
  for (const { field, spec, role } of metrics) {
    if (!spec) continue;
    const selecting = queriesOf(spec.queries).map(selectsSegment);
    if (!selecting.some(Boolean)) continue;
    if (segments.length === 0) errors.push(`${field}: selects {{segment}} but ${f}.segments declares none`);
    else if (!selecting.every(Boolean))
      errors.push(`${field}: {{segment}} must be selected by all of the metric's queries or by none (its counters would mix a segment with the whole)`);
    // The goal is judged on the whole experiment (its {{segment}} reads every series there).
    else if (role === 'guardrail') segmentedGuardrails.push(spec.name);
  }
  const unitsPerSegment = selectsSegment(unitsQuery);
  if (unitsPerSegment && segments.length === 0) errors.push(`${f}.units: selects {{segment}} but ${f}.segments declares none`);
  if (stored.coverage !== undefined && !unitsPerSegment)
    errors.push(
      `${f}.units: ${f}.coverage counts units per segment: give a units query that selects {{segment}} (the runtime's request counters carry no segment labels)`,
    );
  if (segments.length > 0 && segmentedGuardrails.length === 0 && stored.coverage === undefined)
    errors.push(`${f}.segments: no guardrail selects {{segment}} and no coverage is set, so the segments would not be used`);
  return { segmentedGuardrails, unitsPerSegment };
}

/**
 * Parses spec.experiment; undefined when absent or invalid. Every problem is pushed to `errors` naming its field.
 * Defaults: alpha 0.05, decision win, minDuration 7d (weekly cycles wash out), maxDuration 28d, srmPValue 0.001
 * (Fabijan et al., "Diagnosing Sample Ratio Mismatch in Online Controlled Experiments", KDD 2019).
 */
export function parseExperiment(stored: StoredExperiment | undefined, errors: string[]): ExperimentConfig | undefined {
  if (stored === undefined || stored === null) return undefined;
  const before = errors.length;
  const f = 'spec.experiment';
  const goal = experimentMetric(`${f}.goal`, stored.goal, 'goal', errors);
  const guardrails = (stored.guardrails ?? []).map((g, i) => experimentMetric(`${f}.guardrails[${i}]`, g, 'guardrail', errors));
  const names = [goal?.name, ...guardrails.map((g) => g?.name)].filter((n): n is string => n !== undefined);
  const twice = names.filter((n, i) => names.indexOf(n) !== i);
  if (twice.length > 0) errors.push(`${f}.guardrails: metric name ${[...new Set(twice)].map((n) => `"${n}"`).join(', ')} is used twice`);
  const alpha = finite(`${f}.alpha`, stored.alpha, errors, (x) => x > 0 && x < 0.5, 'must be in (0, 0.5)') ?? 0.05;
  const srmPValue = finite(`${f}.srmPValue`, stored.srmPValue, errors, (x) => x > 0 && x < 0.5, 'must be in (0, 0.5)') ?? 0.001;
  const decision = decisionOf(f, stored, errors);
  const test = testOf(f, stored, errors);
  const { minDurationMs, maxDurationMs } = durationsOf(f, stored, errors);
  const assignment = stored.assignment ?? 'userKey';
  if (assignment !== 'userKey' && assignment !== 'cookie') errors.push(`${f}.assignment: "${assignment}" must be userKey or cookie`);
  const unitsQuery = stored.units === undefined ? DEFAULT_UNITS_QUERY : checkQuery(`${f}.units`, stored.units, errors);
  const segments = segmentsOf(f, stored, errors);
  const coverage = coverageOf(f, stored, segments, errors);
  const metricFields = [
    { field: `${f}.goal`, spec: goal, role: 'goal' as const },
    ...guardrails.map((g, i) => ({ field: `${f}.guardrails[${i}]`, spec: g, role: 'guardrail' as const })),
  ];
  const { segmentedGuardrails, unitsPerSegment } = segmentUse(f, stored, { metrics: metricFields, unitsQuery, segments }, errors);
  if (!goal || guardrails.some((g) => g === undefined) || errors.length > before) return undefined;
  return {
    plan: { goal, guardrails: guardrails as ExperimentMetricSpec[], decision, alpha, minDurationMs, srmPValue, test },
    goal,
    guardrails: guardrails as ExperimentMetricSpec[],
    unitsQuery,
    maxDurationMs,
    assignment: assignment === 'cookie' ? 'cookie' : 'userKey',
    segments,
    segmentedGuardrails,
    unitsPerSegment,
    ...(coverage ? { coverage } : {}),
  };
}
