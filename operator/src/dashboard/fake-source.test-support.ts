// A DashboardSource for tests: one ModelRollout `ml/t2v`, and the names of the rollouts a control was written to.
import type { ModelRollout } from '../api/index.js';
import type { DashboardSource } from './server.js';

export function fakeSource(): { source: DashboardSource; writes: string[] } {
  const rollout = { metadata: { name: 't2v', namespace: 'ml' }, spec: {}, status: { phase: 'Progressing' } } as unknown as ModelRollout;
  const writes: string[] = [];
  const source: DashboardSource = {
    list: () => Promise.resolve([rollout]),
    get: () => Promise.resolve({ rollout, deployments: [], events: [] }),
    annotate: (name: string) => Promise.resolve(writes.push(name) > 0),
  };
  return { source, writes };
}
