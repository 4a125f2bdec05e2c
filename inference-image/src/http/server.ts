// The HTTP API on Node's http module: async jobs (/v1/videos), a sync route for short clips
// (/v1/generate), probes and /metrics on the same port.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { faultsEnabled, type FaultInjectionConfig } from '../config.js';
import type { AdapterService } from '../adapters/adapter-service.js';
import { routedStyle } from '../adapters/route-choice.js';
import { refText } from '../adapters/style.js';
import { NotFoundError, NotReadyError, ShuttingDownError, ValidationError, asT2vError, type T2vError } from '../errors.js';
import { armOf, NO_ARM, parseArm, type Arm } from '../experiment-arm.js';
import { byteRange } from './byte-range.js';
import { literalHost, refusedAddress } from '../jobs/webhook-address.js';
import type { AsyncJobs } from '../jobs/async-jobs.js';
import type { GenerationService } from '../jobs/generation-service.js';
import type { GenerationRequest, JobRecord } from '../jobs/types.js';
import type { Provider } from '../model/execution-provider.js';
import type { Route, RuntimeMetrics } from '../telemetry/metrics.js';
import { readJsonBody } from './body.js';
import type { RequestDefaults, RequestLimits } from './request-limits.js';
import { adjustmentsHeader, jobView, sendError, sendJson, serverTiming } from './responses.js';
import { validateRequest } from './validation.js';

export type Phase = 'loading' | 'warming' | 'ready' | 'draining';

export interface RuntimeState {
  phase: Phase;
  provider: Provider | undefined;
}

export interface HttpDeps {
  log: Logger;
  metrics: RuntimeMetrics;
  model: { name: string; version: string };
  state: () => RuntimeState;
  /** Set once the model is loaded. */
  service: () => GenerationService | undefined;
  /** The async jobs (POST /v1/videos), set once the model is loaded. */
  jobs: () => AsyncJobs | undefined;
  limits: RequestLimits | (() => RequestLimits | undefined);
  defaults: RequestDefaults;
  syncMaxSeconds: number;
  maxBodyBytes: number;
  /** A request body must arrive within this long (else 408 and the connection is closed). */
  bodyTimeoutMs: number;
  /** Whether completion webhooks are on (T2V_WEBHOOK_SECRET set). */
  webhooks?: boolean;
  /** Whether a webhook_url may name a loopback or private address (T2V_WEBHOOK_ALLOW_PRIVATE); link-local never. */
  webhookAllowPrivate?: boolean;
  faults: FaultInjectionConfig;
  randomSeed: () => number;
  monotonic: () => number;
  /** The adapter library (undefined until the model is loaded); absent when the replica serves no styles (T2V_ADAPTER_DIR unset). */
  adapters?: () => AdapterService | undefined;
  /** Draws a style's version from the route's X-Adapter-Split when no assignment key is given; default Math.random. */
  random?: () => number;
}

/** Names the adapter version that served a request that named a style, as X-Model-Version names the model's. */
export const ADAPTER_VERSION_HEADER = 'X-Adapter-Version';
const ADAPTER_LOAD_PATH = /^\/v1\/adapters\/([^/]{1,200}):load$/;

const VIDEO_PATH = /^\/v1\/videos\/([A-Za-z0-9_-]{1,128})(\/content)?$/;

export function createHandler(d: HttpDeps): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    route(d, req, res).catch((err: unknown) => {
      d.log.error({ err, url: req.url }, 'unhandled error in request handler');
      sendError(res, asT2vError(err));
    });
  };
}

async function route(d: HttpDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  const method = req.method ?? 'GET';
  // Every answer names the model version that gave it (errors and refusals too), so a client behind a
  // weighted route can tell which version served each request.
  res.setHeader('X-Model-Version', d.model.version);
  if (path === '/healthz') return only(method, ['GET', 'HEAD'], res, () => healthz(d, res));
  if (path === '/readyz') return only(method, ['GET', 'HEAD'], res, () => readyz(d, res));
  if (path === '/metrics') return only(method, ['GET'], res, () => metrics(d, res));
  if (path === '/v1/generate') return only(method, ['POST'], res, () => generate(d, req, res));
  if (path === '/v1/videos') return only(method, ['GET', 'POST'], res, () => (method === 'GET' ? listVideos(d, req, res) : createVideo(d, req, res)));
  if (path === '/v1/adapters') return only(method, ['GET'], res, () => listAdapters(d, res));
  const load = ADAPTER_LOAD_PATH.exec(path);
  if (load) return only(method, ['POST'], res, () => loadAdapter(d, decodeURIComponent(load[1] as string), res));
  const m = VIDEO_PATH.exec(path);
  if (m) {
    const id = m[1] as string;
    // HEAD: what players and download managers send first (Node's http sends the headers only).
    if (m[2]) return only(method, ['GET', 'HEAD'], res, () => videoContent(d, id, req, res));
    return only(method, ['GET', 'DELETE'], res, () => (method === 'DELETE' ? cancelVideo(d, id, res) : getVideo(d, id, res)));
  }
  sendError(res, new NotFoundError(`no route ${method} ${path}`));
}

