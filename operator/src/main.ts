// The operator process: load config, start caches and workers, serve health and metrics, stop cleanly.
import { loadConfig } from './config.js';
import { PooledKubeConfig } from './kube/client.js';
import { Manager } from './controller/manager.js';
import { startHealthServer } from './server/http.js';
import { createLogger } from './telemetry/logger.js';

const config = loadConfig();
const log = createLogger(config.logLevel);
const kc = new PooledKubeConfig();
kc.loadFromDefault();

const manager = new Manager({ kc, log, workers: config.workers, namespace: config.watchNamespace });
const server = await startHealthServer({ host: config.host, port: config.port, registry: manager.metrics.registry, ready: () => manager.ready });
log.info({ port: server.port, namespace: config.watchNamespace ?? '(all)', identity: config.identity }, 'modelrollout operator listening');
await manager.start();
log.info('caches synced; reconciling');

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    void Promise.all([manager.stop(), server.close()]).finally(() => process.exit(0));
  });
}
