// The runtime on the small model: MP4 output checked with ffprobe, the async job lifecycle, every
// refusal of bad input, and the metrics the operator's analysis templates query.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NVIDIA_DRIVER_FILES } from '../../inference-image/src/model/execution-provider.js';
import { REQUEST_DURATION_BUCKETS } from '../../inference-image/src/telemetry/metrics.js';
import { buildModel, ffprobe, metric, metricsText, postJson, RuntimeProcess, stopAll, tempDir, waitForJob, type JobView, type TempDir } from './support.js';

const VERSION = 'v2.3.0-test';
let tmp: TempDir;
let rt: RuntimeProcess;

beforeAll(async () => {
  tmp = tempDir('t2v-generate-');
  const modelDir = buildModel(tmp.dir, { version: VERSION });
  rt = await RuntimeProcess.start({ T2V_MODEL_DIR: modelDir, T2V_MAX_QUEUE: '16' });
});

afterAll(async () => {
  const exit = await rt?.stop();
  await stopAll();
  tmp?.remove();
  expect(exit?.code).toBe(0);
});

describe('probes', () => {
  it('reports ready with the execution provider it chose (CPU here, after a logged CUDA fallback)', async () => {
    const health = (await (await fetch(`${rt.url}/healthz`)).json()) as Record<string, unknown>;
    expect(health).toMatchObject({
      status: 'ok',
      phase: 'ready',
      ready: true,
      model: { name: 'tiny-t2v', version: VERSION },
      fault_injection: { enabled: false },
    });
    expect(['cpu', 'cuda']).toContain(health.execution_provider);
    if (health.execution_provider === 'cpu') {
      // auto: CUDA was tried first, failed, and the fallback was logged as a warning.
      expect(rt.logs().some((l) => l.level === 40 && /falling back to CPU/.test(l.msg))).toBe(true);
      // Without an NVIDIA driver CUDA is not even tried: the log is JSON lines only (no native onnxruntime error line).
      if (!NVIDIA_DRIVER_FILES.some((f) => fs.existsSync(f))) expect(rt.rawOutput.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('{'))).toEqual([]);
    }
    const ready = await fetch(`${rt.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(rt.logs().find((l) => l.msg === 'ready')).toMatchObject({ warmupSeconds: expect.any(Number) });
    // Clips fork ffmpeg from the zygote (npm run build:native, run by hack/setup.sh), not spawn it each time.
    expect(rt.logs().find((l) => l.msg === 'ffmpeg zygote ready: clips fork ffmpeg from it')).toMatchObject({
      library: expect.stringMatching(/libt2v-ffmpeg-zygote\.so$/),
    });
  });
});

describe('POST /v1/generate', () => {
  it('returns an H.264 MP4 with the requested size, frame count and duration', async () => {
    const res = await postJson(`${rt.url}/v1/generate`, {
      prompt: 'a red cat running on the beach, at sunset!',
      seconds: 2,
      fps: 8,
      width: 96,
      height: 64,
      steps: 3,
      seed: 7,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('video/mp4');
    expect(res.headers.get('x-video-seed')).toBe('7');
    expect(res.headers.get('x-video-frames')).toBe('16');
    expect(res.headers.get('x-model-version')).toBe(VERSION);
    expect(res.headers.get('server-timing')).toMatch(/onnx;dur=[\d.]+.*total;dur=[\d.]+/);
    const probe = await ffprobe(Buffer.from(await res.arrayBuffer()), tmp.dir);
    expect(probe).toEqual({ codec: 'h264', pixFmt: 'yuv420p', width: 96, height: 64, frames: 16, fps: '8/1', duration: 2, format: 'mov,mp4,m4a,3gp,3g2,mj2' });
  });

  it('answers raw rgb24 frames to Accept: application/x-t2v-rgb24 (what the golden-prompt probes compare), the same for a seed', async () => {
    const body = { prompt: 'a lighthouse in a storm', seconds: 1, fps: 8, width: 64, height: 48, steps: 2, seed: 5 };
    const raw = async (b: object): Promise<{ res: Response; data: Buffer }> => {
      const res = await postJson(`${rt.url}/v1/generate`, b, {
        headers: { 'content-type': 'application/json', accept: 'application/x-t2v-rgb24, video/mp4;q=0.5' },
      });
      expect(res.status).toBe(200);
      return { res, data: Buffer.from(await res.arrayBuffer()) };
    };
    const a = await raw(body);
    expect(a.res.headers.get('content-type')).toBe('application/x-t2v-rgb24');
    expect([a.res.headers.get('x-video-width'), a.res.headers.get('x-video-height'), a.res.headers.get('x-video-frames')]).toEqual(['64', '48', '8']);
    expect(a.data.length).toBe(64 * 48 * 3 * 8);
    expect(new Set(a.data.subarray(0, 64 * 48 * 3)).size, 'a real picture, not a constant').toBeGreaterThan(8);
    expect((await raw(body)).data.equals(a.data)).toBe(true);
    expect((await raw({ ...body, seed: 6 })).data.equals(a.data)).toBe(false);
    // Without the Accept header the same request is an MP4 as before.
    const mp4 = await postJson(`${rt.url}/v1/generate`, body);
    expect(mp4.headers.get('content-type')).toBe('video/mp4');
    await mp4.arrayBuffer();
  });

  it('is reproducible for a seed and follows the prompt, seed and negative prompt', async () => {
    const body = { prompt: '猫 on the ocean', negative_prompt: 'blurry, low quality', seconds: 0.5, fps: 8, steps: 2, guidance: 4, seed: 99 };
    const get = async (b: object): Promise<Buffer> => {
      const res = await postJson(`${rt.url}/v1/generate`, b);
      expect(res.status).toBe(200);
      return Buffer.from(await res.arrayBuffer());
    };
    const a = await get(body);
    expect((await get(body)).equals(a)).toBe(true);
    expect((await get({ ...body, seed: 100 })).equals(a)).toBe(false);
    expect((await get({ ...body, prompt: 'a dog in the city' })).equals(a)).toBe(false);
    expect((await get({ ...body, negative_prompt: '' })).equals(a)).toBe(false);
    const probe = await ffprobe(a, tmp.dir);
    expect(probe).toMatchObject({ width: 64, height: 64, frames: 4, duration: 0.5 });
  });
});

describe('async jobs: POST /v1/videos → GET status → GET content', () => {
  it('runs a job to completion and serves its MP4', async () => {
    const res = await postJson(`${rt.url}/v1/videos`, { prompt: 'a blue dog playing', seconds: 3, fps: 8, width: 64, height: 48, steps: 4, seed: 3 });
    expect(res.status).toBe(202);
    const accepted = (await res.json()) as JobView;
    expect(res.headers.get('location')).toBe(`/v1/videos/${accepted.id}`);
    expect(accepted.id).toMatch(/^vid_[0-9a-f]{32}$/);
    expect(['queued', 'running']).toContain(accepted.status);
    expect(accepted.request).toMatchObject({
      prompt: 'a blue dog playing',
      seconds: 3,
      fps: 8,
      frames: 24,
      width: 64,
      height: 48,
      steps: 4,
      guidance: 5,
      seed: 3,
    });

    const done = await waitForJob(rt, accepted.id);
    expect(done.status).toBe('succeeded');
    expect(done.progress).toEqual({ phase: 'done', step: 4, steps: 4, percent: 100 });
    expect(done.result).toMatchObject({ content_url: `/v1/videos/${accepted.id}/content`, frames: 24, seconds: 3 });

    const content = await fetch(`${rt.url}${done.result?.content_url}`);
    expect(content.status).toBe(200);
    expect(content.headers.get('content-type')).toBe('video/mp4');
    const mp4 = Buffer.from(await content.arrayBuffer());
    expect(mp4.length).toBe(done.result?.bytes);
    expect(await ffprobe(mp4, tmp.dir)).toMatchObject({ codec: 'h264', width: 64, height: 48, frames: 24, duration: 3 });
  });

  it('answers 404 for an unknown id, and DELETE on a finished job deletes it and its video', async () => {
    const missing = await fetch(`${rt.url}/v1/videos/vid_nope`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('NotFound');
    expect((await fetch(`${rt.url}/v1/videos/vid_nope/content`)).status).toBe(404);

    const accepted = (await (await postJson(`${rt.url}/v1/videos`, { prompt: 'x', steps: 1 })).json()) as JobView;
    await waitForJob(rt, accepted.id);
    expect((await fetch(`${rt.url}/v1/videos/${accepted.id}/content`)).status).toBe(200);
    const del = await fetch(`${rt.url}/v1/videos/${accepted.id}`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    expect(await del.json()).toEqual({ id: accepted.id, object: 'video.deleted', deleted: true });
    // Gone: the job and its content, and a second DELETE finds nothing.
    expect((await fetch(`${rt.url}/v1/videos/${accepted.id}`)).status).toBe(404);
    expect((await fetch(`${rt.url}/v1/videos/${accepted.id}/content`)).status).toBe(404);
    expect((await fetch(`${rt.url}/v1/videos/${accepted.id}`, { method: 'DELETE' })).status).toBe(404);
  });

  it('refuses a body that is not UTF-8 and a prompt with no visible characters, naming the field', async () => {
    // "a cat" with a lone 0xff byte inside the prompt: not silently replaced by U+FFFD.
    const bytes = Buffer.concat([Buffer.from('{"prompt":"a c'), Buffer.from([0xff]), Buffer.from('t"}')]);
    const bad = await fetch(`${rt.url}/v1/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: bytes });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({
      error: { code: 'InvalidRequest', field: 'prompt', message: 'prompt is not valid UTF-8 (the request body must be UTF-8 text)' },
    });
    for (const prompt of ['\u200b\u200b\u200b', ' \u2060\ufeff\t']) {
      const res = await postJson(`${rt.url}/v1/generate`, { prompt });
      expect(res.status, JSON.stringify(prompt)).toBe(400);
      expect(await res.json()).toMatchObject({
        error: { code: 'InvalidRequest', field: 'prompt', message: 'prompt must not be empty (it has no visible characters)' },
      });
    }
  });
});

