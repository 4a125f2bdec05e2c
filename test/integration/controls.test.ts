// The kubectl plugin drives a live rollout through annotations: pause, resume, promote, abort, retry, get.
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { repoRoot } from '../env/paths.js';
import { startOperator } from './operator-process.js';
import { RolloutFixture } from './rollout-fixtures.js';
import { kubeConfig, testNamespace, waitUntil } from './support.js';

const kc = kubeConfig();
const kubeconfigPath = inject('kubeconfigPath');
const run = promisify(execFile);

async function plugin(ns: string, ...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'operator/src/cli/kubectl-modelrollout.ts'), ...args, '-n', ns], {
    cwd: repoRoot,
    env: { ...process.env, KUBECONFIG: kubeconfigPath },
  });
  return stdout;
}

/** A local webhook receiver: the operator's notifications (JSON bodies) in arrival order. */
async function notificationReceiver(): Promise<{ url: string; events: { event: string; reason: string; signature?: string }[]; close(): void }> {
  const events: { event: string; reason: string; signature?: string }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const n = JSON.parse(body) as { event: string; reason: string };
      events.push({ event: n.event, reason: n.reason, signature: req.headers['x-modelrollout-signature'] as string | undefined });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, events, close: () => server.close() };
}

describe('kubectl-modelrollout controls', () => {
  it('pause holds, resume goes on, promote skips the bake, abort returns to stable, retry starts again', async () => {
    const ns = await testNamespace(kc, 'ctl');
    const fx = new RolloutFixture(kc, ns);
    await fx.createRoute();
    // The operator announces each transition to a webhook (signed): checked at the end against what was done.
    const receiver = await notificationReceiver();
    try {
      await startOperator(kubeconfigPath, ns, { MODELROLLOUT_NOTIFY_WEBHOOK_URL: receiver.url, MODELROLLOUT_NOTIFY_SECRET: 'test-secret' });
      await fx.create(fx.spec({ strategy: { stepDuration: '1h' } }));
      await fx.waitFor('stable Ready', (r) => fx.condition(r, 'Ready')?.status === 'True');
      await fx.setVersion('v2');
      await fx.waitFor('at 1 %', (r) => r.status?.weights?.candidate === 1);

      // promote: the 1 h bake is skipped, one step at a time.
      expect(await plugin(ns, 'promote', 't2v')).toContain('promote requested');
      await fx.waitFor('at 5 %', (r) => r.status?.weights?.candidate === 5);

      expect(await plugin(ns, 'pause', 't2v')).toContain('pause requested');
      const paused = await fx.waitFor('paused', (r) => r.status?.phase === 'Paused');
      expect(fx.condition(paused, 'Paused')?.reason).toBe('PausedByUser');
      await plugin(ns, 'promote', 't2v'); // lifts the pause and promotes
      await fx.waitFor('at 20 %', (r) => r.status?.weights?.candidate === 20 && r.status.phase === 'Progressing');

      const table = await plugin(ns, 'get');
      expect(table.split('\n')[1]).toMatch(/^t2v\s+Progressing\s+3\/5\s+80\/20\s+2\/2 \| 1\/1\s+v1\s+v2/);
      // One rollout in detail: the step plan with the bake left, both revisions with their real pods, events.
      const detail = await plugin(ns, 'get', 't2v');
      expect(detail).toMatch(/^Steps: +✔ 1 % {2}✔ 5 % {2}▶ 20 % \(baking, (59m\d*s?|1h0m) left\) {2}· 50 % {2}· 100 %/m);
      expect(detail).toMatch(/^ {2}stable {5}\w+ {2}Deployment t2v-\w+ {2}2\/2 ready\n {4}pod t2v-\S+ {2}Ready {2}restarts 0/m);
      expect(detail).toMatch(/^ {2}candidate {2}\w+ {2}Deployment t2v-\w+ {2}1\/1 ready\n {4}pod t2v-\S+ {2}Ready/m);
      expect(detail).toMatch(/Events \(last 8\):\n {2}TIME +TYPE +REASON +MESSAGE\n/);
      const asJson = JSON.parse(await plugin(ns, 'get', 't2v', '-o', 'json')) as { metadata: { name: string }; status: { weights: unknown } };
      expect(asJson).toMatchObject({ metadata: { name: 't2v' }, status: { weights: { stable: 80, candidate: 20 } } });

      expect(await plugin(ns, 'abort', 't2v')).toContain('abort requested');
      const aborted = await fx.waitFor('aborted', (r) => r.status?.phase === 'Aborted');
      expect(aborted.status?.failure?.reason).toBe('AbortRequested');
      expect(await fx.weights()).toEqual([100, 0]);

      await plugin(ns, 'retry', 't2v');
      await fx.waitFor('retried at 1 %', (r) => r.status?.phase === 'Progressing' && r.status.weights?.candidate === 1);
      await plugin(ns, 'resume', 't2v');
      const ro = await fx.get();
      expect(ro.spec).toEqual(expect.objectContaining({ model: { name: 'wan-t2v', version: 'v2' } }));

      // Started, a step passed by promote, paused by a person, aborted, started again by retry: in that order.
      const wanted = ['started', 'step-passed', 'paused', 'aborted', 'started'];
      const seen = () => receiver.events.map((e) => e.event);
      const isSubsequence = (events: string[]) =>
        wanted.every(
          (
            (i) => (w: string) =>
              (i = events.indexOf(w, i) + 1) > 0
          )(0),
        );
      await waitUntil(`notifications ${wanted.join(', ')} (got ${seen().join(', ')})`, async () => (isSubsequence(seen()) ? true : undefined), 30_000, 200);
      expect(receiver.events.find((e) => e.event === 'paused')?.reason).toBe('PausedByUser');
      expect(receiver.events.find((e) => e.event === 'aborted')?.reason).toBe('AbortRequested');
      expect(receiver.events.every((e) => /^sha256=[0-9a-f]{64}$/.test(e.signature ?? ''))).toBe(true);
    } finally {
      receiver.close();
    }
  });

  it('gate webhooks: pre-rollout holds before any traffic until it says yes; confirm-promotion holds the step before 100 %; abort ends the hold', async () => {
    const ns = await testNamespace(kc, 'ctl-gates');
    const fx = new RolloutFixture(kc, ns);
    await fx.createRoute();
    // A local gate receiver: each path answers 403 until the test opens it; every request's body is kept.
    const open = new Set<string>();
    const asked: { path: string; body: { name: string; namespace: string; type: string; checksum: string; metadata: Record<string, string> } }[] = [];
    const gate = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        asked.push({ path: req.url!, body: JSON.parse(body) as (typeof asked)[number]['body'] });
        if (open.has(req.url!)) res.writeHead(200).end('ok');
        else res.writeHead(403).end('not approved');
      });
    });
    await new Promise<void>((r) => gate.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(gate.address() as AddressInfo).port}`;
    try {
      await startOperator(kubeconfigPath, ns);
      const webhooks = [
        { name: 'smoke', type: 'pre-rollout', url: `${base}/pre`, timeoutSeconds: 2, metadata: { suite: 'smoke' } },
        { name: 'approval', type: 'confirm-promotion', url: `${base}/confirm`, timeoutSeconds: 2 },
      ];
      // The gates are asked again every analysis interval (2 s, the floor), as Flagger's.
      await fx.create(
        fx.spec({ replicas: 1, strategy: { steps: [50, 100], stepDuration: '1s', progressDeadline: '1m' }, analysis: { interval: '2s' }, webhooks }),
      );
      await fx.waitFor('stable Ready', (r) => fx.condition(r, 'Ready')?.status === 'True');
      expect(asked).toEqual([]); // no candidate, no question

      await fx.setVersion('v2');
      const pre = await fx.waitFor('held by pre-rollout', (r) => /HTTP 403: not approved/.test(r.status?.webhookGate?.lastAnswer ?? ''));
      expect(pre.status?.webhookGate).toMatchObject({ type: 'pre-rollout', name: 'smoke' });
      expect(fx.condition(pre, 'Progressing')).toMatchObject({ reason: 'WebhookGateHeld', message: expect.stringContaining('pre-rollout webhook "smoke"') });
      expect(await fx.weights()).toEqual([100, 0]);
      expect(asked[0]).toEqual({
        path: '/pre',
        body: {
          name: 't2v',
          namespace: ns,
          phase: 'Progressing',
          type: 'pre-rollout',
          checksum: pre.status?.candidate?.revision,
          metadata: { suite: 'smoke' },
        },
      });

      // Yes from pre-rollout (asked again within 2 s): the candidate gets its 50 %, bakes 1 s, then approval says no.
      open.add('/pre');
      const held = await fx.waitFor(
        'held by confirm-promotion',
        (r) => r.status?.webhookGate?.type === 'confirm-promotion' && /HTTP 403/.test(r.status.webhookGate.lastAnswer ?? ''),
        15_000,
      );
      expect(held.status).toMatchObject({ preRolloutPassed: true, currentStep: { weight: 50 }, webhookGate: { name: 'approval' } });
      // Each hold is in history when it begins, and the pre-rollout one's end too.
      expect(held.status?.history?.map((h) => h.reason).filter((r) => r.startsWith('WebhookGate'))).toEqual([
        'WebhookGateHeld',
        'WebhookGateOpened',
        'WebhookGateHeld',
      ]);
      expect(fx.condition(held, 'Progressing')?.message).toContain('confirm-promotion webhook "approval" holds the rollout at step');
      expect(await fx.weights()).toEqual([50, 50]);
      expect(
        asked.filter((a) => a.path === '/confirm').every((a) => a.body.type === 'confirm-promotion' && a.body.checksum === held.status?.candidate?.revision),
      ).toBe(true);

      // Abort while held: back to stable, the hold gone.
      await fx.annotate({ 'modelrollout.dev/abort': 'gate-held' });
      const aborted = await fx.waitFor('aborted', (r) => r.status?.phase === 'Aborted');
      expect(aborted.status?.webhookGate).toBeUndefined();
      // One replica a side: the stable side was never shrunk, so traffic goes back in the same pass.
      expect(await fx.weights()).toEqual([100, 0]);
      expect(asked.filter((a) => a.path === '/confirm').length).toBeGreaterThan(0);
    } finally {
      gate.close();
    }
  });

  it('refuses unknown commands and missing rollouts with a clear message', async () => {
    const ns = await testNamespace(kc, 'ctl-bad');
    const bad = await plugin(ns, 'abort', 'nope').then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(bad?.code).toBe(1);
    expect(bad?.stderr).toContain('ModelRollout not found');
    const usage = await plugin(ns, 'launch', 'x').then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(usage?.code).toBe(2);
    expect(usage?.stderr).toContain('unknown command "launch"');
  });
});
