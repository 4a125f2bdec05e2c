#!/usr/bin/env node
// `npm test`: the type check (tsc over the whole tree, tests and scripts included: vitest strips types, so
// a type error would otherwise land green), then every vitest project (unit, inference, integration) in one
// run, then one plain summary line `N passed, N failed` that CI and people can read without knowing vitest's
// reporters; a failed type check counts as one failure. Extra arguments go to vitest (e.g. `npm test -- --project unit`).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const reportDir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelrollout-test-'));
const reportFile = path.join(reportDir, 'report.json');
const vitest = path.join(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), '..', 'node_modules', 'vitest', 'vitest.mjs');

const root = path.join(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), '..');
const typecheck = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(root, 'tsconfig.json'), '--noEmit'], { stdio: 'inherit' });
const typeErrors = typecheck.status === 0 ? 0 : 1;
console.log(typeErrors ? 'type check: FAILED (tsc -p tsconfig.json --noEmit, errors above)' : 'type check: passed');

const child = spawn(process.execPath, [vitest, 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${reportFile}`, ...process.argv.slice(2)], {
  stdio: 'inherit',
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));

child.on('exit', (code, signal) => {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  try {
    const report = JSON.parse(fs.readFileSync(reportFile, 'utf8'));
    passed = report.numPassedTests;
    failed = report.numFailedTests;
    skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
    // A file that fails to load (syntax error, failing beforeAll) has no failing test but is a failure.
    failed += (report.testResults ?? []).filter((f) => f.status === 'failed' && f.assertionResults.every((a) => a.status !== 'failed')).length;
  } catch {
    failed += 1; // no report at all: vitest itself crashed
  }
  fs.rmSync(reportDir, { recursive: true, force: true });
  failed += typeErrors;
  if (skipped > 0) console.log(`${skipped} skipped (not counted as passed)`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(code !== 0 || failed > 0 || signal ? 1 : 0);
});
