#!/usr/bin/env node
// Generates operator/src/generated/ (TypeScript types for our CRDs) with @kubernetes-models/crd-generate.
//   node scripts/generate-types.mjs           write the files
//   node scripts/generate-types.mjs --check   exit 1 and list the differences when regenerating would change them
// crd-generate writes extensionless relative imports; NodeNext ESM needs `.js`, so they are rewritten.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const target = path.join(root, 'operator', 'src', 'generated');
const crds = fs
  .readdirSync(path.join(root, 'crds'))
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => path.join(root, 'crds', f));

export function generate() {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'modelrollout-gen-'));
  const bin = path.join(root, 'node_modules', '.bin', 'crd-generate');
  execFileSync(bin, ['--output', out, ...crds.flatMap((f) => ['--input', f])], { stdio: ['ignore', 'ignore', 'inherit'] });
  /** @type {Map<string, string>} */
  const files = new Map();
  for (const rel of walk(out)) {
    let text = fs.readFileSync(path.join(out, rel), 'utf8');
    if (/\.(ts|js)$/.test(rel)) {
      text = text.replace(/from "(\.\.?\/[^"]+)\/index"/g, 'from "$1/index.js"').replace(/from "(\.\.?\/[^"]+?)(?<!\.js)"/g, 'from "$1.js"');
    }
    files.set(rel, text);
  }
  fs.rmSync(out, { recursive: true, force: true });
  return files;
}

/**
 * Every file under dir, as paths relative to it.
 * @param {string} dir
 * @param {string} [prefix]
 * @returns {string[]}
 */
function walk(dir, prefix = '') {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name), path.join(prefix, e.name)) : [path.join(prefix, e.name)]));
}

/** @param {Map<string, string>} files what generate() returned: relative path → text */
export function differences(files) {
  const existing = fs.existsSync(target) ? walk(target).filter((f) => !f.endsWith('.test.ts')) : [];
  const diffs = [];
  for (const [rel, text] of files) {
    const file = path.join(target, rel);
    if (!fs.existsSync(file)) diffs.push(`missing ${rel}`);
    else if (fs.readFileSync(file, 'utf8') !== text) diffs.push(`changed ${rel}`);
  }
  for (const rel of existing) if (!files.has(rel)) diffs.push(`stale ${rel}`);
  return diffs;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const files = generate();
  if (process.argv.includes('--check')) {
    const diffs = differences(files);
    if (diffs.length) {
      console.error(`operator/src/generated is out of date (run npm run generate):\n  ${diffs.join('\n  ')}`);
      process.exit(1);
    }
    console.log('operator/src/generated is up to date');
  } else {
    // Keep the drift test that lives beside the generated files.
    if (fs.existsSync(target)) for (const rel of walk(target)) if (!rel.endsWith('.test.ts')) fs.rmSync(path.join(target, rel));
    for (const [rel, text] of files) {
      fs.mkdirSync(path.dirname(path.join(target, rel)), { recursive: true });
      fs.writeFileSync(path.join(target, rel), text);
    }
    console.log(`wrote ${files.size} files to ${path.relative(root, target)}`);
  }
}
