// Reads a JSON request body with a hard size cap and a content-type check, before any parsing.
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { BodyTooLargeError, CancelledError, RequestTimeoutError, UnsupportedMediaTypeError, ValidationError } from '../errors.js';

export function isJsonContentType(header: string | undefined): boolean {
  if (!header) return false;
  const type = header.split(';')[0]?.trim().toLowerCase();
  return type === 'application/json' || (type !== undefined && /^application\/[a-z0-9.+-]+\+json$/.test(type));
}

/** A parsed body and a fingerprint of its content (Idempotency-Key compares it; key order does not matter). */
export interface JsonBody {
  value: unknown;
  /** sha256 hex of the body re-serialised with sorted keys. */
  fingerprint: string;
}

/**
 * Reads and parses a JSON body of at most `maxBytes`, arriving within `timeoutMs` of the call.
 * Throws UnsupportedMediaTypeError (415), BodyTooLargeError (413), RequestTimeoutError (408; the caller closes
 * the connection), CancelledError (client went away) or ValidationError (400: not UTF-8, naming the field that
 * holds the bad bytes, or not JSON).
 */
export async function readJsonBody(req: IncomingMessage, maxBytes: number, timeoutMs = 30_000): Promise<JsonBody> {
  if (!isJsonContentType(req.headers['content-type'])) throw new UnsupportedMediaTypeError(req.headers['content-type']);
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw new BodyTooLargeError(maxBytes);
  const raw = Buffer.concat(await readChunks(req, maxBytes, timeoutMs));
  const value = parseJson(raw);
  return { value, fingerprint: createHash('sha256').update(canonicalJson(value)).digest('hex') };
}

function readChunks(req: IncomingMessage, maxBytes: number, timeoutMs: number): Promise<Buffer[]> {
  return new Promise<Buffer[]>((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    // A client that never finishes its body would hold the connection (and a parser) forever.
    const timer = setTimeout(() => {
      req.off('data', onData);
      reject(new RequestTimeoutError(timeoutMs));
    }, timeoutMs);
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= maxBytes) {
        parts.push(chunk);
        return;
      }
      // Keep draining (not destroying) so the 413 can still be written on this socket.
      clearTimeout(timer);
      req.off('data', onData);
      req.resume();
      reject(new BodyTooLargeError(maxBytes));
    };
    req.on('data', onData);
    req.once('end', () => {
      clearTimeout(timer);
      resolve(parts);
    });
    // The client went away mid-upload (Node reports ECONNRESET "aborted"): a cancellation, not a server error.
    req.once('error', (err) => {
      clearTimeout(timer);
      reject(new CancelledError('client closed the connection during the upload', { cause: err }));
    });
    req.once('close', () => {
      clearTimeout(timer);
      if (!req.complete) reject(new CancelledError('client closed the connection during the upload'));
    });
  });
}

function parseJson(raw: Buffer): unknown {
  let text: string;
  try {
    // Fatal: a byte sequence that is not UTF-8 is refused, not silently replaced by U+FFFD in the prompt.
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    const field = fieldWithBadBytes(raw);
    throw new ValidationError([
      {
        field,
        message: `${field} is not valid UTF-8 (the request body must be UTF-8 text)`,
        allowed: { type: field === 'body' ? 'object' : 'string', encoding: 'utf-8' },
      },
    ]);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ValidationError([{ field: 'body', message: 'body is not valid JSON', allowed: { type: 'object' } }]);
  }
}

/**
 * The top-level field whose string holds the invalid bytes: decoded leniently, each bad sequence becomes a
 * literal U+FFFD, which is swapped for a noncharacter escape (U+10FFFF) before parsing; escaped \\ufffd in the
 * body stays as it is. 'body' when it cannot tell (not JSON, or the bytes sit outside a string).
 */
function fieldWithBadBytes(raw: Buffer): string {
  const marker = '\u{10FFFF}';
  let lenient: unknown;
  try {
    lenient = JSON.parse(new TextDecoder('utf-8').decode(raw).replaceAll('\ufffd', '\\udbff\\udfff'));
  } catch {
    return 'body';
  }
  if (typeof lenient !== 'object' || lenient === null || Array.isArray(lenient)) return 'body';
  const hit = Object.entries(lenient).find(([, v]) => typeof v === 'string' && v.includes(marker));
  return hit ? hit[0] : 'body';
}

/** JSON with object keys sorted at every level, so `{a,b}` and `{b,a}` fingerprint alike. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}
