// Attack on issue #17's raw-frames answer (inference-image/src/http/server.ts): content negotiation by the
// Accept header as RFC 9110 defines it. q=0 means "not acceptable"; a client that prefers the MP4 gets it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel, metricsText, postJson, RuntimeProcess, stopAll, tempDir, type TempDir } from './support.js';

let tmp: TempDir;
let rt: RuntimeProcess;

beforeAll(async () => {
  tmp = tempDir('t2v-raw-attack-');
  rt = await RuntimeProcess.start({ T2V_MODEL_DIR: buildModel(tmp.dir) });
});

afterAll(async () => {
  await rt?.stop();
  await stopAll();
  tmp?.remove();
});

const body = { prompt: 'a lighthouse in a storm', seconds: 1, fps: 8, width: 64, height: 48, steps: 2, seed: 5 };
async function contentType(accept: string): Promise<string | null> {
  const res = await postJson(`${rt.url}/v1/generate`, body, { headers: { 'content-type': 'application/json', accept } });
  expect(res.status).toBe(200);
  await res.arrayBuffer();
  return res.headers.get('content-type');
}

describe('attack-17: Accept negotiation of POST /v1/generate', () => {
  it('application/x-t2v-rgb24;q=0 (explicitly not acceptable) gets the MP4, not raw frames', async () => {
    expect(await contentType('application/x-t2v-rgb24;q=0, video/mp4')).toBe('video/mp4');
  });

  it('a client that prefers the MP4 (video/mp4, application/x-t2v-rgb24;q=0.1) gets the MP4', async () => {
    expect(await contentType('video/mp4, application/x-t2v-rgb24;q=0.1')).toBe('video/mp4');
  });

  it('held up: the raw type alone, with parameters, in another case, or first in a list gets raw frames', async () => {
    for (const accept of ['application/x-t2v-rgb24', 'Application/X-T2V-RGB24', 'application/x-t2v-rgb24 ; q=1', 'application/x-t2v-rgb24, video/mp4;q=0.5']) {
      expect(await contentType(accept), accept).toBe('application/x-t2v-rgb24');
    }
  });
});

/** Sum of t2v_requests_total over the series the operator's `requests` query and error-rate count (all of them today). */
function userRequests(text: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('t2v_requests_total{')) continue;
    if (/probe|golden/.test(line.slice(0, line.lastIndexOf('}')))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

describe("attack-17: golden-prompt probes in the runtime's request counts", () => {
  it("a golden-probe generation (X-ModelRollout-Probe: golden, as the operator's prober sends it) is not counted as user traffic: it must not fill minRequests for a candidate whose route sends it nothing", async () => {
    const before = userRequests(await metricsText(rt));
    const res = await postJson(`${rt.url}/v1/generate`, body, {
      headers: {
        'content-type': 'application/json',
        accept: 'application/x-t2v-rgb24',
        'user-agent': 'modelrollout-golden-probe',
        'x-modelrollout-probe': 'golden',
      },
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect(userRequests(await metricsText(rt)) - before).toBe(0);
  });
});