async function only(method: string, allowed: string[], res: ServerResponse, handle: () => Promise<void> | void): Promise<void> {
  if (!allowed.includes(method)) {
    sendJson(
      res,
      405,
      { error: { code: 'MethodNotAllowed', message: `use ${allowed.join(' or ')}`, allowed: { methods: allowed } } },
      { Allow: allowed.join(', ') },
    );
    return;
  }
  await handle();
}

function healthz(d: HttpDeps, res: ServerResponse): void {
  const s = d.state();
  sendJson(res, 200, {
    status: 'ok',
    phase: s.phase,
    ready: s.phase === 'ready',
    execution_provider: s.provider ?? null,
    model: d.model,
    fault_injection: {
      enabled: faultsEnabled(d.faults),
      error_rate: d.faults.errorRate,
      latency_ms: d.faults.latencyMs,
      freeze_frames: d.faults.freezeFrames ?? 0,
    },
  });
}

/** 200 only when the model is ready and the job store answers (a replica that cannot serve polls takes no traffic). */
async function readyz(d: HttpDeps, res: ServerResponse): Promise<void> {
  const s = d.state();
  const jobs = d.jobs();
  if (s.phase === 'ready' && jobs && !(await jobs.healthy())) {
    sendJson(res, 503, { status: 'store-unavailable', execution_provider: s.provider ?? null }, { 'Retry-After': '2' });
    return;
  }
  sendJson(res, s.phase === 'ready' ? 200 : 503, { status: s.phase, execution_provider: s.provider ?? null });
}

async function metrics(d: HttpDeps, res: ServerResponse): Promise<void> {
  const text = await d.metrics.registry.metrics();
  res.writeHead(200, { 'Content-Type': d.metrics.registry.contentType }).end(text);
}

