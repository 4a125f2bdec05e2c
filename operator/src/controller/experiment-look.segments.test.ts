// A look of an experiment with segments (#16): every segment's units and segmented guardrails read with their own
// label matcher, a regression in one segment rolls back, and the coverage count in status.
import { describe, expect, it } from 'vitest';
import type { ExperimentStatus } from '../analysis/experiment-gate.js';
import type { StoredExperiment } from '../analysis/experiment-spec.js';
import type { Measurement } from '../analysis/types.js';
import type { MetricsProvider } from '../metric-providers/index.js';
import { lookInputFor, T0 } from './experiment-look.test-support.js';
import { lookExperiment, type LookInput } from './experiment-look.js';

type Arm = 'control' | 'treatment';
type Counts = Record<'started' | 'completed' | 'abandoned', number>;

/**
 * Counters per arm and tier, growing linearly with the minutes: `perMinute` per tier, with the given rates.
 * Answers a query for one tier (tier="…") or for the whole (tier=~".*": the tiers summed), as Prometheus would.
 */
class TieredViewers implements MetricsProvider {
  readonly queries: string[] = [];
  constructor(private readonly tiers: Record<string, Record<Arm, { perMinute: number; completion: number; abandon: number }>>) {}

  query(promql: string, time: Date): Promise<Measurement> {
    this.queries.push(promql);
    const arm = /arm="(treatment|control)"/.exec(promql)![1] as Arm;
    const tier = /tier="([^"]*)"/.exec(promql)?.[1];
    if (!tier && !promql.includes('tier=~".*"')) throw new Error(`no segment matcher in ${promql}`);
    const minutes = (time.getTime() - T0) / 60_000;
    const metric = (/viewer_(\w+)_total/.exec(promql)![1] ?? '') as keyof Counts | 'assigned';
    let value = 0;
    for (const [name, arms] of Object.entries(this.tiers)) {
      if (tier !== undefined && name !== tier) continue;
      const a = arms[arm];
      const started = Math.round(a.perMinute * minutes);
      value += metric === 'completed' ? Math.round(started * a.completion) : metric === 'abandoned' ? Math.round(started * a.abandon) : started;
    }
    return Promise.resolve({ kind: 'value', value });
  }
}

const q = (metric: string) => `sum(increase(viewer_${metric}_total{arm="{{arm}}", {{segment}}}[{{interval}}]))`;
const stored: StoredExperiment = {
  goal: { name: 'playback-completion', better: 'higher', mde: 0.05, proportion: { events: q('completed'), units: q('started') } },
  guardrails: [{ name: 'abandon', better: 'lower', tolerance: 0.01, proportion: { events: q('abandoned'), units: q('started') } }],
  segments: [{ label: 'tier', values: ['free', 'pro'] }],
  units: q('assigned'),
  coverage: { minUnits: 100, aboveWeight: 10 },
  minDuration: '5m',
};

const input = (provider: MetricsProvider, previous: ExperimentStatus | undefined, minute: number): LookInput =>
  lookInputFor(stored, provider, previous, minute, { routeWeight: 10 });

async function run(provider: MetricsProvider, minutes: number): Promise<ExperimentStatus[]> {
  const looks: ExperimentStatus[] = [];
  let exp: ExperimentStatus | undefined;
  for (let m = 1; m <= minutes; m++) looks.push((exp = await lookExperiment(input(provider, exp, m))));
  return looks;
}

const same = { perMinute: 60, completion: 0.3, abandon: 0.1 };

describe('lookExperiment with segments', () => {
  it('reads each segment with its own matcher and the whole with one every series passes, and counts coverage', async () => {
    const viewers = new TieredViewers({
      free: { control: same, treatment: same },
      pro: { control: { ...same, perMinute: 15 }, treatment: { ...same, perMinute: 15 } },
    });
    const looks = await run(viewers, 10);
    expect(viewers.queries).toContain('sum(increase(viewer_assigned_total{arm="treatment", tier="pro"}[60s]))');
    expect(viewers.queries).toContain('sum(increase(viewer_abandoned_total{arm="control", tier="free"}[120s]))');
    expect(viewers.queries).toContain('sum(increase(viewer_started_total{arm="control", tier=~".*"}[60s]))');
    // Coverage: pro reaches 100 units per arm at minute 7 (15 a minute); free at minute 2.
    const coverage = looks.map((l) => l.coverage?.met);
    expect(coverage.indexOf(true) + 1).toBe(7);
    expect(looks[0]!.coverage).toEqual({
      minUnits: 100,
      aboveWeight: 10,
      met: false,
      missing: ['tier=free: control 60, treatment 60', 'tier=pro: control 15, treatment 15'],
    });
    const last = looks[looks.length - 1]!;
    expect(last.segments!.map((s) => [s.segment, s.units])).toEqual([
      ['tier=free', { control: 600, treatment: 600 }],
      ['tier=pro', { control: 150, treatment: 150 }],
    ]);
    expect(last.segments![1]!.metrics[0]).toMatchObject({ name: 'abandon', control: 0.1, treatment: 0.1 });
    expect(last.verdict).toBe('Inconclusive');
    // Each segment's running sequence is in the state a restarted operator resumes from.
    expect(Object.keys(last.state!.metrics).sort()).toEqual(['abandon', 'abandon@tier=free', 'abandon@tier=pro', 'playback-completion']);
  });

  it('calls a Loss naming the segment when the treatment regresses in one tier only, however the whole looks', async () => {
    const viewers = new TieredViewers({
      free: { control: { ...same, perMinute: 600 }, treatment: { ...same, perMinute: 600, abandon: 0.08 } },
      pro: { control: { ...same, perMinute: 60 }, treatment: { ...same, perMinute: 60, abandon: 0.3 } },
    });
    const looks = await run(viewers, 10);
    const loss = looks.find((l) => l.verdict === 'Loss');
    expect(loss?.reason).toMatch(/^guardrail abandon regressed in segment tier=pro/);
    // The whole experiment's abandon rate is within tolerance (0.1 → ~0.1): only the segment shows it.
    const whole = loss!.metrics!.find((m) => m.name === 'abandon')!;
    expect(Math.abs(whole.effect)).toBeLessThan(0.02);
  });
});
