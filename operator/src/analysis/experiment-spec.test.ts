import { describe, expect, it } from 'vitest';
import { ARM_HEADER as RUNTIME_ARM_HEADER, ARMS as RUNTIME_ARMS } from '../../../inference-image/src/experiment-arm.js';
import { ARM_HEADER, ARMS } from '../api/index.js';
import { DEFAULT_UNITS_QUERY, parseExperiment, parseLongDuration, type StoredExperiment } from './experiment-spec.js';

const completion = {
  name: 'playback-completion',
  better: 'higher',
  mde: 0.03,
  proportion: {
    events: 'sum(increase(viewer_completed_total{arm="{{arm}}"}[{{interval}}]))',
    units: 'sum(increase(viewer_started_total{arm="{{arm}}"}[{{interval}}]))',
  },
};

function parse(stored: StoredExperiment | undefined) {
  const errors: string[] = [];
  const config = parseExperiment(stored, errors);
  return { config, errors };
}

describe('parseExperiment', () => {
  it('is undefined without spec.experiment', () => {
    expect(parse(undefined)).toEqual({ config: undefined, errors: [] });
  });

  it('applies the documented defaults: win at α 0.05, 7 days minimum, 28 days maximum, SRM at p 0.001, runtime requests as units', () => {
    const { config, errors } = parse({ goal: completion });
    expect(errors).toEqual([]);
    expect(config!.plan).toMatchObject({ alpha: 0.05, decision: { rule: 'win' }, minDurationMs: 7 * 86_400_000, srmPValue: 0.001 });
    expect(config!.maxDurationMs).toBe(28 * 86_400_000);
    expect(config!.unitsQuery).toBe(DEFAULT_UNITS_QUERY);
    expect(config!.goal).toMatchObject({ name: 'playback-completion', better: 'higher', effect: 0.03, queries: { kind: 'proportion' } });
    expect(config!.plan.test).toEqual({ kind: 'alwaysValid' });
    expect(config!.assignment).toBe('userKey');
    expect(parse({ goal: completion, assignment: 'cookie' }).config!.assignment).toBe('cookie');
    expect(parse({ goal: completion, test: 'groupSequential' }).config!.plan.test).toEqual({ kind: 'groupSequential', spending: 'obrienFleming' });
    expect(parse({ goal: completion, test: 'groupSequential', spending: 'pocock' }).config!.plan.test).toEqual({ kind: 'groupSequential', spending: 'pocock' });
  });

  it('takes the built-in error-rate guardrail over the runtime series of each arm', () => {
    const { config, errors } = parse({ goal: completion, guardrails: [{ template: 'error-rate', tolerance: 0.005 }], minDuration: '10m' });
    expect(errors).toEqual([]);
    const g = config!.guardrails[0]!;
    expect(g).toMatchObject({ name: 'error-rate', better: 'lower', effect: 0.005 });
    expect(g.queries.kind).toBe('proportion');
    if (g.queries.kind === 'proportion') expect(g.queries.events).toContain('arm="{{arm}}"');
    expect(config!.plan.minDurationMs).toBe(600_000);
  });

  it('parses non-inferiority with its margin, and mean and ratio metrics', () => {
    const { config, errors } = parse({
      goal: { name: 'watch-seconds', better: 'higher', mde: 0.5, mean: { count: 'a{{arm}}', sum: 'b{{arm}}', sumSquares: 'c{{arm}}' } },
      guardrails: [
        {
          name: 'gpu-per-video-second',
          better: 'lower',
          ratio: { units: 'u{{arm}}', sumX: 'x{{arm}}', sumY: 'y{{arm}}', sumXX: 'xx{{arm}}', sumYY: 'yy{{arm}}', sumXY: 'xy{{arm}}' },
        },
      ],
      decision: 'nonInferiority',
      margin: 0.2,
    });
    expect(errors).toEqual([]);
    expect(config!.plan.decision).toEqual({ rule: 'nonInferiority', margin: 0.2 });
    expect(config!.goal.queries.kind).toBe('mean');
    expect(config!.guardrails[0]!.queries.kind).toBe('ratio');
    expect(config!.guardrails[0]!.effect).toBe(0);
  });

  it.each([
    [{ goal: undefined }, 'spec.experiment.goal: required'],
    [{ goal: { ...completion, mde: undefined } }, 'spec.experiment.goal.mde: required'],
    [{ goal: { ...completion, mde: -1 } }, 'spec.experiment.goal.mde: -1 must be > 0'],
    [{ goal: { ...completion, mde: 0 } }, 'spec.experiment.goal.mde: 0 must be > 0'],
    [{ goal: { ...completion, tolerance: 0.1 } }, 'spec.experiment.goal.tolerance: only guardrails have one'],
    [{ goal: { ...completion, better: 'up' } }, 'spec.experiment.goal.better: "up" must be higher or lower'],
    [{ goal: { ...completion, better: undefined } }, 'spec.experiment.goal.better: required higher or lower'],
    [{ goal: { ...completion, name: 'Playback' } }, 'spec.experiment.goal.name: "Playback" must be a DNS label'],
    [{ goal: { ...completion, name: undefined } }, 'spec.experiment.goal.name: required'],
    [{ goal: { ...completion, proportion: { events: 'x{{arm}}' } } }, 'spec.experiment.goal.proportion.units: required'],
    [
      { goal: { ...completion, proportion: { events: 'x{{arm}}', units: 'y', extra: 'z' } } },
      'spec.experiment.goal.proportion.units: must select the arm with {{arm}}',
    ],
    [{ goal: { ...completion, proportion: { events: 'x{{arm}}', units: 'y{{arm}}', extra: 'z' } } }, 'spec.experiment.goal.proportion: unknown field extra'],
    [
      { goal: { ...completion, proportion: { events: 'x{{arm}}{{armm}}', units: 'y{{arm}}' } } },
      'spec.experiment.goal.proportion.events: unknown variable {{armm}}',
    ],
    [
      { goal: { ...completion, mean: { count: 'a', sum: 'b', sumSquares: 'c' } } },
      'spec.experiment.goal: set exactly one of template, proportion, mean, ratio (have proportion, mean)',
    ],
    [{ goal: { name: 'x', better: 'higher', mde: 1 } }, 'spec.experiment.goal: set exactly one of template, proportion, mean, ratio'],
    [{ goal: { template: 'p99', mde: 1 } }, 'spec.experiment.goal.template: "p99" is not a built-in experiment metric (have: error-rate)'],
    [{ goal: completion, guardrails: [{ template: 'error-rate', mde: 0.1 }] }, 'spec.experiment.guardrails[0].mde: only the goal has one'],
    [{ goal: completion, guardrails: [{ template: 'error-rate', tolerance: -0.1 }] }, 'spec.experiment.guardrails[0].tolerance: -0.1 must be ≥ 0'],
    [{ goal: completion, guardrails: [{ ...completion, mde: undefined }] }, 'spec.experiment.guardrails: metric name "playback-completion" is used twice'],
    [{ goal: completion, alpha: 0.5 }, 'spec.experiment.alpha: 0.5 must be in (0, 0.5)'],
    [{ goal: completion, alpha: '0.05' as unknown as number }, 'spec.experiment.alpha: "0.05" must be in (0, 0.5)'],
    [{ goal: completion, srmPValue: 0 }, 'spec.experiment.srmPValue: 0 must be in (0, 0.5)'],
    [{ goal: completion, decision: 'loss' }, 'spec.experiment.decision: "loss" must be win or nonInferiority'],
    [{ goal: completion, decision: 'nonInferiority' }, 'spec.experiment.margin: required with decision nonInferiority'],
    [{ goal: completion, margin: 0.1 }, 'spec.experiment.margin: only with decision nonInferiority'],
    [{ goal: completion, minDuration: '7 days' }, 'spec.experiment.minDuration: "7 days" is not a positive duration'],
    [{ goal: completion, minDuration: '2d', maxDuration: '1d' }, 'spec.experiment.maxDuration: 1d is shorter than minDuration 2d'],
    [{ goal: completion, units: 'sum(x)' }, 'spec.experiment.units: must select the arm with {{arm}}'],
    [{ goal: completion, assignment: 'random' }, 'spec.experiment.assignment: "random" must be userKey or cookie'],
    [{ goal: completion, test: 'bayesian' }, 'spec.experiment.test: "bayesian" must be alwaysValid or groupSequential'],
    [{ goal: completion, test: 'groupSequential', spending: 'linear' }, 'spec.experiment.spending: "linear" must be obrienFleming or pocock'],
    [{ goal: completion, spending: 'pocock' }, 'spec.experiment.spending: only with test groupSequential'],
  ] as [StoredExperiment, string][])('refuses %j naming the field', (stored, message) => {
    const { config, errors } = parse(stored);
    expect(
      errors.some((e) => e.startsWith(message)),
      errors.join('\n'),
    ).toBe(true);
    expect(config).toBeUndefined();
  });
});

describe('the arm header', () => {
  it('is the one the runtime reads and labels its series by, with the same values', () => {
    expect(ARM_HEADER).toBe(RUNTIME_ARM_HEADER);
    expect([...ARMS].sort()).toEqual([...RUNTIME_ARMS].sort());
  });
});

describe('parseLongDuration', () => {
  it.each([
    ['7d', 7 * 86_400_000],
    ['1d12h', 36 * 3_600_000],
    ['0.5d', 43_200_000],
    ['30m', 1_800_000],
    ['1h30m', 5_400_000],
  ])('%s is %d ms', (text, ms) => expect(parseLongDuration(text)).toBe(ms));

  it.each(['', 'd', '7', '0d', '1d-2h', '1w', '1dd'])('%j is not a duration', (text) => expect(parseLongDuration(text)).toBeUndefined());
});
