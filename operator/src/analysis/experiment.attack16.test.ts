// Attack on #16 (A/B experiments): each `it` here is a defect found by trying spec.experiment as a user would.
// They failed when written and were fixed (by kind); they stay as regression tests. docs/attack-16.md has each finding (F-number) with its severity.
import { describe, expect, it } from 'vitest';
import { judgeExperiment, type ArmCounters, type ExperimentPlan } from './experiment-verdict.js';
import { parseExperiment, type StoredExperiment } from './experiment-spec.js';
import { groupSequentialBounds } from './group-sequential.js';
import { lookExperiment } from '../controller/experiment-look.js';
import { lookInputFor } from '../controller/experiment-look.test-support.js';
import type { MetricsProvider } from '../metric-providers/index.js';
import type { Measurement } from './types.js';
import type * as k8s from '@kubernetes/client-node';
import { experimentVerdict, publishedAssignment } from './experiment-gate.js';
import type { ModelRollout } from '../api/index.js';
import { CONFIGMAP_RECHECK_MS, forgetExperimentConfigMap, syncExperimentConfigMap } from '../controller/experiment-configmap.js';

const START = new Date('2026-12-01T10:00:00Z');
const TWO_HOURS_LATER = new Date('2026-12-01T12:00:00Z');
const fresh = () => ({ startedAt: START.toISOString(), looks: 0, metrics: {} });
const plan = (over: Partial<ExperimentPlan> = {}): ExperimentPlan => ({
  goal: { name: 'completion', better: 'higher', effect: 0.03 },
  guardrails: [],
  decision: { rule: 'win' },
  alpha: 0.05,
  minDurationMs: 0,
  srmPValue: 0.001,
  ...over,
});
const proportionArm = (units: number, n: number, events: number): ArmCounters => ({
  units,
  metrics: { completion: { kind: 'proportion', arm: { n, events } } },
});

/** A provider answering every query by a function of the rendered PromQL (the arm is in it as arm="…"). */
const provider = (answer: (promql: string, arm: 'control' | 'treatment') => Measurement): MetricsProvider =>
  ({
    query: (promql: string) => Promise.resolve(answer(promql, /arm="(treatment|control)"/.exec(promql)![1] as 'control' | 'treatment')),
  }) as MetricsProvider;

const goalSpec: StoredExperiment['goal'] = {
  name: 'completion',
  better: 'higher',
  mde: 0.05,
  proportion: {
    events: 'sum(increase(viewer_completed_total{arm="{{arm}}"}[{{interval}}]))',
    units: 'sum(increase(viewer_started_total{arm="{{arm}}"}[{{interval}}]))',
  },
};

describe('F1: the sample-ratio check and the guardrails are skipped while any metric has < 2 units in an arm', () => {
  // Wrong: judge() in controller/experiment-look.ts returns Inconclusive ("each arm needs 2") before judgeExperiment
  // when any metric is thin, so the most common broken assignment (the control arm's rule gets no traffic at all:
  // 0 vs 1000 units) is never Invalid, and the rollout keeps stepping. Expected: Invalid (χ² p ≈ 1e-219).
  it('an arm that gets no traffic at all is a sample-ratio mismatch (Invalid), not Inconclusive', async () => {
    const p = provider((_q, arm) => (arm === 'control' ? { kind: 'noData', message: 'no series' } : { kind: 'value', value: 1000 }));
    const stored: StoredExperiment = { goal: goalSpec, guardrails: [{ template: 'error-rate', tolerance: 0.01 }], minDuration: '10m', maxDuration: '2h' };
    const exp = await lookExperiment(lookInputFor(stored, p, undefined, 30));
    expect(exp.units).toEqual({ control: 0, treatment: 1000 });
    expect(exp.verdict).toBe('Invalid');
    expect(exp.reason).toMatch(/sample-ratio/);
  });

  // Wrong: the same early return hides a guardrail regression while the app's goal counters are not there yet
  // (goal units 0: the app exports them later, or the goal's query has a typo and reads no series). The candidate
  // fails 40 % of its requests against 1 % on control, with 5000 requests per arm, and the experiment says
  // Inconclusive ("completion: 0 control and 0 treatment units so far"). Expected: the error-rate guardrail's Loss
  // (the issue: "one-sided sequential guardrails that roll back"); the thin goal should only hold the goal's verdict.
  it('a guardrail that regressed badly rolls back even while the goal has no units yet', async () => {
    const p = provider((q, arm) => {
      if (q.includes('viewer_')) return { kind: 'noData', message: 'no series' };
      if (q.includes('outcome=~"server_error|timeout"')) return { kind: 'value', value: arm === 'treatment' ? 2000 : 50 };
      return { kind: 'value', value: 5000 };
    });
    const stored: StoredExperiment = { goal: goalSpec, guardrails: [{ template: 'error-rate', tolerance: 0.01 }], minDuration: '10m', maxDuration: '2h' };
    const exp = await lookExperiment(lookInputFor(stored, p, undefined, 30));
    expect(exp.verdict).toBe('Loss');
    expect(exp.reason).toMatch(/error-rate/);
  });
});

