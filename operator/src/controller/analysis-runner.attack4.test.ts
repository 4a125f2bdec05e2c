// attack-14d: the analysis runner against a scripted Prometheus (shared test-support harness).
import { describe, expect, it } from 'vitest';
import { drive, isCandidate, isEvents, last, progressingRollout, scriptedRunner, show, T0 } from './analysis-runner.test-support.js';

describe('attack-14d: analysis runner', () => {
  it('a NaN candidate request count is an error that counts toward onMetricsError, also when every metric is a count rule', async () => {
    // Round 3: "a non-finite request count is an error" (it "cannot show minRequests"). The runner turns it into
    // {kind: 'error'} but then lets "the metric queries report the error" — and with only count rules (the
    // default error-rate) those queries succeed, so no result is an error, judgeStep resets consecutiveErrors to
    // 0 and the step passes on a request count that reads NaN. onMetricsError {consecutiveErrors: 1, action:
    // Rollback} never sees it.
    const r = scriptedRunner((q) => {
      if (isEvents(q)) return { kind: 'value', value: 0 };
      // error-rate's trials (its own query) read fine; the spec's request count (requestQuery) reads NaN.
      if (q.includes('outcome')) return { kind: 'value', value: 1000 };
      return isCandidate(q) ? { kind: 'value', value: NaN } : { kind: 'value', value: 1000 };
    });
    const ro = progressingRollout({ metrics: [{ template: 'error-rate' }], onMetricsError: { consecutiveErrors: 1, action: 'Rollback' } });
    const out = await drive(r, ro, 5, 60_000);
    expect(last(out).analysis.result, show(last(out))).not.toBe('pass');
  });

  it('at the 100 % step of a low-traffic service whose previous step outlasted stepDuration, a healthy candidate is judged, not held as NoData until onNoData rolls it back', async () => {
    // Round 3: "stable's baseline is the step before the shift (a step's duration, never less than an interval)".
    // But a step lasts stepDuration only when it passes at its first judgement; at low traffic the step judgement
    // waits for minRequests candidate requests (README: a trickle "keeps gathering"). A 6 req/min service, steps
    // [..., 50, 100], stepDuration 2 m: the 50 % step needs 20 candidate requests at 3 a minute, so it lasts 10 m,
    // and stable served 30 requests in it. The baseline window is 2 m: 6 stable requests, under
    // minStableRequests (20), a fixed window in the past that never grows. latency-p99 relative is NoData at every
    // judgement and onNoData (Rollback here, Pause by default) ends a candidate exactly as fast and error-free as
    // stable. The previous step's real length (its trafficShiftedAt) or a window holding minStableRequests was needed.
    const shift = T0;
    const stepBefore = T0 - 10 * 60_000;
    const r = scriptedRunner((q, at) => {
      const t = at.getTime();
      const w = Number(/\[(\d+)s\]/.exec(q)?.[1] ?? '60') * 1000;
      const overlap = (a: number, b: number) => Math.max(0, Math.min(t, b) - Math.max(t - w, a)) / 60_000;
      // per minute: stable 6 before the 50 % step, 3 during it, 0 after the shift; candidate 3 during it, 6 after.
      const n = isCandidate(q)
        ? 3 * overlap(stepBefore, shift) + 6 * overlap(shift, Infinity)
        : 6 * overlap(-Infinity, stepBefore) + 3 * overlap(stepBefore, shift);
      if (q.includes('histogram_quantile')) return n > 0 ? { kind: 'value', value: 30 } : { kind: 'noData', message: 'NaN', raw: 'NaN' };
      if (isEvents(q)) return { kind: 'value', value: 0 };
      return { kind: 'value', value: n };
    });
    const ro = progressingRollout({ metrics: [{ template: 'latency-p99', relative: { max: 1.5 } }], onNoData: 'Rollback' }, 0, 4, shift);
    const out = await drive(r, ro, 30, 2 * 60_000, { everyS: 30 });
    expect(last(out).analysis.result, show(last(out))).toBe('pass');
  });
});
