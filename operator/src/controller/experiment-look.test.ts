import { describe, expect, it } from 'vitest';
import { seededRandom } from '../analysis/breaker-simulation.test-support.js';
import type { ExperimentStatus } from '../analysis/experiment-gate.js';
import { parseExperiment, type StoredExperiment } from '../analysis/experiment-spec.js';
import type { Measurement } from '../analysis/types.js';
import type { MetricsProvider } from '../metric-providers/index.js';
import { lookInputFor, T0 } from './experiment-look.test-support.js';
import { lookExperiment, MIN_UNITS, type LookInput } from './experiment-look.js';

/**
 * Viewers of each arm, minute by minute: `perMinute` start a video, each completes it with the arm's rate. The
 * provider answers the experiment's PromQL with the cumulative counts at the query time, as Prometheus would.
 */
class SimulatedViewers implements MetricsProvider {
  readonly queries: string[] = [];
  failWith: string | undefined;
  private readonly counts: Record<'treatment' | 'control', { started: number[]; completed: number[]; requests: number[] }>;

  constructor(rates: { control: number; treatment: number }, perMinute: { control: number; treatment: number }, seed = 1) {
    const rnd = seededRandom(seed);
    const arm = (rate: number, n: number) => {
      const started = [0];
      const completed = [0];
      const requests = [0];
      for (let m = 1; m <= 240; m++) {
        let done = 0;
        for (let i = 0; i < n; i++) if (rnd() < rate) done++;
        started.push(started[m - 1]! + n);
        completed.push(completed[m - 1]! + done);
        requests.push(requests[m - 1]! + n);
      }
      return { started, completed, requests };
    };
    this.counts = { control: arm(rates.control, perMinute.control), treatment: arm(rates.treatment, perMinute.treatment) };
  }

  query(promql: string, time: Date): Promise<Measurement> {
    this.queries.push(promql);
    if (this.failWith) return Promise.resolve({ kind: 'error', message: this.failWith });
    const arm = /arm="(treatment|control)"/.exec(promql)?.[1] as 'treatment' | 'control';
    const minute = Math.floor((time.getTime() - T0) / 60_000);
    const c = this.counts[arm];
    const series = promql.includes('viewer_completed_total') ? c.completed : promql.includes('viewer_started_total') ? c.started : c.requests;
    if (series[minute] === 0) return Promise.resolve({ kind: 'noData', message: 'no series' });
    return Promise.resolve({ kind: 'value', value: series[minute]! });
  }
}

const stored: StoredExperiment = {
  goal: {
    name: 'playback-completion',
    better: 'higher',
    mde: 0.05,
    proportion: {
      events: 'sum(increase(viewer_completed_total{arm="{{arm}}",revision="{{revision}}"}[{{interval}}]))',
      units: 'sum(increase(viewer_started_total{arm="{{arm}}",revision="{{revision}}"}[{{interval}}]))',
    },
  },
  minDuration: '10m',
  maxDuration: '2h',
};

const input = (provider: MetricsProvider, previous: ExperimentStatus | undefined, minute: number, over: Partial<LookInput> = {}): LookInput =>
  lookInputFor(stored, provider, previous, minute, over);

/** Looks once a minute from minute 1 to `minutes`; the status after each look. */
async function run(provider: MetricsProvider, minutes: number): Promise<ExperimentStatus[]> {
  const looks: ExperimentStatus[] = [];
  let exp: ExperimentStatus | undefined;
  for (let m = 1; m <= minutes; m++) {
    exp = await lookExperiment(input(provider, exp, m));
    looks.push(exp);
  }
  return looks;
}

