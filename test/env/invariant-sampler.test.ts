import { describe, expect, it } from 'vitest';
import type { ClusterEvent, KubeObject, WatchedKind } from './invariant.js';
import { replayInOrder } from './invariant-sampler.js';

function ev(kind: WatchedKind, rv: number, at: number, object: KubeObject, type: ClusterEvent['type'] = 'MODIFIED'): ClusterEvent {
  return { kind, type, object: { ...object, metadata: { ...object.metadata, resourceVersion: String(rv) } }, resourceVersion: BigInt(rv), at };
}

const rollout = ev(
  'ModelRollout',
  10,
  0,
  { metadata: { name: 't2v' }, spec: { replicas: 1, trafficRouting: { gatewayAPI: { httpRoute: 'r', ruleIndex: 0 } } } },
  'ADDED',
);
const services = [
  ev('Service', 11, 0, { metadata: { name: 's' }, spec: { selector: { rev: 'a' } } }, 'ADDED'),
  ev('Service', 12, 0, { metadata: { name: 'c' }, spec: { selector: { rev: 'b' } } }, 'ADDED'),
];
const pod = (name: string, rev: string, ready: boolean, rv: number, at: number) =>
  ev('Pod', rv, at, { metadata: { name, labels: { rev } }, status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] } });
const route = (weights: Record<string, number>, rv: number, at: number) =>
  ev('HTTPRoute', rv, at, { metadata: { name: 'r' }, spec: { rules: [{ backendRefs: Object.entries(weights).map(([name, weight]) => ({ name, weight })) }] } });

describe('replayInOrder', () => {
  it('judges in resourceVersion order however late an event arrived, with times that never run backwards', () => {
    // The candidate pod became ready (rv 21) before the route shifted to it (rv 22), but its event arrived 5 s late.
    const received = [
      rollout,
      ...services,
      pod('a-0', 'a', true, 20, 1000),
      route({ s: 100, c: 0 }, 30, 1100),
      route({ s: 50, c: 50 }, 32, 1300),
      pod('b-0', 'b', true, 31, 6300),
    ];
    const inOrder = replayInOrder('t2v', received, 10n, []);
    expect(inOrder.finish()).toEqual([]);

    // Had the pod become ready after the shift (rv 33), the 50 % on 'c' would have had no ready pod: a violation,
    // timed from the shift's arrival to the pod's.
    const late = [
      rollout,
      ...services,
      pod('a-0', 'a', true, 20, 1000),
      route({ s: 100, c: 0 }, 30, 1100),
      route({ s: 50, c: 50 }, 32, 1300),
      pod('b-0', 'b', true, 33, 6300),
    ];
    const [v] = replayInOrder('t2v', late, 10n, []).finish();
    expect(v).toMatchObject({ service: 'c', percent: 50, ready: 0, needed: 1, start: 1300, end: 6300, durationMs: 5000 });
  });
});