/** Everything both POST routes check before a job exists; rejections are counted here. */
async function admit(
  d: HttpDeps,
  routeName: Route,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<{ service: GenerationService; request: GenerationRequest; arrivedAt: number; fingerprint: string } | undefined> {
  const arrivedAt = d.monotonic();
  const probe = isProbe(req);
  const countedArm = countedArmOf(req);
  const reject = (err: T2vError, headers: Record<string, string> = {}): undefined => {
    if (probe) d.metrics.probeFinished(err);
    else d.metrics.requestFinished(routeName, countedArm, err);
    sendError(res, err, headers);
    return undefined;
  };
  const state = d.state();
  const service = d.service();
  const limits = typeof d.limits === 'function' ? d.limits() : d.limits;
  if (state.phase === 'draining')
    return reject(new ShuttingDownError('server is shutting down; retry on another replica'), { 'Retry-After': '1', Connection: 'close' });
  if (state.phase !== 'ready' || !service || !limits) return reject(new NotReadyError(`model is ${state.phase}; retry shortly`), { 'Retry-After': '5' });
  try {
    const arm = armOf(req.headers);
    const body = await readJsonBody(req, d.maxBodyBytes, d.bodyTimeoutMs);
    const request = validateRequest(body.value, {
      limits,
      defaults: d.defaults,
      randomSeed: d.randomSeed,
      ...(routeName === 'generate' ? { maxSeconds: { value: d.syncMaxSeconds, hint: 'POST /v1/videos takes longer clips' } } : {}),
    });
    // The golden-prompt probes ask for the raw frames (a lossless comparison); users get the MP4.
    if (routeName === 'generate' && acceptsRawFrames(req)) request.keepFrames = true;
    if (probe) request.probe = true;
    request.arm = arm;
    if (request.webhookUrl !== undefined) webhookAllowed(d, routeName, request.webhookUrl);
    if (request.style !== undefined) {
      // The route may pin or split the version of a style the client names without one (adapter rollouts).
      request.adapter = await adaptersOf(d).resolve(routedStyle(request.style, req.headers, d.random ?? Math.random));
      res.setHeader(ADAPTER_VERSION_HEADER, refText(request.adapter));
    }
    return { service, request, arrivedAt, fingerprint: body.fingerprint };
  } catch (err) {
    const e = asT2vError(err);
    // An unread, oversized or unfinished body: close so the rest of it is not parsed as the next request.
    return reject(e, e.httpStatus === 413 || e.httpStatus === 415 || e.httpStatus === 408 ? { Connection: 'close' } : {});
  }
}

function webhookAllowed(d: HttpDeps, routeName: Route, url: string): void {
  const allowPrivate = d.webhookAllowPrivate === true;
  const allowed = { routes: ['POST /v1/videos'], enabled: d.webhooks === true, privateAddresses: allowPrivate };
  if (routeName !== 'videos')
    throw new ValidationError([{ field: 'webhook_url', message: 'webhook_url is for POST /v1/videos (this route answers with the video itself)', allowed }]);
  if (!d.webhooks)
    throw new ValidationError([{ field: 'webhook_url', message: 'webhook_url: webhooks are off on this server (T2V_WEBHOOK_SECRET is not set)', allowed }]);
  // An IP literal is checked now; a host name when it is resolved, at delivery.
  const literal = literalHost(new URL(url));
  const refused = literal === undefined ? undefined : refusedAddress(literal, allowPrivate);
  if (refused !== undefined) throw new ValidationError([{ field: 'webhook_url', message: `webhook_url: ${refused}`, allowed, value: url }]);
}

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
/** Visible ASCII, 1 to 255 characters (a UUID fits; the IETF draft leaves the syntax to the server). */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

function idempotencyKeyOf(req: IncomingMessage): string | undefined {
  const key = req.headers[IDEMPOTENCY_KEY_HEADER];
  if (key === undefined) return undefined;
  if (typeof key !== 'string' || !IDEMPOTENCY_KEY.test(key))
    throw new ValidationError([
      {
        field: 'Idempotency-Key',
        message: 'Idempotency-Key must be 1 to 255 visible ASCII characters (a UUID, for instance), given once',
        allowed: { type: 'string', minLength: 1, maxLength: 255, charset: 'visible ASCII' },
        value: key,
      },
    ]);
  return key;
}

async function createVideo(d: HttpDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let key: string | undefined;
  try {
    key = idempotencyKeyOf(req);
  } catch (err) {
    const e = asT2vError(err);
    d.metrics.requestFinished('videos', countedArmOf(req), e);
    sendError(res, e);
    return;
  }
  const ok = await admit(d, 'videos', req, res);
  if (!ok) return;
  const jobs = d.jobs();
  try {
    if (!jobs) throw new NotReadyError('the job store is not open yet; retry shortly');
    const { job, replayed } = await jobs.create(ok.request, ok.arrivedAt, key === undefined ? undefined : { key, fingerprint: ok.fingerprint });
    sendJson(res, 202, jobView(job, d.model), { Location: `/v1/videos/${job.id}`, ...(replayed ? { 'Idempotent-Replayed': 'true' } : {}) });
  } catch (err) {
    const e = asT2vError(err);
    if (ok.request.probe) d.metrics.probeFinished(e);
    else d.metrics.requestFinished('videos', ok.request.arm ?? NO_ARM, e);
    sendError(res, e);
  }
}

function jobsOf(d: HttpDeps): AsyncJobs {
  const jobs = d.jobs();
  if (!jobs) throw new NotFoundError('no videos yet: the model is still loading');
  return jobs;
}

const MAX_PAGE = 100;

/** GET /v1/videos?limit=N&after=<id>: the kept jobs, newest first, `limit` (1–100, default 20) a page. */
async function listVideos(d: HttpDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const query = new URL(req.url ?? '/', 'http://x').searchParams;
    const rawLimit = query.get('limit') ?? '20';
    const limit = Number(rawLimit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE)
      throw new ValidationError([
        {
          field: 'limit',
          message: `limit must be an integer in [1, ${MAX_PAGE}] (got ${JSON.stringify(rawLimit)})`,
          allowed: { type: 'integer', min: 1, max: MAX_PAGE },
          value: rawLimit,
        },
      ]);
    const after = query.get('after') ?? undefined;
    const jobs = d.jobs();
    const page = jobs ? await jobs.list(limit, after) : { jobs: [], hasMore: false };
    if (!page)
      throw new ValidationError([
        {
          field: 'after',
          message: `after must be a video id (the last_id of the previous page; got ${JSON.stringify(after)})`,
          allowed: { type: 'string' },
          value: after,
        },
      ]);
    sendJson(res, 200, {
      object: 'list',
      data: page.jobs.map((job) => jobView(job, d.model)),
      first_id: page.jobs[0]?.id ?? null,
      last_id: page.jobs.at(-1)?.id ?? null,
      has_more: page.hasMore,
    });
  } catch (err) {
    sendError(res, asT2vError(err));
  }
}

