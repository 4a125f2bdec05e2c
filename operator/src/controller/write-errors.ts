// Why a write was not made, and how that becomes status: a refused write or an object that belongs to
// someone else stops the pass's remaining writes and is shown as condition ReconcileError and an event;
// it is tried again after a backoff (controller-runtime's TerminalError: no hot retry, always visible).
import * as k8s from '@kubernetes/client-node';
import type { BlockedWrite } from '../rollout/types.js';
import { TrafficRouterError } from '../traffic/router.js';
import { isInvalid, statusCodeOf, TerminalError } from '../kube/errors.js';

/** HTTP statuses that mean "the server will not take this write as it is" (409: after our own retries). */
const REFUSED = new Set([400, 403, 404, 409, 422]);

/** The object exists but is not owned by this ModelRollout; the operator leaves it alone. */
export class ObjectNotOwnedError extends TerminalError {
  readonly code = 'ObjectNotOwned';
  constructor(
    readonly object: string,
    readonly owner: string,
  ) {
    super(
      `${object} exists and is not owned by this ModelRollout (owner: ${owner}); the operator changes nothing of it and waits (choose another spec.service.name or metadata.name, or remove the object)`,
    );
  }
}

/** A revision's Deployment is gone and neither the spec nor a ControllerRevision holds its template. */
export class RevisionTemplateLostError extends TerminalError {
  readonly code = 'RevisionTemplateLost';
  constructor(
    readonly object: string,
    readonly revision: string,
    specRevision: string,
  ) {
    super(
      `${object} of revision ${revision} is gone; the spec now holds revision ${specRevision}'s template and no ControllerRevision holds ${revision}'s, so it cannot be rebuilt`,
    );
  }
}

/** The API server answered a write with an error status; `object` is "Kind name", `verb` what was tried. */
export class ObjectWriteError extends Error {
  readonly code = 'ObjectWriteError';
  constructor(
    readonly object: string,
    readonly verb: string,
    readonly status: number | undefined,
    readonly serverMessage: string,
    options: { cause: unknown },
  ) {
    super(`${verb} ${object}: ${status ?? 'no answer'}: ${serverMessage}`, options);
  }
}

/** Runs one API call, turning an API error into an ObjectWriteError that names the object and verb. */
export async function writing<T>(object: string, verb: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof k8s.ApiException) throw new ObjectWriteError(object, verb, err.code, serverMessage(err), { cause: err });
    throw err;
  }
}

/** The `message` of the Status object the API server answered with, else the raw body. */
export function serverMessage(err: k8s.ApiException<unknown>): string {
  const body = err.body;
  if (typeof body === 'string') {
    try {
      return (JSON.parse(body) as { message?: string }).message ?? body;
    } catch {
      return body;
    }
  }
  return (body as { message?: string } | undefined)?.message ?? err.message;
}

/** Delay before a blocked write is tried again: 5 s, doubling per attempt, at most 5 minutes. */
export function retryBackoffMs(attempts: number): number {
  return Math.min(300_000, 5_000 * 2 ** Math.max(0, attempts - 1));
}

/** Milliseconds until `blocked` may be tried again (≤ 0: now). */
export function retryInMs(blocked: BlockedWrite, now: Date): number {
  return Date.parse(blocked.lastAttempt) + retryBackoffMs(blocked.attempts) - now.getTime();
}

/**
 * The BlockedWrite for an error, or undefined when the error is transient (5xx, network) and should be
 * retried by the work queue. `previous` continues its count when the same object is refused for the same reason.
 */
export function blockedWriteOf(err: unknown, fallbackObject: string, previous: BlockedWrite | undefined, now: Date): BlockedWrite | undefined {
  const found = describe(err, fallbackObject);
  if (!found) return undefined;
  const again = previous && previous.object === found.object && previous.reason === found.reason;
  const time = now.toISOString();
  return { ...found, since: again ? previous.since : time, lastAttempt: time, attempts: again ? previous.attempts + 1 : 1 };
}

type Found = Pick<BlockedWrite, 'reason' | 'object' | 'message' | 'code' | 'revision'>;

function describe(err: unknown, fallbackObject: string): Found | undefined {
  if (err instanceof ObjectNotOwnedError) return { reason: 'ObjectNotOwned', object: err.object, message: err.message };
  if (err instanceof RevisionTemplateLostError) return { reason: 'RevisionTemplateLost', object: err.object, message: err.message, revision: err.revision };
  if (err instanceof TrafficRouterError) {
    return {
      reason: 'WriteRefused',
      object: fallbackObject,
      message: `could not set the weights of ${fallbackObject}: ${err.message}`,
      code: err.code === 'Conflict' ? 409 : err.code === 'Unsupported' ? 422 : 404,
    };
  }
  if (err instanceof ObjectWriteError && err.status !== undefined && REFUSED.has(err.status)) {
    const template = err.verb === 'create' && err.object.startsWith('Deployment ') && (err.status === 400 || isInvalid(err));
    return {
      reason: template ? 'TemplateRefused' : 'WriteRefused',
      object: err.object,
      code: err.status,
      message: template
        ? `the API server refused the pod template: create ${err.object}: ${err.status}: ${err.serverMessage}; this revision cannot run until the template changes`
        : `the API server refused to ${err.verb} ${err.object}: ${err.status}: ${err.serverMessage}`,
    };
  }
  const status = statusCodeOf(err);
  if (status !== undefined && REFUSED.has(status))
    return {
      reason: 'WriteRefused',
      object: fallbackObject,
      code: status,
      message: `the API server refused to change ${fallbackObject}: ${status}: ${serverMessageOf(err)}`,
    };
  return undefined;
}

/** The Status message the API server sent, not the client library's HTTP dump around it. */
function serverMessageOf(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  try {
    const parsed = typeof body === 'string' ? (JSON.parse(body) as { message?: unknown }) : (body as { message?: unknown } | undefined);
    if (parsed && typeof parsed.message === 'string') return parsed.message;
  } catch {
    // Not JSON: fall back to the error's own message.
  }
  return (err as Error).message;
}