describe('F2: a goal that measured nothing (standard error 0) is declared NonInferior', () => {
  // Wrong: with decision nonInferiority, a goal with 0 events in both arms (e.g. the events query names a counter
  // the app does not export: noData reads as 0) has SE 0; advance() keeps the point interval [0, 0], whose bad end
  // 0 is above −margin, so after minDuration the verdict is NonInferior and the gate opens, on no evidence at all.
  // The same happens when every unit has the event (n of n), for a mean with no spread, or a ratio whose delta
  // variance rounds to 0. Expected: Inconclusive (no information yet), never a promotion.
  it('0 of 5000 in both arms is not evidence of non-inferiority', () => {
    const v = judgeExperiment(
      plan({ decision: { rule: 'nonInferiority', margin: 0.01 } }),
      { control: proportionArm(5000, 5000, 0), treatment: proportionArm(5000, 5000, 0) },
      fresh(),
      TWO_HOURS_LATER,
    );
    expect(v.verdict).toBe('Inconclusive');
  });

  it('5000 of 5000 in both arms is not evidence of non-inferiority either', () => {
    const v = judgeExperiment(
      plan({ decision: { rule: 'nonInferiority', margin: 0.01 } }),
      { control: proportionArm(5000, 5000, 5000), treatment: proportionArm(5000, 5000, 5000) },
      fresh(),
      TWO_HOURS_LATER,
    );
    expect(v.verdict).toBe('Inconclusive');
  });
});

describe('F3: proportion events far above units are clamped silently', () => {
  // Wrong: counters() in experiment-look.ts clamps events to n ("a few events over n is rounding"), whatever the
  // excess. A user who swaps events and units (events: started, units: completed, so events ≈ 3× units) gets rates
  // of exactly 1 in both arms, no error, and (F2) a NonInferior or an Inconclusive forever. Expected: more events
  // than units beyond rounding (say > 1 % or > 1 event over) is Invalid, naming the metric and its queries.
  it('events three times the units is Invalid, not a rate of 100 %', async () => {
    const p = provider((q) => {
      if (q.includes('viewer_completed_total')) return { kind: 'value', value: 3000 };
      if (q.includes('viewer_started_total')) return { kind: 'value', value: 1000 };
      return { kind: 'value', value: 1000 };
    });
    const stored: StoredExperiment = { goal: goalSpec, minDuration: '10m', maxDuration: '2h' };
    const exp = await lookExperiment(lookInputFor(stored, p, undefined, 30));
    expect(exp.verdict).toBe('Invalid');
    expect(exp.reason).toMatch(/completion/);
  });
});

describe('F4: group-sequential boundaries are wrong when two looks are close in information', () => {
  // Wrong: group-sequential.ts carries the score's sub-density on a 401-point grid and integrates the increment's
  // normal kernel (sd √Δt) with the trapezoid rule; when √Δt is below the grid spacing (Δt ≲ 1e-4 at t = 0.5) the
  // integral is garbage. Looks at t = 0.5, 0.50001 and 1 give a final O'Brien–Fleming boundary of 1.108 instead of
  // ≈ 1.969 (the boundary with the near-duplicate look left out): one-sided α ≈ 0.13 instead of 0.025.
  // Reachable: looks come at step ends, t = the smaller arm's units ÷ the planned units; two step ends with almost
  // no new traffic (a night, fractional increase() values) differ by a sliver and only t <= last is skipped.
  // Expected: the final boundary within 0.01 of the one without the extra look, for any increasing fractions.
  it.each([1e-5, 3e-5])('looks at 0.5, 0.5 + %s and 1 keep the final boundary near 1.969', (d) => {
    const without = groupSequentialBounds([0.5, 1], 0.025)[1]!;
    const withLook = groupSequentialBounds([0.5, 0.5 + d, 1], 0.025)[2]!;
    expect(Math.abs(withLook - without)).toBeLessThan(0.01);
  });
});

