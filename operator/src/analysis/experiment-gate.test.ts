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
      mode: 'userKey',
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
  const userKey = { assignment: 'userKey' as const, salt: '0123456789abcdef', maxDurationMs: 86_400_000 };
  it('asks for the arm rules only while an experiment runs with the candidate at 1–50 %', () => {
    expect(armRouting(userKey, 1, false)).toEqual({ header: 'X-ModelRollout-Arm' });
    expect(armRouting(userKey, 50, false)).toEqual({ header: 'X-ModelRollout-Arm' });
    expect(armRouting(userKey, 0, false)).toBeUndefined();
    expect(armRouting(userKey, 51, false)).toBeUndefined();
    expect(armRouting(userKey, 20, true)).toBeUndefined();
    expect(armRouting(undefined, 20, false)).toBeUndefined();
  });

  it('in cookie mode names the cookie after the experiment’s salt and keeps it for maxDuration', () => {
    expect(armRouting({ ...userKey, assignment: 'cookie' }, 20, false)).toEqual({
      mode: 'cookie',
      header: 'X-ModelRollout-Arm',
      cookie: 'modelrollout-arm-01234567',
      maxAgeSeconds: 86_400,
    });
    expect(publishedAssignment('0123456789abcdef', 20, 'cookie')).toMatchObject({ mode: 'cookie', cookie: 'modelrollout-arm-01234567' });
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

  it('pauses at the gate once the final group-sequential look gave no decision', () => {
    const final = status({
      verdict: 'Inconclusive',
      reason: 'look 3: not yet decided at the final look',
      state: { startedAt: '2026-12-01T10:00:00Z', looks: 3, metrics: {}, groupSequential: { fractions: [0.3, 0.6, 1], bounds: [3.9, 2.7, 2.0] } },
    });
    expect(experimentVerdict(final, { ...opts, atGate: true, elapsedMs: 60_000 })).toEqual({
      result: 'pause',
      message: "experiment's final group-sequential look gave no Win: look 3: not yet decided at the final look; a person decides (promote or abort)",
    });
    // Before the final look the gate waits.
    const early = status({ ...final, state: { ...final.state!, groupSequential: { fractions: [0.3], bounds: [3.9] } } });
    expect(experimentVerdict(early, { ...opts, atGate: true, elapsedMs: 60_000 })).toMatchObject({ result: 'pending' });
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
    expect(experimentProblems({ trafficRouting: { istio: {} } }, true, [1, 50, 100], 'cookie')).toEqual([]);
    expect(experimentProblems({ trafficRouting: { gatewayAPI: {} } }, true, [1, 50, 100], 'cookie')).toEqual([]);
    expect(experimentProblems({ trafficRouting: { traefik: {} } }, true, [1, 50, 100], 'cookie')).toEqual([
      'spec.experiment.assignment: cookie needs spec.trafficRouting.gatewayAPI or .istio (the route sets and matches the cookie); traefik cannot',
    ]);
  });
});
