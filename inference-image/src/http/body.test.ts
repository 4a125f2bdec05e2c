import { Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { BodyTooLargeError, UnsupportedMediaTypeError, ValidationError } from '../errors.js';
import { isJsonContentType, readJsonBody } from './body.js';

function request(body: string, headers: Record<string, string>): IncomingMessage {
  const r = Readable.from([Buffer.from(body)]) as unknown as IncomingMessage;
  r.headers = headers;
  return r;
}

describe('readJsonBody', () => {
  it('accepts application/json with parameters and +json types', () => {
    expect(isJsonContentType('application/json; charset=utf-8')).toBe(true);
    expect(isJsonContentType('Application/JSON')).toBe(true);
    expect(isJsonContentType('application/vnd.t2v+json')).toBe(true);
    expect(isJsonContentType('text/plain')).toBe(false);
    expect(isJsonContentType(undefined)).toBe(false);
  });

  it('parses a JSON body', async () => {
    await expect(readJsonBody(request('{"prompt":"a"}', { 'content-type': 'application/json' }), 100)).resolves.toEqual({ prompt: 'a' });
  });

  it('refuses other content types with 415', async () => {
    await expect(readJsonBody(request('prompt=a', { 'content-type': 'application/x-www-form-urlencoded' }), 100)).rejects.toMatchObject({
      code: 'UnsupportedMediaType',
      httpStatus: 415,
    });
    await expect(readJsonBody(request('{}', {}), 100)).rejects.toBeInstanceOf(UnsupportedMediaTypeError);
  });

  it('refuses bodies over the cap with 413, by header or by bytes read', async () => {
    await expect(readJsonBody(request('{}', { 'content-type': 'application/json', 'content-length': '101' }), 100)).rejects.toBeInstanceOf(BodyTooLargeError);
    await expect(readJsonBody(request(`{"p":"${'x'.repeat(200)}"}`, { 'content-type': 'application/json' }), 100)).rejects.toMatchObject({
      httpStatus: 413,
      maxBytes: 100,
    });
  });

  it('calls an upload the client aborted a cancellation (499), not a server error', async () => {
    const r = new Readable({ read() {} }) as unknown as IncomingMessage & Readable;
    r.headers = { 'content-type': 'application/json' };
    const p = readJsonBody(r, 1000);
    r.push(Buffer.from('{"prompt":'));
    r.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    await expect(p).rejects.toMatchObject({ code: 'Cancelled', httpStatus: 499 });
  });

  it('answers malformed JSON with a 400 naming the body', async () => {
    const p = readJsonBody(request('{"prompt":', { 'content-type': 'application/json' }), 100);
    await expect(p).rejects.toBeInstanceOf(ValidationError);
    await expect(p).rejects.toMatchObject({ field: 'body' });
  });
});
