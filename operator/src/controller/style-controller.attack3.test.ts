// Third attack on #18 (docs/attack-18c.md): the claim a StyleRollout leaves behind when its rule was edited in
// place, when the team follows RouteRuleNotOwned's own advice after inserting a rule, and when it is deleted
// while status.rule still names the rule it left. A fake API server (routes and the StyleRollout in memory)
// stands in for the cluster; the controller is the real one (same harness as style-controller.attack2.test.ts,
// with routes by name). Each test fails as built.
import * as k8s from '@kubernetes/client-node';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { FINALIZER, styleRuleClaim } from '../api/index.js';
import { observeRule, type HttpRoute } from '../traffic/gateway-api.js';
import { StyleController } from './style-controller.js';

const pin = (value: string) => [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-Adapter-Version', value }] } }];
const NOW = new Date('2026-12-01T00:10:00Z');

interface Obj {
  metadata: Record<string, unknown> & { annotations?: Record<string, string>; finalizers?: string[]; deletionTimestamp?: string };
  spec: Record<string, unknown>;
  status?: Record<string, unknown>;
}

/** The style's rule, mid-rollout at 50 % v2. */
const styleRule = () => ({
  matches: [{ headers: [{ name: 'x-t2v-style', value: 'ink-wash' }] }],
  backendRefs: [
    { name: 't2v-stable', port: 80, weight: 50, filters: pin('ink-wash@v1') },
    { name: 't2v-stable', port: 80, weight: 50, filters: pin('ink-wash@v2') },
  ],
});

function harness(routes: Record<string, Obj>, ruleIndex = 0) {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'http://127.0.0.1:9' }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  const controller = new StyleController({
    kc,
    log: pino({ level: 'silent' }),
    workers: 1,
    now: () => NOW,
    analysis: { runAdapter: async () => ({ analysis: { result: 'pass' }, breaker: { tripped: false } }) } as never,
    events: { record: async () => undefined } as never,
  });
  const sro: { value: Obj } = {
    value: {
      metadata: { name: 'ink-wash', namespace: 'ml', uid: 'uid-1', generation: 3, resourceVersion: '20', finalizers: [FINALIZER] },
      spec: {
        style: 'ink-wash',
        version: 'v2',
        model: 'wan',
        service: { name: 't2v-stable', port: 80 },
        trafficRouting: { gatewayAPI: { httpRoute: 't2v', ruleIndex } },
        strategy: { steps: [10, 50, 100], stepDuration: '2m', preload: false },
      },
      status: {
        observedGeneration: 3,
        phase: 'Progressing',
        stableVersion: 'v1',
        candidateVersion: 'v2',
        currentStep: { index: 1, weight: 50, label: '2/3', trafficShiftedAt: '2026-12-01T00:09:00Z' },
        weights: { stable: 50, candidate: 50 },
        rolloutCount: 1,
        rule: { httpRoute: 't2v', ruleIndex: 0, service: 't2v-stable', port: 80, style: 'ink-wash' },
      },
    },
  };
  const notFound = () => Object.assign(new Error('not found'), { code: 404, statusCode: 404, body: { code: 404 } });
  const custom = {
    getNamespacedCustomObject: async ({ name }: { name: string }) => {
      if (!routes[name]) throw notFound();
      return structuredClone(routes[name]);
    },
    replaceNamespacedCustomObject: async ({ name, body }: { name: string; body: Obj }) => {
      routes[name] = structuredClone(body);
      return structuredClone(body);
    },
    patchNamespacedCustomObject: async ({ body }: { body: { metadata: { finalizers: string[] } } }) => {
      sro.value.metadata.finalizers = body.metadata.finalizers;
      return structuredClone(sro.value);
    },
    patchNamespacedCustomObjectStatus: async ({ body }: { body: { status: Record<string, unknown> } }) => {
      sro.value.status = { ...sro.value.status, ...body.status };
      return structuredClone(sro.value);
    },
  };
  const internals = controller as unknown as { custom: unknown; rollouts: unknown };
  internals.custom = custom;
  internals.rollouts = { get: () => structuredClone(sro.value), remember: () => undefined, forget: () => undefined };
  const pins = (name: string, i: number) =>
    (routes[name]!.spec.rules as { backendRefs: { weight?: number; filters: ReturnType<typeof pin> }[] }[])[i]!.backendRefs.map(
      (r) => `${r.filters[0]!.requestHeaderModifier.set[0]!.value}=${r.weight ?? 1}`,
    );
  const remove = async () => {
    sro.value.metadata.deletionTimestamp = NOW.toISOString();
    await controller.reconcile('ml/ink-wash');
    expect(sro.value.metadata.finalizers).toEqual([]);
  };
  return { controller, sro, pins, remove };
}

