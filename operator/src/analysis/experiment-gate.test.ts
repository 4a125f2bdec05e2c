import { describe, expect, it } from 'vitest';
import type { AnalysisVerdict } from '../rollout/types.js';
import {
  armRouting,
  experimentProblems,
  experimentVerdict,
  gateWeight,
  publishedAssignment,
  withExperiment,
  type ExperimentStatus,
} from './experiment-gate.js';

const assignment = publishedAssignment('0123456789abcdef', 20);
const status = (over: Partial<ExperimentStatus>): ExperimentStatus => ({ assignment, ...over });
const opts = { atGate: false, elapsedMs: 0, maxDurationMs: 3_600_000, decision: 'win' as const };

describe('publishedAssignment', () => {
  it('gives equal-sized ranges at the route weight, and ends past 50 %', () => {
    expect(assignment).toEqual({
      header: 'X-ModelRollout-Arm',
      salt: '0123456789abcdef',
      buckets: 10_000,
      weight: 20,
      treatment: { from: 0, to: 2000 },
      control: { from: 5000, to: 7000 },
      ended: false,
    });
    expect(publishedAssignment('s', 50)).toMatchObject({ weight: 50, treatment: { from: 0, to: 5000 }, control: { from: 5000, to: 10_000 }, ended: false });
    expect(publishedAssignment('s', 100)).toMatchObject({ weight: 50, ended: true });
    expect(publishedAssignment('s', 0)).toMatchObject({ treatment: { from: 0, to: 0 }, control: { from: 5000, to: 5000 } });
  });
});

describe('armRouting', () => {
  it('asks for the arm rules only while an experiment runs with the candidate at 1–50 %', () => {
    expect(armRouting(true, 1, false)).toEqual({ header: 'X-ModelRollout-Arm' });
    expect(armRouting(true, 50, false)).toEqual({ header: 'X-ModelRollout-Arm' });
    expect(armRouting(true, 0, false)).toBeUndefined();
    expect(armRouting(true, 51, false)).toBeUndefined();
    expect(armRouting(true, 20, true)).toBeUndefined();
    expect(armRouting(false, 20, false)).toBeUndefined();
  });
});

describe('gateWeight', () => {
  it('is the last step at or under 50 %', () => {
    expect(gateWeight([1, 5, 20, 50, 100])).toBe(50);
    expect(gateWeight([10, 40, 60, 100])).toBe(40);
    expect(gateWeight([60, 100])).toBeUndefined();
  });
});

describe('experimentVerdict', () => {
  it('rolls back on a Loss, naming the regressed guardrail or the goal', () => {
    const guardrail = experimentVerdict(status({ verdict: 'Loss', reason: 'guardrail error-rate regressed: effect 0.02' }), opts);
    expect(guardrail).toEqual({ result: 'fail', reason: 'experiment-error-rate', message: 'experiment: guardrail error-rate regressed: effect 0.02' });
    const goal = experimentVerdict(
      status({
        verdict: 'Loss',
        reason: 'completion 0.3 → 0.25: significantly worse',
        metrics: [{ name: 'completion', role: 'goal', control: 0.3, treatment: 0.25, effect: -0.05, cs: [-0.07, -0.03], p: 0.001 }],
      }),
      opts,
    );
    expect(goal).toMatchObject({ result: 'fail', reason: 'experiment-completion' });
  });

  it('pauses on Invalid (a sample-ratio mismatch), at any step', () => {
    expect(experimentVerdict(status({ verdict: 'Invalid', reason: 'sample-ratio mismatch' }), opts)).toMatchObject({ result: 'pause' });
  });

  it('has no say before the gate; at the gate holds until the decision rule is met, then pauses after maxDuration', () => {
    expect(experimentVerdict(status({ verdict: 'Inconclusive' }), opts)).toBeUndefined();
    expect(experimentVerdict(undefined, opts)).toBeUndefined();
    const gate = { ...opts, atGate: true, elapsedMs: 60_000 };
    expect(experimentVerdict(status({ verdict: 'Win' }), gate)).toBeUndefined();
    const held = experimentVerdict(status({ verdict: 'Inconclusive', reason: 'not yet decided', expectedTimeToDecision: '3m' }), gate);
    expect(held).toEqual({
      result: 'pending',
      message: 'experiment gate: waiting for Win (Inconclusive: not yet decided); expected time to a decision at this traffic: 3m',
    });
    // NonInferior is not enough when the spec asks for a win, and is enough when it asks for non-inferiority.
    expect(experimentVerdict(status({ verdict: 'NonInferior' }), gate)).toMatchObject({ result: 'pending' });
    expect(experimentVerdict(status({ verdict: 'NonInferior' }), { ...gate, decision: 'nonInferiority' })).toBeUndefined();
    expect(experimentVerdict(status({ verdict: 'Inconclusive' }), { ...gate, elapsedMs: 3_600_000 })).toMatchObject({
      result: 'pause',
      message: expect.stringMatching(/^experiment reached no Win in maxDuration \(60m\)/),
    });
    // A short maxDuration is said as it was written (rounded to minutes, 20 s read "0 min").
    expect(experimentVerdict(status({ verdict: 'Inconclusive' }), { ...gate, maxDurationMs: 20_000 })).toMatchObject({
      message: expect.stringMatching(/^experiment reached no Win in maxDuration \(20s\)/),
    });
  });
});

describe('withExperiment', () => {
  const pass: AnalysisVerdict = { result: 'pass' };
  const baking: AnalysisVerdict = { result: 'pending', message: 'baking' };
  const fail: AnalysisVerdict = { result: 'fail', reason: 'error-rate', message: 'x' };
  const pause: AnalysisVerdict = { result: 'pause', message: 'p' };
  const loss: AnalysisVerdict = { result: 'fail', reason: 'experiment-completion', message: 'l' };
  const hold: AnalysisVerdict = { result: 'pending', message: 'gate' };
  it.each([
    [pass, undefined, pass],
    [fail, loss, fail],
    [baking, loss, loss],
    [pause, loss, loss],
    [pass, pause, pause],
    [pause, hold, pause],
    [baking, hold, baking],
    [pass, hold, hold],
    [{ result: 'inconclusive', message: 'i' } as AnalysisVerdict, hold, { result: 'inconclusive', message: 'i' }],
  ] as [AnalysisVerdict, AnalysisVerdict | undefined, AnalysisVerdict][])('step %j with experiment %j → %j', (step, exp, want) => {
    expect(withExperiment(step, exp)).toEqual(want);
  });
});

describe('experimentProblems', () => {
  it('needs analysis, a header-matching router and a step at or under 50 %', () => {
    expect(experimentProblems({ trafficRouting: { gatewayAPI: {} } }, true, [1, 50, 100])).toEqual([]);
    expect(experimentProblems({ trafficRouting: { istio: {} } }, true, [1, 50, 100])).toEqual([]);
    const all = experimentProblems({ trafficRouting: { traefik: {} } }, false, [60, 100]);
    expect(all).toHaveLength(3);
    expect(all[0]).toMatch(/^spec\.experiment: needs spec\.analysis\.metrics/);
    expect(all[1]).toMatch(/^spec\.experiment: needs spec\.trafficRouting\.gatewayAPI or \.istio .*traefik cannot$/);
    expect(all[2]).toMatch(/^spec\.strategy\.steps: an experiment needs a step at or under 50 % \(have \[60, 100\]\)/);
  });
});
