// A real Gateway API data plane for the test environment: Traefik with its Kubernetes Gateway provider,
// a local process that reads GatewayClasses, Gateways, HTTPRoutes, Services and EndpointSlices through the
// control plane's API server and routes real HTTP on 127.0.0.1. What it supports is listed in
// test/env/README.md ("Gateway API proxy") and checked by test/integration/gateway-proxy.test.ts.
import crypto from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as k8s from '@kubernetes/client-node';
import { ensureGatewayProxyBinary, gatewayProxyCrdsPath, gatewayProxyGatewayApiCrdPaths } from './binaries.js';
import { loadKubeConfig } from './control-plane.js';
import { installCrds } from './crds.js';
import { freePorts } from './ports.js';
import { ProcessGroup, tail } from './process-group.js';
import { isConflict } from '../../operator/src/kube/errors.js';

/** Traefik's Gateway API controller name (pkg/provider/kubernetes/gateway/kubernetes.go). */
export const GATEWAY_PROXY_CONTROLLER = 'traefik.io/gateway-controller';
const GATEWAY_API = { group: 'gateway.networking.k8s.io', version: 'v1' } as const;
/** Each proxy handles only the GatewayClass carrying its own id, so proxies of one control plane do not fight. */
const PROXY_LABEL = 'modelrollout.dev/gateway-proxy';

/** Where the proxy reaches the API server: a started ControlPlane fits, and so does `{ kubeconfigPath, dir }`. */
export interface GatewayProxyAccess {
  kubeconfigPath: string;
  /** Scratch directory for the proxy's logs (a `logs/gateway-proxy-<id>` folder is made inside). */
  dir: string;
}

export interface GatewayProxyOptions {
  /** Namespace of the Gateway (created when missing); default `gateway-proxy`. */
  namespace?: string;
  /** Name of the Gateway; default `proxy-<id>` (unique per proxy). */
  gatewayName?: string;
  /** Leave the process running after this Node process exits. */
  detached?: boolean;
  log?: (line: string) => void;
}

export interface GatewayRef {
  namespace: string;
  name: string;
}

export interface GatewayProxy {
  /** The Gateway's listener: send user traffic here (http://127.0.0.1:PORT). */
  url: string;
  port: number;
  /** Traefik's own API and /ping (127.0.0.1 only); used to see which configuration is applied. */
  adminUrl: string;
  /** Put this in an HTTPRoute's `spec.parentRefs`. */
  gateway: GatewayRef;
  gatewayClassName: string;
  pid: number;
  logFile: string;
  /**
   * Resolves once the proxy serves the route's current generation: the proxy accepted it (status) and, unless
   * `checkWeights` is false, every rule's weighted backends are live with the route's weights (Traefik's API).
   */
  waitForRoute(namespace: string, name: string, opts?: { timeoutMs?: number; checkWeights?: boolean }): Promise<void>;
  /** The backend URLs the proxy currently sends a Service port's traffic to (ready endpoints only). */
  servers(namespace: string, service: string, port: number): Promise<string[] | undefined>;
  stop(): Promise<void>;
}

/**
 * Starts Traefik against the control plane, with a GatewayClass and a Gateway (one HTTP listener on a free
 * 127.0.0.1 port, routes from every namespace) that only this process serves. Resolves when the Gateway is
 * Programmed.
 */
