import { describe, expect, it } from 'vitest';
import type { ModelRollout } from '../api/index.js';
import { annotationsFor, parseArgs, table } from './commands.js';

describe('kubectl-modelrollout', () => {
  it('parses commands and refuses bad ones with the usage', () => {
    expect(parseArgs(['pause', 'wan', '-n', 'ml'])).toEqual({ command: 'pause', name: 'wan', namespace: 'ml', allNamespaces: false });
    expect(parseArgs(['get', '-A'])).toMatchObject({ command: 'get', allNamespaces: true });
    expect(() => parseArgs(['abort'])).toThrow(/abort needs the name of a ModelRollout/);
    expect(() => parseArgs(['explode', 'x'])).toThrow(/unknown command "explode"/);
  });

  it('turns controls into annotations; resume and promote also lift a pause', () => {
    const now = new Date('2026-11-24T10:00:00Z');
    expect(annotationsFor('pause', now)).toEqual({ 'modelrollout.dev/paused': 'true' });
    expect(annotationsFor('resume', now)).toEqual({ 'modelrollout.dev/paused': null, 'modelrollout.dev/resume': '2026-11-24T10:00:00.000Z' });
    expect(annotationsFor('abort', now)).toEqual({ 'modelrollout.dev/abort': '2026-11-24T10:00:00.000Z' });
  });

  it('prints a table with weights, replicas and the latest measurements', () => {
    const ro = {
      metadata: { name: 'wan', namespace: 'ml' },
      status: {
        phase: 'Progressing',
        currentStep: { index: 2, weight: 20, label: '3/5' },
        weights: { stable: 80, candidate: 20 },
        replicas: { stable: { desired: 4, ready: 4 }, candidate: { desired: 1, ready: 1 } },
        stable: { revision: 'a', modelVersion: 'v1' },
        candidate: { revision: 'b', modelVersion: 'v2' },
        analysis: { revision: 'b', metrics: [{ name: 'error-rate', verdict: 'pass', value: 0.0012, message: '', time: '', kind: 'step' }] },
      },
    } as unknown as ModelRollout;
    const out = table([ro], false).split('\n');
    expect(out[0]).toMatch(/^NAME\s+PHASE\s+STEP\s+WEIGHTS/);
    expect(out[1]).toMatch(/^wan\s+Progressing\s+3\/5\s+80\/20\s+4\/4 \| 1\/1\s+v1\s+v2\s+error-rate=0.0012$/);
  });
});
