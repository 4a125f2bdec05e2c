import { describe, expect, it } from 'vitest';
import { measurementOf } from './prometheus.js';

describe('Prometheus results', () => {
  it('turns query results into measurements', () => {
    expect(measurementOf({ resultType: 'vector', result: [{ metric: {}, value: [1, '0.25'] }] })).toEqual({ kind: 'value', value: 0.25 });
    expect(measurementOf({ resultType: 'vector', result: [] }).kind).toBe('noData');
    expect(measurementOf({ resultType: 'vector', result: [{ metric: {}, value: [1, 'NaN'] }] })).toMatchObject({ kind: 'noData', raw: 'NaN' });
    expect(measurementOf({ resultType: 'scalar', result: [1, '+Inf'] })).toEqual({ kind: 'value', value: Infinity });
    expect(
      measurementOf({
        resultType: 'vector',
        result: [
          { metric: { a: '1' }, value: [1, '1'] },
          { metric: { a: '2' }, value: [1, '2'] },
        ],
      }).kind,
    ).toBe('error');
    expect(measurementOf({ resultType: 'matrix', result: [] }).kind).toBe('error');
  });
});
