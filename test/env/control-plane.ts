import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as k8s from '@kubernetes/client-node';
import { ensureBinaries, type ControlPlaneBinaries } from './binaries.js';
import { installCrds, defaultCrdFiles } from './crds.js';
import { createGpuNodes, type GpuNodeOptions } from './gpu-nodes.js';
import { writeKwokStages } from './kwok-stages.js';
import { choosePodCidr } from './pod-network.js';
import { freePorts } from './ports.js';
import { ProcessGroup, tail } from './process-group.js';

export interface ControlPlaneOptions {
  /** Scratch directory; a fresh temp dir by default. */
  dir?: string;
  gpuNodes?: GpuNodeOptions;
  /** CRD files to install once the API server is ready; the project's and the third-party ones by default. */
  crdFiles?: string[];
  /** Leave the processes running after this Node process exits (for `npm run cluster:up`). */
  detached?: boolean;
  log?: (line: string) => void;
  /** Extra kube-apiserver flags, e.g. an audit log for counting requests per client (scripts/bench-peer.ts). */
  apiserverArgs?: string[];
}

export interface ControlPlane {
  dir: string;
  kubeconfigPath: string;
  server: string;
  /** kwok's `--cidr`: pod IPs come from it; a distinct /16 per control plane (see pod-network.ts). */
  podCidr: string;
  token: string;
  caFile: string;
  processes: ProcessGroup;
  startedInMs: number;
  kubeConfig(): k8s.KubeConfig;
  stop(): Promise<void>;
}

const SERVICE_CIDR = '10.96.0.0/16';

/**
 * A real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver (token auth, RBAC),
 * kube-controller-manager, kube-scheduler and kwok driving fake GPU nodes. No Docker.
 */
export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const started = Date.now();
  const log = opts.log ?? (() => {});
  const bins = ensureBinaries();
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'modelrollout-cp-'));
  const processes = new ProcessGroup(path.join(dir, 'logs'));
  const files = writeCredentials(dir);
  const [etcdPort, peerPort, apiPort, kcmPort, schedPort, kwokPort] = (await freePorts(6)) as [number, number, number, number, number, number];
  const server = `https://127.0.0.1:${apiPort}`;
  const caFile = path.join(dir, 'pki', 'apiserver.crt');
  const kubeconfigPath = path.join(dir, 'kubeconfig');
  const detached = opts.detached ?? false;
  const podCidr = await choosePodCidr();

  try {
    startEtcd(processes, bins, dir, etcdPort, peerPort, detached);
    startApiserver(processes, bins, dir, files, etcdPort, apiPort, detached, opts.apiserverArgs ?? []);
    await waitFor('kube-apiserver /readyz', processes, 60_000, () => getStatus(`${server}/readyz`, files.token, caFile));
    fs.writeFileSync(kubeconfigPath, kubeconfigYaml(server, caFile, files.token));
    log(`kube-apiserver ready at ${server} after ${Date.now() - started} ms`);

    const kwokStages = writeKwokStages(bins.kwokStages, dir);
    startControllers(processes, { ...bins, kwokStages }, kubeconfigPath, files, caFile, { kcmPort, schedPort, kwokPort }, podCidr, detached);
    if (!detached) processes.armWatchdog(process.pid);

    const kc = loadKubeConfig(kubeconfigPath);
    await Promise.all([
      installCrds(kc, opts.crdFiles ?? defaultCrdFiles()),
      createGpuNodes(kc, opts.gpuNodes),
      waitFor('kube-controller-manager /healthz', processes, 60_000, () => getStatus(`https://127.0.0.1:${kcmPort}/healthz`)),
      waitFor('kube-scheduler /healthz', processes, 60_000, () => getStatus(`https://127.0.0.1:${schedPort}/healthz`)),
    ]);
    await waitFor('ServiceAccount default/default', processes, 60_000, async () => {
      const core = kc.makeApiClient(k8s.CoreV1Api);
      return core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' }).then(
        () => 200,
        () => 0,
      );
    });
  } catch (err) {
    await processes.stopAll();
    throw new Error(`control plane failed to start (logs in ${processes.logDir}): ${(err as Error).message}\n${allTails(processes)}`, { cause: err });
  }

  const startedInMs = Date.now() - started;
  log(`control plane ready in ${startedInMs} ms (kubeconfig ${kubeconfigPath})`);
  return {
    dir,
    kubeconfigPath,
    server,
    podCidr,
    token: files.token,
    caFile,
    processes,
    startedInMs,
    kubeConfig: () => loadKubeConfig(kubeconfigPath),
    stop: () => processes.stopAll(),
  };
}

export function loadKubeConfig(kubeconfigPath: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return kc;
}

interface CredentialFiles {
  token: string;
  tokensCsv: string;
  saKey: string;
  saPub: string;
}

function writeCredentials(dir: string): CredentialFiles {
  fs.mkdirSync(path.join(dir, 'pki'), { recursive: true });
  const token = crypto.randomBytes(24).toString('hex');
  const tokensCsv = path.join(dir, 'tokens.csv');
  fs.writeFileSync(tokensCsv, `${token},admin,admin,"system:masters"\n`, { mode: 0o600 });
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const saKey = path.join(dir, 'sa.key');
  const saPub = path.join(dir, 'sa.pub');
  fs.writeFileSync(saKey, privateKey, { mode: 0o600 });
  fs.writeFileSync(saPub, publicKey);
  return { token, tokensCsv, saKey, saPub };
}

