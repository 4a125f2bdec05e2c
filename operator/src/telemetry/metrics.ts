// The operator's own metrics (prom-client), served on /metrics.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface OperatorMetrics {
  registry: Registry;
  reconcileDuration: Histogram<'result'>;
  queueDepth: Gauge;
  rolloutsByPhase: Gauge<'phase'>;
  candidateWeight: Gauge<'namespace' | 'name'>;
  transitions: Counter<'reason'>;
  rollbacks: Counter<'namespace' | 'name' | 'reason'>;
  kubeRequests: Counter<'verb' | 'resource'>;
  /** Notifications dropped because their receiver's queue was full, by receiver origin. */
  notificationsDropped: Counter<'receiver'>;
}

export function createMetrics(collectors: { queueDepth: () => number; phases: () => Record<string, number> }): OperatorMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'modelrollout_operator_' });
  return {
    registry,
    reconcileDuration: new Histogram({
      name: 'modelrollout_reconcile_duration_seconds',
      help: 'Time of one reconcile (observe, decide, execute, persist).',
      labelNames: ['result'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'modelrollout_workqueue_depth',
      help: 'Keys waiting in the work queue.',
      registers: [registry],
      collect() {
        this.set(collectors.queueDepth());
      },
    }),
    rolloutsByPhase: new Gauge({
      name: 'modelrollout_rollouts',
      help: 'ModelRollouts by phase.',
      labelNames: ['phase'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [phase, n] of Object.entries(collectors.phases())) this.set({ phase }, n);
      },
    }),
    candidateWeight: new Gauge({
      name: 'modelrollout_candidate_weight_percent',
      help: 'Traffic percent on the candidate, per rollout.',
      labelNames: ['namespace', 'name'],
      registers: [registry],
    }),
    transitions: new Counter({
      name: 'modelrollout_transitions_total',
      help: 'Rollout transitions (history entries) by reason.',
      labelNames: ['reason'],
      registers: [registry],
    }),
    rollbacks: new Counter({
      name: 'modelrollout_rollbacks_total',
      help: 'Automatic rollbacks and aborts.',
      labelNames: ['namespace', 'name', 'reason'],
      registers: [registry],
    }),
    kubeRequests: new Counter({
      name: 'modelrollout_kube_requests_total',
      help: 'Kubernetes API requests made by reconciles (informer watches excluded).',
      labelNames: ['verb', 'resource'],
      registers: [registry],
    }),
    notificationsDropped: new Counter({
      name: 'modelrollout_notifications_dropped_total',
      help: "Notifications dropped because their receiver's queue was full (the receiver hangs or fails), by receiver origin.",
      labelNames: ['receiver'],
      registers: [registry],
    }),
  };
}
