// Segments of an A/B experiment (#16): the spec's segments and coverage rule, per-segment guardrails, and the
// hold the coverage rule puts on a step. The look that reads them is tested in controller/experiment-look.segments.test.ts.
import { describe, expect, it } from 'vitest';
import { coverageDue, coverageProblems, experimentVerdict, type ExperimentStatus } from './experiment-gate.js';
import { parseExperiment, segmentMatcher, withSegment, type StoredExperiment } from './experiment-spec.js';
import { judgeSegments, uncoveredSegments, type ExperimentPlan, type MetricCounters, type SegmentArms } from './experiment-verdict.js';

const completion = {
  name: 'playback-completion',
  better: 'higher',
  mde: 0.03,
  proportion: {
    events: 'sum(increase(viewer_completed_total{arm="{{arm}}", {{segment}}}[{{interval}}]))',
    units: 'sum(increase(viewer_started_total{arm="{{arm}}", {{segment}}}[{{interval}}]))',
  },
};
const abandon = {
  name: 'abandon',
  better: 'lower',
  tolerance: 0.01,
  proportion: {
    events: 'sum(increase(viewer_abandoned_total{arm="{{arm}}", {{segment}}}[{{interval}}]))',
    units: 'sum(increase(viewer_started_total{arm="{{arm}}", {{segment}}}[{{interval}}]))',
  },
};
const segments = [
  { label: 'tier', values: ['free', 'pro'] },
  { label: 'region', values: ['eu', 'us'] },
];
const units = 'sum(increase(viewer_assigned_total{arm="{{arm}}", {{segment}}}[{{interval}}]))';

function parse(stored: StoredExperiment) {
  const errors: string[] = [];
  return { config: parseExperiment(stored, errors), errors };
}

describe('spec.experiment.segments and coverage', () => {
  it('declares every value of every label, judges the guardrails that select {{segment}} per segment, counts units per segment', () => {
    const { config, errors } = parse({
      goal: completion,
      guardrails: [abandon, { template: 'error-rate' }],
      segments,
      units,
      coverage: { minUnits: 50, aboveWeight: 5 },
    });
    expect(errors).toEqual([]);
    expect(config!.segments.map((s) => s.key)).toEqual(['tier=free', 'tier=pro', 'region=eu', 'region=us']);
    // error-rate reads the runtime's series, which carry no segment labels: judged on the whole only.
    expect(config!.segmentedGuardrails).toEqual(['abandon']);
    expect(config!.unitsPerSegment).toBe(true);
    expect(config!.coverage).toEqual({ minUnits: 50, aboveWeight: 5 });
  });

  it('fills {{segment}} with one label matcher per segment, and with a matcher every series passes for the whole', () => {
    expect(withSegment(units, { label: 'tier', value: 'pro', key: 'tier=pro' }, 'tier')).toBe(
      'sum(increase(viewer_assigned_total{arm="{{arm}}", tier="pro"}[{{interval}}]))',
    );
    expect(withSegment(units, undefined, 'tier')).toBe('sum(increase(viewer_assigned_total{arm="{{arm}}", tier=~".*"}[{{interval}}]))');
    // Quotes, backslashes and $ in a value stay literal (no PromQL injection, no replacement patterns).
    expect(segmentMatcher({ label: 'title', value: 'a"b\\c$&', key: '' }, 'title')).toBe('title="a\\"b\\\\c$&"');
  });

  it('names the field of every mistake', () => {
    const bad = (stored: Partial<StoredExperiment>) => parse({ goal: completion, units, ...stored }).errors;
    expect(bad({ segments: [{ label: 'arm', values: ['x'] }] })).toContainEqual(
      expect.stringMatching(/^spec\.experiment\.segments\[0\]\.label: "arm" must be a Prometheus label name/),
    );
    expect(bad({ segments: [{ label: '__name__', values: ['x'] }] })).toContainEqual(expect.stringMatching(/^spec\.experiment\.segments\[0\]\.label/));
    expect(bad({ segments: [{ label: 'tier-name', values: ['x'] }] })).toContainEqual(expect.stringMatching(/^spec\.experiment\.segments\[0\]\.label/));
    expect(bad({ segments: [{ label: 'tier', values: [] }] })).toContainEqual(expect.stringMatching(/^spec\.experiment\.segments\[0\]\.values: required/));
    expect(bad({ segments: [{ label: 'tier', values: ['a', 'a', ''] }] })).toEqual(
      expect.arrayContaining([expect.stringMatching(/values: "" must be non-empty/), expect.stringMatching(/values: "a" listed twice/)]),
    );
    expect(bad({ segments: [segments[0]!, segments[0]!] })).toContainEqual(
      expect.stringMatching(/^spec\.experiment\.segments\[1\]\.label: "tier" is declared twice/),
    );
    const many = Array.from({ length: 40 }, (_, i) => `v${i}`);
    expect(bad({ segments: [{ label: 'tier', values: many }], coverage: { minUnits: 1, aboveWeight: 5 } })).toContainEqual(
      expect.stringMatching(/^spec\.experiment\.segments: 40 values in all, at most 32/),
    );
    // Coverage: needs segments, a units query per segment, and sane numbers.
    expect(bad({ coverage: { minUnits: 10, aboveWeight: 5 } })).toContainEqual(
      expect.stringMatching(/^spec\.experiment\.coverage: needs spec\.experiment\.segments/),
    );
    expect(parse({ goal: completion, segments, coverage: { minUnits: 10, aboveWeight: 5 } }).errors).toContainEqual(
      expect.stringMatching(/^spec\.experiment\.units: .* selects \{\{segment\}\}/),
    );
    expect(bad({ segments, coverage: { minUnits: 0.5, aboveWeight: 60 } })).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^spec\.experiment\.coverage\.minUnits: 0\.5 must be an integer/),
        expect.stringMatching(/^spec\.experiment\.coverage\.aboveWeight: 60 must be a weight in \[0, 50\]/),
      ]),
    );
    expect(bad({ segments, coverage: {} })).toEqual(
      expect.arrayContaining([expect.stringMatching(/coverage\.minUnits: required/), expect.stringMatching(/coverage\.aboveWeight: required/)]),
    );
    // Segments nobody uses, {{segment}} without segments, and a metric that selects it in only some queries.
    expect(parse({ goal: completion, segments }).errors).toContainEqual(expect.stringMatching(/^spec\.experiment\.segments: no guardrail selects/));
    expect(parse({ goal: completion, guardrails: [abandon] }).errors).toContainEqual(
      expect.stringMatching(/^spec\.experiment\.guardrails\[0\]: selects \{\{segment\}\} but spec\.experiment\.segments declares none/),
    );
    const half = { ...abandon, proportion: { ...abandon.proportion, units: 'sum(increase(viewer_started_total{arm="{{arm}}"}[{{interval}}]))' } };
    expect(parse({ goal: completion, guardrails: [half], segments }).errors).toContainEqual(
      expect.stringMatching(/^spec\.experiment\.guardrails\[0\]: \{\{segment\}\} must be selected by all of the metric's queries or by none/),
    );
  });

  it('needs the first step at or under aboveWeight, where the segments gather their units', () => {
    expect(coverageProblems({ aboveWeight: 5 }, [1, 5, 20, 50, 100])).toEqual([]);
    expect(coverageProblems({ aboveWeight: 5 }, [10, 50, 100])).toEqual([
      expect.stringMatching(/^spec\.experiment\.coverage\.aboveWeight: 5 is under the first step's 10 %/),
    ]);
    expect(coverageProblems(undefined, [10, 50, 100])).toEqual([]);
  });
});

