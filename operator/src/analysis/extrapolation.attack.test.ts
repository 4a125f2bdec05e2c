// attack-14: counts come from increase(), which Prometheus extrapolates to the window's edges. When the window
// is a small multiple of the scrape interval (breakerWindow 1m with a 30 s scrape), one request reads as up to
// ~2. Observed on a real Prometheus 2.42 (scrape 1s, window [2s], the same 2:1 ratio; script in the report):
// after ONE failed request and nothing else, increase(...[2s]) read events 1.094, 1.357, 1.616, 1.879 and
// trials 1.098, 1.36, 1.619, 1.884 on successive queries. proportionBounds rounds these to 2 of 2.
import { describe, expect, it } from 'vitest';
import { checkBreaker } from './evaluate.js';
import { proportionBounds } from './binomial.js';
import { parseAnalysis } from './spec.js';

describe('attack-14: extrapolated increase() counts', () => {
  const config = parseAnalysis({ prometheus: { address: 'http://127.0.0.1:9' }, metrics: [{ template: 'error-rate' }] }, [])!;
  const rule = config.metrics.find((m) => m.name === 'error-rate')!;

  it('one failed request out of one (as Prometheus reads it over a 2-scrape window) does not trip the severe breaker', () => {
    // README: "a candidate failing its first 2 or 3 requests of 2 or 3 trips the breaker"; 1 of 1 (lower 0.05) must not.
    expect(proportionBounds(1, 1, 0.95).lower).toBeLessThan(0.1);
    const o = checkBreaker(
      rule.name,
      rule.breaker!,
      { kind: 'counts', events: 1.616, trials: 1.619 },
      undefined,
      new Date('2026-01-01T00:00:30Z'),
      config.confidence,
    );
    expect(o.tripped, o.tripped ? o.message : '').toBe(false);
  });
});