function startEtcd(pg: ProcessGroup, bins: ControlPlaneBinaries, dir: string, port: number, peer: number, detached: boolean): void {
  pg.start(
    'etcd',
    bins.etcd,
    [
      '--name=modelrollout',
      `--data-dir=${path.join(dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${port}`,
      `--advertise-client-urls=http://127.0.0.1:${port}`,
      `--listen-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-cluster=modelrollout=http://127.0.0.1:${peer}`,
      // Test data is disposable: skipping fsync makes every write far cheaper on a shared disk.
      '--unsafe-no-fsync=true',
      '--quota-backend-bytes=8589934592',
      '--auto-compaction-retention=1',
      '--log-level=warn',
    ],
    { detached },
  );
}

function startApiserver(
  pg: ProcessGroup,
  bins: ControlPlaneBinaries,
  dir: string,
  f: CredentialFiles,
  etcdPort: number,
  port: number,
  detached: boolean,
  extraArgs: string[],
): void {
  pg.start(
    'kube-apiserver',
    bins.kubeApiserver,
    [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${port}`,
      `--cert-dir=${path.join(dir, 'pki')}`,
      `--token-auth-file=${f.tokensCsv}`,
      '--authorization-mode=Node,RBAC',
      '--service-account-issuer=https://kubernetes.default.svc',
      `--service-account-key-file=${f.saPub}`,
      `--service-account-signing-key-file=${f.saKey}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      '--allow-privileged=true',
      // 127.0.0.1 is not a valid Endpoints address; without this the apiserver logs errors forever.
      '--endpoint-reconciler-type=none',
      '--max-requests-inflight=1000',
      '--max-mutating-requests-inflight=500',
      '--v=1',
      ...extraArgs,
    ],
    { detached },
  );
}

function startControllers(
  pg: ProcessGroup,
  bins: ControlPlaneBinaries,
  kubeconfig: string,
  f: CredentialFiles,
  caFile: string,
  { kcmPort, schedPort, kwokPort }: { kcmPort: number; schedPort: number; kwokPort: number },
  podCidr: string,
  detached: boolean,
): void {
  const common = [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    '--leader-elect=false',
    '--bind-address=127.0.0.1',
    '--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics',
    '--kube-api-qps=1000',
    '--kube-api-burst=2000',
    '--v=1',
  ];
  pg.start(
    'kube-controller-manager',
    bins.kubeControllerManager,
    [
      ...common,
      `--secure-port=${kcmPort}`,
      `--service-account-private-key-file=${f.saKey}`,
      `--root-ca-file=${caFile}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      '--concurrent-deployment-syncs=20',
      '--concurrent-replicaset-syncs=20',
      // A starved 2-core machine can delay kwok's lease renewals; NotReady nodes would mark every pod unready.
      '--node-monitor-grace-period=2m',
    ],
    { detached },
  );
  pg.start('kube-scheduler', bins.kubeScheduler, [...common, `--secure-port=${schedPort}`], { detached });
  pg.start(
    'kwok',
    bins.kwok,
    [
      `--kubeconfig=${kubeconfig}`,
      `--config=${bins.kwokStages}`,
      '--manage-all-nodes=false',
      '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
      `--cidr=${podCidr}`,
      '--node-ip=10.0.0.1',
      // Without a lease duration kwok renews no node Leases and the heartbeat-with-lease stage keeps nothing alive.
      '--node-lease-duration-seconds=40',
      `--server-address=127.0.0.1:${kwokPort}`,
    ],
    { detached },
  );
}

function kubeconfigYaml(server: string, caFile: string, token: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: modelrollout-local`,
    `  cluster: {server: "${server}", certificate-authority: "${caFile}"}`,
    'users:',
    `- name: admin`,
    `  user: {token: "${token}"}`,
    'contexts:',
    `- name: modelrollout-local`,
    `  context: {cluster: modelrollout-local, user: admin}`,
    'current-context: modelrollout-local',
    '',
  ].join('\n');
}

/** HTTP status of a GET, or 0 when the connection fails. Without a CA the server certificate is not checked (health ports only). */
function getStatus(url: string, token?: string, caFile?: string): Promise<number> {
  return new Promise((resolve) => {
    let ca: Buffer | undefined;
    if (caFile) {
      if (!fs.existsSync(caFile)) return resolve(0);
      ca = fs.readFileSync(caFile);
    }
    const req = https.get(
      url,
      {
        ca,
        rejectUnauthorized: ca !== undefined,
        headers: token ? { Authorization: `Bearer ${token}` } : {},
        timeout: 2000,
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}

async function waitFor(what: string, pg: ProcessGroup, timeoutMs: number, probe: () => Promise<number>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await probe()) === 200) return;
    pg.assertAlive();
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

function allTails(pg: ProcessGroup): string {
  return pg.processes.map((p) => `--- ${p.name} (${p.logFile})\n${tail(p.logFile, 15)}`).join('\n');
}
