// The shared ground of `npm run bench:peer`: one control plane whose kube-apiserver writes an audit log, a
// ServiceAccount (and its own kubeconfig) per controller so the audit log tells their requests apart, and what
// /proc says about a controller process (peak RSS, CPU seconds).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { startControlPlane, type ControlPlane } from '../../test/env/control-plane.js';

/** The namespace of the controllers' ServiceAccounts. */
const IDENTITY_NAMESPACE = 'peer-bench';
/** The user of test/env/control-plane.ts's token: the bench, kube-controller-manager, the scheduler and kwok. */
const ADMIN_USER = 'admin';
/** client-go's AddUserAgent: kube-controller-manager's clients append "/<controller name>" to its user agent. */
const DEPLOYMENT_CONTROLLER_AGENT = '/deployment-controller';

export interface BenchCluster {
  cp: ControlPlane;
  kc: k8s.KubeConfig;
  auditLog: string;
}

/**
 * A control plane whose kube-apiserver audits, at Metadata level, every request of the controllers'
 * ServiceAccounts (and nothing else, so the log stays small). One audit event per request and stage; the
 * RequestReceived stage is left out, so a request is one auditID in ResponseStarted and/or ResponseComplete.
 */
export async function startBenchCluster(gpuNodes: { count: number; gpusPerNode: number }): Promise<BenchCluster> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelrollout-peer-'));
  const policy = path.join(dir, 'audit-policy.yaml');
  const auditLog = path.join(dir, 'audit.log');
  fs.writeFileSync(policy, auditPolicy(IDENTITY_NAMESPACE));
  const cp = await startControlPlane({
    dir: path.join(dir, 'cp'),
    gpuNodes,
    apiserverArgs: [`--audit-policy-file=${policy}`, `--audit-log-path=${auditLog}`, '--audit-log-format=json', '--audit-log-maxsize=0'],
  });
  const kc = cp.kubeConfig();
  await kc.makeApiClient(k8s.CoreV1Api).createNamespace({ body: { metadata: { name: IDENTITY_NAMESPACE } } });
  return { cp, kc, auditLog };
}

/**
 * The audit policy: every request of the controllers' ServiceAccounts (in `identityNamespace`), and the admin user's
 * writes of Deployments, ReplicaSets and Events. kube-controller-manager runs as that user (test/env/control-plane.ts,
 * like the bench itself, the scheduler and kwok), and its Deployment controller does for ModelRollout and Flagger,
 * which write Deployments, the ReplicaSet work Argo Rollouts does itself; requestsBetween() tells its requests apart
 * by their user agent and the run's namespace.
 */
export function auditPolicy(identityNamespace: string): string {
  return [
    'apiVersion: audit.k8s.io/v1',
    'kind: Policy',
    'omitStages: [RequestReceived]',
    'rules:',
    `  - level: Metadata`,
    `    userGroups: ["system:serviceaccounts:${identityNamespace}"]`,
    `  - level: Metadata`,
    `    users: ["${ADMIN_USER}"]`,
    '    verbs: ["create", "update", "patch", "delete"]',
    '    resources:',
    '      - {group: "apps", resources: ["deployments", "deployments/status", "replicasets", "replicasets/status"]}',
    '      - {group: "", resources: ["events"]}',
    '      - {group: "events.k8s.io", resources: ["events"]}',
    '  - level: None',
    '',
  ].join('\n');
}

