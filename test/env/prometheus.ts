// A real Prometheus (the Debian package) on 127.0.0.1 for analysis tests: short scrape interval,
// targets from a file that can be rewritten while it runs, tracked by PID and stopped at the end.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.js';
import { ProcessGroup } from './process-group.js';

export interface PrometheusServer {
  address: string;
  dir: string;
  setTargets(targets: string[]): void;
  /** Resolves once `query` returns at least one series. */
  waitForSeries(query: string, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export function prometheusBinary(): string {
  return process.env.MODELROLLOUT_PROMETHEUS ?? '/usr/bin/prometheus';
}

export async function startPrometheus(targets: string[], scrapeInterval = '1s'): Promise<PrometheusServer> {
  const binary = prometheusBinary();
  if (!fs.existsSync(binary)) throw new Error(`${binary} not found: install the Debian package (apt-get install prometheus) or set MODELROLLOUT_PROMETHEUS`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelrollout-prom-'));
  const targetsFile = path.join(dir, 'targets.json');
  const setTargets = (list: string[]) => {
    fs.writeFileSync(`${targetsFile}.tmp`, JSON.stringify([{ targets: list, labels: { job: 't2v' } }]));
    fs.renameSync(`${targetsFile}.tmp`, targetsFile);
  };
  setTargets(targets);
  fs.writeFileSync(
    path.join(dir, 'prometheus.yml'),
    [
      'global:',
      `  scrape_interval: ${scrapeInterval}`,
      `  evaluation_interval: ${scrapeInterval}`,
      'scrape_configs:',
      '  - job_name: t2v',
      '    file_sd_configs:',
      `      - files: ["${targetsFile}"]`,
      '        refresh_interval: 1s',
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const group = new ProcessGroup(path.join(dir, 'logs'));
  group.start('prometheus', binary, [
    `--config.file=${path.join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
    '--storage.tsdb.retention.time=1h',
  ]);
  group.armWatchdog(process.pid);
  const address = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  while (
    !(await fetch(`${address}/-/ready`).then(
      (r) => r.ok,
      () => false,
    ))
  ) {
    group.assertAlive();
    if (Date.now() > deadline) throw new Error('Prometheus not ready after 30 s');
    await sleep(100);
  }
  return {
    address,
    dir,
    setTargets,
    async waitForSeries(query, timeoutMs = 30_000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const body = await fetch(`${address}/api/v1/query?query=${encodeURIComponent(query)}`).then(
          (r) => r.json() as Promise<{ data?: { result?: unknown[] } }>,
          () => undefined,
        );
        if ((body?.data?.result?.length ?? 0) > 0) return;
        if (Date.now() > end) throw new Error(`no series for ${query} after ${timeoutMs} ms`);
        await sleep(250);
      }
    },
    async stop() {
      await group.stopAll();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
