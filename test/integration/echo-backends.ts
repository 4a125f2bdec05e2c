// Small real HTTP servers that stand behind a Service in the proxy tests: each answers with its own name and
// records what it received, so a test can count who served what and which headers arrived.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { isNotFound } from '../../operator/src/kube/errors.js';

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

export interface EchoBackend {
  name: string;
  address: string;
  port: number;
  received: ReceivedRequest[];
  close(): Promise<void>;
}

/** Listens on `address` (any free port); answers `{"backend": name}` with header `x-backend: name`. */
export async function startEchoBackend(name: string, address: string): Promise<EchoBackend> {
  const received: ReceivedRequest[] = [];
  const server = http.createServer((req, res) => {
    received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-backend': name });
      res.end(JSON.stringify({ backend: name }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, address, () => resolve());
  });
  return {
    name,
    address,
    port: (server.address() as AddressInfo).port,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export const SERVICE_PORT = 80;
const PORT_NAME = 'http';

/**
 * A Service without a selector (no controller manages its endpoints) and one EndpointSlice per backend, as the
 * EndpointSlice controller would publish pods: `ready` is the endpoint's Ready condition.
 */
export async function publishService(kc: k8s.KubeConfig, namespace: string, name: string, backends: { backend: EchoBackend; ready: boolean }[]): Promise<void> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  await core.createNamespacedService({ namespace, body: { metadata: { name }, spec: { ports: [{ name: PORT_NAME, port: SERVICE_PORT, protocol: 'TCP' }] } } });
  for (const { backend, ready } of backends) await setEndpoint(kc, namespace, name, backend, ready);
}

/** Creates or replaces the EndpointSlice that publishes `backend` for Service `service`. */
export async function setEndpoint(kc: k8s.KubeConfig, namespace: string, service: string, backend: EchoBackend, ready: boolean): Promise<void> {
  const discovery = kc.makeApiClient(k8s.DiscoveryV1Api);
  const name = `${service}-${backend.name}`;
  const body: k8s.V1EndpointSlice = {
    metadata: { name, labels: { 'kubernetes.io/service-name': service, 'endpointslice.kubernetes.io/managed-by': 'modelrollout-tests' } },
    addressType: 'IPv4',
    // A slice carries one port for all its endpoints; one slice per backend lets each listen on its own port.
    ports: [{ name: PORT_NAME, port: backend.port, protocol: 'TCP' }],
    endpoints: [{ addresses: [backend.address], conditions: { ready, serving: ready, terminating: false } }],
  };
  try {
    const current = await discovery.readNamespacedEndpointSlice({ namespace, name });
    await discovery.replaceNamespacedEndpointSlice({
      namespace,
      name,
      body: { ...body, metadata: { ...body.metadata, resourceVersion: current.metadata?.resourceVersion } },
    });
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await discovery.createNamespacedEndpointSlice({ namespace, body });
  }
}

export interface Answer {
  status: number;
  backend: string | undefined;
  headers: http.IncomingHttpHeaders;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

/** One GET through the proxy; `backend` is who answered (undefined when the proxy answered itself). */
export function request(url: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => {
        const b = res.headers['x-backend'];
        resolve({ status: res.statusCode ?? 0, backend: typeof b === 'string' ? b : undefined, headers: res.headers });
      });
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
  });
}

/** `n` requests, `concurrency` at a time; answers in completion order. */
export async function requestMany(url: string, n: number, headers: Record<string, string> = {}, concurrency = 4): Promise<Answer[]> {
  const answers: Answer[] = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      answers.push(await request(url, headers));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return answers;
}

export function countBy(answers: Answer[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const a of answers) {
    const key = a.backend ?? `proxy-${a.status}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}
