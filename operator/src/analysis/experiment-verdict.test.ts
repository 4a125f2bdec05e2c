import { describe, expect, it } from 'vitest';
import { judgeExperiment, type ArmCounters, type ExperimentPlan } from './experiment-verdict.js';

const T0 = Date.parse('2026-11-30T12:00:00Z');
const at = (minutes: number) => new Date(T0 + minutes * 60_000);

const plan = (over: Partial<ExperimentPlan> = {}): ExperimentPlan => ({
  goal: { name: 'completion', better: 'higher', effect: 0.03 },
  guardrails: [{ name: 'latency', better: 'lower', effect: 0 }],
  decision: { rule: 'win' },
  alpha: 0.05,
  minDurationMs: 60 * 60_000,
  srmPValue: 0.001,
  ...over,
});

/** State of an experiment that started at minute 0 and has not been looked at yet. */
const started = { startedAt: at(0).toISOString(), looks: 0, metrics: {} };

/** An arm of n users, completion rate p, latency mean m (sd 0.5 s). */
function arm(n: number, p: number, m: number): ArmCounters {
  const sd = 0.5;
  return {
    units: n,
    metrics: {
      completion: { kind: 'proportion', arm: { n, events: Math.round(n * p) } },
      latency: { kind: 'mean', arm: { n, sum: n * m, sumSq: (n - 1) * sd * sd + n * m * m } },
    },
  };
}

describe('judgeExperiment', () => {
  it('calls a clear win after the minimum duration, and not before', () => {
    const early = judgeExperiment(plan(), { control: arm(5000, 0.3, 2), treatment: arm(5000, 0.34, 2) }, undefined, at(0));
    expect(early.verdict).toBe('Inconclusive');
    expect(early.reason).toBe('minimum duration: 0 s of 3600 s');
    const later = judgeExperiment(plan(), { control: arm(5000, 0.3, 2), treatment: arm(5000, 0.34, 2) }, early.state, at(61));
    expect(later.verdict, later.reason).toBe('Win');
    expect(later.reason).toMatch(
      /^completion 0\.3 → 0\.34 \(effect 0\.04, 95 % confidence sequence \[0\.0\d+, 0\.0\d+\], always-valid p [\d.e-]+\): significantly better$/,
    );
    expect(later.state.looks).toBe(2);
    expect(later.metrics[0]).toMatchObject({ name: 'completion', role: 'goal', control: 0.3, treatment: 0.34 });
    expect(later.metrics[0]!.power).toBeGreaterThan(0.8);
  });

  it('marks a broken assignment Invalid whatever the effect (sample-ratio mismatch at p < 0.001)', () => {
    const v = judgeExperiment(plan(), { control: arm(5000, 0.3, 2), treatment: arm(5400, 0.4, 2) }, started, at(120));
    expect(v.verdict).toBe('Invalid');
    expect(v.reason).toMatch(/^sample-ratio mismatch: control 5000 vs treatment 5400 units for a planned 1:1 \(χ² 15\.4, p 8\.\d+e-5 < 0\.001\)/);
    // A small imbalance is chance, not a broken assignment.
    expect(judgeExperiment(plan(), { control: arm(5000, 0.3, 2), treatment: arm(5060, 0.3, 2) }, started, at(120)).verdict).not.toBe('Invalid');
  });

  it('loses on a guardrail that regressed for sure, even before the minimum duration, naming it', () => {
    const v = judgeExperiment(plan(), { control: arm(4000, 0.3, 2), treatment: arm(4000, 0.36, 2.2) }, undefined, at(5));
    expect(v.verdict).toBe('Loss');
    expect(v.reason).toMatch(/^guardrail latency regressed: effect 0\.2 \(2 → 2\.2\)/);
    // Tolerating 0.25 s of regression, the same data is no loss (and the goal then wins, after the minimum duration).
    const tolerant = judgeExperiment(
      plan({ guardrails: [{ name: 'latency', better: 'lower', effect: 0.25 }] }),
      { control: arm(4000, 0.3, 2), treatment: arm(4000, 0.36, 2.2) },
      started,
      at(61),
    );
    expect(tolerant.verdict, tolerant.reason).toBe('Win');
  });

  it('loses when the goal is significantly worse', () => {
    const v = judgeExperiment(plan(), { control: arm(5000, 0.34, 2), treatment: arm(5000, 0.3, 2) }, started, at(61));
    expect(v.verdict).toBe('Loss');
    expect(v.reason).toMatch(/significantly worse$/);
  });

  it('shows non-inferiority within the margin when the rule asks for it; a win rule stays inconclusive there', () => {
    const ni = plan({ decision: { rule: 'nonInferiority', margin: 0.02 } });
    const v = judgeExperiment(ni, { control: arm(20000, 0.3, 2), treatment: arm(20000, 0.3, 2) }, started, at(61));
    expect(v.verdict, v.reason).toBe('NonInferior');
    expect(v.reason).toMatch(/no worse than the margin 0\.02$/);
    expect(judgeExperiment(plan(), { control: arm(20000, 0.3, 2), treatment: arm(20000, 0.3, 2) }, started, at(61)).verdict).toBe('Inconclusive');
  });

  it('keeps the running p-value from look to look: it never rises again, and the sequence only narrows', () => {
    const first = judgeExperiment(plan(), { control: arm(3000, 0.3, 2), treatment: arm(3000, 0.335, 2) }, started, at(61));
    const second = judgeExperiment(plan(), { control: arm(3100, 0.3, 2), treatment: arm(3100, 0.3, 2) }, first.state, at(62));
    expect(second.metrics[0]!.p).toBeLessThanOrEqual(first.metrics[0]!.p);
    expect(second.metrics[0]!.cs[0]).toBeGreaterThanOrEqual(first.metrics[0]!.cs[0]);
    expect(second.metrics[0]!.cs[1]).toBeLessThanOrEqual(first.metrics[0]!.cs[1]);
  });

  it('says how long to a decision at the current traffic, and names a metric without counters', () => {
    const v = judgeExperiment(
      plan(),
      { control: arm(600, 0.3, 2), treatment: arm(600, 0.3, 2) },
      { startedAt: at(0).toISOString(), looks: 1, metrics: {} },
      at(10),
    );
    // 80 % power at +3 points on a 30 % rate needs 3,660 users an arm; 600 came in 10 min: about 51 min more.
    expect(v.expectedMsToDecision! / 60_000).toBeCloseTo((3662 - 600) / 60, 0);
    const broken = judgeExperiment(plan(), { control: { units: 10, metrics: {} }, treatment: arm(10, 0.3, 2) }, undefined, at(1));
    expect(broken).toMatchObject({ verdict: 'Invalid', reason: 'completion: no counters for the control arm' });
  });
});

