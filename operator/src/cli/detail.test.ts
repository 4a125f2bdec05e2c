import { describe, expect, it } from 'vitest';
import type { ModelRollout } from '../api/index.js';
import { parseArgs, UsageError } from './commands.js';
import { detail, duration, type DetailObjects } from './detail.js';

const NOW = new Date('2026-11-30T12:10:00Z');

function objects(over: Partial<ModelRollout['status']> = {}): DetailObjects {
  const rollout = {
    apiVersion: 'modelrollout.dev/v1alpha1',
    kind: 'ModelRollout',
    metadata: { name: 't2v', namespace: 'ml' },
    spec: { model: { name: 't2v-tiny', version: 'v2' } },
    status: {
      phase: 'Progressing',
      message: 'step 2/5: 5 % to bbbb',
      stable: { revision: 'aaaa', modelVersion: 'v1' },
      candidate: { revision: 'bbbb', modelVersion: 'v2' },
      weights: { stable: 95, candidate: 5 },
      currentStep: { index: 1, label: '2/5', trafficShiftedAt: '2026-11-30T12:08:00Z' },
      lastValidSpec: { steps: [1, 5, 20, 50, 100], stepDurationMs: 600_000 },
      analysis: {
        revision: 'bbbb',
        metrics: [
          {
            name: 'error-rate',
            kind: 'step',
            verdict: 'pass',
            value: 0.0021,
            samples: 950,
            message: 'error-rate 2/950 (max 0.01): pass',
            time: '2026-11-30T12:09:30Z',
          },
          { name: 'latency-p99', kind: 'breaker', verdict: 'pass', value: 3, message: 'breaker view', time: '2026-11-30T12:09:30Z' },
          { name: 'golden-similarity', kind: 'step', verdict: 'noData', raw: 'NaN', message: 'golden-similarity: no data', time: '2026-11-30T12:09:30Z' },
        ],
        breaches: { 'latency-p99': '2026-11-30T12:09:00Z' },
        goldenProbes: { lastRoundTime: '2026-11-30T12:09:40Z', compared: 2, ssim: 0.98765, psnrDb: 35.25 },
      },
      ...over,
    },
  } as unknown as ModelRollout;
  const deployment = (revision: string, replicas: number, ready: number) => ({
    metadata: { name: `t2v-${revision}`, labels: { 'modelrollout.dev/revision': revision } },
    spec: { replicas },
    status: { readyReplicas: ready },
  });
  const pod = (name: string, revision: string, ready: boolean, restarts = 0, waiting?: string) => ({
    metadata: { name, labels: { 'modelrollout.dev/revision': revision } },
    spec: { nodeName: 'gpu-node-1' },
    status: {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
      containerStatuses: [{ restartCount: restarts, state: waiting ? { waiting: { reason: waiting } } : {} }],
    },
  });
  const event = (minute: number, reason: string) => ({
    type: 'Normal',
    reason,
    message: `${reason} message`,
    lastTimestamp: new Date(`2026-11-30T12:0${minute}:00Z`),
  });
  return {
    rollout,
    deployments: [deployment('aaaa', 4, 4), deployment('bbbb', 1, 0)] as never,
    pods: [pod('t2v-aaaa-2', 'aaaa', true), pod('t2v-aaaa-1', 'aaaa', true, 1), pod('t2v-bbbb-1', 'bbbb', false, 3, 'CrashLoopBackOff')] as never,
    events: Array.from({ length: 10 }, (_, i) => event(i, `Reason${i}`)) as never,
  };
}

