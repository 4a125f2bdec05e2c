// `kubectl modelrollout dashboard`: a small node:http server, port-forward style. One page (page.ts) that polls two JSON
// endpoints, and, only when started with --write, the plugin's controls as POSTs that write the same annotations.
// Cross-site protection for the POSTs: a per-server random token the page carries in a <meta> and sends in a header
// (another site can neither read it nor set the header without a CORS preflight this server never grants), an Origin
// that must be this server's, and a Host check on every request against DNS rebinding.
import crypto from 'node:crypto';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type * as k8s from '@kubernetes/client-node';
import type { ModelRollout } from '../api/index.js';
import { annotationsFor } from '../cli/commands.js';
import { APP_CSS, APP_JS, pageHtml } from './page.js';
import { rolloutView, summarize } from './view.js';

/** What the dashboard reads and writes; kube-source.ts is the real one, tests pass their own. */
export interface DashboardSource {
  list(): Promise<ModelRollout[]>;
  /** undefined: no ModelRollout of that name. */
  get(name: string): Promise<{ rollout: ModelRollout; deployments: k8s.V1Deployment[]; events: k8s.CoreV1Event[] } | undefined>;
  /** false: no ModelRollout of that name. */
  annotate(name: string, annotations: Record<string, string | null>): Promise<boolean>;
}

export interface DashboardOptions {
  source: DashboardSource;
  namespace: string;
  /** Controls are offered and accepted only with write access (--write). */
  write: boolean;
  /** The per-server secret the page sends back in TOKEN_HEADER with every POST. */
  token: string;
  now: () => Date;
  /**
   * Host names accepted in the Host header (lower case, IPv6 in brackets, any port); an IP literal is accepted too.
   * Never "any": a name an attacker's DNS answers with this server's address (DNS rebinding) must be refused
   * even when listening on a wildcard address, as the operator does in its pod.
   */
  allowedHosts: ReadonlySet<string>;
  /** How write access is turned on where this dashboard is served, for the read-only refusal (a flag or a setting). */
  writeHint: string;
}

export const TOKEN_HEADER = 'x-modelrollout-token';
export const CONTROLS = ['pause', 'resume', 'promote', 'abort', 'retry'] as const;
/** A ModelRollout name: a DNS-1123 subdomain (https://kubernetes.io/docs/concepts/overview/working-with-objects/names/). */
const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** A refusal the client sees as JSON `{ error, code }` with an HTTP status. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type Reply = { status: number; type: string; body: string };
const json = (status: number, value: unknown): Reply => ({ status, type: 'application/json; charset=utf-8', body: JSON.stringify(value) });

/** The request handler (exported for tests: they call it through a real server on port 0). */
export function dashboardHandler(o: DashboardOptions): http.RequestListener {
  return (req, res) => {
    route(o, req).then(
      (reply) => send(res, reply),
      (err: unknown) => {
        const e =
          err instanceof HttpError
            ? err
            : new HttpError(502, 'KubernetesError', `reading the cluster failed: ${err instanceof Error ? err.message : String(err)}`);
        send(res, json(e.status, { error: e.message, code: e.code }));
      },
    );
  };
}

function send(res: http.ServerResponse, r: Reply): void {
  res.writeHead(r.status, {
    'content-type': r.type,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    // Scripts and styles from this server only (the token never leaves it), and never inside another site's frame.
    'content-security-policy':
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  });
  res.end(r.body);
}

async function route(o: DashboardOptions, req: http.IncomingMessage): Promise<Reply> {
  checkHost(o, req);
  const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
  const parts = url.pathname.split('/').filter((p) => p !== '');
  if (req.method === 'POST') return post(o, req, parts);
  if (req.method !== 'GET' && req.method !== 'HEAD')
    throw new HttpError(405, 'MethodNotAllowed', `${req.method} is not allowed: use GET, or POST for a control`);
  if (parts[0] === 'api') return api(o, parts);
  if (url.pathname === '/app.js') return { status: 200, type: 'text/javascript; charset=utf-8', body: APP_JS };
  if (url.pathname === '/app.css') return { status: 200, type: 'text/css; charset=utf-8', body: APP_CSS };
  if (url.pathname === '/' || (parts[0] === 'rollouts' && parts.length === 2)) {
    return { status: 200, type: 'text/html; charset=utf-8', body: pageHtml({ namespace: o.namespace, write: o.write, token: o.write ? o.token : '' }) };
  }
  throw new HttpError(404, 'NotFound', `no page at ${url.pathname}: the dashboard serves / and /rollouts/<name>`);
}

async function api(o: DashboardOptions, parts: string[]): Promise<Reply> {
  if (parts[1] !== 'rollouts' || parts.length > 3)
    throw new HttpError(404, 'NotFound', `no endpoint /${parts.join('/')}: use /api/rollouts or /api/rollouts/<name>`);
  if (parts.length === 2) {
    const items = (await o.source.list()).map(summarize).sort((a, b) => a.name.localeCompare(b.name));
    return json(200, { namespace: o.namespace, write: o.write, time: o.now().toISOString(), items });
  }
  const name = rolloutName(parts[2]!);
  const found = await o.source.get(name);
  if (!found) throw notFound(o, name);
  return json(200, { namespace: o.namespace, write: o.write, time: o.now().toISOString(), rollout: rolloutView(found) });
}