export async function startGatewayProxy(access: GatewayProxyAccess, opts: GatewayProxyOptions = {}): Promise<GatewayProxy> {
  const log = opts.log ?? (() => {});
  const started = Date.now();
  const bin = ensureGatewayProxyBinary();
  const kc = loadKubeConfig(access.kubeconfigPath);
  const id = crypto.randomBytes(3).toString('hex');
  const gateway: GatewayRef = { namespace: opts.namespace ?? 'gateway-proxy', name: opts.gatewayName ?? `proxy-${id}` };
  const gatewayClassName = `traefik-${id}`;
  // Traefik's informers list GRPCRoutes, BackendTLSPolicies and TLSRoutes (v1) too; without their CRDs it never
  // syncs. Its own CRDs serve its Kubernetes CRD provider (TraefikService: the traefik router's weights and mirror).
  await installCrds(kc, [...gatewayProxyGatewayApiCrdPaths(), gatewayProxyCrdsPath()]);

  const [port, adminPort] = (await freePorts(2)) as [number, number];
  const processes = new ProcessGroup(path.join(access.dir, 'logs', `gateway-proxy-${id}`));
  const proc = processes.start('traefik', bin, traefikArgs(port, adminPort, id), {
    // Traefik takes KUBECONFIG as it is (token and CA of the control plane); no in-cluster detection.
    env: { KUBECONFIG: access.kubeconfigPath, KUBERNETES_SERVICE_HOST: '', KUBERNETES_SERVICE_PORT: '' },
    detached: opts.detached ?? false,
  });
  if (!opts.detached) processes.armWatchdog(process.pid);
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const removeObjects = async () => {
    await custom.deleteNamespacedCustomObject({ ...GATEWAY_API, plural: 'gateways', namespace: gateway.namespace, name: gateway.name }).catch(() => undefined);
    await custom.deleteClusterCustomObject({ ...GATEWAY_API, plural: 'gatewayclasses', name: gatewayClassName }).catch(() => undefined);
  };
  const stop = async () => {
    await withTimeout(removeObjects(), 5000);
    await processes.stopAll();
  };

  try {
    await poll('traefik /ping', 60_000, processes, async () => ((await httpGet(`${adminUrl}/ping`)).status === 200 ? true : undefined));
    await createGatewayObjects(kc, gateway, gatewayClassName, id, port);
    await poll(`Gateway ${gateway.namespace}/${gateway.name} Programmed`, 60_000, processes, async () => {
      const gw = (await custom.getNamespacedCustomObject({ ...GATEWAY_API, plural: 'gateways', ...gateway })) as { status?: { conditions?: Condition[] } };
      return gw.status?.conditions?.some((c) => c.type === 'Programmed' && c.status === 'True') ? true : undefined;
    });
  } catch (err) {
    await stop();
    throw new Error(`gateway proxy failed to start (log ${proc.logFile}): ${(err as Error).message}\n${tail(proc.logFile, 30)}`, { cause: err });
  }
  log(`gateway proxy (traefik pid ${proc.pid}) on http://127.0.0.1:${port} ready in ${Date.now() - started} ms`);

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    adminUrl,
    gateway,
    gatewayClassName,
    pid: proc.pid,
    logFile: proc.logFile,
    waitForRoute: (namespace, name, o = {}) =>
      waitForRoute(custom, adminUrl, gateway, namespace, name, o.timeoutMs ?? 60_000, o.checkWeights ?? true, processes),
    servers: (namespace, service, servicePort) => servers(adminUrl, namespace, service, servicePort),
    stop,
  };
}

function traefikArgs(port: number, adminPort: number, id: string): string[] {
  return [
    // Nothing leaves the machine: no version check, no usage report.
    '--global.checkNewVersion=false',
    '--global.sendAnonymousUsage=false',
    `--entryPoints.web.address=127.0.0.1:${port}`,
    `--entryPoints.traefik.address=127.0.0.1:${adminPort}`,
    '--api=true',
    '--api.insecure=true',
    '--api.dashboard=false',
    '--ping=true',
    '--providers.kubernetesGateway=true',
    `--providers.kubernetesGateway.labelSelector=${PROXY_LABEL}=${id}`,
    // TraefikServices (and Middlewares) for HTTPRoute backendRefs of group traefik.io: the traefik router's objects.
    '--providers.kubernetesCRD=true',
    // What the README tells users of the traefik router: without it, one Service of a TraefikService losing its
    // last ready endpoint (a candidate's only pod at a small step) drops the whole TraefikService, 404 to all.
    '--providers.kubernetesCRD.allowEmptyServices=true',
    // The default 2 s merge window makes every route write take 2 s to reach the data plane.
    '--providers.providersThrottleDuration=100ms',
    '--log.level=INFO',
    '--log.noColor=true',
  ];
}

async function createGatewayObjects(kc: k8s.KubeConfig, gw: GatewayRef, className: string, id: string, port: number): Promise<void> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  await core.createNamespace({ body: { metadata: { name: gw.namespace } } }).catch(ignoreConflict);
  await custom.createClusterCustomObject({
    ...GATEWAY_API,
    plural: 'gatewayclasses',
    body: {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'GatewayClass',
      metadata: { name: className, labels: { [PROXY_LABEL]: id } },
      spec: { controllerName: GATEWAY_PROXY_CONTROLLER },
    },
  });
  // Traefik binds a listener to the entry point whose address ends in the listener's port.
  await custom.createNamespacedCustomObject({
    ...GATEWAY_API,
    plural: 'gateways',
    namespace: gw.namespace,
    body: {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: { name: gw.name },
      spec: { gatewayClassName: className, listeners: [{ name: 'http', port, protocol: 'HTTP', allowedRoutes: { namespaces: { from: 'All' } } }] },
    },
  });
}

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  observedGeneration?: number;
}

