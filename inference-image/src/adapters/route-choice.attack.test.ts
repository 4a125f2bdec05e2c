// Second attack on #18 (docs/attack-18b.md): the runtime's sticky draw against the buckets the operator publishes
// (status.assignment.candidateBuckets = [0, 100·w)) and docs/experiment-assignment.md. Fails as built.
import { describe, expect, it } from 'vitest';
import { bucketOf, routedStyle } from './route-choice.js';

const never = () => {
  throw new Error('a keyed request must not be drawn at random');
};

describe('attack #18b: the sticky draw and the published buckets', () => {
  it('K1 at every step weight w, a key in bucket 100·w (the first bucket outside [0, 100·w)) gets the stable version', () => {
    const salt = '0123456789abcdef';
    const wrong: string[] = [];
    for (let w = 1; w < 100; w++) {
      // A key whose bucket is exactly 100·w: what status.assignment (to: 100·w, exclusive) tells an app is stable.
      let i = 0;
      while (bucketOf(salt, `user-${i}`) !== 100 * w) i++;
      const key = `user-${i}`;
      const got = routedStyle(
        'ink-wash',
        { 'x-adapter-split': `ink-wash@v2=${w}, ink-wash@v1=${100 - w}`, 'x-adapter-assignment-salt': salt, 'x-adapter-assignment-key': key },
        never,
      );
      if (got !== 'ink-wash@v1') wrong.push(`w=${w} bucket ${100 * w} → ${got}`);
    }
    // As built: point = bucket / 10 000 · total in floating point, e.g. 2900 / 10 000 · 100 = 28.999999999999996 < 29,
    // so at 29, 57 and 58 % the boundary bucket's users get the candidate while the operator says stable.
    expect(wrong).toEqual([]);
  });
});