describe('judgeExperiment, group-sequential', () => {
  const gs = (spending: 'obrienFleming' | 'pocock' = 'obrienFleming') => plan({ test: { kind: 'groupSequential', spending }, minDurationMs: 0 });

  it('decides only at a look: between looks the last look’s verdict stands', () => {
    const between = judgeExperiment(gs(), { control: arm(6000, 0.3, 2), treatment: arm(6000, 0.36, 2) }, started, at(10));
    expect(between.verdict).toBe('Inconclusive');
    expect(between.reason).toMatch(/^group-sequential: no look yet/);
    expect(between.state.groupSequential).toBeUndefined();
    const look = judgeExperiment(gs(), { control: arm(6000, 0.3, 2), treatment: arm(6000, 0.36, 2) }, between.state, at(11), { final: false });
    expect(look.verdict, look.reason).toBe('Win');
    expect(look.reason).toMatch(/group-sequential look 1 at information 100 %: z [\d.]+ against ±[\d.]+: significantly better$/);
    const after = judgeExperiment(gs(), { control: arm(6100, 0.3, 2), treatment: arm(6100, 0.3, 2) }, look.state, at(12));
    expect(after.verdict).toBe('Win');
  });

  it('spends little at an early look (O’Brien–Fleming-type): an effect that would win at the end does not win early', () => {
    // Planned units at MDE 0.03 around 30 %: ≈ 3 700 per arm; 900 per arm is an information fraction near 0.24.
    const early = judgeExperiment(gs(), { control: arm(900, 0.3, 2), treatment: arm(900, 0.345, 2) }, started, at(10), { final: false });
    expect(early.verdict).toBe('Inconclusive');
    const [t] = early.state.groupSequential!.fractions;
    expect(t).toBeGreaterThan(0.2);
    expect(t).toBeLessThan(0.3);
    expect(early.state.groupSequential!.bounds[0]).toBeGreaterThan(3.5);
    // The same z with the final look's boundary (≈ 2) would have won: the early boundary is what held it.
    const z = Number(/z ([\d.]+)/.exec(early.reason)![1]);
    expect(z).toBeGreaterThan(2.05);
    const final = judgeExperiment(gs(), { control: arm(3800, 0.3, 2), treatment: arm(3800, 0.345, 2) }, early.state, at(20), { final: true });
    expect(final.state.groupSequential!.fractions).toEqual([t, 1]);
    expect(final.verdict, final.reason).toBe('Win');
  });

  it('calls a significant regression a Loss at a look, and nothing more after the final look', () => {
    const loss = judgeExperiment(gs('pocock'), { control: arm(4000, 0.36, 2), treatment: arm(4000, 0.3, 2) }, started, at(10), { final: false });
    expect(loss.verdict).toBe('Loss');
    const flat = judgeExperiment(gs(), { control: arm(4000, 0.3, 2), treatment: arm(4000, 0.3, 2) }, started, at(10), { final: true });
    expect(flat.verdict).toBe('Inconclusive');
    expect(flat.reason).toMatch(/not yet decided at the final look$/);
    const later = judgeExperiment(gs(), { control: arm(9000, 0.3, 2), treatment: arm(9000, 0.4, 2) }, flat.state, at(20), { final: false });
    expect(later.verdict).toBe('Inconclusive');
    expect(later.state.groupSequential!.fractions).toEqual([1]);
  });
  // The false-positive rate over many simulated A/A experiments: npm run bench:decisions (GS OBF, GS Pocock).
});