async function post(o: DashboardOptions, req: http.IncomingMessage, parts: string[]): Promise<Reply> {
  if (parts[0] !== 'api' || parts[1] !== 'rollouts' || parts.length !== 4)
    throw new HttpError(404, 'NotFound', `no control at /${parts.join('/')}: POST /api/rollouts/<name>/<${CONTROLS.join('|')}>`);
  if (!o.write) throw new HttpError(403, 'ReadOnly', `this dashboard is read-only: ${o.writeHint} to pause, resume, promote, abort or retry`);
  checkOrigin(req);
  checkToken(o, req);
  const name = rolloutName(parts[2]!);
  const action = parts[3]!;
  if (!(CONTROLS as readonly string[]).includes(action))
    throw new HttpError(404, 'UnknownControl', `unknown control "${action}": use one of ${CONTROLS.join(', ')}`);
  if (!(await o.source.annotate(name, annotationsFor(action, o.now())))) throw notFound(o, name);
  return json(200, { name, action, message: `modelrollout ${o.namespace}/${name}: ${action} requested` });
}

function rolloutName(raw: string): string {
  let name: string;
  try {
    name = decodeURIComponent(raw);
  } catch {
    name = raw;
  }
  if (!NAME.test(name))
    throw new HttpError(400, 'BadName', `"${name.slice(0, 80)}" is not a ModelRollout name: lower-case letters, digits, '-' and '.', at most 253 characters`);
  return name;
}

const notFound = (o: DashboardOptions, name: string) => new HttpError(404, 'RolloutNotFound', `ModelRollout "${name}" not found in namespace ${o.namespace}`);

function checkHost(o: DashboardOptions, req: http.IncomingMessage): void {
  const allowed = o.allowedHosts;
  const host = req.headers.host ?? '';
  const name = hostName(host);
  // An IP literal cannot be rebound (rebinding needs a name the attacker's DNS answers), so any is accepted: the
  // pod's IP, a node's, a Service's ClusterIP.
  if (!allowed.has(name) && net.isIP(name.replace(/^\[(.*)\]$/, '$1')) === 0)
    throw new HttpError(
      421,
      'WrongHost',
      `Host "${host.slice(0, 80)}" is not this dashboard's (${[...allowed].join(', ')}, or an IP address): open it by the address it printed`,
    );
}

/** The name part of a Host header, lower case: `[::1]:8090` → `[::1]`, `svc.ns:8090` → `svc.ns`. */
function hostName(host: string): string {
  const h = host.toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.lastIndexOf(':');
  return colon < 0 ? h : h.slice(0, colon);
}

/** The names every dashboard answers to: the loopback ones (`kubectl port-forward`, any local port). */
const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]'] as const;

/** A browser sends Origin with every cross-site POST (and with same-origin ones); it must name this server. */
function checkOrigin(req: http.IncomingMessage): void {
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== `http://${req.headers.host}`)
    throw new HttpError(403, 'CrossOrigin', `Origin ${origin.slice(0, 80)} may not use this dashboard's controls: open the dashboard itself`);
}

function checkToken(o: DashboardOptions, req: http.IncomingMessage): void {
  const sent = Buffer.from(String(req.headers[TOKEN_HEADER] ?? ''));
  const want = Buffer.from(o.token);
  if (sent.length !== want.length || !crypto.timingSafeEqual(sent, want))
    throw new HttpError(403, 'BadToken', `header ${TOKEN_HEADER} is missing or wrong: controls are accepted only from the page this dashboard served`);
}

export interface RunningDashboard {
  url: string;
  server: http.Server;
  close(): Promise<void>;
}

/** How a dashboard is started, besides what it shows. */
export interface DashboardListen {
  port: number;
  address: string;
  /** Names besides the loopback ones and IP literals that the Host header may carry (a Service's DNS names). */
  allowedHosts?: readonly string[];
  /** The flags or setting address and port came from, named when listening fails (`--address, --port`). */
  listenSetting: string;
  now?: () => Date;
}

/** Listens on address:port (0: any free port) and resolves once listening. */
export async function startDashboard(o: Omit<DashboardOptions, 'allowedHosts' | 'token' | 'now'> & DashboardListen): Promise<RunningDashboard> {
  const wildcard = o.address === '0.0.0.0' || o.address === '::';
  const shown = o.address.includes(':') ? `[${o.address}]` : o.address;
  const hosts = new Set([...LOOPBACK_HOSTS, ...(wildcard ? [] : [shown.toLowerCase()]), ...(o.allowedHosts ?? []).map((h) => h.toLowerCase())]);
  const server = http.createServer(
    dashboardHandler({ ...o, now: o.now ?? (() => new Date()), token: crypto.randomBytes(24).toString('base64url'), allowedHosts: hosts }),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: Error) =>
      reject(new Error(`cannot listen on ${o.address} port ${o.port} (${o.listenSetting}): ${err.message}`, { cause: err })),
    );
    server.listen(o.port, o.address, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${wildcard ? '127.0.0.1' : shown}:${port}/`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // a browser's idle keep-alive connections would hold close() open
      }),
  };
}
