// attack-14: spec parsing of analysis rules.
import { describe, expect, it } from 'vitest';
import { checkBreaker } from './evaluate.js';
import { parseAnalysis } from './spec.js';

describe('attack-14: analysis spec', () => {
  it("error-rate with max 0.2: the default severe breaker (0.1) is not below the rule's own bound", () => {
    const errors: string[] = [];
    const config = parseAnalysis({ prometheus: { address: 'http://127.0.0.1:9' }, metrics: [{ template: 'error-rate', max: 0.2 }] }, errors)!;
    expect(errors).toEqual([]);
    const rule = config.metrics.find((m) => m.name === 'error-rate')!;
    // A candidate at 15 % errors (within its 20 % bound): 30 of 200 in the breaker window.
    const o = checkBreaker(
      rule.name,
      rule.breaker!,
      { kind: 'counts', events: 30, trials: 200 },
      undefined,
      new Date('2026-01-01T00:01:00Z'),
      config.confidence,
    );
    expect(o.tripped, o.tripped ? o.message : '').toBe(false);
  });

  it('a query with an unknown {{variable}} (a typo) is refused when the spec is parsed', () => {
    const errors: string[] = [];
    parseAnalysis({ prometheus: { address: 'http://127.0.0.1:9' }, metrics: [{ name: 'q', query: 'sum(x{rev="{{revison}}"})', max: 1 }] }, errors);
    expect(errors.join('; ')).toMatch(/revison/);
  });
  it('the overload guardrail comes with error-rate also when the error-rate rule is given its own name', () => {
    const errors: string[] = [];
    const config = parseAnalysis({ prometheus: { address: 'http://127.0.0.1:9' }, metrics: [{ name: 'errors', template: 'error-rate' }] }, errors)!;
    expect(errors).toEqual([]);
    // A candidate that sheds its load with 429s has no judged failures: without overload-rate it reads healthy.
    expect(config.metrics.map((m) => m.name)).toContain('overload-rate');
  });
});
