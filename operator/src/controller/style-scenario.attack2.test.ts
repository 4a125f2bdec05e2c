// Second attack on #18 (docs/attack-18b.md): the demo's scenarios 5 and 6 (scripts/demo/style-scenario.ts) judged
// against what the issue asks of them — "ink-wash@v2 rolled out to 100 % with no pod restart". A fake API server
// plays the StyleRollout's status, a fake pod runner the pods, a local HTTP server the proxy. Fails as built.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { playStyleScenarios, type StyleDemo } from '../../../scripts/demo/style-scenario.js';
import { Timeline } from '../../../scripts/demo/timeline.js';

let server: http.Server | undefined;
afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

/** A proxy that answers every style request from `answeredBy()` (the X-Adapter-Version header the runtime sets). */
async function proxy(answeredBy: () => string): Promise<string> {
  server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => setTimeout(() => res.writeHead(200, { 'x-adapter-version': answeredBy() }).end('mp4'), 20));
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
}

/** The StyleRollout as the operator would report it: Healthy on v1, then Promoted on v2, then v3 RolledBack. */
function demo(proxyUrl: string, pids: () => number[]): StyleDemo {
  let generation = 1;
  let status: Record<string, unknown> = {};
  const custom = {
    createNamespacedCustomObject: async () => {
      status = { observedGeneration: 1, phase: 'Healthy', stableVersion: 'v1' };
      return {};
    },
    patchNamespacedCustomObject: async ({ body }: { body: { spec: { version: string } } }) => {
      generation++;
      const v = body.spec.version;
      status =
        v === 'v2'
          ? { observedGeneration: generation, phase: 'Healthy', stableVersion: 'v2' }
          : {
              observedGeneration: generation,
              phase: 'RolledBack',
              stableVersion: 'v2',
              candidateVersion: v,
              failure: { reason: 'ErrorRate', message: 'x' },
            };
      return { metadata: { generation } };
    },
    getNamespacedCustomObject: async () => ({ metadata: { generation }, status }),
  };
  return {
    custom: custom as never,
    namespace: 'demo',
    prometheusAddress: 'http://127.0.0.1:9',
    proxyUrl,
    runner: { processes: () => pids().map((pid) => ({ name: `t2v-stable-${pid}`, pid })) } as never,
    replicas: 2,
    stepDuration: '10s',
    interval: '2s',
    timeoutMs: 20_000,
    say: () => undefined,
    timeline: new Timeline(),
    startedAt: Date.now(),
  };
}

describe('attack #18b: the demo scenario 5 verdict', () => {
  it('J1 scenario 5 is not "Promoted" (the expected outcome, so "demo OK") when the pods restarted during the adapter rollout', async () => {
    let calls = 0;
    // The pods' processes: the same two before the rollout, two new ones (restarted) after it.
    const pids = () => (++calls <= 2 ? [101, 102] : [201, 202]);
    const url = await proxy(() => 'ink-wash@v2');
    const [promoted] = await playStyleScenarios(demo(url, pids), 'wan', 't2v-stable');
    expect(promoted!.detail).toContain('the pods changed');
    // As built: outcome 'Promoted' === expected, so `demo OK` is printed although the "no pod restart" failed.
    expect(promoted!.outcome).not.toBe(promoted!.expected);
  });

  it('J2 scenario 5 is not "Promoted" when no style request through the proxy was answered by ink-wash@v2', async () => {
    const url = await proxy(() => 'ink-wash@v1');
    const [promoted] = await playStyleScenarios(
      demo(url, () => [101, 102]),
      'wan',
      't2v-stable',
    );
    // As built: the verdict and its detail ("ink-wash@v2 serves 100 %") come from the StyleRollout's status
    // alone; the load generator's counts (every answer from v1 here) are printed, never checked.
    expect(promoted!.outcome).not.toBe('Promoted');
  });
});
