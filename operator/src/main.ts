// The operator process: load config, fill caches, win the leader election, reconcile, serve health
// and metrics, stop cleanly (releasing the lease so a standby takes over at once).
import * as k8s from '@kubernetes/client-node';
import { loadConfig } from './config.js';
import { kubeSource } from './dashboard/kube-source.js';
import { startDashboard } from './dashboard/server.js';
import { Notifier } from './notify/notifier.js';
import { Manager } from './controller/manager.js';
import { PooledKubeConfig } from './kube/client.js';
import { LeaderElector } from './kube/leader-election.js';
import { startHealthServer } from './server/http.js';
import { createLogger } from './telemetry/logger.js';

const config = loadConfig();
const log = createLogger(config.logLevel);
const kc = new PooledKubeConfig();
kc.loadFromDefault();

const elector = config.leaderElection.enabled
  ? new LeaderElector(kc.makeApiClient(k8s.CoordinationV1Api), { ...config.leaderElection, identity: config.identity, log })
  : undefined;
const manager = new Manager({
  kc,
  log,
  workers: config.workers,
  namespace: config.watchNamespace,
  analysisDefaults: { prometheusAddress: config.defaultPrometheusAddress },
  canWrite: elector ? () => elector.canWrite() : undefined,
  notifier: new Notifier({ ...config.notifications, log, onDropped: (receiver) => manager.metrics.notificationsDropped.inc({ receiver }) }),
});
const server = await startHealthServer({ host: config.host, port: config.port, registry: manager.metrics.registry, ready: () => manager.ready });
log.info({ port: server.port, namespace: config.watchNamespace ?? '(all)', identity: config.identity }, 'modelrollout operator listening');
// Every replica serves it (a standby too): it reads the API server, not the leader's memory.
const dashboard = config.dashboard && (await startDashboard({ ...config.dashboard, source: kubeSource(kc, config.dashboard.namespace) }));
if (dashboard) log.info({ url: dashboard.url, namespace: config.dashboard!.namespace, write: config.dashboard!.write }, 'dashboard listening');

let stopping = false;
async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    await Promise.all([manager.stop(), server.close(), dashboard?.close()]);
    await elector?.release();
  }
  process.exit(code);
}
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    log.info({ signal }, 'stopping');
    void stop(0);
  });
}

await manager.startCaches();
log.info('caches synced');
if (elector) {
  await elector.run(
    () => {
      manager.startWorkers();
      log.info('reconciling');
    },
    () => void stop(1),
  );
} else {
  manager.startWorkers();
  log.info('reconciling (leader election off)');
}