/**
 * Media type of POST /v1/generate's raw answer: rgb24 frames (width × height × 3 bytes each, in order),
 * with X-Video-Width, X-Video-Height and X-Video-Frames. Asked with `Accept: application/x-t2v-rgb24`.
 */
export const RGB24_FRAMES = 'application/x-t2v-rgb24';

/**
 * Content negotiation (RFC 9110 §12.5.1): raw frames when the Accept header names them with a q above 0 and at
 * least the q of the MP4 (video/mp4, video/* or *\/*); q=0 means "not acceptable".
 */
function acceptsRawFrames(req: IncomingMessage): boolean {
  const q: Record<string, number> = {};
  for (const part of (req.headers.accept ?? '').split(',')) {
    const [type, ...params] = part.split(';').map((x) => x.trim().toLowerCase());
    if (!type) continue;
    const qParam = params.find((x) => x.startsWith('q='));
    const value = qParam ? Number(qParam.slice(2)) : 1;
    q[type] = Math.max(q[type] ?? 0, Number.isFinite(value) ? Math.min(1, Math.max(0, value)) : 0);
  }
  // The most specific range sets each type's q (RFC 9110): video/mp4, else video/*, else */*.
  const mp4 = q['video/mp4'] ?? q['video/*'] ?? q['*/*'] ?? (req.headers.accept ? 0 : 1);
  const named = q[RGB24_FRAMES];
  // Raw frames when named and preferred at least as much as the MP4; or, not named, when the MP4 is refused
  // and a wildcard accepts anything else (a plain */* keeps the MP4, as a browser expects).
  if (named !== undefined) return named > 0 && named >= mp4;
  return mp4 === 0 && (q['application/*'] ?? q['*/*'] ?? 0) > 0;
}

/**
 * Header the operator's golden-prompt probes send, with the value `golden`: their generations are counted apart
 * (t2v_probe_requests_total), not as users' requests, latency, quality or cost. Any other value is a user's
 * request like any other (a client cannot hide its traffic with `false` or `0`).
 */
export const PROBE_HEADER = 'x-modelrollout-probe';
const isProbe = (req: IncomingMessage): boolean => req.headers[PROBE_HEADER] === 'golden';

/** The arm a refusal is counted under: the request's, or `none` when its X-ModelRollout-Arm is what is refused. */
const countedArmOf = (req: IncomingMessage): Arm => parseArm(req.headers) ?? NO_ARM;

async function generate(d: HttpDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const ok = await admit(d, 'generate', req, res);
  if (!ok) return;
  const clientGone = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) clientGone.abort();
  });
  let running: Promise<JobRecord>;
  try {
    running = ok.service.generate(ok.request, ok.arrivedAt, clientGone.signal);
  } catch (err) {
    // Not accepted (429, 503): counted here; accepted jobs are counted by the service when they end.
    const e = asT2vError(err);
    if (ok.request.probe) d.metrics.probeFinished(e);
    else d.metrics.requestFinished('generate', ok.request.arm ?? NO_ARM, e);
    sendError(res, e, e.code === 'ShuttingDown' ? { Connection: 'close' } : {});
    return;
  }
  let job: JobRecord;
  try {
    job = await running;
  } catch (err) {
    const e = asT2vError(err);
    sendError(res, e, e.code === 'ShuttingDown' ? { Connection: 'close' } : {});
    return;
  }
  const result = job.result;
  if (!result || !job.timings) throw new Error('succeeded job without a result');
  const raw = ok.request.keepFrames ? result.rgbFrames : undefined;
  res.writeHead(200, {
    ...(raw
      ? { 'Content-Type': RGB24_FRAMES, 'Content-Length': raw.data.length, 'X-Video-Width': String(raw.width), 'X-Video-Height': String(raw.height) }
      : { 'Content-Type': 'video/mp4', 'Content-Length': result.video.length }),
    'X-Video-Id': job.id,
    'X-Video-Seed': String(job.request.seed),
    'X-Video-Frames': String(result.frames),
    'X-Model-Version': d.model.version,
    ...(job.request.adapter ? { [ADAPTER_VERSION_HEADER]: refText(job.request.adapter) } : {}),
    ...adjusted(job),
    'Server-Timing': serverTiming(job.timings),
  });
  res.end(raw ? raw.data : result.video);
}