interface RouteObject {
  metadata: { generation?: number };
  spec: { rules?: { backendRefs?: { name: string; namespace?: string; port?: number; weight?: number; kind?: string; group?: string }[] }[] };
  status?: { parents?: { parentRef: { name: string; namespace?: string }; controllerName: string; conditions?: Condition[] }[] };
}

async function waitForRoute(
  custom: k8s.CustomObjectsApi,
  adminUrl: string,
  gw: GatewayRef,
  namespace: string,
  name: string,
  timeoutMs: number,
  checkWeights: boolean,
  pg: ProcessGroup,
): Promise<void> {
  const route = (await custom.getNamespacedCustomObject({ ...GATEWAY_API, plural: 'httproutes', namespace, name })) as RouteObject;
  const generation = route.metadata.generation ?? 0;
  await poll(`HTTPRoute ${namespace}/${name} generation ${generation} accepted by the proxy`, timeoutMs, pg, async () => {
    const current = (await custom.getNamespacedCustomObject({ ...GATEWAY_API, plural: 'httproutes', namespace, name })) as RouteObject;
    const parent = current.status?.parents?.find(
      (p) => p.controllerName === GATEWAY_PROXY_CONTROLLER && p.parentRef.name === gw.name && (p.parentRef.namespace ?? namespace) === gw.namespace,
    );
    const accepted = parent?.conditions?.find((c) => c.type === 'Accepted');
    return accepted?.status === 'True' && (accepted.observedGeneration ?? 0) >= generation ? true : undefined;
  });
  if (!checkWeights) return;
  // Status is written before the new configuration reaches the entry points; Traefik's API answers from the
  // configuration its routers were built from, so matching weights there means the data plane has them.
  const wanted = (route.spec.rules ?? []).map((rule) =>
    (rule.backendRefs ?? []).map((ref, index) => ({ suffix: backendSuffix(ref.namespace ?? namespace, ref.name, index), weight: ref.weight ?? 1 })),
  );
  await poll(`weights of HTTPRoute ${namespace}/${name} live in the proxy`, timeoutMs, pg, async () => {
    const live = (await apiServices(adminUrl)).filter((s) => s.weighted).map((s) => s.weighted!.services ?? []);
    return wanted.every((rule) => live.some((children) => sameChildren(children, rule))) ? true : undefined;
  });
}

/**
 * Traefik v3.7 names the service of a route's backendRef `<router>-svc-<namespace>-<name>-<index in the rule>`
 * (pkg/provider/kubernetes/gateway/httproute.go, loadService); the router part is a hash, so match the end.
 */
function backendSuffix(namespace: string, name: string, index: number): string {
  return `-svc-${namespace}-${name}-${index}`;
}

function sameChildren(children: { name: string; weight?: number }[], wanted: { suffix: string; weight: number }[]): boolean {
  return (
    children.length === wanted.length &&
    wanted.every((w) => children.some((c) => c.name.replace(/@.*$/, '').endsWith(w.suffix) && (c.weight ?? 1) === w.weight))
  );
}

interface ApiService {
  name: string;
  weighted?: { services?: { name: string; weight?: number }[] };
  loadBalancer?: { servers?: { url: string }[] };
}

async function apiServices(adminUrl: string): Promise<ApiService[]> {
  const res = await httpGet(`${adminUrl}/api/http/services?per_page=10000`);
  if (res.status !== 200) throw new Error(`traefik API /api/http/services: HTTP ${res.status}`);
  return JSON.parse(res.body) as ApiService[];
}

async function servers(adminUrl: string, namespace: string, service: string, port: number): Promise<string[] | undefined> {
  // A Service port behind a route's backendRef (`<router>-svc-<ns>-<name>-<index>`: every backendRef to it is a
  // load balancer of its own with the same ready endpoints, any one tells) or behind a TraefikService
  // (`<ns>-<name>-<port>@kubernetescrd`).
  const viaRoute = new RegExp(`-svc-${escapeRegExp(namespace)}-${escapeRegExp(service)}-\\d+@kubernetesgateway$`);
  const viaCrd = `${namespace}-${service}-${port}@kubernetescrd`;
  const svc = (await apiServices(adminUrl)).find((s) => s.loadBalancer && (viaRoute.test(s.name) || s.name === viaCrd));
  return svc?.loadBalancer ? (svc.loadBalancer.servers ?? []).map((s) => s.url).sort() : undefined;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.on('timeout', () => req.destroy());
  });
}

async function poll<T>(what: string, timeoutMs: number, pg: ProcessGroup, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    pg.assertAlive();
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    await sleep(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}

function ignoreConflict(err: unknown): void {
  if (!isConflict(err)) throw err;
}

async function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  await Promise.race([p, sleep(ms)]);
}
