#!/usr/bin/env node
// The gates `npm test` runs before the tests (and `npm run gates` alone): each prints one plain line,
// `<gate>: passed` or `<gate>: FAILED (<command>)` under its output, and a failed gate counts as one failure.
//   type check  tsc over every TypeScript file (tests and scripts/*.ts too: vitest strips types, so a type error would land
//               green), then over the hand-written .mjs/.js files from their JSDoc (tsconfig.js.json: this one,
//               eslint.config.js); generated JS is not theirs to check
//   lint        ESLint: type-aware bug rules, size budgets, layer rules (eslint.config.js); errors, and more budget warnings than LINT_WARNING_BUDGET, fail
//   format      Prettier --check (.prettierrc.json); `npm run format` fixes it
//   unused      knip: unused files, exports and dependencies (knip.jsonc)
// They run side by side (each is mostly one core), their output printed in this order once all have ended.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
/**
 * @param {string} pkg a package under node_modules
 * @param {string} file its script, relative to the package
 */
const bin = (pkg, file) => path.join(root, 'node_modules', pkg, file);

/** Size-budget warnings today (31 on 2026-12-01): a ratchet, lowered as the debt is paid. */
const LINT_WARNING_BUDGET = 31;

/**
 * @typedef {object} Gate
 * @property {string} name
 * @property {string[][]} runs node scripts with their arguments, run one after another; the gate fails when one fails
 * @property {string} shown how a person reruns it
 */

/** @type {Gate[]} */
export const GATES = [
  {
    name: 'type check',
    runs: [
      [bin('typescript', 'bin/tsc'), '-p', 'tsconfig.json', '--noEmit'],
      [bin('typescript', 'bin/tsc'), '-p', 'tsconfig.js.json', '--noEmit'],
    ],
    shown: 'npm run typecheck',
  },
  // --max-warnings: the size-budget debt (warnings in the files eslint.config.js lists) may shrink, never grow.
  // Split a function and lower this number in the same commit.
  {
    name: 'lint',
    runs: [[bin('eslint', 'bin/eslint.js'), '--max-warnings', String(LINT_WARNING_BUDGET), '.']],
    shown: `npm run lint (at most ${LINT_WARNING_BUDGET} budget warnings)`,
  },
  {
    name: 'format',
    runs: [[bin('prettier', 'bin/prettier.cjs'), '--check', '--log-level', 'warn', '.']],
    shown: 'npm run format:check; fix with npm run format',
  },
  { name: 'unused', runs: [[bin('knip', 'bin/knip.js'), '--no-progress']], shown: 'npx knip' },
];

/**
 * @param {string[]} args
 * @returns {Promise<{ ok: boolean, output: string }>}
 */
function runNode(args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', (err) => resolve({ ok: false, output: String(err) }));
    child.on('close', (code) => resolve({ ok: code === 0, output }));
  });
}

/**
 * @param {Gate} gate
 * @returns {Promise<{ gate: Gate, ok: boolean, output: string, seconds: number }>}
 */
async function runGate(gate) {
  const started = Date.now();
  let ok = true;
  let output = '';
  for (const args of gate.runs) {
    const run = await runNode(args);
    ok &&= run.ok;
    output += run.output;
  }
  return { gate, ok, output, seconds: (Date.now() - started) / 1000 };
}

/**
 * Runs every gate; prints each one's result; resolves to the number that failed.
 * @param {Gate[]} [gates]
 */
export async function runGates(gates = GATES) {
  const results = await Promise.all(gates.map(runGate));
  for (const { gate, ok, output, seconds } of results) {
    if (!ok && output.trim()) process.stdout.write(output.endsWith('\n') ? output : `${output}\n`);
    console.log(ok ? `${gate.name}: passed (${seconds.toFixed(1)} s)` : `${gate.name}: FAILED (${gate.shown}, output above)`);
  }
  return results.filter((r) => !r.ok).length;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const failed = await runGates();
  console.log(`gates: ${GATES.length - failed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
}
