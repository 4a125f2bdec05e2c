// Style adapters (LoRA) on the small model: per-request switching on one replica, the library on disk,
// validation errors, LRU eviction under a cache of 2, a new version loaded without a restart while other
// requests run, and the per-adapter metrics.
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdapterLibrary } from '../../inference-image/src/adapters/library.js';
import { loadAdapter } from '../../inference-image/src/adapters/load-adapter.js';
import { loadModel, type LoadedModel } from '../../inference-image/src/model/load-model.js';
import { T2vPipeline, type GenerationParams } from '../../inference-image/src/pipeline/pipeline.js';
import { buildTinyAdapter, buildTinyAdapters, defaultTinyAdapters } from '../../inference-image/scripts/lib/tiny-adapters.js';
import { buildTinyModel } from '../../inference-image/scripts/lib/tiny-model.js';
import { metric, metricsText, postJson, RuntimeProcess, stopAll, tempDir, waitForJob, type TempDir } from './support.js';

let tmp: TempDir;
let libraryDir: string;
let modelDir: string;

beforeAll(() => {
  tmp = tempDir('t2v-adapters-');
  modelDir = `${tmp.dir}/model`;
  buildTinyModel(modelDir);
  libraryDir = `${tmp.dir}/library`;
  buildTinyAdapters(libraryDir, [...defaultTinyAdapters, { name: 'broken', version: 1, seed: 9, broken: 'rank' }]);
});

afterAll(async () => {
  await stopAll();
  tmp?.remove();
});

describe('adapters in the pipeline (in process)', () => {
  let model: LoadedModel;
  let bare: LoadedModel;
  const log = { info: () => undefined, warn: () => undefined };
  const load = (dir: string) =>
    loadModel(dir, buildTinyModel(dir, dir.endsWith('bare') ? { adapterInputs: false } : {}), {
      preference: 'cpu',
      cudaDeviceId: 0,
      cpuThreads: 1,
      create: (f, o) => ort.InferenceSession.create(f, o),
      log,
    });
  const params: GenerationParams = { prompt: 'a red cat', negativePrompt: 'blurry', width: 64, height: 64, frames: 8, steps: 3, guidance: 5, seed: 11 };
  const frames = async (pipeline: T2vPipeline, p: GenerationParams): Promise<Buffer> => {
    const { video } = await pipeline.generate(p);
    return Buffer.concat(Array.from({ length: video.frames }, (_, f) => Buffer.from(video.frame(f))));
  };

  beforeAll(async () => {
    model = await load(`${tmp.dir}/inproc`);
    bare = await load(`${tmp.dir}/inproc-bare`);
  });
  afterAll(async () => {
    await model?.release();
    await bare?.release();
  });

  it('with no adapter (rank 0) gives the frames of the same model built without adapter inputs', async () => {
    expect(model.io.denoiser.lora?.modules.map((m) => m.module)).toEqual(['attn.to_q', 'attn.to_v']);
    expect(bare.io.denoiser.lora).toBeUndefined();
    expect((await frames(new T2vPipeline(model), params)).equals(await frames(new T2vPipeline(bare), params))).toBe(true);
  });

  it('two adapters give different frames, each the same for a seed', async () => {
    const library = new AdapterLibrary(libraryDir);
    await library.scan();
    const base = { name: 'tiny-t2v', lora: model.io.denoiser.lora! };
    const v1 = await loadAdapter(library, { name: 'ink-wash', version: 1 }, base);
    const neon = await loadAdapter(library, { name: 'neon', version: 1 }, base);
    const pipeline = new T2vPipeline(model);
    const none = await frames(pipeline, params);
    const a = await frames(pipeline, { ...params, lora: v1.feeds });
    const b = await frames(pipeline, { ...params, lora: neon.feeds });
    expect(a.equals(none)).toBe(false);
    expect(b.equals(none)).toBe(false);
    expect(a.equals(b)).toBe(false);
    expect((await frames(pipeline, { ...params, lora: neon.feeds })).equals(b)).toBe(true);
    expect((await frames(pipeline, { ...params, lora: v1.feeds })).equals(a)).toBe(true);
    expect((await frames(pipeline, { ...params, lora: v1.feeds, seed: 12 })).equals(a)).toBe(false);
  });
});