describe('refusals', () => {
  it('refuses webhook_url when this server has no T2V_WEBHOOK_SECRET, naming the field', async () => {
    const res = await postJson(`${rt.url}/v1/videos`, { prompt: 'a', webhook_url: 'http://127.0.0.1:9/hook' });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      error: { code: 'InvalidRequest', field: 'webhook_url', message: expect.stringContaining('T2V_WEBHOOK_SECRET'), allowed: { enabled: false } },
    });
  });

  const bad: Array<[string, unknown, string, Record<string, unknown>]> = [
    ['missing prompt', { seconds: 1 }, 'prompt', { type: 'string', minLength: 1 }],
    ['prompt too long', { prompt: 'p'.repeat(2001) }, 'prompt', { maxLength: 2000 }],
    ['width not a multiple of 16', { prompt: 'a', width: 72 }, 'width', { multipleOf: 16, min: 32, max: 256 }],
    ['height above the limit', { prompt: 'a', height: 512 }, 'height', { multipleOf: 16, max: 256 }],
    ['duration above the cap', { prompt: 'a', seconds: 60 }, 'seconds', { exclusiveMin: 0, max: expect.any(Number) }],
    ['more frames than the model makes', { prompt: 'a', seconds: 5, fps: 30 }, 'seconds', { maxFrames: 48 }],
    ['fps out of range', { prompt: 'a', fps: 0 }, 'fps', { min: 1, max: 30 }],
    ['too many steps', { prompt: 'a', steps: 51 }, 'steps', { max: 50 }],
    ['guidance out of range', { prompt: 'a', guidance: 0.5 }, 'guidance', { min: 1, max: 20 }],
    ['seed out of range', { prompt: 'a', seed: 2 ** 32 }, 'seed', { max: 4294967295 }],
    ['unknown field', { prompt: 'a', resolution: '720p' }, 'resolution', { fields: expect.arrayContaining(['prompt']) }],
    ['a JSON array', ['a'], 'body', { type: 'object' }],
  ];
  for (const route of ['/v1/videos', '/v1/generate']) {
    for (const [name, body, field, allowed] of bad) {
      it(`${route}: 400 for ${name}, naming "${field}" and the allowed range`, async () => {
        const res = await postJson(`${rt.url}${route}`, body);
        expect(res.status).toBe(400);
        expect(res.headers.get('content-type')).toMatch(/^application\/json/);
        const { error } = (await res.json()) as { error: { code: string; field: string; message: string; allowed: Record<string, unknown> } };
        expect(error.code).toBe('InvalidRequest');
        expect(error.field).toBe(field);
        expect(error.message).toContain(field);
        expect(error.allowed).toMatchObject(allowed);
      });
    }
  }

  it('400 for a sync clip longer than the sync cap, pointing to /v1/videos', async () => {
    const res = await postJson(`${rt.url}/v1/generate`, { prompt: 'a', seconds: 5.5 });
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: { field: string; message: string; allowed: { max: number } } };
    expect(error).toMatchObject({ field: 'seconds', allowed: { max: 5 } });
    expect(error.message).toMatch(/\/v1\/videos/);
  });

  it('400 for malformed JSON', async () => {
    const res = await fetch(`${rt.url}/v1/videos`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"prompt": "a",' });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 'InvalidRequest', field: 'body' } });
  });

  it('415 for a wrong content type and 413 for an oversized body, both as JSON errors', async () => {
    const wrongType = await fetch(`${rt.url}/v1/generate`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'a cat' });
    expect(wrongType.status).toBe(415);
    expect(await wrongType.json()).toMatchObject({ error: { code: 'UnsupportedMediaType', message: expect.stringContaining('application/json') } });
    const big = await postJson(`${rt.url}/v1/videos`, { prompt: 'x'.repeat(70 * 1024) });
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ error: { code: 'BodyTooLarge', message: expect.stringContaining('65536') } });
  });

  it('405 with Allow for a wrong method, 404 for an unknown path', async () => {
    const res = await fetch(`${rt.url}/v1/generate`);
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
    expect((await fetch(`${rt.url}/v2/anything`)).status).toBe(404);
  });
});

