// Second attack on #18 (docs/attack-18b.md): the StyleController's claim of a rule when the spec moves to another
// rule mid-rollout, and on deletion. A fake API server (route and StyleRollout kept in memory) stands in for the
// cluster; the controller is the real one. Fails as built.
import * as k8s from '@kubernetes/client-node';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { FINALIZER, styleRuleClaim } from '../api/index.js';
import { StyleController } from './style-controller.js';

const pin = (value: string) => [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-Adapter-Version', value }] } }];
const NOW = new Date('2026-12-01T00:10:00Z');

interface Obj {
  metadata: Record<string, unknown> & { annotations?: Record<string, string>; finalizers?: string[] };
  spec: Record<string, unknown>;
  status?: Record<string, unknown>;
}

function harness() {
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
  const styleRule0 = {
    matches: [{ headers: [{ name: 'x-t2v-style', value: 'ink-wash' }] }],
    backendRefs: [
      { name: 't2v-stable', port: 80, weight: 50, filters: pin('ink-wash@v1') },
      { name: 't2v-stable', port: 80, weight: 50, filters: pin('ink-wash@v2') },
    ],
  };
  // The HTTPRoute: rule 0 is the StyleRollout's, mid-rollout at 50 % v2 and claimed; rule 1 is another ink-wash
  // rule to the same Service (another market's header), pinned to v3, that no StyleRollout manages.
  const route: { value: Obj } = {
    value: {
      metadata: {
        name: 't2v',
        namespace: 'ml',
        resourceVersion: '10',
        annotations: { 'modelrollout.dev/style-rule-0': styleRuleClaim('ink-wash', styleRule0) },
      },
      spec: {
        rules: [
          styleRule0,
          {
            matches: [
              {
                headers: [
                  { name: 'x-t2v-style', value: 'ink-wash' },
                  { name: 'x-market', value: 'jp' },
                ],
              },
            ],
            backendRefs: [{ name: 't2v-stable', port: 80, filters: pin('ink-wash@v3') }],
          },
        ],
      },
    },
  };
  const sro: { value: Obj } = {
    value: {
      metadata: { name: 'ink-wash', namespace: 'ml', uid: 'uid-1', generation: 3, resourceVersion: '20', finalizers: [FINALIZER] },
      spec: {
        style: 'ink-wash',
        version: 'v2',
        model: 'wan',
        service: { name: 't2v-stable', port: 80 },
        trafficRouting: { gatewayAPI: { httpRoute: 't2v', ruleIndex: 0 } },
        strategy: { steps: [10, 50, 100], stepDuration: '2m', preload: false },
      },
      status: {
        observedGeneration: 3,
        phase: 'Progressing',
        stableVersion: 'v1',
        candidateVersion: 'v2',
        currentStep: { index: 1, weight: 50, label: '2/3', trafficShiftedAt: '2026-12-01T00:09:00Z' },
        weights: { stable: 50, candidate: 50 },
        // What the controller records with its writes: the rule it manages.
        rule: { httpRoute: 't2v', ruleIndex: 0, service: 't2v-stable', port: 80, style: 'ink-wash' },
      },
    },
  };
  const custom = {
    getNamespacedCustomObject: async () => structuredClone(route.value),
    replaceNamespacedCustomObject: async ({ body }: { body: Obj }) => {
      route.value = structuredClone(body);
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
  const rule = (i: number) => (route.value.spec.rules as { backendRefs: { weight?: number; filters: ReturnType<typeof pin> }[] }[])[i]!;
  const pins = (i: number) => rule(i).backendRefs.map((r) => `${r.filters[0]!.requestHeaderModifier.set[0]!.value}=${r.weight ?? 1}`);
  return { controller, route, sro, pins };
}

describe('attack #18b: the claim when the StyleRollout moves to another rule', () => {
  it('I1 moving spec.trafficRouting.gatewayAPI.ruleIndex mid-rollout, then deleting the StyleRollout, does not leave the old rule claimed at 50 % v2', async () => {
    const h = harness();
    (h.sro.value.spec.trafficRouting as { gatewayAPI: { ruleIndex: number } }).gatewayAPI.ruleIndex = 1;
    h.sro.value.metadata.generation = 4;
    await h.controller.reconcile('ml/ink-wash');
    // Now deleted: the finalizer restores "the rule" — the spec's current one only.
    h.sro.value.metadata.deletionTimestamp = NOW.toISOString();
    await h.controller.reconcile('ml/ink-wash');
    expect(h.sro.value.metadata.finalizers).toEqual([]);
    // As built: rule 0 keeps ink-wash@v2 at 50 % with nothing judging it, and its claim annotation names a
    // StyleRollout that no longer exists — no other StyleRollout may take it (RouteRuleNotOwned) and a
    // ModelRollout refuses it, until someone removes the annotation by hand.
    expect(h.route.value.metadata.annotations?.['modelrollout.dev/style-rule-0']).toBeUndefined();
    expect(h.pins(0)).toEqual(['ink-wash@v1=100']);
  });

  it("I2 … and rule 1's users (on v3, never managed by this StyleRollout) are not switched to v1/v2 by the move", async () => {
    const h = harness();
    (h.sro.value.spec.trafficRouting as { gatewayAPI: { ruleIndex: number } }).gatewayAPI.ruleIndex = 1;
    h.sro.value.metadata.generation = 4;
    await h.controller.reconcile('ml/ink-wash');
    // As built: rule 1 is rewritten to ink-wash@v1=50, ink-wash@v2=50 and claimed in one write.
    // Fixed: rule 1's v3 is adopted as its stable version, and v2 rolled out over it from the first step.
    expect(h.pins(1)).toEqual(['ink-wash@v3=90', 'ink-wash@v2=10']);
    expect(h.sro.value.status).toMatchObject({ stableVersion: 'v3', candidateVersion: 'v2', rule: { ruleIndex: 1 } });
  });

  it('I3 deleting a StyleRollout mid-rollout whose spec.style was just edited to an invalid name puts the rule back on stable and drops the claim', async () => {
    const h = harness();
    h.sro.value.spec.style = 'Ink-Wash';
    h.sro.value.metadata.generation = 4;
    await h.controller.reconcile('ml/ink-wash');
    expect(h.sro.value.status?.phase).toBe('Invalid');
    h.sro.value.metadata.deletionTimestamp = NOW.toISOString();
    await h.controller.reconcile('ml/ink-wash');
    expect(h.sro.value.metadata.finalizers).toEqual([]);
    // As built: restoreAndRelease reads the style from the (invalid) spec, the rule reads as "another style's
    // rule", and the finalizer goes with ink-wash@v2 still at 50 % and the claim left on the route.
    expect(h.pins(0)).toEqual(['ink-wash@v1=100']);
    expect(h.route.value.metadata.annotations?.['modelrollout.dev/style-rule-0']).toBeUndefined();
  });
});
