// `npm run bench:peer` after the newcomer attack (issue 20): a controller that exits mid-run must stop its tool's
// run at once with a line naming the tool, the exit code and its log, and print "crashed" in its cells; a tool
// past scenario 4's cap prints "did not hold up"; the peers' settings say which fairness knobs a run used and
// their queries name the scenario's candidate version. No control plane: real processes and plain tables only.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ProcessGroup } from '../../test/env/process-group.js';
import { crashLine, watchExit } from '../../scripts/bench-peer/crash.js';
import { cell, printTable, type Row } from '../../scripts/bench-peer/report.js';
import { TOOLS, argoAnalysisTemplate, type BenchSettings } from '../../scripts/bench-peer/tools.js';
import { parseBenchArgs } from '../../scripts/bench-peer/args.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  vi.restoreAllMocks();
});

function group(): ProcessGroup {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-peer-crash-'));
  dirs.push(dir);
  return new ProcessGroup(dir);
}

describe('bench:peer controller crash', () => {
  it('resolves with the exit code when the controller exits, and the line names tool, code and the log tail', async () => {
    const g = group();
    const proc = g.start('argo-rollouts', process.execPath, [
      '-e',
      'console.log("level=fatal msg=\\"cache sync failed\\""); setTimeout(() => process.exit(3), 100)',
    ]);
    const exit = await watchExit(proc);
    expect(exit).toEqual({ code: 3, signal: null });
    const line = crashLine('Argo Rollouts', exit, proc.logFile);
    expect(line.split('\n')[0]).toBe(
      `Argo Rollouts: controller exited during the run (exit code 3); its run stopped, figures marked "crashed"; last lines of ${proc.logFile}:`,
    );
    expect(line).toContain('    level=fatal msg="cache sync failed"');
  });

  it('names the signal when the controller was killed, and stays pending while it lives', async () => {
    const g = group();
    const proc = g.start('flagger', process.execPath, ['-e', 'setInterval(() => undefined, 1000)']);
    let settled = false;
    const exit = watchExit(proc).then((e) => ((settled = true), e));
    await new Promise((r) => setTimeout(r, 200));
    expect(settled).toBe(false);
    process.kill(proc.pid, 'SIGKILL');
    expect(await exit).toEqual({ code: null, signal: 'SIGKILL' });
    expect(crashLine('Flagger', await exit, proc.logFile)).toMatch(/^Flagger: controller exited during the run \(signal SIGKILL\)/);
  });

  it('resolves at once for a controller that has already exited', async () => {
    const g = group();
    const proc = g.start('modelrollout', process.execPath, ['-e', 'process.exit(1)']);
    await new Promise((resolve) => proc.child!.once('exit', resolve));
    expect(await watchExit(proc)).toEqual({ code: 1, signal: null });
  });
});

describe('bench:peer table cells for failed runs', () => {
  const rows: Row[] = [
    { tool: 'ModelRollout', run: 1, values: { 'all promoted (s)': 90 } },
    { tool: 'Argo Rollouts', run: 1, values: {}, failed: 'crashed', note: 'Argo Rollouts: controller exited during the run (exit code 2)' },
    { tool: 'Flagger', run: 1, values: {}, failed: 'did not hold up', note: 'did not hold up: 412 of 1000 promoted after 900 s' },
    { tool: 'Flagger', run: 2, values: { 'all promoted (s)': 120 } },
  ];

  it('prints "crashed" or "did not hold up" instead of a figure, and counts failed runs beside the others', () => {
    expect(cell(rows, 'ModelRollout', 'all promoted (s)')).toBe('90.0');
    expect(cell(rows, 'Argo Rollouts', 'all promoted (s)')).toBe('crashed');
    expect(cell(rows, 'Flagger', 'all promoted (s)')).toBe('120; 1 of 2 runs did not hold up');
  });

  it('leaves a failed tool out of the ratio and prints its reason under the table', () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    printTable('Scenario 4', rows);
    const out = log.mock.calls.map((c) => String(c[0])).join('\n');
    expect(out).toMatch(/all promoted \(s\)\s+90\.0\s+crashed\s+120; 1 of 2 runs did not hold up\s+0\.75 \(Flagger; only finished runs: Flagger 1 of 2\)/);
    expect(out).toContain('  Flagger run 1: did not hold up: 412 of 1000 promoted after 900 s');
  });

  it('prints one line when every tool failed', () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    printTable('Scenario 4', [{ tool: 'ModelRollout', run: 1, values: {}, failed: 'crashed' }]);
    expect(log.mock.calls.map((c) => String(c[0])).join('\n')).toMatch(/result\s+crashed\s+—/);
  });
});

describe('bench:peer peer settings', () => {
  const base: BenchSettings = {
    replicas: 4,
    stepSeconds: 10,
    checkSeconds: 2,
    windowSeconds: 10,
    prometheus: 'http://127.0.0.1:9090',
    podAnnotations: {},
    stableVersion: 'v7',
    candidateVersion: 'v8',
    knobs: { argoDynamicStableScale: true, argoScaleQps: 200, argoFailureLimit: 3, flaggerThreshold: 5 },
    many: false,
  };
  const printed = (key: string, s: BenchSettings) =>
    TOOLS.find((t) => t.key === key)!
      .settings(s)
      .join('\n');

  it('say which knob values the run used', () => {
    expect(printed('argo', base)).toContain('dynamicStableScale true (its docs recommend it');
    expect(printed('argo', base)).toContain('scenario 4: --qps 200 --burst 400');
    expect(printed('flagger', base)).toContain('threshold 5 (failed checks before it rolls back');
    const off = { ...base, knobs: { argoDynamicStableScale: false, argoScaleQps: 40, argoFailureLimit: 0, flaggerThreshold: 1 } };
    expect(printed('argo', off)).toContain('dynamicStableScale false (its default, chosen with --argo-dynamic-stable-scale false');
    expect(printed('argo', off)).toContain('scenario 4: --qps 40 --burst 80');
    expect(printed('flagger', off)).toContain('threshold 1 (failed checks');
  });

  // Attack 20b, A1 (docs/attack-20.md): Argo's analysis ran with failureLimit 0, its most eager setting, while Flagger
  // got its docs' usual threshold 5; every background-analysis example in Argo's docs uses failureLimit 3.
  it("apply Argo's failureLimit as printed, 3 (its docs) unless chosen", () => {
    expect(parseBenchArgs([]).knobs.argoFailureLimit).toBe(3);
    for (const argoFailureLimit of [0, 3]) {
      const s = { ...base, knobs: { ...base.knobs, argoFailureLimit } };
      const metric = argoAnalysisTemplate({ ns: 'n', name: 't2v-0', model: 'n-0' }, s).spec.metrics[0]!;
      expect(metric).toMatchObject({ failureLimit: argoFailureLimit, interval: '2s' });
      expect(printed('argo', s)).toContain(`interval 2s, successCondition result[0] <= 0.01, failureLimit ${argoFailureLimit} (`);
    }
  });

  it("name the scenario's candidate version in every tool's query, not a fixed v2", () => {
    for (const key of ['argo', 'flagger']) expect(printed(key, base)).toContain('model_version="v8"');
    expect(printed('modelrollout', base)).toContain('versions v7 → v8');
  });
});
