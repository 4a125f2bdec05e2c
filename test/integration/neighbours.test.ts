// When a name, a neighbour or the API server is not what the operator expected (issue 13, cases 2–5):
// long names, objects that belong to someone else, writes the API server refuses, objects deleted by
// hand. Each against the real control plane, with kwok pods that become Ready when kwok says so.
import * as k8s from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, inject, it } from 'vitest';
import { startOperator } from './operator-process.js';
import { MRO, ROUTE, RolloutFixture, type RolloutObject } from './rollout-fixtures.js';
import { apiErrorCode, apiErrorMessage, kubeConfig, testNamespace, waitUntil } from './support.js';
import { API_VERSION, KIND } from '../../operator/src/api/index.js';

const kc = kubeConfig();
const kubeconfigPath = inject('kubeconfigPath');

interface BlockedView {
  reason: string;
  object: string;
  message: string;
  attempts: number;
}

function blockedOf(ro: RolloutObject): BlockedView | undefined {
  return (ro.status as { blockedWrite?: BlockedView } | undefined)?.blockedWrite;
}

async function warnings(fx: RolloutFixture, reason: string): Promise<k8s.CoreV1Event[]> {
  return (await fx.events()).filter((e) => e.reason === reason && e.type === 'Warning');
}

async function healthy(prefix: string, spec: Record<string, unknown> = {}) {
  const ns = await testNamespace(kc, prefix);
  const fx = new RolloutFixture(kc, ns);
  await fx.createRoute();
  await startOperator(kubeconfigPath, ns);
  await fx.create(fx.spec(spec));
  const ro = await fx.waitFor('stable Ready', (r) => fx.condition(r, 'Ready')?.status === 'True');
  return { ns, fx, stable: ro.status!.stable!.revision };
}