describe('kubectl modelrollout get <name>', () => {
  it('shows the step plan with the current step and the bake time left, the revisions and pods, the measurements and the breaker', () => {
    const text = detail(objects(), NOW);
    expect(text).toContain('Name:         t2v (namespace ml)');
    expect(text).toContain('Model:        t2v-tiny: stable v1 (revision aaaa) → candidate v2 (revision bbbb)');
    expect(text).toContain('Traffic:      stable 95 % / candidate 5 %');
    // Shifted at 12:08, 10 min bake, now 12:10: 8 min left.
    expect(text).toContain('Steps:        ✔ 1 %  ▶ 5 % (baking, 8m left)  · 20 %  · 50 %  · 100 %   (each step bakes 10m)');
    expect(text).toMatch(
      / {2}stable {5}aaaa {2}Deployment t2v-aaaa {2}4\/4 ready\n {4}pod t2v-aaaa-1 {2}Ready {2}restarts 1 {2}node gpu-node-1\n {4}pod t2v-aaaa-2/,
    );
    expect(text).toContain('  candidate  bbbb  Deployment t2v-bbbb  0/1 ready\n    pod t2v-bbbb-1  CrashLoopBackOff  restarts 3');
    // Step measurements only (the breaker's view is summarised on its own line), a non-finite value as its raw text.
    expect(text).toContain(
      [
        '  METRIC             VERDICT  VALUE   SAMPLES  MESSAGE',
        '  error-rate         pass     0.0021  950      error-rate 2/950 (max 0.01): pass',
        '  golden-similarity  noData   NaN     -        golden-similarity: no data',
      ].join('\n'),
    );
    expect(text).not.toContain('breaker view');
    expect(text).toContain('  breaker: latency-p99 breaching since 2026-11-30T12:09:00Z');
    expect(text).toContain('  golden probes: SSIM 0.988, PSNR 35.3 dB over 2 prompts (2026-11-30T12:09:40Z)');
    // The last 8 events, oldest first.
    expect(text).toMatch(/Events \(last 8\):\n {2}TIME {18}TYPE {4}REASON {3}MESSAGE\n {2}2026-11-30T12:02:00Z {2}Normal {2}Reason2 {2}Reason2 message/);
    expect(text).not.toContain('Reason1 message');
    expect(text).toContain('Reason9 message');
  });

  it('says what it does not have instead of leaving sections out', () => {
    const o = objects({ phase: 'Healthy', candidate: undefined, analysis: undefined, currentStep: undefined, message: undefined });
    const text = detail({ ...o, pods: [], events: [] }, NOW);
    expect(text).toContain('Phase:        Healthy\n');
    expect(text).toContain('Steps:        · 1 %  · 5 %  · 20 %  · 50 %  · 100 %');
    expect(text).toContain('  stable     aaaa  Deployment t2v-aaaa  4/4 ready\n    no pods');
    expect(text).toContain('Analysis:\n  no measurements');
    expect(text).toContain('Events (last 8):\n  none');
    const paused = detail(objects({ phase: 'Paused' }), NOW);
    expect(paused).toContain('▶ 5 % (paused)');
    const scaling = detail(objects({ currentStep: { index: 1, label: '2/5', weight: 5 } }), NOW);
    expect(scaling).toContain('▶ 5 % (scaling up)');
  });

  it('shows an experiment: verdict, assignment, units with the SRM p, each metric with its confidence sequence, and the time to a decision', () => {
    const base = objects().rollout.status!.analysis!;
    const o = objects({
      analysis: {
        ...base,
        experiment: {
          assignment: {
            mode: 'userKey',
            header: 'X-ModelRollout-Arm',
            salt: '0123456789abcdef',
            buckets: 10000,
            weight: 5,
            treatment: { from: 0, to: 500 },
            control: { from: 5000, to: 5500 },
            ended: false,
          },
          verdict: 'Inconclusive',
          reason: 'playback-completion 0.3 → 0.32: not yet decided',
          units: { control: 1200, treatment: 1187 },
          srmP: 0.79,
          metrics: [{ name: 'playback-completion', role: 'goal', control: 0.3, treatment: 0.32, effect: 0.02, cs: [-0.011, 0.051], p: 0.41, power: 0.37 }],
          expectedTimeToDecision: '42m',
          error: 'control units: connection refused',
          coverage: { minUnits: 50, aboveWeight: 5, met: false, missing: ['tier=pro: control 12, treatment 9'] },
          segments: [
            {
              segment: 'tier=free',
              units: { control: 1188, treatment: 1178 },
              metrics: [{ name: 'abandon', role: 'guardrail', control: 0.1, treatment: 0.09, effect: -0.01, cs: [-0.04, 0.02], p: 0.8 }],
            },
            {
              segment: 'tier=pro',
              units: { control: 12, treatment: 9 },
              metrics: [],
              notes: ['abandon: 1 control and 30 treatment units so far (each arm needs 2)'],
            },
          ],
        },
      },
    });
    const text = detail(o, NOW);
    expect(text).toContain('  experiment: Inconclusive — playback-completion 0.3 → 0.32: not yet decided\n');
    expect(text).toContain('    assignment: X-ModelRollout-Arm, salt 0123456789abcdef, treatment buckets [0, 500), control [5000, 5500) of 10000\n');
    expect(text).toContain('    units: control 1200, treatment 1187, SRM p 0.790\n');
    expect(text).toMatch(
      / {4}METRIC +ROLE +CONTROL +TREATMENT +EFFECT +CONFIDENCE SEQUENCE +P \(ALWAYS VALID\) +POWER\n {4}playback-completion +goal +0\.3 +0\.32 +0\.02 +\[-0\.011, 0\.051\] +0\.410 +37 %\n/,
    );
    expect(text).toContain('    coverage: not yet (50 units per segment and arm before a step above 5 %); short: tier=pro: control 12, treatment 9\n');
    expect(text).toMatch(
      / {4}SEGMENT +UNITS \(C \/ T\) +GUARDRAIL +EFFECT +CONFIDENCE SEQUENCE +P \(ALWAYS VALID\) +NOTE\n {4}tier=free +1188 \/ 1178 +abandon +-0\.01 +\[-0\.04, 0\.02\] +0\.800 *\n {4}tier=pro +12 \/ 9 +- +- +- +- +abandon: 1 control/,
    );
    expect(text).toContain('    expected time to a decision at this traffic: 42m\n');
    expect(text).toContain('    last look failed: control units: connection refused');
  });

  it('formats durations and parses -o', () => {
    expect([duration(45_000), duration(432_000), duration(600_000), duration(3_780_000)]).toEqual(['45s', '7m12s', '10m', '1h3m']);
    expect(parseArgs(['get', 't2v', '-o', 'yaml'])).toMatchObject({ command: 'get', name: 't2v', output: 'yaml' });
    expect(parseArgs(['get', '--output=json'])).toMatchObject({ output: 'json' });
    expect(() => parseArgs(['get', 't2v', '-o', 'wide'])).toThrow(/-o wide: the output must be json or yaml/);
    expect(() => parseArgs(['pause', 't2v', '-o', 'json'])).toThrow(UsageError);
  });
});
