// `kubectl modelrollout get <name>`: one rollout in detail, as Argo Rollouts' `get rollout` shows one — the step
// plan with the current step and the time left in its bake, each revision's Deployment and pods, the latest
// measurement of each metric against its bounds, the breaker, the golden probes and the last events. Pure: the
// objects in, text out (the entry point reads them).
import type { ExperimentStatus } from '../analysis/experiment-gate.js';
import type * as k8s from '@kubernetes/client-node';
import { LABEL_REVISION, type ModelRollout } from '../api/index.js';

export interface DetailObjects {
  rollout: ModelRollout;
  deployments: k8s.V1Deployment[];
  pods: k8s.V1Pod[];
  events: k8s.CoreV1Event[];
}

const EVENTS_SHOWN = 8;

/** Text for one rollout at `now`; every section says "none" rather than disappearing, so the shape is stable. */
export function detail(o: DetailObjects, now: Date): string {
  const ro = o.rollout;
  const s = ro.status ?? {};
  const spec = s.lastValidSpec;
  const lines: string[] = [];
  const field = (name: string, value: string) => lines.push(`${`${name}:`.padEnd(14)}${value}`);
  field('Name', `${ro.metadata.name} (namespace ${ro.metadata.namespace ?? 'default'})`);
  field('Phase', `${s.phase ?? 'Unknown'}${s.message ? ` — ${s.message}` : ''}`);
  field('Model', `${ro.spec.model.name}: stable ${ref(s.stable)}${s.candidate ? ` → candidate ${ref(s.candidate)}` : ''}`);
  field(
    'Traffic',
    s.weights
      ? `stable ${s.weights.stable} % / candidate ${s.weights.candidate} %${s.weights.mirrorPercent ? ` (mirror ${s.weights.mirrorPercent} %)` : ''}`
      : 'not set yet',
  );
  field('Steps', stepPlan(ro, now));
  if (s.failure) field('Failure', `${s.failure.reason}: ${s.failure.message} (${s.failure.at})`);
  if (s.blockedWrite) field('Blocked write', `${s.blockedWrite.reason} on ${s.blockedWrite.object}: ${s.blockedWrite.message}`);
  lines.push('', 'Revisions:');
  lines.push(...revisions(o));
  lines.push('', 'Analysis:');
  lines.push(...analysis(ro));
  lines.push('', `Events (last ${EVENTS_SHOWN}):`);
  lines.push(...events(o.events));
  if (spec === undefined && s.phase !== 'Invalid') lines.push('', '(the operator has not read this spec yet)');
  return lines.join('\n');
}

const ref = (r: { revision: string; modelVersion: string } | undefined): string => (r ? `${r.modelVersion} (revision ${r.revision})` : '-');

/** "✔ 1 %  ▶ 5 % (baking, 7m12s left)  · 20 %  · 50 %  · 100 %" from the last valid spec and the current step. */
function stepPlan(ro: ModelRollout, now: Date): string {
  const s = ro.status ?? {};
  const spec = s.lastValidSpec;
  if (!spec) return 'unknown (no valid spec read yet)';
  const current = s.currentStep;
  const inRollout = !!s.candidate && (s.phase === 'Progressing' || s.phase === 'Paused' || s.phase === 'Shadowing');
  const marks = spec.steps.map((w, i) => {
    if (!inRollout || !current) return `· ${w} %`;
    if (i < current.index) return `✔ ${w} %`;
    if (i > current.index) return `· ${w} %`;
    const shifted = current.trafficShiftedAt ? Date.parse(current.trafficShiftedAt) : undefined;
    const state =
      s.phase === 'Paused'
        ? 'paused'
        : shifted === undefined
          ? 'scaling up'
          : `baking, ${duration(Math.max(0, spec.stepDurationMs - (now.getTime() - shifted)))} left`;
    return `▶ ${w} % (${state})`;
  });
  return `${marks.join('  ')}   (each step bakes ${duration(spec.stepDurationMs)})`;
}