describe('names', () => {
  it('the CRD refuses a ModelRollout name over 63 characters and says why', async () => {
    const ns = await testNamespace(kc, 'mro-longname');
    const fx = new RolloutFixture(kc, ns);
    const err = await fx.custom
      .createNamespacedCustomObject({
        ...MRO,
        namespace: ns,
        body: { apiVersion: API_VERSION, kind: KIND, metadata: { name: 'm'.repeat(64) }, spec: fx.spec() },
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err, 'a 64-character name was accepted').toBeDefined();
    expect(apiErrorCode(err)).toBe(422);
    expect(apiErrorMessage(err)).toMatch(/metadata\.name must be at most 63 characters.*label modelrollout\.dev\/name/);
  });

  it('a 63-character rollout gives each revision its own Deployment (whole hash, ≤ 63, no trailing "-") and promotes', async () => {
    const ns = await testNamespace(kc, 'mro-name63');
    // The route and Services use the short service name "t2v"; the rollout itself has a 63-character name.
    const route = new RolloutFixture(kc, ns);
    const long = new RolloutFixture(kc, ns, `${'long-model-rollout-'.repeat(4).slice(0, 62)}x`);
    expect(long.name).toHaveLength(63);
    await route.createRoute();
    await startOperator(kubeconfigPath, ns);
    await long.create(route.spec({ strategy: { steps: [50, 100], stepDuration: '1s', progressDeadline: '2m' } }));
    const first = await long.waitFor('stable Ready', (r) => long.condition(r, 'Ready')?.status === 'True');
    const stable = first.status!.stable!.revision;
    await long.setVersion('v2');
    const done = await long.waitFor('v2 promoted', (r) => r.status?.stable?.modelVersion === 'v2' && long.condition(r, 'Ready')?.status === 'True');
    const candidate = done.status!.stable!.revision;
    expect(candidate).not.toBe(stable);
    const names = (await long.apps.listNamespacedDeployment({ namespace: ns })).items.map((d) => d.metadata!.name!);
    expect(names).toHaveLength(2);
    for (const revision of [stable, candidate]) {
      const name = names.find((n) => n.endsWith(`-${revision}`));
      expect(name, `no Deployment for ${revision} in ${names.join(', ')}`).toBeDefined();
      expect(name!.length).toBeLessThanOrEqual(63);
      expect(name).not.toMatch(/-$/);
    }
    expect(await route.weights()).toEqual([100, 0]);
    const svc = await route.core.readNamespacedService({ name: 't2v-stable', namespace: ns });
    expect(svc.spec?.selector).toEqual({ 'modelrollout.dev/name': long.name, 'modelrollout.dev/revision': candidate });
  });
});

describe('ownership', () => {
  it("a route rule that sends traffic to someone else's backend is named in a condition and an event, left as it is, and taken over once it points at our stable Service", async () => {
    const ns = await testNamespace(kc, 'mro-foreignrule');
    const fx = new RolloutFixture(kc, ns);
    await fx.createRoute();
    const ruleTo = async (backend: string) => {
      const route = (await fx.custom.getNamespacedCustomObject({ ...ROUTE, namespace: ns, name: 'edge-route' })) as {
        metadata: k8s.V1ObjectMeta;
        spec: { rules: { backendRefs: { name: string; port: number }[] }[] };
      };
      route.spec.rules[1] = { backendRefs: [{ name: backend, port: 80 }] };
      await fx.custom.replaceNamespacedCustomObject({ ...ROUTE, namespace: ns, name: 'edge-route', body: route });
    };
    await ruleTo('legacy-t2v');
    await startOperator(kubeconfigPath, ns);
    await fx.create(fx.spec());
    const held = await fx.waitFor('RouteRuleNotOwned', (r) => fx.condition(r, 'Ready')?.reason === 'RouteRuleNotOwned');
    expect(fx.condition(held, 'Ready')?.message).toMatch(/rule 1 sends traffic to Service legacy-t2v/);
    await waitUntil('a RouteRuleNotOwned event', async () => ((await warnings(fx, 'RouteRuleNotOwned')).length > 0 ? true : undefined));
    await sleep(3_000);
    expect(((await fx.routeRule()).backendRefs ?? []).map((b) => b.name)).toEqual(['legacy-t2v']);
    await ruleTo('t2v-stable');
    await fx.waitFor('stable Ready once the rule is ours', (r) => fx.condition(r, 'Ready')?.status === 'True');
    expect(await fx.weights()).toEqual([100, 0]);
  });

  it('a Service the user already has is named in a condition and an event, left as it is, and the rollout waits', async () => {
    const ns = await testNamespace(kc, 'mro-foreign-svc');
    const fx = new RolloutFixture(kc, ns);
    await fx.createRoute();
    await fx.core.createNamespacedService({
      namespace: ns,
      body: { metadata: { name: 't2v-stable' }, spec: { selector: { app: 'legacy-t2v' }, ports: [{ port: 80, targetPort: 8080 }] } },
    });
    const before = await fx.core.readNamespacedService({ name: 't2v-stable', namespace: ns });
    await startOperator(kubeconfigPath, ns);
    await fx.create(fx.spec());
    const blocked = await fx.waitFor('ReconcileError', (r) => fx.condition(r, 'ReconcileError')?.status === 'True');
    expect(fx.condition(blocked, 'ReconcileError')).toMatchObject({ reason: 'ObjectNotOwned' });
    expect(fx.condition(blocked, 'ReconcileError')!.message).toMatch(
      /^Service t2v-stable exists and is not owned by this ModelRollout \(owner: none; written by [^)]+\)/,
    );
    expect(blocked.status?.phase).toBe('Initializing');
    await waitUntil('ObjectNotOwned event', async () =>
      (await warnings(fx, 'ObjectNotOwned')).some((e) => e.message?.includes('Service t2v-stable')) ? true : undefined,
    );
    // Beyond the first backoff (5 s): the Service has not been written to at all.
    await sleep(7_000);
    const after = await fx.core.readNamespacedService({ name: 't2v-stable', namespace: ns });
    expect(after.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
    expect(after.spec?.selector).toEqual({ app: 'legacy-t2v' });
    expect(blockedOf(await fx.get())?.attempts).toBeLessThanOrEqual(3);
    // Once the user removes it, the rollout goes on by itself and the condition clears.
    await fx.core.deleteNamespacedService({ name: 't2v-stable', namespace: ns });
    const ready = await fx.waitFor('stable Ready', (r) => fx.condition(r, 'Ready')?.status === 'True');
    expect(fx.condition(ready, 'ReconcileError')).toMatchObject({ status: 'False', reason: 'ReconcileSucceeded' });
    expect(blockedOf(ready)).toBeUndefined();
  });

  it("two ModelRollouts naming the same service.name: the second waits and never re-points the first one's Services", async () => {
    const { ns, fx, stable } = await healthy('mro-two-owners');
    const selectors = async () =>
      Promise.all(
        ['t2v-stable', 't2v-candidate'].map(async (name) => {
          const svc = await fx.core.readNamespacedService({ name, namespace: ns });
          return { rv: svc.metadata?.resourceVersion, selector: svc.spec?.selector };
        }),
      );
    const before = await selectors();
    expect(before.map((s) => s.selector)).toEqual([
      { 'modelrollout.dev/name': 't2v', 'modelrollout.dev/revision': stable },
      { 'modelrollout.dev/name': 't2v', 'modelrollout.dev/revision': stable },
    ]);
    const second = new RolloutFixture(kc, ns, 't2v-b');
    await second.create(fx.spec({}, 'v9'));
    const blocked = await second.waitFor('ReconcileError', (r) => second.condition(r, 'ReconcileError')?.status === 'True');
    expect(second.condition(blocked, 'ReconcileError')!.message).toMatch(
      /^Service t2v-stable exists and is not owned by this ModelRollout \(owner: ModelRollout t2v \(uid [0-9a-f-]+\)\)/,
    );
    await sleep(7_000);
    expect(await selectors()).toEqual(before);
    expect(await fx.weights()).toEqual([100, 0]);
    expect(fx.condition(await fx.get(), 'Ready')?.status).toBe('True');
  });

  it('a Deployment of the generated name that belongs to someone else is not scaled or adopted', async () => {
    const ns = await testNamespace(kc, 'mro-foreign-dep');
    const fx = new RolloutFixture(kc, ns);
    await fx.createRoute();
    await startOperator(kubeconfigPath, ns);
    // Learn the revision name from a first rollout, then put someone else's Deployment in its place.
    await fx.create(fx.spec());
    const ready = await fx.waitFor('stable Ready', (r) => fx.condition(r, 'Ready')?.status === 'True');
    const revision = ready.status!.stable!.revision;
    await fx.custom.deleteNamespacedCustomObject({ ...MRO, namespace: ns, name: 't2v' });
    await waitUntil('rollout and what it owned gone', async () => {
      const left =
        (await fx.apps.listNamespacedDeployment({ namespace: ns })).items.length +
        (await fx.apps.listNamespacedControllerRevision({ namespace: ns })).items.length +
        (await fx.core.listNamespacedService({ namespace: ns })).items.length;
      const ro = await fx.get().catch(() => undefined);
      return !ro && left === 0 ? true : undefined;
    });
    const labels = { app: 'someone-else', 'modelrollout.dev/name': 't2v' };
    await fx.apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: `t2v-${revision}`, labels },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'someone-else' } },
          template: { metadata: { labels }, spec: { containers: [{ name: 'x', image: 'example.invalid/x:1' }] } },
        },
      },
    });
    const before = await fx.apps.readNamespacedDeployment({ name: `t2v-${revision}`, namespace: ns });
    await fx.create(fx.spec());
    const blocked = await fx.waitFor('ReconcileError', (r) => fx.condition(r, 'ReconcileError')?.status === 'True');
    expect(fx.condition(blocked, 'ReconcileError')).toMatchObject({ reason: 'ObjectNotOwned' });
    expect(fx.condition(blocked, 'ReconcileError')!.message).toMatch(
      new RegExp(`^Deployment t2v-${revision} exists and is not owned by this ModelRollout \\(owner: none`),
    );
    await sleep(3_000);
    const after = await fx.apps.readNamespacedDeployment({ name: `t2v-${revision}`, namespace: ns });
    // Its status moves with its own pods; its spec (generation), labels and owners are as its owner left them.
    expect(after.metadata?.generation).toBe(before.metadata?.generation);
    expect(after.metadata?.labels).toEqual(before.metadata?.labels);
    expect(after.spec?.replicas).toBe(1);
    expect(after.metadata?.ownerReferences).toBeUndefined();
  });
});