describe('F5: expectedTimeToDecision mixes the sample-ratio units with the goal units', () => {
  // Wrong: expectedTime() in experiment-verdict.ts subtracts control.units (the SRM units: by default the runtime's
  // requests) from the goal's needed units (here users who started a video). At 10 requests per viewer, 10 000
  // control requests but 1000 control viewers, needing ≈ 3 660 viewers per arm, it reports 0 (decision due now)
  // when ≈ 5.3 h remain at this traffic. Expected: the goal's own n and its rate.
  it('10 000 requests but 1000 viewers per arm: about 5 h to go, not 0', () => {
    const v = judgeExperiment(
      plan({ minDurationMs: 7 * 86_400_000 }),
      { control: proportionArm(10_000, 1000, 300), treatment: proportionArm(10_000, 1000, 300) },
      fresh(),
      TWO_HOURS_LATER,
    );
    expect(v.expectedMsToDecision).toBeGreaterThan(4 * 3_600_000);
    expect(v.expectedMsToDecision).toBeLessThan(7 * 3_600_000);
  });
});

describe('F8: segment values that cannot be written in a PromQL string are accepted', () => {
  // Wrong: segmentsOf() only checks non-empty and ≤ 63 characters; segmentMatcher() escapes \ and " but not a
  // newline or other control character, so `tier="a⏎b"` reaches Prometheus, which refuses the whole query
  // (unterminated string): every look then fails. Expected: the spec is refused naming the value.
  it('a value with a newline is refused naming spec.experiment.segments[0].values', () => {
    const errors: string[] = [];
    parseExperiment(
      {
        goal: goalSpec,
        units: 'sum(increase(viewer_assigned_total{arm="{{arm}}", {{segment}}}[{{interval}}]))',
        segments: [{ label: 'tier', values: ['free', 'pro\n'] }],
        coverage: { minUnits: 10, aboveWeight: 5 },
      },
      errors,
    );
    expect(errors.join('\n')).toMatch(/segments\[0\]\.values/);
  });
});

describe('F10: once a person accepts a sample-ratio mismatch, the guardrails are never judged again', () => {
  // Wrong: the docs say a resume after an Invalid pause "accepts it for this candidate" (analysis-runner's
  // experimentSay then reads Invalid as Inconclusive). But the counters are cumulative, so every later look is
  // still a mismatch, and judgeExperiment returns Invalid before it judges any guardrail (metrics: []): from the
  // resume on, a candidate that fails half its requests is never rolled back by the experiment, and no Win can
  // come either (the gate waits for maxDuration). Expected: with the mismatch accepted (status resumedAt set while
  // the verdict was Invalid) the look still judges the guardrails and returns their Loss.
  it('a guardrail regression after an accepted mismatch is a Loss', async () => {
    const p = provider((q, arm) => {
      if (q.includes('outcome=~"server_error|timeout"')) return { kind: 'value', value: arm === 'treatment' ? 3000 : 60 };
      if (q.includes('viewer_completed_total')) return { kind: 'value', value: arm === 'treatment' ? 1800 : 1200 };
      return { kind: 'value', value: arm === 'treatment' ? 6000 : 4000 }; // 6000 : 4000, SRM p ≈ 1e-88
    });
    const stored: StoredExperiment = { goal: goalSpec, guardrails: [{ template: 'error-rate', tolerance: 0.01 }], minDuration: '10m', maxDuration: '2h' };
    const first = await lookExperiment(lookInputFor(stored, p, undefined, 30));
    expect(first.verdict).toBe('Invalid');
    // A person resumed the paused rollout (what analysis-runner's experimentSay records), accepting the mismatch.
    // (experimentSay marks the acceptance in the state when the resume answers the mismatch's pause.)
    const accepted = {
      ...first,
      paused: false,
      resumedAt: new Date(Date.parse(first.lastLook!) + 60_000).toISOString(),
      state: { ...first.state!, sampleRatioAccepted: true },
    };
    const next = await lookExperiment(lookInputFor(stored, p, accepted, 40));
    expect(next.verdict).toBe('Loss');
    expect(next.reason).toMatch(/error-rate/);
  });
});

