// The README's main job, CI-sized: `npm run demo` on the run's control plane must promote the good
// candidate and roll the faulty one back on its own, with real inference processes and Prometheus.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { expect, it, onTestFinished } from 'vitest';
import { inject } from 'vitest';
import { repoRoot } from '../env/paths.js';
import { kubeConfig } from './support.js';

it('plays a promotion and an automatic rollback, and stops everything it started', async () => {
  const namespace = `demo-${crypto.randomBytes(3).toString('hex')}`;
  onTestFinished(async () => {
    await kubeConfig().makeApiClient(k8s.CoreV1Api).deleteNamespace({ name: namespace }).catch(() => undefined);
  });
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'scripts/demo.ts'),
    '--kubeconfig', inject('kubeconfigPath'), '--namespace', namespace, '--step-duration', '3s', '--interval', '3s', '--timeout-minutes', '6'], { cwd: repoRoot });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c));
  child.stderr.on('data', (c: Buffer) => (out += c));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  expect(code, out.slice(-4000)).toBe(0);
  expect(out).toMatch(/scenario 1: good candidate\s+Promoted\s+Promoted/);
  expect(out).toMatch(/scenario 2: faulty candidate \(50 % injected errors\)\s+RolledBack\s+RolledBack\s+\d+s\s+\d+\s+error-rate: /);
  expect(out).toContain('demo OK');
  // Cleanup: the working directory is gone and no process runs on its models any more.
  const workdir = /working directory (\S+)/.exec(out)![1]!;
  expect(fs.existsSync(workdir)).toBe(false);
  const leftovers = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/environ`, 'utf8').includes(workdir);
    } catch {
      return false;
    }
  });
  expect(leftovers).toEqual([]);
}, 900_000);
