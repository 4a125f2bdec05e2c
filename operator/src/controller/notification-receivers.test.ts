import type * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { ModelRollout } from '../api/index.js';
import { rolloutReceivers } from './notification-receivers.js';

const ro = (notifications?: object) =>
  ({ metadata: { name: 't2v', namespace: 'ml' }, spec: { ...(notifications ? { notifications } : {}) } }) as unknown as ModelRollout;
const b64 = (s: string) => Buffer.from(s).toString('base64');

/** A CoreV1Api that holds the given Secrets (ml/<name> → data), answering 404 for others as the API server does. */
function core(secrets: Record<string, Record<string, string>>, code = 404): Pick<k8s.CoreV1Api, 'readNamespacedSecret'> {
  return {
    readNamespacedSecret: ({ name }: { name: string; namespace: string }) => {
      const data = secrets[name];
      if (!data) return Promise.reject(Object.assign(new Error(`HTTP ${code}`), { code }));
      return Promise.resolve({ data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])) } as k8s.V1Secret);
    },
  } as Pick<k8s.CoreV1Api, 'readNamespacedSecret'>;
}

describe('rolloutReceivers', () => {
  it('reads the URLs, the signing key and the events filter from the Secret', async () => {
    const warned: string[] = [];
    const got = await rolloutReceivers(ro({ secretRef: { name: 'hooks' }, events: ['promoted'] }), {
      core: core({ hooks: { webhookUrl: 'http://a/\n', signingSecret: 'k' } }),
      warn: (_r, m) => warned.push(m),
    });
    expect(got).toEqual({ webhookUrl: 'http://a/', secret: 'k', events: ['promoted'] });
    expect(warned).toEqual([]);
  });

  it('names the Secret and the key when they are missing, and gives none (the global receivers still get it)', async () => {
    const warned: string[] = [];
    const deps = { core: core({ empty: { signingSecret: 'k' } }), warn: (_r: string, m: string) => warned.push(m) };
    expect(await rolloutReceivers(ro({ secretRef: { name: 'gone' } }), deps)).toBeUndefined();
    expect(await rolloutReceivers(ro({ secretRef: { name: 'empty' } }), deps)).toBeUndefined();
    expect(await rolloutReceivers(ro(), deps)).toBeUndefined();
    expect(warned).toEqual([
      "spec.notifications.secretRef: Secret ml/gone not found; only the operator's global receivers are told",
      "spec.notifications.secretRef: Secret ml/empty has neither key webhookUrl nor key slackUrl; only the operator's global receivers are told",
    ]);
  });
});
