// attack-14: increase() reads a counter series that first appears at 1 as no increase (Prometheus has no
// earlier sample to subtract from), so every series the judged outcomes can be written on must exist at 0
// before the first request. The zero samples are written with one "typical" status per outcome, but the
// status label is also set from the error's own httpStatus.
import { describe, expect, it } from 'vitest';
import { NotReadyError, QueueFullError, TimeoutError } from '../errors.js';
import { createMetrics, outcomeOf } from './metrics.js';

function series(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^t2v_requests_total\{(.*)\} \S+$/.exec(line);
    if (!m) continue;
    const have = Object.fromEntries([...(m[1] as string).matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    out.add(`${have.route}/${have.outcome}/${have.status}`);
  }
  return out;
}

describe('attack-14: every judged outcome series exists at 0 before its first request', () => {
  it('a NotReady refusal (outcome overloaded, HTTP 503) increments a series that already existed at 0', async () => {
    const m = createMetrics({ name: 'n', version: 'v' }, { queueDepth: () => 0, inflight: () => 0, gpuMemory: async () => undefined });
    const before = series(await m.registry.metrics());
    for (const err of [new NotReadyError('model is loading; retry shortly'), new QueueFullError(5, 4), new TimeoutError(1000)]) {
      const e = err as { code: string; httpStatus: number };
      const key = `generate/${outcomeOf(e)}/${e.httpStatus}`;
      // overloaded/503 is written with status="503", but its zero sample was status="429": a new series that
      // starts at 1, which increase(t2v_requests_total{outcome="overloaded"}[..]) does not see.
      expect(before.has(key), `${e.code}: ${key} has no zero sample (zero samples: ${[...before].filter((k) => k.startsWith('generate/')).join(', ')})`).toBe(
        true,
      );
    }
  });
});
