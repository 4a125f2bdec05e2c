#!/usr/bin/env node
// `npm test`: the gates (scripts/gates.mjs: type check, lint, format, unused exports; each failed gate counts as
// one failure), then every vitest project (unit, inference, integration) in one run, then one plain summary
// line `N passed, N failed` that CI and people can read without knowing vitest's reporters. Extra arguments go
// to vitest (e.g. `npm test -- --project unit`).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runGates } from './gates.mjs';

const reportDir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelrollout-test-'));
const reportFile = path.join(reportDir, 'report.json');
const vitest = path.join(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), '..', 'node_modules', 'vitest', 'vitest.mjs');

/**
 * The part of vitest's JSON reporter output read here.
 * @typedef {object} JsonReport
 * @property {number} numPassedTests
 * @property {number} numFailedTests
 * @property {number} [numPendingTests]
 * @property {number} [numTodoTests]
 * @property {{ status: string, assertionResults: { status: string }[] }[]} [testResults]
 */

const gateFailures = await runGates();

const child = spawn(process.execPath, [vitest, 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${reportFile}`, ...process.argv.slice(2)], {
  stdio: 'inherit',
});
for (const sig of /** @type {const} */ (['SIGINT', 'SIGTERM'])) process.on(sig, () => child.kill(sig));

child.on('exit', (code, signal) => {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  try {
    /** @type {JsonReport} */
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
  failed += gateFailures;
  if (skipped > 0) console.log(`${skipped} skipped (not counted as passed)`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(code !== 0 || failed > 0 || signal ? 1 : 0);
});
