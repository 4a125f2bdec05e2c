// Reads a JSON request body with a hard size cap and a content-type check, before any parsing.
import type { IncomingMessage } from 'node:http';
import { BodyTooLargeError, CancelledError, UnsupportedMediaTypeError, ValidationError } from '../errors.js';

export function isJsonContentType(header: string | undefined): boolean {
  if (!header) return false;
  const type = header.split(';')[0]?.trim().toLowerCase();
  return type === 'application/json' || (type !== undefined && /^application\/[a-z0-9.+-]+\+json$/.test(type));
}

export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  if (!isJsonContentType(req.headers['content-type'])) throw new UnsupportedMediaTypeError(req.headers['content-type']);
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw new BodyTooLargeError(maxBytes);
  const chunks = await new Promise<Buffer[]>((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= maxBytes) {
        parts.push(chunk);
        return;
      }
      // Keep draining (not destroying) so the 413 can still be written on this socket.
      req.off('data', onData);
      req.resume();
      reject(new BodyTooLargeError(maxBytes));
    };
    req.on('data', onData);
    req.once('end', () => resolve(parts));
    // The client went away mid-upload (Node reports ECONNRESET "aborted"): a cancellation, not a server error.
    req.once('error', (err) => reject(new CancelledError('client closed the connection during the upload', { cause: err })));
    req.once('close', () => {
      if (!req.complete) reject(new CancelledError('client closed the connection during the upload'));
    });
  });
  let text: string;
  try {
    // Fatal: a byte sequence that is not UTF-8 is refused, not silently replaced by U+FFFD in the prompt.
    text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new ValidationError([
      { field: 'body', message: 'body is not valid UTF-8 (a prompt must be UTF-8 text)', allowed: { type: 'object', encoding: 'utf-8' } },
    ]);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ValidationError([{ field: 'body', message: 'body is not valid JSON', allowed: { type: 'object' } }]);
  }
}
