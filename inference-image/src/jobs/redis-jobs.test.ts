import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { errorOf, evictOldest, queueNameOf } from './redis-jobs.js';

let dir: string | undefined;
afterEach(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('redis-jobs helpers', () => {
  it('reads our failures by their code, and BullMQ’s own (a worker that died) as WorkerLost', () => {
    expect(errorOf(JSON.stringify({ code: 'Timeout', message: 'generation did not finish within 5 ms' }))).toEqual({
      code: 'Timeout',
      message: 'generation did not finish within 5 ms',
    });
    expect(errorOf('job stalled more than allowable limit')).toEqual({
      code: 'WorkerLost',
      message: 'the replica running this job stopped (job stalled more than allowable limit)',
    });
    expect(errorOf(undefined).code).toBe('WorkerLost');
  });

  it('keeps the results directory under its byte cap, oldest video out first, other files untouched', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 't2v-evict-'));
    const write = (name: string, bytes: number, ageS: number): void => {
      const file = path.join(dir as string, name);
      fs.writeFileSync(file, Buffer.alloc(bytes));
      const t = Date.now() / 1000 - ageS;
      fs.utimesSync(file, t, t);
    };
    write('old.mp4', 100, 30);
    write('mid.mp4', 100, 20);
    write('new.mp4', 100, 10);
    write('new.mp4.tmp', 500, 0);
    expect(await evictOldest(dir, 250)).toEqual(['old.mp4']);
    expect(fs.readdirSync(dir).sort()).toEqual(['mid.mp4', 'new.mp4', 'new.mp4.tmp']);
    expect(await evictOldest(dir, 250)).toEqual([]);
  });

  it('names one queue per revision', () => {
    expect(queueNameOf('stable-7f9c')).toBe('t2v-stable-7f9c');
  });
});
