// Attack on issue 20 (`npm run bench:peer`): the parts of scripts/bench-peer/* that need no cluster.
//  - F1: the command line took anything: `--scenarios 9`, `--runs 0`, `--runs abc`, `--scale nonsense`,
//    `--tools istio` started a control plane and printed empty tables (or asked for NaN nodes).
//  - F2: the audit-log mark was the file's size; the API server can be mid-line when it is read, and the
//    next JSON.parse of that half line threw, losing the whole run. A mark must fall on a line boundary.
// F1, F2 and F3 (below) FAIL on main (901fff6).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseBenchArgs } from '../../scripts/bench-peer/args.js';
import { auditMark, requestsBetween, type BenchCluster } from '../../scripts/bench-peer/cluster.js';
import { quantileBetween, quantileIsFloor } from '../../scripts/bench-peer/measure.js';

describe('bench:peer command line (F1)', () => {
  it('takes the documented flags', () => {
    // The fairness knobs default to the peers' docs: Argo's dynamicStableScale on, a raised client rate limit at N
    // rollouts, Flagger's usual threshold of 5 failed checks; scenario 4's per-tool cap is 15 minutes.
    const docs = { argoDynamicStableScale: true, argoScaleQps: 200, argoFailureLimit: 3, flaggerThreshold: 5 };
    expect(parseBenchArgs([])).toEqual({
      scenarios: [1, 2, 3, 4],
      runs: 1,
      tools: ['modelrollout', 'argo', 'flagger'],
      scale: 100,
      capMinutes: 15,
      knobs: docs,
      keep: false,
    });
    expect(
      parseBenchArgs([
        ...['--scenarios', '1,4', '--runs', '3', '--tools', 'modelrollout,argo,flagger', '--scale', '1000', '--keep', '--cap-minutes', '5'],
        ...['--argo-dynamic-stable-scale', 'false', '--argo-scale-qps', '40', '--argo-failure-limit', '0', '--flagger-threshold', '1'],
      ]),
    ).toEqual({
      scenarios: [1, 4],
      runs: 3,
      tools: ['modelrollout', 'argo', 'flagger'],
      scale: 1000,
      capMinutes: 5,
      knobs: { argoDynamicStableScale: false, argoScaleQps: 40, argoFailureLimit: 0, flaggerThreshold: 1 },
      keep: true,
    });
  });

  it.each([
    [['--scenarios', '9'], /--scenarios "9": unknown "9"/],
    [['--scenarios', '1,two'], /--scenarios "1,two": unknown "two"/],
    [['--scenarios', ''], /--scenarios/],
    [['--runs', '0'], /--runs "0"/],
    [['--runs', 'abc'], /--runs "abc"/],
    [['--runs', '1.5'], /--runs "1.5"/],
    [['--scale', 'nonsense'], /--scale "nonsense"/],
    [['--scale=-5'], /--scale "-5"/],
    [['--tools', 'modelrollout,istio'], /--tools "modelrollout,istio": unknown "istio"/],
    [['--tools', ''], /--tools/],
    [['--cap-minutes', '0'], /--cap-minutes "0"/],
    [['--argo-dynamic-stable-scale', 'yes'], /--argo-dynamic-stable-scale "yes": true or false/],
    [['--argo-scale-qps=-1'], /--argo-scale-qps "-1"/],
    [['--flagger-threshold', '0.5'], /--flagger-threshold "0.5"/],
    [['--argo-failure-limit=-1'], /--argo-failure-limit "-1"/],
  ])('refuses %j before anything starts', (argv, message) => {
    expect(() => parseBenchArgs(argv)).toThrow(message);
  });

  it('refuses an unknown flag', () => {
    expect(() => parseBenchArgs(['--run', '2'])).toThrow(/--run/);
  });
});

describe('bench:peer audit-log marks (F2)', () => {
  const event = (id: string, verb: string, user: string) => JSON.stringify({ auditID: id, stage: 'ResponseComplete', verb, user: { username: user } });
  const user = 'system:serviceaccount:peer-bench:argo';

  it('counts a request the API server was still writing at the mark once, in the next window, and never throws', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-peer-audit-'));
    const cluster = { auditLog: path.join(dir, 'audit.log') } as BenchCluster;
    const third = event('c', 'patch', user);
    fs.writeFileSync(cluster.auditLog, `${event('a', 'get', user)}\n${event('b', 'patch', user)}\n${third.slice(0, 40)}`);
    const from = 0;
    const mid = auditMark(cluster);
    expect(() => requestsBetween(cluster, from, mid, user)).not.toThrow();
    expect(requestsBetween(cluster, from, mid, user).total).toBe(2);
    fs.appendFileSync(cluster.auditLog, `${third.slice(40)}\n${event('d', 'update', user)}\n`);
    const end = auditMark(cluster);
    expect(requestsBetween(cluster, mid, end, user)).toEqual({ total: 2, byVerb: { patch: 1, update: 1 }, deploymentController: 0 });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reads a window in chunks, lines cut at a chunk edge counted once', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-peer-audit-'));
    const cluster = { auditLog: path.join(dir, 'audit.log') } as BenchCluster;
    const other = 'system:serviceaccount:peer-bench:flagger';
    const lines = [event('a', 'get', user), event('a', 'get', user), event('b', 'patch', other), event('c', 'patch', user), event('d', 'list', user)];
    fs.writeFileSync(cluster.auditLog, `${lines.join('\n')}\n`);
    const whole = requestsBetween(cluster, 0, auditMark(cluster), user);
    expect(whole).toEqual({ total: 3, byVerb: { get: 1, patch: 1, list: 1 }, deploymentController: 0 });
    for (const chunk of [1, 7, 64, 1000]) expect(requestsBetween(cluster, 0, auditMark(cluster), user, chunk)).toEqual(whole);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

// F3: Argo's rollout_reconcile histogram tops out at 1 s. When a quantile falls in the +Inf bucket,
// quantileBetween() prints the top bound (the README's "p99 1000 ms") as if it were measured, and the ratio
// column divides by it. The bench must be able to say the figure is a floor.
describe('bench:peer reconcile quantiles (F3)', () => {
  const argoBuckets = (counts: number[]) => new Map([0.01, 0.15, 0.25, 0.5, 1, Infinity].map((le, i) => [le, counts[i]!]));
  it('knows when a quantile lies beyond the top finite bucket', () => {
    const before = argoBuckets([0, 0, 0, 0, 0, 0]);
    // 100 reconciles: 10 under 0.5 s, 85 in (0.5, 1], 5 over 1 s.
    const after = argoBuckets([0, 0, 0, 10, 95, 100]);
    expect(quantileBetween(before, after, 0.99)).toBe(1);
    expect(quantileIsFloor(before, after, 0.99)).toBe(true);
    expect(quantileIsFloor(before, after, 0.5)).toBe(false);
    expect(quantileBetween(before, after, 0.5)).toBeCloseTo(0.5 + (0.5 * (50 - 10)) / 85, 6);
  });
});