const plan: ExperimentPlan = {
  goal: { name: 'playback-completion', better: 'higher', effect: 0.03 },
  guardrails: [{ name: 'abandon', better: 'lower', effect: 0.01 }],
  decision: { rule: 'win' },
  alpha: 0.05,
  minDurationMs: 0,
  srmPValue: 0.001,
};
const rate = (n: number, events: number): MetricCounters => ({ kind: 'proportion', arm: { n, events } });
const segment = (name: string, control: [number, number], treatment: [number, number]): SegmentArms => ({
  segment: name,
  units: { control: control[0], treatment: treatment[0] },
  control: { abandon: rate(...control) },
  treatment: { abandon: rate(...treatment) },
});

describe('judgeSegments', () => {
  it('finds a regression in one segment that the whole experiment would average away, and names the segment', () => {
    const state = { startedAt: '2026-12-01T00:00:00Z', looks: 1, metrics: {} };
    const out = judgeSegments(plan, ['abandon'], [segment('tier=free', [4000, 400], [4000, 390]), segment('tier=pro', [1000, 100], [1000, 250])], state);
    expect(out.loss).toMatch(/^guardrail abandon regressed in segment tier=pro: effect 0\.15 \(0\.1 → 0\.25\)/);
    expect(out.reports.map((r) => r.segment)).toEqual(['tier=free', 'tier=pro']);
    expect(out.reports[1]!.metrics[0]).toMatchObject({ name: 'abandon', role: 'guardrail', control: 0.1, treatment: 0.25 });
    // Each segment's sequence is its own, kept for the next look.
    expect(Object.keys(state.metrics).sort()).toEqual(['abandon@tier=free', 'abandon@tier=pro']);
    // Bonferroni: two segments, each at α/2, so the interval says 97.5 %.
    expect(out.loss).toContain('whole 97.5 % confidence sequence');
  });

  it('does not judge a segment with fewer than 2 units in an arm, and says so', () => {
    const state = { startedAt: '2026-12-01T00:00:00Z', looks: 1, metrics: {} };
    const out = judgeSegments(plan, ['abandon'], [segment('region=eu', [1, 1], [30, 1])], state);
    expect(out.loss).toBeUndefined();
    expect(out.reports[0]).toMatchObject({ segment: 'region=eu', metrics: [], notes: ['abandon: 1 control and 30 treatment units so far (each arm needs 2)'] });
  });

  it('keeps no sequence from a look without spread (no event in either arm), so it cannot pin the later ones', () => {
    const state = { startedAt: '2026-12-01T00:00:00Z', looks: 1, metrics: {} as Record<string, { p: number; cs: [number, number] }> };
    const first = judgeSegments(plan, ['abandon'], [segment('tier=pro', [50, 0], [50, 0])], state);
    expect(first.reports[0]!.metrics[0]).toMatchObject({ effect: 0, cs: [0, 0], p: 1 });
    expect(state.metrics).toEqual({});
    const later = judgeSegments(plan, ['abandon'], [segment('tier=pro', [2000, 200], [2000, 600])], state);
    expect(later.reports[0]!.metrics[0]!.cs[0]).toBeGreaterThan(0.1);
    expect(later.loss).toMatch(/^guardrail abandon regressed in segment tier=pro/);
  });

  it('in A/A segments keeps the chance of any false regression under α however often it looks', () => {
    // 200 simulated A/A experiments, 4 segments, 30 looks each: a false Loss in any segment at any look counts.
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const binomial = (n: number, p: number) => Array.from({ length: n }, rnd).filter((x) => x < p).length;
    let falseLosses = 0;
    for (let run = 0; run < 200; run++) {
      const state = { startedAt: '2026-12-01T00:00:00Z', looks: 0, metrics: {} };
      const totals = Array.from({ length: 4 }, () => ({ c: [0, 0], t: [0, 0] }));
      let lost = false;
      for (let look = 0; look < 30 && !lost; look++) {
        const arms = totals.map((tot, i) => {
          tot.c = [tot.c[0]! + 20, tot.c[1]! + binomial(20, 0.1)];
          tot.t = [tot.t[0]! + 20, tot.t[1]! + binomial(20, 0.1)];
          return segment(`s=${i}`, tot.c as [number, number], tot.t as [number, number]);
        });
        lost = judgeSegments({ ...plan, guardrails: [{ name: 'abandon', better: 'lower', effect: 0 }] }, ['abandon'], arms, state).loss !== undefined;
      }
      if (lost) falseLosses++;
    }
    expect(falseLosses / 200).toBeLessThanOrEqual(0.05);
  });
});