describe('GET /metrics', () => {
  it('exports the documented series, each labelled with model_name and model_version', async () => {
    const before = await metricsText(rt);
    const m = { model_name: 'tiny-t2v', model_version: VERSION };
    const count = (text: string, labels: Record<string, string>): number => metric(text, 't2v_requests_total', { ...m, ...labels }) ?? 0;
    expect((await postJson(`${rt.url}/v1/generate`, { prompt: 'metrics', seconds: 1, steps: 2 })).status).toBe(200);
    expect((await postJson(`${rt.url}/v1/generate`, { prompt: 'metrics', width: 1 })).status).toBe(400);
    const after = await metricsText(rt);

    expect(count(after, { route: 'generate', status: '200' }) - count(before, { route: 'generate', status: '200' })).toBe(1);
    expect(count(after, { route: 'generate', status: '400' }) - count(before, { route: 'generate', status: '400' })).toBe(1);
    expect(count(after, { route: 'videos', status: '200' })).toBeGreaterThanOrEqual(2);
    const videoSeconds = (t: string): number => metric(t, 't2v_generated_video_seconds_total', m) ?? 0;
    expect(videoSeconds(after) - videoSeconds(before)).toBeCloseTo(1, 6);
    const durations = (t: string): number => metric(t, 't2v_request_duration_seconds_count', { ...m, route: 'generate' }) ?? 0;
    expect(durations(after) - durations(before)).toBe(1);
    // Every documented bucket (1.25× apart, 0.05 s to ~12 min) is exported, cumulative up to +Inf = count.
    let previous = 0;
    for (const le of [...REQUEST_DURATION_BUCKETS.map(String), '+Inf']) {
      const bucket = metric(after, 't2v_request_duration_seconds_bucket', { ...m, route: 'generate', le });
      expect(bucket, `le=${le}`).toBeGreaterThanOrEqual(previous);
      previous = bucket!;
    }
    expect(previous).toBe(durations(after));
    const steps = (t: string): number => metric(t, 't2v_denoise_step_duration_seconds_count', m) ?? 0;
    expect(steps(after) - steps(before)).toBe(2);
    expect(metric(after, 't2v_queue_depth', m)).toBe(0);
    expect(metric(after, 't2v_inflight_jobs', m)).toBe(0);
    expect(metric(after, 't2v_model_load_seconds', m)).toBeGreaterThan(0);
    const provider = ((await (await fetch(`${rt.url}/healthz`)).json()) as { execution_provider: string }).execution_provider;
    expect(metric(after, 't2v_execution_provider_info', { ...m, provider })).toBe(1);
    // GPU memory is exported only when running on CUDA.
    expect(metric(after, 't2v_gpu_memory_used_bytes', m) !== undefined).toBe(provider === 'cuda');

    const samples = after.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    expect(samples.length).toBeGreaterThan(50);
    for (const s of samples) {
      expect(s).toContain('model_name="tiny-t2v"');
      expect(s).toContain(`model_version="${VERSION}"`);
    }
  });
});
