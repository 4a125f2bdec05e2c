import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { isConflict, isInvalid, isNotFound, isTerminal, statusCodeOf, TerminalError } from './errors.js';

const api = (code: number) => new k8s.ApiException(code, 'HTTP error', { kind: 'Status', message: 'm' }, {});

describe('API error helpers', () => {
  it('read the status of a raw ApiException', () => {
    expect(isNotFound(api(404))).toBe(true);
    expect(isConflict(api(409))).toBe(true);
    expect(isInvalid(api(422))).toBe(true);
    expect(isNotFound(api(409))).toBe(false);
  });

  it('read the status of a wrapper (its own `status`, or its cause)', () => {
    const wrapped = Object.assign(new Error('patch Service s: 404'), { status: 404 });
    expect(isNotFound(wrapped)).toBe(true);
    expect(isConflict(new Error('outer', { cause: api(409) }))).toBe(true);
  });

  it('find no status in errors that have none', () => {
    for (const err of [new Error('ECONNRESET'), 'text', undefined, null, { status: 404 }, Object.assign(new Error('x'), { code: 'ECONNREFUSED' })]) {
      expect(statusCodeOf(err)).toBeUndefined();
    }
  });

  it('mark terminal errors, with or without a later retry', () => {
    expect(isTerminal(new TerminalError('owned by someone else'))).toBe(true);
    expect(new TerminalError('lost', 5_000).retryAfterMs).toBe(5_000);
    expect(isTerminal(new Error('boom'))).toBe(false);
  });
});
