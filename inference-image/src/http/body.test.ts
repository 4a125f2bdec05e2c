import { Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { BodyTooLargeError, UnsupportedMediaTypeError, ValidationError } from '../errors.js';
import { isJsonContentType, readJsonBody } from './body.js';

function request(body: string | Buffer, headers: Record<string, string>): IncomingMessage {
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

  it('parses a JSON body and fingerprints it regardless of key order', async () => {
    const json = { 'content-type': 'application/json' };
    const a = await readJsonBody(request('{"prompt":"a","seed":1}', json), 100);
    expect(a.value).toEqual({ prompt: 'a', seed: 1 });
    const b = await readJsonBody(request('{ "seed": 1, "prompt": "a" }', json), 100);
    expect(b.fingerprint).toBe(a.fingerprint);
    const c = await readJsonBody(request('{"prompt":"b","seed":1}', json), 100);
    expect(c.fingerprint).not.toBe(a.fingerprint);
  });

  it('names the field whose string holds bytes that are not UTF-8, else the body', async () => {
    const json = { 'content-type': 'application/json' };
    const inPrompt = Buffer.concat([Buffer.from('{"seed":1,"prompt":"a c'), Buffer.from([0xff]), Buffer.from('t"}')]);
    await expect(readJsonBody(request(inPrompt, json), 100)).rejects.toMatchObject({
      code: 'InvalidRequest',
      field: 'prompt',
      message: 'prompt is not valid UTF-8 (the request body must be UTF-8 text)',
    });
    // An escaped U+FFFD elsewhere is a real character, not the bad bytes.
    const inNegative = Buffer.concat([Buffer.from('{"prompt":"ok \\ufffd","negative_prompt":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    await expect(readJsonBody(request(inNegative, json), 100)).rejects.toMatchObject({ field: 'negative_prompt' });
    const outside = Buffer.concat([Buffer.from('{"prompt":"a"'), Buffer.from([0xff]), Buffer.from('}')]);
    await expect(readJsonBody(request(outside, json), 100)).rejects.toMatchObject({ field: 'body' });
  });

  it('answers a body that does not arrive in time with 408 RequestTimeout', async () => {
    const r = new Readable({ read() {} }) as unknown as IncomingMessage & Readable;
    r.headers = { 'content-type': 'application/json', 'content-length': '50' };
    const p = readJsonBody(r, 1000, 50);
    r.push(Buffer.from('{"prompt":'));
    await expect(p).rejects.toMatchObject({ code: 'RequestTimeout', httpStatus: 408, timeoutMs: 50 });
    r.destroy();
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