/** A ServiceAccount bound to cluster-admin (what each peer's Helm chart grants, give or take) and a kubeconfig that authenticates as it. */
export async function controllerIdentity(cluster: BenchCluster, name: string): Promise<{ user: string; kubeconfigPath: string }> {
  const core = cluster.kc.makeApiClient(k8s.CoreV1Api);
  const rbac = cluster.kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  await core.createNamespacedServiceAccount({ namespace: IDENTITY_NAMESPACE, body: { metadata: { name } } });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: `peer-bench-${name}` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ kind: 'ServiceAccount', name, namespace: IDENTITY_NAMESPACE }],
    },
  });
  const token = await core.createNamespacedServiceAccountToken({
    name,
    namespace: IDENTITY_NAMESPACE,
    body: { spec: { audiences: [], expirationSeconds: 86_400 } },
  });
  const kubeconfigPath = path.join(cluster.cp.dir, `kubeconfig-${name}`);
  fs.writeFileSync(
    kubeconfigPath,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: local, cluster: {server: "${cluster.cp.server}", certificate-authority: "${cluster.cp.caFile}"}}]`,
      `users: [{name: ${name}, user: {token: "${token.status?.token}"}}]`,
      `contexts: [{name: local, context: {cluster: local, user: ${name}, namespace: default}}]`,
      'current-context: local',
      '',
    ].join('\n'),
  );
  return { user: `system:serviceaccount:${IDENTITY_NAMESPACE}:${name}`, kubeconfigPath };
}

/**
 * Where the audit log's last complete line ends now: count requests between two such marks. The file's size
 * alone can fall inside an event the API server is still writing; a window that started or ended there would
 * hand JSON.parse half a line. A line cut at the mark belongs to the next window.
 */
export function auditMark(cluster: BenchCluster): number {
  if (!fs.existsSync(cluster.auditLog)) return 0;
  const fd = fs.openSync(cluster.auditLog, 'r');
  try {
    let end = fs.fstatSync(fd).size;
    const chunk = Buffer.alloc(64 * 1024);
    while (end > 0) {
      const start = Math.max(0, end - chunk.length);
      const n = fs.readSync(fd, chunk, 0, end - start, start);
      const nl = chunk.subarray(0, n).lastIndexOf(0x0a);
      if (nl >= 0) return start + nl + 1;
      end = start;
    }
    return 0;
  } finally {
    fs.closeSync(fd);
  }
}

interface AuditEvent {
  auditID: string;
  verb: string;
  user: { username: string };
  userAgent?: string;
  objectRef?: { namespace?: string };
}

/**
 * Requests (distinct auditIDs) of `user` logged between two marks, by verb, and (`deploymentController`) those
 * kube-controller-manager's Deployment controller made in `namespace`, the run's. Read `chunkBytes` at a time (lines
 * carried across chunks): at N = 1,000 a window holds hundreds of MB, past what one string may hold in V8 (~512 MiB).
 */
export function requestsBetween(
  cluster: BenchCluster,
  from: number,
  to: number,
  user: string,
  chunkBytes = 16 * 2 ** 20,
  namespace?: string,
): { total: number; byVerb: Record<string, number>; deploymentController: number } {
  const seen = new Set<string>();
  const delegated = new Set<string>();
  const byVerb: Record<string, number> = {};
  const count = (line: string) => {
    const own = line.includes(user);
    if (!own && !(namespace && line.includes(DEPLOYMENT_CONTROLLER_AGENT))) return;
    const event = JSON.parse(line) as AuditEvent;
    if (!own || event.user.username !== user) {
      if (event.user.username === ADMIN_USER && event.userAgent?.endsWith(DEPLOYMENT_CONTROLLER_AGENT) && event.objectRef?.namespace === namespace)
        delegated.add(event.auditID);
      return;
    }
    if (seen.has(event.auditID)) return;
    seen.add(event.auditID);
    byVerb[event.verb] = (byVerb[event.verb] ?? 0) + 1;
  };
  const fd = fs.openSync(cluster.auditLog, 'r');
  try {
    const buf = Buffer.alloc(Math.min(chunkBytes, Math.max(0, to - from)));
    let rest = Buffer.alloc(0);
    for (let at = from; at < to;) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, to - at), at);
      if (n === 0) break;
      at += n;
      const data = Buffer.concat([rest, buf.subarray(0, n)]);
      const nl = data.lastIndexOf(0x0a);
      for (const line of data
        .subarray(0, nl + 1)
        .toString('utf8')
        .split('\n'))
        count(line);
      rest = Buffer.from(data.subarray(nl + 1));
    }
    count(rest.toString('utf8'));
  } finally {
    fs.closeSync(fd);
  }
  return { total: seen.size, byVerb, deploymentController: delegated.size };
}

export interface ProcStats {
  /** VmHWM: the peak resident set of the process so far. */
  peakRssBytes: number;
  /** utime + stime so far. */
  cpuSeconds: number;
}

/** /proc/<pid>/status and /proc/<pid>/stat of a live process. */
export function procStats(pid: number): ProcStats {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at field 3; utime and stime are 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { peakRssBytes: hwm, cpuSeconds: ticks / CLOCK_TICKS_PER_SECOND };
}

/** USER_HZ: 100 on every Linux the project runs on (getconf CLK_TCK). */
const CLOCK_TICKS_PER_SECOND = 100;
