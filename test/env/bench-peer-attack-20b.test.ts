// Second newcomer attack on issue 20 (`npm run bench:peer`, docs/attack-20.md), the parts that need no cluster.
//  - A1 (Argo's failureLimit 0 against Flagger's docs' threshold 5) is tested beside the other peer settings, in
//    bench-peer-crash.test.ts.
//  - A2: the ratio column divided means over the runs that finished: a tool whose slow run crashed or did not hold
//    up looked as good as its good runs, and the ratio did not say so.
//  - A5: --scale took 99999999999999999999 (1e20 nodes) and 100000; a flag that the selected scenarios or tools
//    never read (--scale without scenario 4, --flagger-threshold without Flagger) and a repeated flag (the last
//    one won) were taken silently, so the table looked like a run it was not.
//  - A3: API requests were counted by the controller's own user only. ModelRollout and Flagger write Deployments and
//    leave the ReplicaSets to kube-controller-manager's Deployment controller (the admin user, its client's user
//    agent ending in /deployment-controller); Argo manages its ReplicaSets itself and was charged for that work.
//    The requests the Deployment controller makes in a tool's namespace now count beside the tool's own.
// All FAIL on main (982ee73).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { parseBenchArgs } from '../../scripts/bench-peer/args.js';
import { auditMark, auditPolicy, requestsBetween, type BenchCluster } from '../../scripts/bench-peer/cluster.js';
import { printTable, type Row } from '../../scripts/bench-peer/report.js';

describe('ratio over runs that failed (A2)', () => {
  const printed = (rows: Row[]) => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    printTable('t', rows);
    const out = log.mock.calls.map((c) => String(c[0])).join('\n');
    log.mockRestore();
    return out;
  };

  it("says when ModelRollout's ratio leaves out its own failed runs", () => {
    const rows: Row[] = [
      { tool: 'ModelRollout', run: 1, values: { s: 50 } },
      { tool: 'ModelRollout', run: 2, values: {}, failed: 'did not hold up' },
      { tool: 'Argo Rollouts', run: 1, values: { s: 100 } },
      { tool: 'Argo Rollouts', run: 2, values: { s: 100 } },
    ];
    expect(printed(rows)).toMatch(/0\.50 \(Argo Rollouts; only finished runs: ModelRollout 1 of 2\)/);
  });

  it('prints a plain ratio when every run finished', () => {
    const rows: Row[] = [
      { tool: 'ModelRollout', run: 1, values: { s: 50 } },
      { tool: 'Flagger', run: 1, values: { s: 0 } },
    ];
    expect(printed(rows)).toMatch(/∞ \(Flagger 0\)\s*$/m);
  });
});

describe('flags that would misdescribe the run (A5)', () => {
  it.each([
    [['--scale', '99999999999999999999'], /--scale "99999999999999999999": a whole number from 1 to 10000/],
    [['--scale', '100000'], /--scale "100000"/],
    [['--scenarios', '1,2', '--scale', '1000'], /--scale: only scenario 4 uses it, and --scenarios 1,2 leaves it out/],
    [['--scenarios', '1', '--cap-minutes', '5'], /--cap-minutes: only scenario 4/],
    [['--tools', 'modelrollout,argo', '--flagger-threshold', '1'], /--flagger-threshold: only flagger uses it/],
    [['--tools', 'modelrollout,flagger', '--argo-failure-limit', '0'], /--argo-failure-limit: only argo uses it/],
    [['--scenarios', '4', '--tools', 'flagger', '--argo-scale-qps', '40'], /--argo-scale-qps: only argo uses it/],
    [['--scenarios', '1', '--scenarios', '2'], /--scenarios given twice/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseBenchArgs(argv)).toThrow(message);
  });

  it('takes them with what they need', () => {
    expect(parseBenchArgs(['--scenarios', '4', '--scale', '1000', '--tools', 'argo', '--argo-scale-qps', '40']).scale).toBe(1000);
  });
});

describe('requests the Deployment controller makes for a tool (A3)', () => {
  const kcm = 'kube-controller-manager/v1.36.3 (linux/amd64) kubernetes/abc1234/deployment-controller';
  const event = (id: string, verb: string, username: string, userAgent: string, namespace: string) =>
    JSON.stringify({ auditID: id, stage: 'ResponseComplete', verb, user: { username }, userAgent, objectRef: { namespace, resource: 'replicasets' } });

  it("counts the Deployment controller's writes in the tool's namespace, not the bench's, the scheduler's or another namespace's", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-peer-audit-'));
    const cluster = { auditLog: path.join(dir, 'audit.log') } as BenchCluster;
    const user = 'system:serviceaccount:peer-bench:modelrollout';
    const lines = [
      event('a', 'patch', user, 'node', 'modelrollout-s1-r1'),
      event('b', 'create', 'admin', kcm, 'modelrollout-s1-r1'),
      event('b', 'create', 'admin', kcm, 'modelrollout-s1-r1'),
      event('c', 'update', 'admin', kcm, 'modelrollout-s1-r1'),
      event('d', 'update', 'admin', kcm, 'argo-s1-r1'),
      event('e', 'patch', 'admin', 'node-fetch', 'modelrollout-s1-r1'),
      event('f', 'create', 'admin', 'kube-scheduler/v1.36.3 (linux/amd64) kubernetes/abc1234/scheduler', 'modelrollout-s1-r1'),
    ];
    fs.writeFileSync(cluster.auditLog, `${lines.join('\n')}\n`);
    const counted = requestsBetween(cluster, 0, auditMark(cluster), user, undefined, 'modelrollout-s1-r1');
    expect(counted).toEqual({ total: 1, byVerb: { patch: 1 }, deploymentController: 2 });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("has the API server log the admin user's Deployment and ReplicaSet writes (the Deployment controller's), beside the controllers' requests", () => {
    const policy = auditPolicy('peer-bench');
    expect(policy).toContain('userGroups: ["system:serviceaccounts:peer-bench"]');
    expect(policy).toMatch(/users: \["admin"\]\n\s+verbs: \["create", "update", "patch", "delete"\]/);
    expect(policy).toContain('{group: "apps", resources: ["deployments", "deployments/status", "replicasets", "replicasets/status"]}');
    expect(policy).toContain('{group: "", resources: ["events"]}');
    expect(policy.trimEnd().endsWith('- level: None')).toBe(true);
  });
});
