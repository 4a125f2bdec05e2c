// Errors with stable codes: HTTP responses, job records, logs and metrics match on `code`, never on text.

export abstract class T2vError extends Error {
  abstract readonly code: string;
  /** HTTP status used when this error ends a request. */
  abstract readonly httpStatus: number;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class ConfigError extends T2vError {
  readonly code = 'InvalidConfig';
  readonly httpStatus = 500;
}

export class InvalidModelError extends T2vError {
  readonly code = 'InvalidModel';
  readonly httpStatus = 500;
}

export class ExecutionProviderError extends T2vError {
  readonly code = 'ExecutionProviderUnavailable';
  readonly httpStatus = 500;
}

/**
 * An adapter version in the library that cannot be served: unreadable files, or a config, tensor or shape
 * that does not fit the base model. `field` names what is wrong (`r`, `target_modules`, a tensor key).
 * A server fault (500): the client asked for a style that exists, the library holds a bad artefact.
 */
export class InvalidAdapterError extends T2vError {
  readonly code = 'InvalidAdapter';
  readonly httpStatus = 500;

  constructor(
    readonly adapter: string,
    readonly field: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`adapter ${adapter}: ${field}: ${message}`, options);
  }
}

export interface FieldProblem {
  field: string;
  message: string;
  /** What would have been accepted: a range, a multiple, a list. */
  allowed: Record<string, unknown>;
  value?: unknown;
}

/** A request field is missing, mistyped or out of range. `problems[0]` is the one named on top. */
export class ValidationError extends T2vError {
  readonly code = 'InvalidRequest';
  readonly httpStatus = 400;

  constructor(readonly problems: [FieldProblem, ...FieldProblem[]]) {
    super(problems.map((p) => p.message).join('; '));
  }

  get field(): string {
    return this.problems[0].field;
  }
}

export class BodyTooLargeError extends T2vError {
  readonly code = 'BodyTooLarge';
  readonly httpStatus = 413;

  constructor(readonly maxBytes: number) {
    super(`request body exceeds ${maxBytes} bytes`);
  }
}

export class UnsupportedMediaTypeError extends T2vError {
  readonly code = 'UnsupportedMediaType';
  readonly httpStatus = 415;

  constructor(readonly received: string | undefined) {
    super(`content-type must be application/json (got ${received === undefined ? 'none' : JSON.stringify(received)})`);
  }
}

export class QueueFullError extends T2vError {
  readonly code = 'QueueFull';
  readonly httpStatus = 429;

  constructor(
    readonly retryAfterSeconds: number,
    readonly maxQueue: number,
  ) {
    super(`generation queue is full (${maxQueue} waiting); retry after ${retryAfterSeconds} s`);
  }
}

export class NotReadyError extends T2vError {
  readonly code = 'NotReady';
  readonly httpStatus = 503;
}

export class ShuttingDownError extends T2vError {
  readonly code = 'ShuttingDown';
  readonly httpStatus = 503;
}

/**
 * The shared job store (Redis) did not answer in time or refused the command (503 with Retry-After): the request
 * may be retried, here or on another replica.
 */
export class StoreUnavailableError extends T2vError {
  readonly code = 'StoreUnavailable';
  readonly httpStatus = 503;
  readonly retryAfterSeconds = 2;
}

export class TimeoutError extends T2vError {
  readonly code = 'Timeout';
  readonly httpStatus = 504;

  constructor(readonly timeoutMs: number) {
    super(`generation did not finish within ${timeoutMs} ms`);
  }
}

/** The client went away (sync route) or DELETEd the job. 499 as nginx logs it. */
export class CancelledError extends T2vError {
  readonly code = 'Cancelled';
  readonly httpStatus = 499;
}

export class FaultInjectedError extends T2vError {
  readonly code = 'FaultInjected';
  readonly httpStatus = 500;
}

export class GenerationError extends T2vError {
  readonly code = 'GenerationFailed';
  readonly httpStatus = 500;
}

export class EncodeError extends T2vError {
  readonly code = 'EncodeFailed';
  readonly httpStatus = 500;
}

export class NotFoundError extends T2vError {
  readonly code = 'NotFound';
  readonly httpStatus = 404;
}

/** A finished job's video was dropped (the results' byte cap, or its expiry) while the job record remains. */
export class GoneError extends T2vError {
  readonly code = 'Gone';
  readonly httpStatus = 410;
}

export class ConflictError extends T2vError {
  readonly code = 'Conflict';
  readonly httpStatus = 409;
}

/** The client did not finish sending its request body in time (408; the connection is closed after it). */
export class RequestTimeoutError extends T2vError {
  readonly code = 'RequestTimeout';
  readonly httpStatus = 408;

  constructor(readonly timeoutMs: number) {
    super(`request body not received within ${timeoutMs} ms`);
  }
}

/**
 * An Idempotency-Key already used with a different body (422, as the IETF idempotency-key draft says):
 * the client must pick a new key or send the same body again.
 */
export class IdempotencyKeyReusedError extends T2vError {
  readonly code = 'IdempotencyKeyReused';
  readonly httpStatus = 422;
  readonly field = 'Idempotency-Key';

  constructor(
    readonly key: string,
    readonly jobId: string,
  ) {
    super(`Idempotency-Key ${JSON.stringify(key)} was used for job ${jobId} with a different body; use a new key or the same body`);
  }
}

/** A byte range the video does not have (416; Content-Range names the size). */
export class RangeNotSatisfiableError extends T2vError {
  readonly code = 'RangeNotSatisfiable';
  readonly httpStatus = 416;

  constructor(
    readonly range: string,
    readonly size: number,
  ) {
    super(`Range ${JSON.stringify(range)}: the video has ${size} bytes (first byte 0, last ${size - 1})`);
  }
}

/** Anything thrown that is not ours becomes a GenerationError with the original as cause. */
export function asT2vError(err: unknown): T2vError {
  if (err instanceof T2vError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new GenerationError(message, { cause: err });
}
