// The runtime on the small model labels its per-request series with the request's A/B experiment arm
// (X-ModelRollout-Arm, issue #16): a real sync and async generation per arm shows in /metrics under that arm, a
// bad value is a 400; with the shared Redis store, the replica that runs a job labels it with the submitter's arm.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARMS } from '../../inference-image/src/experiment-arm.js';
import { buildModel, metricsText, postJson, RuntimeProcess, startRedis, stopAll, tempDir, waitForJob, type JobView, type TempDir } from './support.js';

let tmp: TempDir;
let model: string;
const body = { prompt: 'a lighthouse in a storm', steps: 1, seconds: 0.5, width: 32, height: 32, seed: 3 };
const withArm = (arm: string) => ({ headers: { 'content-type': 'application/json', 'X-ModelRollout-Arm': arm } });

beforeAll(() => {
  tmp = tempDir('t2v-arm-');
  model = buildModel(tmp.dir, { version: 'v-arm' });
});

afterAll(async () => {
  await stopAll();
  tmp?.remove();
});

/** Sum of the samples of `name` carrying all of `labels` (other labels summed over, as PromQL's sum). */
function sum(text: string, name: string, labels: Record<string, string>): number {
  let total = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z0-9_:]+)\{(.*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] as string).matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) total += Number(m[3]);
  }
  return total;
}

describe('X-ModelRollout-Arm on one replica', () => {
  it("every arm's series read 0 before the first request; each arm's sync and async generation shows under that arm only", async () => {
    const rt = await RuntimeProcess.start({ T2V_MODEL_DIR: model });
    const before = await metricsText(rt);
    for (const arm of ARMS) {
      expect(sum(before, 't2v_requests_total', { arm }), arm).toBe(0);
      expect(before).toMatch(new RegExp(`^t2v_gpu_seconds_total\\{[^}]*arm="${arm}"[^}]*\\} 0$`, 'm'));
      expect(before).toMatch(new RegExp(`^t2v_quality_temporal_ssim_count\\{[^}]*arm="${arm}"[^}]*\\} 0$`, 'm'));
    }
    for (const arm of ARMS) {
      const sync = await postJson(`${rt.url}/v1/generate`, body, withArm(arm));
      expect(sync.status, arm).toBe(200);
      await sync.arrayBuffer();
      const created = await postJson(`${rt.url}/v1/videos`, body, withArm(arm));
      expect(created.status, arm).toBe(202);
      expect((await waitForJob(rt, ((await created.json()) as JobView).id)).status).toBe('succeeded');
    }
    const after = await metricsText(rt);
    for (const arm of ARMS) {
      expect(sum(after, 't2v_requests_total', { arm, route: 'generate', outcome: 'ok', status: '200' }), `${arm} generate`).toBe(1);
      expect(sum(after, 't2v_requests_total', { arm, route: 'videos', outcome: 'ok', status: '200' }), `${arm} videos`).toBe(1);
      expect(sum(after, 't2v_request_duration_seconds_count', { arm }), `${arm} durations`).toBe(2);
      expect(sum(after, 't2v_generated_video_seconds_total', { arm }), `${arm} video-seconds`).toBe(1);
      expect(sum(after, 't2v_gpu_seconds_total', { arm }), `${arm} GPU-seconds`).toBeGreaterThan(0);
      expect(sum(after, 't2v_quality_flicker_luma_levels_count', { arm }), `${arm} quality`).toBe(2);
    }
    await rt.stop();
  });

  it('a bad value is a 400 naming the header and the allowed values', async () => {
    const rt = await RuntimeProcess.start({ T2V_MODEL_DIR: model });
    const res = await postJson(`${rt.url}/v1/generate`, body, withArm('Control'));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: unknown }).error).toMatchObject({
      code: 'InvalidRequest',
      field: 'X-ModelRollout-Arm',
      value: 'Control',
      allowed: { values: ['none', 'treatment', 'control'] },
    });
    await rt.stop();
  });
});

describe('X-ModelRollout-Arm with the shared Redis store', () => {
  it('the replica that runs a job (submitted on another) labels it with the arm the submitter was sent', async () => {
    const redis = await startRedis(tmp.dir);
    try {
      const replica = (): Promise<RuntimeProcess> =>
        RuntimeProcess.start({
          T2V_MODEL_DIR: model,
          T2V_JOB_STORE: redis.url,
          T2V_RESULTS_DIR: path.join(tmp.dir, 'results'),
          MODELROLLOUT_REVISION: 'rev-arm',
          T2V_MAX_CONCURRENCY: '1',
          T2V_SHUTDOWN_LINGER_MS: '0',
        });
      const [a, b] = await Promise.all([replica(), replica()]);
      // Four jobs at once on A, one slot per replica: B's worker takes some of them.
      const arms = ['treatment', 'control', 'treatment', 'control'];
      const ids = await Promise.all(
        arms.map(async (arm) => {
          const res = await postJson(`${a.url}/v1/videos`, body, withArm(arm));
          expect(res.status).toBe(202);
          return ((await res.json()) as JobView).id;
        }),
      );
      for (const id of ids) expect((await waitForJob(a, id)).status).toBe('succeeded');
      const ranOn = (rt: RuntimeProcess) =>
        new Set(
          rt
            .logs()
            .filter((l) => l.msg === 'job finished')
            .map((l) => String(l.jobId)),
        );
      const onB = ids.filter((id) => ranOn(b).has(id));
      expect(onB.length, 'jobs submitted on A that B ran').toBeGreaterThan(0);
      const [textA, textB] = await Promise.all([metricsText(a), metricsText(b)]);
      for (const arm of ['treatment', 'control']) {
        const counted = (text: string) => sum(text, 't2v_requests_total', { arm, route: 'videos', outcome: 'ok' });
        expect(counted(textA) + counted(textB), arm).toBe(2);
        const ranByB = ids.filter((id, i) => arms[i] === arm && onB.includes(id)).length;
        expect(counted(textB), `${arm} jobs B ran`).toBe(ranByB);
        expect(sum(textB, 't2v_generated_video_seconds_total', { arm }), `${arm} video-seconds on B`).toBe(0.5 * ranByB);
      }
      expect(sum(textA, 't2v_requests_total', { arm: 'none', outcome: 'ok' }) + sum(textB, 't2v_requests_total', { arm: 'none', outcome: 'ok' })).toBe(0);
    } finally {
      await stopAll();
      await redis.stop();
    }
  });
});