describe('lookExperiment', () => {
  it('reaches Win only after the minimum duration when the treatment completes more videos, each arm read on its own revision', async () => {
    const viewers = new SimulatedViewers({ control: 0.3, treatment: 0.4 }, { control: 60, treatment: 60 });
    const looks = await run(viewers, 30);
    const firstWin = looks.findIndex((l) => l.verdict === 'Win');
    expect(firstWin + 1).toBeGreaterThanOrEqual(10);
    expect(looks.slice(0, 9).every((l) => l.verdict === 'Inconclusive')).toBe(true);
    const last = looks[looks.length - 1]!;
    expect(last.verdict, last.reason).toBe('Win');
    expect(last.units).toEqual({ control: 1800, treatment: 1800 });
    expect(last.state?.looks).toBe(30);
    expect(last.metrics![0]).toMatchObject({ name: 'playback-completion', role: 'goal' });
    expect(last.metrics![0]!.effect).toBeGreaterThan(0.05);
    expect(last.assignment).toMatchObject({ weight: 20, treatment: { from: 0, to: 2000 }, control: { from: 5000, to: 7000 } });
    // Each arm's counters come from its own revision's series, over the time since the experiment started.
    expect(viewers.queries).toContain('sum(increase(viewer_completed_total{arm="treatment",revision="rev-c"}[1800s]))');
    expect(viewers.queries).toContain('sum(increase(viewer_completed_total{arm="control",revision="rev-s"}[1800s]))');
  });

  it('finds no winner in an A/A experiment and passes the sample-ratio check', async () => {
    for (const seed of [1, 2, 3]) {
      const looks = await run(new SimulatedViewers({ control: 0.3, treatment: 0.3 }, { control: 60, treatment: 60 }, seed), 60);
      expect(looks.some((l) => l.verdict === 'Win' || l.verdict === 'Loss' || l.verdict === 'Invalid')).toBe(false);
      expect(looks[looks.length - 1]!.srmP).toBeGreaterThan(0.001);
    }
  });

  it('calls a Loss when the treatment completes fewer videos', async () => {
    const looks = await run(new SimulatedViewers({ control: 0.4, treatment: 0.3 }, { control: 60, treatment: 60 }), 30);
    expect(looks[looks.length - 1]!.verdict).toBe('Loss');
  });

  it('marks a broken assignment Invalid (sample-ratio mismatch) whatever the goal says', async () => {
    const looks = await run(new SimulatedViewers({ control: 0.3, treatment: 0.4 }, { control: 60, treatment: 40 }), 5);
    expect(looks[looks.length - 1]!.verdict).toBe('Invalid');
    expect(looks[looks.length - 1]!.reason).toMatch(/^sample-ratio mismatch: control 300 vs treatment 200 units/);
  });

  it('says Inconclusive, asking whether the app sends the header, while the arms have too few units', async () => {
    const viewers = new SimulatedViewers({ control: 0.3, treatment: 0.3 }, { control: 5, treatment: 5 });
    const exp = await lookExperiment(input(viewers, undefined, 1));
    expect(exp.verdict).toBe('Inconclusive');
    expect(exp.reason).toBe(`10 units in both arms so far (a verdict needs ${MIN_UNITS}): do the app's requests carry X-ModelRollout-Arm?`);
  });

  it('looks once per interval; between looks the status stays as it was', async () => {
    const viewers = new SimulatedViewers({ control: 0.3, treatment: 0.3 }, { control: 60, treatment: 60 });
    const first = await lookExperiment(input(viewers, undefined, 1));
    const queries = viewers.queries.length;
    const again = await lookExperiment(input(viewers, first, 1.5));
    expect(viewers.queries.length).toBe(queries);
    expect(again).toEqual(first);
  });

  it('keeps the last verdict and says why when a query fails', async () => {
    const viewers = new SimulatedViewers({ control: 0.3, treatment: 0.3 }, { control: 60, treatment: 60 });
    const first = await lookExperiment(input(viewers, undefined, 1));
    viewers.failWith = 'connection refused';
    const failed = await lookExperiment(input(viewers, first, 2));
    expect(failed.verdict).toBe(first.verdict);
    expect(failed.error).toMatch(/^(control|treatment) units: connection refused \(query: sum\(increase\(t2v_requests_total/);
    viewers.failWith = undefined;
    expect((await lookExperiment(input(viewers, failed, 3))).error).toBeUndefined();
  });

  it('publishes ranges that only grow, and stops looking past 50 %', async () => {
    const viewers = new SimulatedViewers({ control: 0.3, treatment: 0.3 }, { control: 60, treatment: 60 });
    const at20 = await lookExperiment(input(viewers, undefined, 1));
    const behind = await lookExperiment(input(viewers, at20, 3, { routeWeight: 5 }));
    expect(behind.assignment.weight).toBe(20);
    const queries = viewers.queries.length;
    const past = await lookExperiment(input(viewers, behind, 5, { routeWeight: 100 }));
    expect(viewers.queries.length).toBe(queries);
    expect(past.assignment.ended).toBe(true);
    expect(past.verdict).toBe(behind.verdict);
    // Once ended it stays ended, even if the route goes back under 50 %.
    expect((await lookExperiment(input(viewers, past, 6, { routeWeight: 20 }))).assignment.ended).toBe(true);
  });

  it('does not look before the first step shifted traffic', async () => {
    const viewers = new SimulatedViewers({ control: 0.3, treatment: 0.3 }, { control: 60, treatment: 60 });
    const exp = await lookExperiment(input(viewers, undefined, 1, { armsSince: undefined }));
    expect(viewers.queries).toEqual([]);
    expect(exp.verdict).toBeUndefined();
    expect(exp.assignment.salt).toMatch(/^[0-9a-f]{16}$/);
  });

  /** Looks once a minute for 20 minutes through steps of 4 minutes (step 3, at 50 %, is the gate); the minutes a group-sequential look happened. */
  async function stepped(viewers: SimulatedViewers, minDuration: string): Promise<{ exp: ExperimentStatus; looksAt: number[] }> {
    const config = parseExperiment({ ...stored, test: 'groupSequential', minDuration }, [])!;
    let exp: ExperimentStatus | undefined;
    const looksAt: number[] = [];
    for (let m = 1; m <= 26; m++) {
      const index = Math.min(3, Math.floor((m - 1) / 4));
      const before = exp?.state?.groupSequential?.fractions.length ?? 0;
      exp = await lookExperiment(input(viewers, exp, m, { config, step: { index, atGate: index === 3 } }));
      if ((exp.state?.groupSequential?.fractions.length ?? 0) > before) looksAt.push(m);
    }
    return { exp: exp!, looksAt };
  }

  it('group-sequential: looks at the end of each step and once at the gate when the planned information is reached, nowhere else', async () => {
    const { exp, looksAt } = await stepped(new SimulatedViewers({ control: 0.3, treatment: 0.31 }, { control: 60, treatment: 60 }), '3m');
    // Steps 0, 1 and 2 end at minutes 5, 9 and 13; the planned sample (≈ 1 300 per arm for 80 % power at the MDE
    // 0.05 from 0.3) comes at 60 a minute at minute 22: the final look (not at minDuration, and not before maxDuration
    // on too little information).
    expect(looksAt).toEqual([5, 9, 13, 22]);
    const fractions = exp.state!.groupSequential!.fractions;
    expect(fractions[3]).toBe(1);
    expect(fractions[0]).toBeLessThan(fractions[1]!);
    expect(fractions[2]).toBeLessThan(1);
    expect(exp.verdict).toBe('Inconclusive');
    expect(exp.reason).toMatch(/group-sequential look 4 at information 100 %: .*not yet decided at the final look$/);
  });

  it('group-sequential: no look spends α before minDuration; a clear effect wins at the first look after it', async () => {
    const { exp, looksAt } = await stepped(new SimulatedViewers({ control: 0.3, treatment: 0.4 }, { control: 60, treatment: 60 }), '10m');
    expect(looksAt).toEqual([13]);
    expect(exp.verdict, exp.reason).toBe('Win');
  });
});