function revisions(o: DetailObjects): string[] {
  const s = o.rollout.status ?? {};
  const sides: [string, string | undefined][] = [
    ['stable', s.stable?.revision],
    ['candidate', s.candidate?.revision],
  ];
  const out: string[] = [];
  for (const [role, revision] of sides) {
    if (!revision) continue;
    const d = o.deployments.find((x) => x.metadata?.labels?.[LABEL_REVISION] === revision);
    const ready = d ? `${d.status?.readyReplicas ?? 0}/${d.spec?.replicas ?? 0} ready` : 'no Deployment';
    out.push(`  ${role.padEnd(10)} ${revision}  Deployment ${d?.metadata?.name ?? '-'}  ${ready}`);
    const pods = o.pods
      .filter((p) => p.metadata?.labels?.[LABEL_REVISION] === revision)
      .sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
    for (const p of pods) out.push(`    pod ${p.metadata?.name}  ${podState(p)}  node ${p.spec?.nodeName ?? '-'}`);
    if (pods.length === 0) out.push('    no pods');
  }
  return out.length > 0 ? out : ['  none'];
}

function podState(p: k8s.V1Pod): string {
  if (p.metadata?.deletionTimestamp) return 'Terminating';
  const ready = p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
  const statuses = p.status?.containerStatuses ?? [];
  const restarts = statuses.reduce((a, c) => a + (c.restartCount ?? 0), 0);
  const waiting = statuses.map((c) => c.state?.waiting?.reason).find((r) => r);
  return `${ready ? 'Ready' : (waiting ?? p.status?.phase ?? 'Pending')}  restarts ${restarts}`;
}

function analysis(ro: ModelRollout): string[] {
  const a = ro.status?.analysis;
  if (!a) return ['  no measurements (no analysis, or none yet for this candidate)'];
  const step = (a.metrics ?? []).filter((m) => m.kind === 'step');
  const rows = step.map((m) => [
    m.name,
    m.verdict,
    m.value === undefined ? (m.raw ?? '-') : String(+m.value.toPrecision(4)),
    m.samples === undefined ? '-' : String(m.samples),
    m.message ?? '',
  ]);
  const out = rows.length > 0 ? table(['METRIC', 'VERDICT', 'VALUE', 'SAMPLES', 'MESSAGE'], rows).map((l) => `  ${l}`) : ['  no step judged yet'];
  const breaches = Object.entries(a.breaches ?? {});
  out.push(
    `  breaker: ${breaches.length === 0 ? 'closed' : breaches.map(([name, since]) => `${name} breaching since ${since}`).join('; ')}${a.lastBreakerCheck ? ` (checked ${a.lastBreakerCheck})` : ''}`,
  );
  const g = a.goldenProbes;
  if (g)
    out.push(
      `  golden probes: ${g.ssim === undefined ? 'no pair compared' : `SSIM ${g.ssim.toFixed(3)}, PSNR ${g.psnrDb?.toFixed(1)} dB over ${g.compared} prompts`} (${g.lastRoundTime})${g.error ? `: ${g.error}` : ''}`,
    );
  if (a.experiment) out.push(...experiment(a.experiment));
  return out;
}

/** One row per segment and guardrail: units per arm, effect, confidence sequence; a segment not judged yet says why. */
function segmentLines(segments: NonNullable<ExperimentStatus['segments']>): string[] {
  const rows = segments.flatMap((s) => {
    const units = s.units ? `${fmt(s.units.control)} / ${fmt(s.units.treatment)}` : '-';
    if (s.metrics.length === 0) return [[s.segment, units, '-', '-', '-', '-', (s.notes ?? ['no guardrail judged yet']).join('; ')]];
    return s.metrics.map((m) => [
      s.segment,
      units,
      m.name,
      fmt(m.effect),
      `[${fmt(m.cs[0])}, ${fmt(m.cs[1])}]`,
      m.p.toPrecision(3),
      (s.notes ?? []).join('; '),
    ]);
  });
  return table(['SEGMENT', 'UNITS (C / T)', 'GUARDRAIL', 'EFFECT', 'CONFIDENCE SEQUENCE', 'P (ALWAYS VALID)', 'NOTE'], rows).map((l) => `    ${l}`);
}