const claimed = (rules: Record<string, unknown>[], claims: Record<string, string>): Obj => ({
  metadata: { name: 't2v', namespace: 'ml', resourceVersion: '10', annotations: claims },
  spec: { rules },
});

describe('attack #18c: what a StyleRollout leaves behind', () => {
  it('M3 a StyleRollout deleted after the team edited its rule’s matches in place puts the rule back on stable and drops its claim', async () => {
    const rule = styleRule();
    const routes = { t2v: claimed([rule], { 'modelrollout.dev/style-rule-0': styleRuleClaim('ink-wash', rule) }) };
    // The team widens the rule (a path match added); nothing inserted, nothing reordered.
    (routes.t2v.spec.rules as Record<string, unknown>[])[0]!.matches = [
      { path: { type: 'PathPrefix', value: '/v1' }, headers: [{ name: 'x-t2v-style', value: 'ink-wash' }] },
    ];
    const h = harness(routes);
    await h.controller.reconcile('ml/ink-wash');
    await h.remove();
    // As built: the rule reads as "not the rule this StyleRollout claimed", release() returns without writing,
    // and the finalizer goes: ink-wash@v2 keeps 50 % with nothing judging it, and the claim names a StyleRollout
    // that no longer exists (every other StyleRollout and ModelRollout refuses the rule until it is removed by hand).
    expect(routes.t2v.metadata.annotations?.['modelrollout.dev/style-rule-0']).toBeUndefined();
    expect(h.pins('t2v', 0)).toEqual(['ink-wash@v1=100']);
  });

  it('M4 after a rule is inserted before the style’s rule, following the advice (ruleIndex: 1) leaves index 0 free for a ModelRollout', async () => {
    const rule = styleRule();
    const modelRule = { matches: [{ path: { type: 'PathPrefix', value: '/v1/videos' } }], backendRefs: [{ name: 'wan-stable', port: 80 }] };
    // Claimed as rule 0; then the team inserts a model rule before it (G4's case).
    const routes = { t2v: claimed([modelRule, rule], { 'modelrollout.dev/style-rule-0': styleRuleClaim('ink-wash', rule) }) };
    const h = harness(routes, 1);
    await h.controller.reconcile('ml/ink-wash');
    // The StyleRollout carries on on rule 1 (claimed there)…
    expect(routes.t2v.metadata.annotations?.['modelrollout.dev/style-rule-1']).toBeDefined();
    // As built: …but leaveOldRule → release(rule 0) sees "not the rule claimed" and returns: the stale
    // style-rule-0 claim stays for good, and a ModelRollout pointed at rule 0 (the team's new model rule) is
    // refused ("managed by StyleRollout ink-wash") although no StyleRollout manages it.
    expect(routes.t2v.metadata.annotations?.['modelrollout.dev/style-rule-0']).toBeUndefined();
    const target = { namespace: 'ml', stableService: 'wan-stable', candidateService: 'wan-canary', port: 80 };
    expect(observeRule(routes.t2v as unknown as HttpRoute, 0, target as never).found).toBe(true);
  });

  it('D1 deleted while status.rule still names the rule it moved from (a route since deleted), the rule it moved to and claimed is put back on stable', async () => {
    // The spec moved from route `t2v-old` to `t2v`; the pass that wrote `t2v` (claim, 50/50 kept) lost its
    // status patch (leadership lost, API error), so status.rule still names `t2v-old` — which the team then
    // deleted.
    const rule = styleRule();
    const routes: Record<string, Obj> = { t2v: claimed([rule], { 'modelrollout.dev/style-rule-0': styleRuleClaim('ink-wash', rule) }) };
    const h = harness(routes);
    (h.sro.value.status!.rule as { httpRoute: string }).httpRoute = 't2v-old';
    await h.remove();
    // As built: restoreAndRelease releases status.rule only (`status.rule ?? spec`): `t2v-old` is gone, `t2v`
    // keeps 50 % v2 and a claim naming a deleted StyleRollout.
    expect(h.pins('t2v', 0)).toEqual(['ink-wash@v1=100']);
    expect(routes.t2v!.metadata.annotations?.['modelrollout.dev/style-rule-0']).toBeUndefined();
  });
});