describe('refused writes', () => {
  it('a pod template the API server refuses reaches status and events at once, is not retried hot, and the deadline aborts it', async () => {
    const { fx } = await healthy('mro-refused', { strategy: { stepDuration: '1s', progressDeadline: '30s' } });
    await fx.patch({
      spec: { model: { name: 'wan-t2v', version: 'v2' }, template: { spec: { containers: [{ name: 'Bad_Name', image: 'example.invalid/t2v:v2' }] } } },
    });
    const refused = await fx.waitFor('TemplateRefused', (r) => fx.condition(r, 'ReconcileError')?.reason === 'TemplateRefused');
    const candidate = refused.status!.candidate!.revision;
    const condition = fx.condition(refused, 'ReconcileError')!;
    expect(condition.status).toBe('True');
    expect(condition.message).toContain(`create Deployment t2v-${candidate}: 422`);
    expect(condition.message).toContain('Bad_Name');
    expect(refused.status?.phase).toBe('Progressing');
    const events = await waitUntil('TemplateRefused event', async () => {
      const found = await warnings(fx, 'TemplateRefused');
      return found.length > 0 ? found : undefined;
    });
    expect(events[0]!.message).toContain('Bad_Name');
    expect(await fx.weights()).toEqual([100, 0]);
    // Backoff: 5 s then 10 s between attempts, so within ~8 s at most a second attempt was made.
    await sleep(8_000);
    expect(blockedOf(await fx.get())!.attempts).toBeLessThanOrEqual(2);
    // The candidate never becomes ready; the progress deadline (30 s) still applies.
    const aborted = await fx.waitFor('Aborted', (r) => r.status?.phase === 'Aborted', 90_000);
    expect(aborted.status?.failure?.reason).toBe('ProgressDeadlineExceeded');
    expect(await fx.weights()).toEqual([100, 0]);
    expect((await fx.apps.listNamespacedDeployment({ namespace: fx.namespace })).items).toHaveLength(1);
  });
});

