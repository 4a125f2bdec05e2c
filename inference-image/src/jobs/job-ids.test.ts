import { describe, expect, it } from 'vitest';
import { isJobId, timeOrderedIds } from './job-ids.js';

describe('timeOrderedIds', () => {
  it('sorts by creation: later clock, and several in one millisecond', () => {
    let now = 1_700_000_000_000;
    const next = timeOrderedIds(() => now);
    const ids = [next(), next(), next()];
    now += 1;
    ids.push(next());
    now -= 5; // a clock stepping back does not reorder
    ids.push(next());
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(5);
    for (const id of ids) expect(isJobId(id)).toBe(true);
  });

  it('tells an id from anything else', () => {
    expect(isJobId('vid_nope')).toBe(false);
    expect(isJobId(`vid_${'0'.repeat(32)}`)).toBe(true);
  });
});