describe('the coverage rule', () => {
  const status = (over: Partial<ExperimentStatus>): ExperimentStatus => ({
    assignment: {
      mode: 'userKey',
      header: 'X-ModelRollout-Arm',
      salt: 's',
      buckets: 10_000,
      weight: 5,
      treatment: { from: 0, to: 500 },
      control: { from: 5000, to: 5500 },
      ended: false,
    },
    ...over,
  });
  const opts = { atGate: false, coverageDue: true, elapsedMs: 60_000, maxDurationMs: 3_600_000, decision: 'win' as const };

  it('guards the last step at or under aboveWeight', () => {
    const steps = [1, 5, 20, 50, 100];
    const due = steps.map((w, i) => coverageDue({ aboveWeight: 5 }, w, steps[i + 1]));
    expect(due).toEqual([false, true, false, false, false]);
    expect(steps.map((w, i) => coverageDue({ aboveWeight: 10 }, w, steps[i + 1]))).toEqual([false, true, false, false, false]);
    expect(steps.map((w, i) => coverageDue(undefined, w, steps[i + 1]))).toEqual([false, false, false, false, false]);
    expect(coverageDue({ aboveWeight: 50 }, 50, undefined)).toBe(true);
  });

  it('holds that step while a segment is short, names it, and pauses after maxDuration', () => {
    const short = status({ verdict: 'Win', coverage: { minUnits: 50, aboveWeight: 5, met: false, missing: ['tier=pro: control 12, treatment 9'] } });
    expect(experimentVerdict(short, opts)).toEqual({
      result: 'pending',
      message: 'experiment coverage: a step above 5 % waits for every segment (segments short of 50 units per arm: tier=pro: control 12, treatment 9)',
    });
    expect(experimentVerdict(short, { ...opts, elapsedMs: 3_600_000 })).toMatchObject({
      result: 'pause',
      message: expect.stringMatching(/^experiment coverage not reached in maxDuration \(60m\): segments short of 50 units per arm: tier=pro/),
    });
    expect(experimentVerdict(status({}), opts)).toMatchObject({ result: 'pending', message: expect.stringContaining('no look at the segments yet') });
    // Met: no say off the gate; a Loss still rolls back first.
    const met = status({ verdict: 'Inconclusive', coverage: { minUnits: 50, aboveWeight: 5, met: true } });
    expect(experimentVerdict(met, opts)).toBeUndefined();
    expect(experimentVerdict({ ...short, verdict: 'Loss', reason: 'guardrail abandon regressed in segment tier=pro: …' }, opts)).toMatchObject({
      result: 'fail',
      reason: 'experiment-abandon',
    });
  });

  it('lists the segments short of minUnits in either arm', () => {
    expect(
      uncoveredSegments(
        [
          { segment: 'tier=free', units: { control: 60, treatment: 55 } },
          { segment: 'tier=pro', units: { control: 60, treatment: 49 } },
          { segment: 'region=eu' },
        ],
        50,
      ),
    ).toEqual(['tier=pro: control 60, treatment 49', 'region=eu: control 0, treatment 0']);
  });
});
