// Second attack on issue #17's docs: every series the runtime exports is in inference-image/README.md's
// Metrics table (the golden-probe counter is not), and the probe header is in its HTTP API.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createMetrics } from './metrics.js';

const readme = readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../README.md'), 'utf8');
const metricsSection = readme.slice(readme.indexOf('### Metrics'), readme.indexOf('### Style adapters'));
const httpSection = readme.slice(readme.indexOf('### HTTP API'), readme.indexOf('### Metrics'));

describe("attack2-17: inference-image/README.md's Metrics table and HTTP API", () => {
  it('lists every t2v_* series createMetrics registers (t2v_probe_requests_total included)', async () => {
    const m = createMetrics({ name: 'm', version: 'v1' }, { queueDepth: () => 0, inflight: () => 0, gpuMemory: async () => undefined });
    const names = (await m.registry.getMetricsAsJSON())
      .map((x) => x.name)
      .filter((n) => !/^t2v_(process|nodejs)_/.test(n) && !/^t2v_(heap|external|eventloop)/.test(n));
    const missing = names.filter((n) => !metricsSection.includes(`\`${n}\``));
    expect(missing).toEqual([]);
  });

  it('documents the X-ModelRollout-Probe request header (what it does to the counts, which value marks a probe)', () => {
    expect(httpSection).toMatch(/X-ModelRollout-Probe/i);
  });
});