describe('F11: a deleted or edited experiment ConfigMap is not restored while the assignment stays the same', () => {
  // Wrong: syncExperimentConfigMap skips every request when this process last wrote the same assignment (an
  // in-memory cache), and nothing watches the ConfigMap. Deleted (kubectl delete, a namespace cleanup, a Helm
  // uninstall of a chart that templated the same name) or edited, it stays gone or wrong until the weight changes;
  // at the gate that is days to weeks, during which apps that mount or read it cannot assign users (or read
  // stale ranges). Expected: level-triggered for real: a pass finds the ConfigMap missing or different and writes
  // it again (a GET per pass, or a watch on the owned ConfigMaps).
  class Core {
    readonly objects = new Map<string, k8s.V1ConfigMap>();
    readNamespacedConfigMap({ name }: { name: string }): Promise<k8s.V1ConfigMap> {
      const o = this.objects.get(name);
      return o ? Promise.resolve(structuredClone(o)) : Promise.reject(Object.assign(new Error('not found'), { code: 404 }));
    }
    createNamespacedConfigMap({ body }: { body: k8s.V1ConfigMap }): Promise<k8s.V1ConfigMap> {
      this.objects.set(body.metadata!.name!, structuredClone(body));
      return Promise.resolve(body);
    }
    replaceNamespacedConfigMap({ name, body }: { name: string; body: k8s.V1ConfigMap }): Promise<k8s.V1ConfigMap> {
      this.objects.set(name, structuredClone(body));
      return Promise.resolve(body);
    }
  }
  const ro = { metadata: { name: 'video', namespace: 'ns', uid: 'uid-1' } } as unknown as ModelRollout;

  // Fixed by re-reading the ConfigMap once CONFIGMAP_RECHECK_MS has passed since the last check: the passes below
  // come that much later (a clock), and a pass within it costs no request.
  let clock = 0;
  const later = () => (clock += CONFIGMAP_RECHECK_MS);
  it('a pass after the ConfigMap was deleted creates it again', async () => {
    const core = new Core();
    const deps = { core: core as unknown as k8s.CoreV1Api, onRequest: () => {}, now: later };
    forgetExperimentConfigMap('ns/video');
    await syncExperimentConfigMap(ro, publishedAssignment('abc', 20), deps);
    core.objects.clear();
    await syncExperimentConfigMap(ro, publishedAssignment('abc', 20), deps);
    expect(core.objects.get('video-experiment')?.data?.salt).toBe('abc');
  });

  it('a pass after the ConfigMap was edited puts the published ranges back', async () => {
    const core = new Core();
    const deps = { core: core as unknown as k8s.CoreV1Api, onRequest: () => {}, now: later };
    forgetExperimentConfigMap('ns/video');
    await syncExperimentConfigMap(ro, publishedAssignment('abc', 20), deps);
    core.objects.get('video-experiment')!.data!.treatment = '0-5000';
    await syncExperimentConfigMap(ro, publishedAssignment('abc', 20), deps);
    expect(core.objects.get('video-experiment')!.data!.treatment).toBe('0-2000');
  });
});

describe('F13: the group-sequential final look comes at minDuration, however little information there is', () => {
  // Wrong: groupSequentialLook() (experiment-look.ts) makes the first pass at the gate after minDuration the final
  // look, and groupSequentialGoal() sets its information fraction to 1: all of α is spent on whatever sample there
  // is, and an Inconclusive final look pauses for a person (gateHold), long before maxDuration. With the gate as
  // the first step, minDuration 2m, maxDuration 2h and 50 viewers a minute per arm, the final look is at minute 2
  // with 100 viewers per arm, about 8 % of the ≈ 1 300 the MDE needs for 80 % power: the experiment ends
  // undecided and the rollout pauses at minute 2 of 120. (An always-valid experiment on the same spec keeps
  // looking until maxDuration.) Expected: the final look when the information reaches the planned sample (t ≥ 1)
  // or maxDuration has passed, whichever comes first; minDuration only forbids looks before it.
  it('no final look at 8 % of the planned information while maxDuration is far off', async () => {
    let minute = 0;
    const p = provider((q, arm) => {
      const n = 50 * minute;
      if (q.includes('viewer_completed_total')) return { kind: 'value', value: Math.round(n * (arm === 'treatment' ? 0.33 : 0.3)) };
      return { kind: 'value', value: n };
    });
    const stored: StoredExperiment = {
      goal: goalSpec,
      units: 'sum(increase(viewer_started_total{arm="{{arm}}"}[{{interval}}]))',
      test: 'groupSequential',
      minDuration: '2m',
      maxDuration: '2h',
    };
    let exp;
    for (minute = 1; minute <= 3; minute++) exp = await lookExperiment(lookInputFor(stored, p, exp, minute, { step: { index: 0, atGate: true } }));
    const fractions = exp!.state?.groupSequential?.fractions ?? [];
    expect(fractions[fractions.length - 1] ?? 0).toBeLessThan(1);
    const say = experimentVerdict(exp, { atGate: true, elapsedMs: 3 * 60_000, maxDurationMs: 2 * 3_600_000, decision: 'win' });
    expect(say?.result).not.toBe('pause');
  });
});