/** The A/B experiment: verdict, arms, per-metric effect with its confidence sequence and always-valid p. */
function experiment(e: ExperimentStatus): string[] {
  const a = e.assignment;
  const out = [
    `  experiment: ${e.verdict ?? 'no look yet'}${e.reason ? ` — ${e.reason}` : ''}`,
    a.mode === 'cookie'
      ? `    assignment: by the route, cookie ${a.cookie}, treatment and control ${a.weight} % each${a.ended ? ' (ended: past 50 %)' : ''}`
      : `    assignment: ${a.header}, salt ${a.salt}, treatment buckets [${a.treatment.from}, ${a.treatment.to}), control [${a.control.from}, ${a.control.to}) of ${a.buckets}${a.ended ? ' (ended: past 50 %)' : ''}`,
  ];
  if (e.units)
    out.push(
      `    units: control ${fmt(e.units.control)}, treatment ${fmt(e.units.treatment)}${e.srmP === undefined ? '' : `, SRM p ${e.srmP.toPrecision(3)}`}`,
    );
  if (e.metrics && e.metrics.length > 0)
    out.push(
      ...table(
        ['METRIC', 'ROLE', 'CONTROL', 'TREATMENT', 'EFFECT', 'CONFIDENCE SEQUENCE', 'P (ALWAYS VALID)', 'POWER'],
        e.metrics.map((m) => [
          m.name,
          m.role,
          fmt(m.control),
          fmt(m.treatment),
          fmt(m.effect),
          `[${fmt(m.cs[0])}, ${fmt(m.cs[1])}]`,
          m.p.toPrecision(3),
          m.power === undefined ? '-' : `${Math.round(m.power * 100)} %`,
        ]),
      ).map((l) => `    ${l}`),
    );
  if (e.coverage)
    out.push(
      `    coverage: ${e.coverage.met ? 'met' : 'not yet'} (${e.coverage.minUnits} units per segment and arm before a step above ${e.coverage.aboveWeight} %)${e.coverage.missing ? `; short: ${e.coverage.missing.join('; ')}` : ''}`,
    );
  if (e.segments && e.segments.length > 0) out.push(...segmentLines(e.segments));
  if (e.expectedTimeToDecision) out.push(`    expected time to a decision at this traffic: ${e.expectedTimeToDecision}`);
  if (e.error) out.push(`    last look failed: ${e.error}`);
  return out;
}

const fmt = (x: number): string => String(+x.toPrecision(4));

/** When an event last happened, as the API server gave it (the newest of its time fields that is set); '' when none is. */
export function eventTime(e: k8s.CoreV1Event): string {
  const t = e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata?.creationTimestamp;
  return t === undefined ? '' : t instanceof Date ? t.toISOString() : String(t);
}

function events(list: k8s.CoreV1Event[]): string[] {
  const time = eventTime;
  const shown = [...list].sort((a, b) => time(a).localeCompare(time(b))).slice(-EVENTS_SHOWN);
  if (shown.length === 0) return ['  none'];
  return table(
    ['TIME', 'TYPE', 'REASON', 'MESSAGE'],
    shown.map((e) => [iso(time(e)), e.type ?? '', e.reason ?? '', e.message ?? '']),
  ).map((l) => `  ${l}`);
}

const iso = (t: string): string => (t ? new Date(t).toISOString().replace('.000Z', 'Z') : '-');

function table(header: string[], rows: string[][]): string[] {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  return all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
}

/** 7m12s, 45s, 1h3m. */
export function duration(ms: number): string {
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  return h > 0 ? `${h}h${m}m` : m > 0 ? `${m}m${sec ? `${sec}s` : ''}` : `${sec}s`;
}
