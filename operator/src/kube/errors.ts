// The error contract with the API server and the work queue, in one place:
// - isNotFound / isConflict / isInvalid read the HTTP status of an API error (raw @kubernetes/client-node
//   ApiException, or wrapped: an error whose `cause` is one), as client-go's apierrors.IsNotFound does;
// - TerminalError marks an error that retrying at once cannot fix (controller-runtime's reconcile.TerminalError):
//   the work queue does not retry it with its hot backoff, only after `retryAfterMs` (or on the next event).
// Callers match on these, never on message text (STYLE.md habit 5).

/** HTTP status of an API error: its numeric `code` (ApiException), its `status` (a wrapper), or its cause's. */
export function statusCodeOf(err: unknown): number | undefined {
  for (let e = err, depth = 0; e !== null && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, status } = e as { code?: unknown; status?: unknown };
    if (typeof code === 'number') return code;
    if (e instanceof Error && typeof status === 'number') return status;
  }
  return undefined;
}

/** 404: the object (or its namespace, or the resource) does not exist. */
export const isNotFound = (err: unknown): boolean => statusCodeOf(err) === 404;
/** 409: a resourceVersion precondition failed (someone wrote first) or the object already exists. */
export const isConflict = (err: unknown): boolean => statusCodeOf(err) === 409;
/** 422: the object failed validation (schema, CEL rules, admission). */
export const isInvalid = (err: unknown): boolean => statusCodeOf(err) === 422;

/**
 * An error that retrying at once cannot fix: an object someone else owns, a template no one holds any more.
 * It is shown where the user looks (status.blockedWrite and condition ReconcileError, or an event while the
 * rollout is being deleted) and tried again only after `retryAfterMs` — never in the work queue's hot loop.
 */
export class TerminalError extends Error {
  readonly terminal = true;
  constructor(
    message: string,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isTerminal(err: unknown): err is TerminalError {
  return err instanceof TerminalError;
}