describe('adapters in the runtime (one replica, cache of 2)', () => {
  let rt: RuntimeProcess;
  const body = { prompt: 'a cat', seconds: 1, fps: 8, steps: 2, seed: 5 };
  const generate = async (extra: Record<string, unknown>): Promise<{ status: number; adapter: string | null; video: Buffer; json?: any }> => {
    const res = await postJson(`${rt.url}/v1/generate`, { ...body, ...extra });
    const buf = Buffer.from(await res.arrayBuffer());
    return {
      status: res.status,
      adapter: res.headers.get('x-adapter-version'),
      video: buf,
      ...(res.status === 200 ? {} : { json: JSON.parse(buf.toString()) }),
    };
  };

  beforeAll(async () => {
    rt = await RuntimeProcess.start({ T2V_MODEL_DIR: modelDir, T2V_ADAPTER_DIR: libraryDir, T2V_ADAPTER_CACHE: '2', T2V_MAX_QUEUE: '32' });
  });

  it('lists the library with each name’s newest version', async () => {
    const list = (await (await fetch(`${rt.url}/v1/adapters`)).json()) as {
      data: Array<{ name: string; latest: string; versions: Array<{ adapter: string }> }>;
    };
    expect(list.data.map((a) => [a.name, a.latest, a.versions.map((v) => v.adapter)])).toEqual([
      ['broken', 'broken@v1', ['broken@v1']],
      ['ink-wash', 'ink-wash@v2', ['ink-wash@v1', 'ink-wash@v2']],
      ['neon', 'neon@v1', ['neon@v1']],
    ]);
  });

  it('switches adapters per request with no reload of the model; each output is the same for a seed', async () => {
    const v1 = await generate({ style: 'ink-wash@v1' });
    const neon = await generate({ style: 'neon' });
    const none = await generate({});
    expect([v1.status, neon.status, none.status]).toEqual([200, 200, 200]);
    expect([v1.adapter, neon.adapter, none.adapter]).toEqual(['ink-wash@v1', 'neon@v1', null]);
    expect(v1.video.equals(neon.video) || v1.video.equals(none.video) || neon.video.equals(none.video)).toBe(false);
    expect((await generate({ style: 'ink-wash@v1' })).video.equals(v1.video)).toBe(true);
    expect((await generate({ style: 'neon@v1' })).video.equals(neon.video)).toBe(true);
    const latest = await generate({ style: 'ink-wash' });
    expect(latest.adapter).toBe('ink-wash@v2');
    expect(latest.video.equals(v1.video)).toBe(false);
    expect(rt.logs().filter((l) => l.msg === 'model loaded')).toHaveLength(1);
  });

  it('takes the version of an unversioned style from the route: a pin, or a weighted split sticky by assignment key', async () => {
    const ask = async (headers: Record<string, string>, style = 'ink-wash'): Promise<string | null> =>
      (await postJson(`${rt.url}/v1/generate`, { ...body, style }, { headers: { 'content-type': 'application/json', ...headers } })).headers.get(
        'x-adapter-version',
      );
    expect(await ask({ 'x-adapter-version': 'ink-wash@v1' })).toBe('ink-wash@v1');
    expect(await ask({ 'x-adapter-version': 'ink-wash@v1' }, 'ink-wash@v2')).toBe('ink-wash@v2');
    const split = { 'x-adapter-split': 'ink-wash@v1=50, ink-wash@v2=50' };
    const a = await ask({ ...split, 'x-adapter-assignment-key': 'user-1' });
    expect(await ask({ ...split, 'x-adapter-assignment-key': 'user-1' })).toBe(a);
    expect(['ink-wash@v1', 'ink-wash@v2']).toContain(a);
    const bad = await postJson(
      `${rt.url}/v1/generate`,
      { ...body, style: 'ink-wash' },
      { headers: { 'content-type': 'application/json', 'x-adapter-split': 'ink-wash@v1' } },
    );
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).error).toMatchObject({ field: 'header X-Adapter-Split' });
  });

  it('refuses unknown styles and bad syntax naming the field, and serves a broken version as a server error naming what is wrong', async () => {
    const unknown = await generate({ style: 'oil-paint' });
    expect(unknown.status).toBe(400);
    expect(unknown.json.error).toMatchObject({
      code: 'InvalidRequest',
      field: 'style',
      value: 'oil-paint',
      allowed: { styles: ['broken', 'ink-wash', 'neon'] },
    });
    const version = await generate({ style: 'ink-wash@v9' });
    expect(version.json.error).toMatchObject({ field: 'style', allowed: { versions: ['ink-wash@v1', 'ink-wash@v2'] } });
    expect((await generate({ style: 'Ink Wash' })).json.error).toMatchObject({
      field: 'style',
      message: expect.stringMatching(/style must be <name> or <name>@v<N>/),
    });
    const broken = await generate({ style: 'broken' });
    expect(broken.status).toBe(500);
    expect(broken.adapter).toBe('broken@v1');
    expect(broken.json.error).toMatchObject({
      code: 'InvalidAdapter',
      adapter: 'broken@v1',
      field: 'adapter_model.safetensors base_model.model.attn.to_q.lora_A.weight',
    });
    expect(broken.json.error.message).toMatch(/shape \[9, 8\] does not fit: expected \[r = 8, in = 8\]/);
    const load = await fetch(`${rt.url}/v1/adapters/broken@v1:load`, { method: 'POST' });
    expect(load.status).toBe(500);
    expect(((await load.json()) as any).error).toMatchObject({ code: 'InvalidAdapter', adapter: 'broken@v1' });
  });

  it('keeps at most 2 adapters, evicting the least recently used', async () => {
    for (const style of ['ink-wash@v1', 'neon@v1', 'ink-wash@v2']) expect((await generate({ style })).status).toBe(200);
    const list = (await (await fetch(`${rt.url}/v1/adapters`)).json()) as { data: Array<{ versions: Array<{ adapter: string; loaded: boolean }> }> };
    const loaded = list.data
      .flatMap((a) => a.versions)
      .filter((v) => v.loaded)
      .map((v) => v.adapter);
    expect(loaded.sort()).toEqual(['ink-wash@v2', 'neon@v1']);
    const text = await metricsText(rt);
    expect(metric(text, 't2v_adapter_cache_evictions_total', { adapter_name: 'ink-wash', adapter_version: 'v1' })).toBeGreaterThanOrEqual(1);
    expect(metric(text, 't2v_adapters_loaded')).toBe(2);
  });

  it('picks up a version published after start-up, loading it while other requests run, none lost', async () => {
    buildTinyAdapter(libraryDir, { name: 'ink-wash', version: 3, seed: 303 });
    const styles = ['neon', 'ink-wash@v1', 'ink-wash@v3', undefined, 'ink-wash@v2', 'ink-wash@v3'];
    const submitted = styles.map((style, i) => postJson(`${rt.url}/v1/videos`, { ...body, seed: i, ...(style ? { style } : {}) }));
    const load = fetch(`${rt.url}/v1/adapters/ink-wash@v3:load`, { method: 'POST' });
    const jobs = await Promise.all(
      submitted.map(async (p) => {
        const res = await p;
        expect(res.status).toBe(202);
        return waitForJob(rt, ((await res.json()) as { id: string }).id);
      }),
    );
    expect(jobs.map((j) => j.status)).toEqual(styles.map(() => 'succeeded'));
    expect((jobs[2] as unknown as { adapter: string }).adapter).toBe('ink-wash@v3');
    expect((await load).status).toBe(200);
    expect((await generate({ style: 'ink-wash' })).adapter).toBe('ink-wash@v3');
  });

  it('counts requests, errors, latency, loads and cache hits per adapter version, with zero series for unused versions', async () => {
    const text = await metricsText(rt);
    const neon = { adapter_name: 'neon', adapter_version: 'v1' };
    expect(metric(text, 't2v_adapter_requests_total', { ...neon, route: 'generate', outcome: 'ok', status: '200' })).toBeGreaterThanOrEqual(3);
    expect(
      metric(text, 't2v_adapter_requests_total', { adapter_name: 'broken', adapter_version: 'v1', route: 'generate', outcome: 'server_error', status: '500' }),
    ).toBe(1);
    expect(metric(text, 't2v_adapter_request_duration_seconds_count', neon)).toBeGreaterThanOrEqual(3);
    expect(metric(text, 't2v_adapter_load_seconds_count', neon)).toBeGreaterThanOrEqual(1);
    expect(metric(text, 't2v_adapter_cache_hits_total', neon)).toBeGreaterThanOrEqual(1);
    expect(metric(text, 't2v_adapter_quality_frozen_frame_ratio_count', neon)).toBeGreaterThanOrEqual(3);
    expect(metric(text, 't2v_adapter_quality_temporal_ssim_count', { adapter_name: 'broken', adapter_version: 'v1' })).toBe(0);
    expect(metric(text, 't2v_adapter_load_failures_total', { adapter_name: 'broken', adapter_version: 'v1' })).toBeGreaterThanOrEqual(2);
    expect(
      metric(text, 't2v_adapter_requests_total', { adapter_name: 'ink-wash', adapter_version: 'v3', route: 'videos', outcome: 'server_error', status: '500' }),
    ).toBe(0);
    expect(metric(text, 't2v_adapter_requests_total', { ...neon, model_name: 'tiny-t2v' })).toBeDefined();
  });
});

