// Attack tests for issue #18 (StyleRollout). Each `it` names a defect; it fails on main as built (docs/attack-18.md).
import { describe, expect, it } from 'vitest';
import { observeAdapterRule } from '../traffic/adapter-route.js';
import { decideStyle } from './style-decide.js';
import { parseStyleSpec, type StoredStyleSpec } from './style-spec.js';
import type { AdapterArm, StyleDecideInput, StyleRolloutStatus, StyleSpec } from './style-types.js';

const NOW = new Date('2026-12-01T00:00:00Z');
const spec = (version: string): StyleSpec => ({
  style: 'ink-wash',
  version,
  steps: [10, 50, 100],
  stepDurationMs: 60_000,
  preload: false,
  assignment: 'weighted',
});
const input = (s: StyleSpec, status: StyleRolloutStatus, arms: AdapterArm[]): StyleDecideInput => ({
  spec: s,
  specErrors: [],
  uid: 'uid-1',
  generation: 1,
  status,
  route: { found: true, arms },
  analysis: { result: 'pass' },
  breaker: { tripped: false },
  now: NOW,
});
const stored = (version: string): StoredStyleSpec => ({
  style: 'ink-wash',
  version,
  model: 'wan',
  service: { name: 'wan' },
  trafficRouting: { gatewayAPI: { httpRoute: 'styles' } },
});

describe('attack #18: adopting a live route', () => {
  it('A1 a new StyleRollout for v2 over a rule already pinning ink-wash@v1 does not move 100 % to v2 in one write', () => {
    // The platform team's rule serves v1 today; they create the StyleRollout to roll v2 out progressively.
    const d = decideStyle(input(spec('v2'), {}, [{ version: 'v1', weight: 100 }]));
    // As built: v2 becomes stable at once and the rule is rewritten to 100 % v2 with no step and no analysis.
    const toV2 = d.route?.arms.find((a) => a.version === 'v2')?.weight ?? 0;
    expect(toV2).toBeLessThan(100);
    expect(d.status.stableVersion).toBe('v1');
  });
});

describe('attack #18: spec validation', () => {
  it('A2 spec.version "v01" is refused (the runtime reads it as v1: library.ts Number(m[1]))', () => {
    const { errors } = parseStyleSpec(stored('v01'));
    expect(errors.join('; ')).toMatch(/spec\.version/);
  });

  it('A2b a rule pinning "ink-wash@v01" (the runtime reads v1) is adopted as v1: a StyleRollout for v1 moves nobody', () => {
    const obs = observeAdapterRule(
      {
        metadata: { name: 'styles' },
        spec: {
          rules: [
            {
              backendRefs: [
                {
                  name: 'wan',
                  port: 80,
                  filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-Adapter-Version', value: 'ink-wash@v01' }] } }],
                },
              ],
            },
          ],
        },
      },
      0,
      { namespace: 'ml', service: 'wan', port: 80, style: 'ink-wash', owner: 'ink-wash' },
    );
    expect(obs).toEqual({ found: true, arms: [{ version: 'v1', weight: 1 }], unclaimed: true });
    const d = decideStyle({ ...input(spec('v1'), {}, []), route: obs });
    expect(d.status.stableVersion).toBe('v1');
    expect(d.status.phase).toBe('Initializing');
    // The one write rewrites the pin in its canonical form and claims the rule; the version is the same.
    expect(d.route?.arms).toEqual([{ version: 'v1', weight: 100 }]);
  });
});

describe('attack #18: a spec made invalid and fixed mid-rollout', () => {
  it('A3 fixing a typo at step 3/3 (100 % on v2) resumes there instead of swinging traffic back to 10 %', () => {
    const status: StyleRolloutStatus = {
      phase: 'Invalid',
      message: 'spec.strategy.stepDuration: "2mm" is not a positive duration',
      stableVersion: 'v1',
      candidateVersion: 'v2',
      currentStep: { index: 2, weight: 100, label: '3/3', trafficShiftedAt: '2026-11-30T23:59:00Z' },
      weights: { stable: 0, candidate: 100 },
    };
    const d = decideStyle(input(spec('v2'), status, [{ version: 'v2', weight: 100 }]));
    // As built: start() runs again (phase is not Progressing/Paused) → step 1/3 → the rule is rewritten to 90/10.
    expect(d.route?.arms ?? [{ version: 'v2', weight: 100 }]).toEqual([{ version: 'v2', weight: 100 }]);
  });
});