function adjusted(job: JobRecord): Record<string, string> {
  const header = adjustmentsHeader(job.request.adjustments);
  return header === undefined ? {} : { 'X-Adjustments': header };
}

function adaptersOf(d: HttpDeps): AdapterService {
  if (!d.adapters)
    throw new ValidationError([{ field: 'style', message: 'style: this replica serves no adapters (T2V_ADAPTER_DIR is not set)', allowed: { styles: [] } }]);
  const adapters = d.adapters();
  if (!adapters) throw new NotReadyError('the adapter library is not read yet; retry shortly');
  return adapters;
}

async function listAdapters(d: HttpDeps, res: ServerResponse): Promise<void> {
  const adapters = d.adapters?.();
  sendJson(res, 200, { object: 'list', data: adapters ? await adapters.list() : [] });
}

/** POST /v1/adapters/<name@vN>:load — checks and stages a version before its first request. */
async function loadAdapter(d: HttpDeps, style: string, res: ServerResponse): Promise<void> {
  try {
    const view = await adaptersOf(d).load(style);
    sendJson(res, 200, view, { [ADAPTER_VERSION_HEADER]: view.adapter });
  } catch (err) {
    sendError(res, asT2vError(err));
  }
}

async function getVideo(d: HttpDeps, id: string, res: ServerResponse): Promise<void> {
  try {
    const job = await jobsOf(d).get(id);
    if (!job) throw new NotFoundError(`no video ${id} (unknown, or expired)`);
    sendJson(res, 200, jobView(job, d.model));
  } catch (err) {
    sendError(res, asT2vError(err));
  }
}

/** GET /v1/videos/{id}/content: the MP4, whole (200) or one byte range (206; 416 past the end). */
async function videoContent(d: HttpDeps, id: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const jobs = jobsOf(d);
    const video = await jobs.content(id);
    const range = byteRange(req.headers.range, video.length);
    const headers = { 'Content-Type': 'video/mp4', 'Accept-Ranges': 'bytes', 'Content-Disposition': `inline; filename="${id}.mp4"` };
    // Delivered once its last byte went out (a player fetching ranges reaches the end last); a HEAD sends none.
    res.once('finish', () => {
      if (req.method === 'GET' && (!range || range.end === video.length - 1)) jobs.delivered(id);
    });
    if (!range) {
      res.writeHead(200, { ...headers, 'Content-Length': video.length });
      res.end(video);
      return;
    }
    res.writeHead(206, { ...headers, 'Content-Length': range.end - range.start + 1, 'Content-Range': `bytes ${range.start}-${range.end}/${video.length}` });
    res.end(video.subarray(range.start, range.end + 1));
  } catch (err) {
    sendError(res, asT2vError(err));
  }
}

/**
 * DELETE /v1/videos/{id}: a queued or running job is cancelled (202, it ends failed/Cancelled); a finished one is
 * deleted with its video (200 {id, deleted: true}; then 404), as hosted video APIs do.
 */
async function cancelVideo(d: HttpDeps, id: string, res: ServerResponse): Promise<void> {
  try {
    const outcome = await jobsOf(d).remove(id);
    if ('deleted' in outcome) sendJson(res, 200, { id, object: 'video.deleted', deleted: true });
    else sendJson(res, 202, jobView(outcome.cancelled, d.model));
  } catch (err) {
    sendError(res, asT2vError(err));
  }
}

export interface Listening {
  server: http.Server;
  port: number;
}

export async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void, host: string, port: number): Promise<Listening> {
  const server = http.createServer(handler);
  // Generations can outlast Node's default 5 min request timeout; our own timeout governs.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return { server, port: (server.address() as AddressInfo).port };
}
