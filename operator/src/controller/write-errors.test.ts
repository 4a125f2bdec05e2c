import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { TrafficRouterError } from '../traffic/router.js';
import type { BlockedWrite } from '../rollout/types.js';
import { blockedWriteOf, ObjectNotOwnedError, ObjectWriteError, retryBackoffMs, retryInMs, RevisionTemplateLostError, writing } from './write-errors.js';

const NOW = new Date('2026-01-01T00:00:00.000Z');

function apiError(code: number, message: string): k8s.ApiException<string> {
  return new k8s.ApiException(code, 'HTTP-Code', JSON.stringify({ kind: 'Status', code, message }), {});
}

async function refused(object: string, verb: string, code: number, message: string): Promise<unknown> {
  return writing(object, verb, () => Promise.reject(apiError(code, message))).catch((err: unknown) => err);
}

describe('blockedWriteOf', () => {
  it.each([
    ['a refused pod template (422 on create)', 'Deployment t2v-abc', 'create', 422, 'TemplateRefused'],
    ['a refused pod template (400 on create)', 'Deployment t2v-abc', 'create', 400, 'TemplateRefused'],
    ['a forbidden write (403)', 'Service t2v-stable', 'patch', 403, 'WriteRefused'],
    ['a missing object (404)', 'Deployment t2v-abc', 'patch', 404, 'WriteRefused'],
    ['a conflict left after retries (409)', 'Service t2v-candidate', 'patch', 409, 'WriteRefused'],
    ['a refused scale (422 on patch)', 'Deployment t2v-abc', 'patch', 422, 'WriteRefused'],
  ])('reports %s with the object and the server message', async (_what, object, verb, code, reason) => {
    const err = await refused(object, verb, code, `server says no (${code})`);
    expect(err).toBeInstanceOf(ObjectWriteError);
    const blocked = blockedWriteOf(err, 'unused', undefined, NOW)!;
    expect(blocked).toMatchObject({ reason, object, code, attempts: 1, since: NOW.toISOString(), lastAttempt: NOW.toISOString() });
    expect(blocked.message).toContain(object);
    expect(blocked.message).toContain(`server says no (${code})`);
  });

  it.each([500, 503, 504])('leaves a transient %i to the work queue', async (code) => {
    expect(blockedWriteOf(await refused('Deployment t2v-abc', 'patch', code, 'busy'), 'unused', undefined, NOW)).toBeUndefined();
  });

  it('leaves a network error to the work queue', () => {
    expect(blockedWriteOf(new Error('ECONNRESET'), 'unused', undefined, NOW)).toBeUndefined();
  });

  it('names the owner of an object that is not ours', () => {
    const blocked = blockedWriteOf(new ObjectNotOwnedError('Service t2v-stable', 'ModelRollout other (uid 1)'), 'unused', undefined, NOW)!;
    expect(blocked.reason).toBe('ObjectNotOwned');
    expect(blocked.object).toBe('Service t2v-stable');
    expect(blocked.message).toContain('Service t2v-stable exists and is not owned by this ModelRollout (owner: ModelRollout other (uid 1))');
  });

  it('reports a lost template with its revision', () => {
    const blocked = blockedWriteOf(new RevisionTemplateLostError('Deployment t2v-abc', 'abc', 'def'), 'unused', undefined, NOW)!;
    expect(blocked).toMatchObject({ reason: 'RevisionTemplateLost', revision: 'abc', object: 'Deployment t2v-abc' });
  });

  it('reports a route that keeps conflicting as a refused write of the route', () => {
    const blocked = blockedWriteOf(new TrafficRouterError('Conflict', 'HTTPRoute edge: still conflicting after 5 attempts'), 'HTTPRoute edge', undefined, NOW)!;
    expect(blocked).toMatchObject({ reason: 'WriteRefused', object: 'HTTPRoute edge', code: 409 });
  });

  it('counts attempts of the same object and reason, and starts over for another', async () => {
    const err = await refused('Deployment t2v-abc', 'create', 422, 'bad name');
    const first = blockedWriteOf(err, 'unused', undefined, NOW)!;
    const later = new Date(NOW.getTime() + 60_000);
    const second = blockedWriteOf(err, 'unused', first, later)!;
    expect(second).toMatchObject({ attempts: 2, since: NOW.toISOString(), lastAttempt: later.toISOString() });
    const other = blockedWriteOf(await refused('Service t2v-stable', 'patch', 403, 'forbidden'), 'unused', second, later)!;
    expect(other).toMatchObject({ attempts: 1, since: later.toISOString() });
  });
});

describe('retry backoff', () => {
  it.each([
    [1, 5_000],
    [2, 10_000],
    [3, 20_000],
    [6, 160_000],
    [7, 300_000],
    [50, 300_000],
  ])('attempt %i waits %i ms', (attempts, ms) => {
    expect(retryBackoffMs(attempts)).toBe(ms);
  });

  it('counts from the last attempt', () => {
    const blocked: BlockedWrite = {
      reason: 'WriteRefused',
      object: 'Service s',
      message: '',
      since: NOW.toISOString(),
      lastAttempt: NOW.toISOString(),
      attempts: 2,
    };
    expect(retryInMs(blocked, new Date(NOW.getTime() + 4_000))).toBe(6_000);
    expect(retryInMs(blocked, new Date(NOW.getTime() + 12_000))).toBeLessThan(0);
  });
});