describe('lost objects', () => {
  it('the stable Deployment deleted by hand at 50 % is rebuilt from its ControllerRevision, and abort still works', async () => {
    const { ns, fx, stable } = await healthy('mro-lost', { strategy: { steps: [50, 100], stepDuration: '10m', progressDeadline: '2m' } });
    await fx.setVersion('v2');
    const at50 = await fx.waitFor('50 %', (r) => r.status?.weights?.candidate === 50);
    const candidate = at50.status!.candidate!.revision;
    const revisions = (await fx.apps.listNamespacedControllerRevision({ namespace: ns })).items;
    for (const revision of [stable, candidate]) {
      const cr = revisions.find((r) => r.metadata?.name === `t2v-${revision}`);
      expect(cr?.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'ModelRollout', name: 't2v', controller: true });
    }
    const lost = (await fx.deploymentOf(stable))!;
    await fx.apps.deleteNamespacedDeployment({ name: `t2v-${stable}`, namespace: ns });
    const rebuilt = await waitUntil('stable rebuilt', async () => {
      const dep = await fx.deploymentOf(stable);
      return dep && dep.metadata?.uid !== lost.metadata?.uid && !dep.metadata?.deletionTimestamp ? dep : undefined;
    });
    expect(rebuilt.spec?.template.spec?.containers[0]?.image).toBe('example.invalid/t2v:v1');
    expect(rebuilt.metadata?.labels?.['modelrollout.dev/model-version']).toBe('v1');
    expect(rebuilt.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'ModelRollout', name: 't2v' });
    await fx.annotate({ 'modelrollout.dev/abort': 'now' });
    const aborted = await fx.waitFor('Aborted', (r) => r.status?.phase === 'Aborted');
    expect(aborted.status?.failure?.reason).toBe('AbortRequested');
    await waitUntil('route back on stable', async () => ((await fx.weights())[1] === 0 ? true : undefined));
    expect(await fx.weights()).toEqual([100, 0]);
    await waitUntil('stable ready again', async () => ((await fx.deploymentOf(stable))?.status?.readyReplicas === 2 ? true : undefined));
    const reasons = (await fx.events()).map((e) => e.reason);
    expect(reasons).not.toContain('RevisionTemplateLost');
  });

  it('abort works at once even while the stable Deployment is being rebuilt', async () => {
    const { ns, fx, stable } = await healthy('mro-lost-abort', { strategy: { steps: [50, 100], stepDuration: '10m', progressDeadline: '2m' } });
    await fx.setVersion('v2');
    await fx.waitFor('50 %', (r) => r.status?.weights?.candidate === 50);
    // Delete and abort together: the pass that sees the abort also has to rebuild stable.
    await fx.apps.deleteNamespacedDeployment({ name: `t2v-${stable}`, namespace: ns });
    await fx.annotate({ 'modelrollout.dev/abort': 'now' });
    await fx.waitFor('Aborted', (r) => r.status?.phase === 'Aborted');
    await waitUntil('route back on stable', async () => ((await fx.weights())[1] === 0 ? true : undefined));
    await waitUntil('stable ready again', async () => ((await fx.deploymentOf(stable))?.status?.readyReplicas === 2 ? true : undefined));
    expect((await fx.deploymentOf(stable))?.spec?.template.spec?.containers[0]?.image).toBe('example.invalid/t2v:v1');
  });
});
