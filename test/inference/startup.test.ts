// Start-up paths: execution provider choice, a fixed-shape (diffusers-style) export loading through the
// same code, and refusing to start on a bad model or configuration.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel, ffprobe, postJson, RuntimeProcess, stopAll, tempDir, type TempDir } from './support.js';

let tmp: TempDir;
let modelDir: string;

beforeAll(() => {
  tmp = tempDir('t2v-startup-');
  modelDir = buildModel(tmp.dir, { version: 'v-start' });
});

afterAll(async () => {
  await stopAll();
  tmp?.remove();
});

async function start(env: Record<string, string>, waitReady = true): Promise<RuntimeProcess> {
  return RuntimeProcess.start(env, { waitReady });
}

async function health(rt: RuntimeProcess): Promise<{ execution_provider: string }> {
  return (await (await fetch(`${rt.url}/healthz`)).json()) as { execution_provider: string };
}

describe('execution provider', () => {
  it('T2V_EXECUTION_PROVIDER=cuda never runs on CPU: it uses CUDA or refuses to start', async () => {
    const rt = await start({ T2V_MODEL_DIR: modelDir, T2V_EXECUTION_PROVIDER: 'cuda', T2V_CUDA_DEVICE_ID: '0' }, false);
    const outcome = await Promise.race([rt.exited, rt.waitReady().then(() => 'ready' as const)]).catch(() => rt.exited);
    if (outcome === 'ready') {
      expect((await health(rt)).execution_provider).toBe('cuda');
    } else {
      expect(outcome.code).toBe(1);
      expect(rt.logs().find((l) => l.level === 60)).toMatchObject({ code: 'ExecutionProviderUnavailable', msg: 'model failed to load; exiting' });
    }
  });

  it('T2V_EXECUTION_PROVIDER=cpu skips CUDA entirely', async () => {
    const rt = await start({ T2V_MODEL_DIR: modelDir, T2V_EXECUTION_PROVIDER: 'cpu', T2V_CPU_THREADS: '1' });
    expect((await health(rt)).execution_provider).toBe('cpu');
    expect(rt.logs().some((l) => /CUDA/.test(l.msg))).toBe(false);
    expect(rt.rawOutput).not.toContain('providers_shared');
  });
});

describe('the ffmpeg zygote', () => {
  it('named but unusable (T2V_FFMPEG_ZYGOTE a missing file): a warning saying why, and clips spawn ffmpeg as before', async () => {
    const missing = path.join(tmp.dir, 'no-zygote.so');
    const rt = await start({ T2V_MODEL_DIR: modelDir, T2V_FFMPEG_ZYGOTE: missing });
    expect(rt.logs().find((l) => l.level === 40 && l.msg.startsWith('ffmpeg zygote not used'))).toMatchObject({
      library: missing,
      why: `${missing} not found (npm run build:native)`,
    });
    expect(rt.logs().some((l) => l.msg.startsWith('ffmpeg zygote ready'))).toBe(false);
    const res = await postJson(`${rt.url}/v1/generate`, { prompt: 'a cat', seconds: 1, fps: 8, width: 64, height: 48, steps: 2 });
    expect(res.status).toBe(200);
    expect(await ffprobe(Buffer.from(await res.arrayBuffer()), tmp.dir)).toMatchObject({ codec: 'h264', frames: 8 });
  });
});

describe('a fixed-shape export (batch 1, diffusers names, int64 timestep)', () => {
  it('loads, generates with two-pass guidance, and limits requests to its pinned size', async () => {
    const pinned = buildModel(tmp.dir, { version: 'v-pinned', exportStyle: 'pinned', width: 48, height: 32, frames: 8 });
    const rt = await start({ T2V_MODEL_DIR: pinned });
    const res = await postJson(`${rt.url}/v1/generate`, { prompt: 'a cat', negative_prompt: 'blurry', steps: 2 });
    expect(res.status).toBe(200);
    expect(await ffprobe(Buffer.from(await res.arrayBuffer()), tmp.dir)).toMatchObject({ width: 48, height: 32, frames: 8 });
    const wrongSize = await postJson(`${rt.url}/v1/generate`, { prompt: 'a cat', width: 64 });
    expect(wrongSize.status).toBe(400);
    expect(await wrongSize.json()).toMatchObject({ error: { field: 'width', allowed: { min: 48, max: 48 } } });
    const wrongLength = await postJson(`${rt.url}/v1/generate`, { prompt: 'a cat', seconds: 2 });
    expect(wrongLength.status).toBe(400);
    expect(await wrongLength.json()).toMatchObject({ error: { field: 'seconds', allowed: { minFrames: 5, maxFrames: 8 } } });
  });
});

describe('refusing to start', () => {
  it('exits 1 naming the problem when the model directory is missing', async () => {
    const rt = await start({ T2V_MODEL_DIR: path.join(tmp.dir, 'absent') }, false);
    expect((await rt.exited).code).toBe(1);
    expect(rt.logs().find((l) => l.level === 60)).toMatchObject({ code: 'InvalidModel', msg: 'failed to start' });
  });

  it('exits 1 when a graph does not match the manifest', async () => {
    const broken = buildModel(tmp.dir, { version: 'v-broken' });
    const manifest = JSON.parse(fs.readFileSync(path.join(broken, 'model.json'), 'utf8')) as { graphs: Record<string, string> };
    // The VAE graph where the denoiser should be: it has no timestep input.
    manifest.graphs.denoiser = manifest.graphs.vaeDecoder as string;
    fs.writeFileSync(path.join(broken, 'model.json'), JSON.stringify(manifest));
    const rt = await start({ T2V_MODEL_DIR: broken }, false);
    expect((await rt.exited).code).toBe(1);
    const fatal = rt.logs().find((l) => l.level === 60);
    expect(fatal).toMatchObject({ code: 'InvalidModel' });
    expect(JSON.stringify(fatal)).toMatch(/denoiser: no timestep input/);
  });

  it('exits 2 on invalid configuration', async () => {
    const rt = await start({ T2V_MODEL_DIR: modelDir, T2V_MAX_CONCURRENCY: 'many' }, false);
    expect((await rt.exited).code).toBe(2);
    expect(rt.rawOutput).toMatch(/T2V_MAX_CONCURRENCY=many/);
  });
});