describe('adapter library at start-up', () => {
  it('refuses to start when T2V_ADAPTER_DIR is set but the denoiser takes no LoRA inputs, or the library is missing', async () => {
    const bareDir = `${tmp.dir}/bare`;
    buildTinyModel(bareDir, { adapterInputs: false });
    const bare = await RuntimeProcess.start({ T2V_MODEL_DIR: bareDir, T2V_ADAPTER_DIR: libraryDir }, { waitReady: false });
    expect((await bare.exited).code).toBe(1);
    expect(bare.logs().find((l) => l.level === 60)).toMatchObject({
      code: 'InvalidModel',
      err: { message: expect.stringMatching(/T2V_ADAPTER_DIR=.* is set but tiny-t2v v1's denoiser takes no LoRA inputs/) },
    });
    const missing = await RuntimeProcess.start({ T2V_MODEL_DIR: modelDir, T2V_ADAPTER_DIR: `${tmp.dir}/absent` }, { waitReady: false });
    expect((await missing.exited).code).toBe(1);
    expect(missing.logs().find((l) => l.level === 60)).toMatchObject({
      code: 'InvalidConfig',
      err: { message: expect.stringMatching(/T2V_ADAPTER_DIR=.*absent: cannot read the adapter library/) },
    });
  });
});
