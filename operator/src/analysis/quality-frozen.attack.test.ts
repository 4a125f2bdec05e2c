// Attack on issue #17: the documented drill (T2V_FAULT_FREEZE_FRAMES=0.5, "its frozen ratio reads 0.5") against
// the quality-frozen template's default bound (max 0.5). On a model whose own clips have no frozen pairs and an
// odd frame count (121 frames = 5 s at 24 fps + 1, common for video models; 9 frames here too), the drill's
// candidate reads exactly 0.5 and passes the quality gate it is meant to prove.
import { describe, expect, it } from 'vitest';
import { FaultInjector } from '../../../inference-image/src/jobs/faults.js';
import { ClipQualityMeter } from '../../../inference-image/src/quality/clip-quality.js';
import { judgeMetric } from './evaluate.js';
import { parseAnalysis } from './spec.js';

const W = 32;
const H = 32;

/** A clip that moves in every frame (a gradient sliding 3 px a frame): no frozen pairs of its own. */
function movingClip(frames: number) {
  return {
    frames,
    width: W,
    height: H,
    frame: (f: number) => {
      const out = new Uint8Array(W * H * 3);
      for (let p = 0; p < W * H; p++) out.fill(((p % W) * 6 + f * 18) % 256, p * 3, p * 3 + 3);
      return out;
    },
  };
}

describe("attack-17: the freeze drill against quality-frozen's default bound", () => {
  it.each([9, 121])('a %i-frame moving clip with T2V_FAULT_FREEZE_FRAMES=0.5 is rolled back by quality-frozen with its default bound', (frames) => {
    const source = new FaultInjector({ errorRate: 0, latencyMs: 0, freezeFrames: 0.5 }).freeze(movingClip(frames));
    const meter = new ClipQualityMeter(W, H);
    for (let f = 0; f < source.frames; f++) meter.push(source.frame(f));
    const frozen = meter.result().frozenRatio!;
    expect(frozen).toBeCloseTo(0.5, 9);

    const errors: string[] = [];
    const cfg = parseAnalysis({ prometheus: { address: 'http://prom:9090' }, metrics: [{ template: 'quality-frozen' }] } as never, errors)!;
    expect(errors).toEqual([]);
    const rule = cfg.metrics.find((m) => m.name === 'quality-frozen')!;
    // Every clip of the candidate reads the same: the window's mean is `frozen`.
    expect(judgeMetric(rule, { kind: 'value', value: frozen }).verdict, `frozen ratio ${frozen}, bounds ${JSON.stringify(rule.bounds)}`).toBe('fail');
  });
});
