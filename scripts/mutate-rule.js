#!/usr/bin/env node
// Mutation check of the rule's boundary tests (README "How the rule is
// pinned"): each mutation below changes one comparison or constant of the
// native rule; the CPU-only addon is rebuilt with it, in a scratch copy of
// native/ (build-mutate/, the working tree is never touched), and
// test/rule-boundaries.test.ts must then fail. A mutation whose tests still
// pass "survived": a comparison or constant that no test pins.
//
//   npm run mutate                    every mutation (about a minute each: headers rebuild most of the addon)
//   npm run mutate -- --only FLOOR    those whose name contains FLOOR (--only may be repeated)
//   npm run mutate -- --list          the mutations and the documented equivalent ones
//
// Exits non-zero if a mutation survives, does not apply or does not compile,
// or if the tests fail without any mutation.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { buildScratchAddon } = require('./bench/addon-at');

const root = path.join(__dirname, '..');
const work = path.join(root, 'build-mutate');
const source = path.join(work, 'src'); // the scratch copy that gets mutated
const build = path.join(work, 'build');
const addonFile = path.join(build, 'Release', 'sampling_mask.node');
const testFile = 'test/rule-boundaries.test.ts';

// The mutations (name, file, the exact original text `from`, once in file, and
// its replacement `to`) and the changes that cannot change any result, so no
// test can pin them (run none), with the reason.
const { mutations, equivalent } = require('./mutations.json');

/** The values given to a repeatable option. */
function optionValues(name) {
  return process.argv.flatMap((arg, i) => (arg === name && i + 1 < process.argv.length ? [process.argv[i + 1]] : []));
}

function run(command, args, { env = {}, timeout } = {}) {
  const result = spawnSync(command, args, { cwd: root, encoding: 'utf8', env: { ...process.env, ...env }, timeout, maxBuffer: 1 << 28 });
  return { ok: result.status === 0, output: `${result.stdout ?? ''}${result.stderr ?? ''}`, timedOut: result.error?.code === 'ETIMEDOUT' };
}

/** Copies path (relative to the root) into the scratch tree, writing only what differs (so rebuilds stay incremental). */
function sync(relative) {
  const from = path.join(root, relative);
  const to = path.join(source, relative);
  if (fs.statSync(from).isDirectory()) {
    fs.mkdirSync(to, { recursive: true });
    const names = new Set(fs.readdirSync(from));
    for (const name of fs.readdirSync(to)) if (!names.has(name)) fs.rmSync(path.join(to, name), { recursive: true, force: true });
    for (const name of names) sync(path.join(relative, name));
  } else if (!fs.existsSync(to) || !fs.readFileSync(to).equals(fs.readFileSync(from))) {
    fs.copyFileSync(from, to);
  }
}

function prepareScratch() {
  fs.mkdirSync(source, { recursive: true });
  for (const relative of ['native', 'CMakeLists.txt', 'package.json']) sync(relative);
}

const buildAddon = () => buildScratchAddon(source, build);

/** Runs the boundary tests against the scratch addon; returns whether they pass and, if not, the first failing test. */
function boundaryTests() {
  const jest = require.resolve('jest/bin/jest', { paths: [root] });
  // A mutation that hangs the addon fails the tests too: the timeout counts as a failure.
  const result = run(process.execPath, [jest, testFile, '--bail'], { env: { SAMPLING_MASK_ADDON: addonFile }, timeout: 300_000 });
  const failing = result.output.split('\n').find((line) => line.trim().startsWith('●'));
  return { pass: result.ok, failing: result.timedOut ? 'timed out' : (failing?.trim().replace(/^● /, '') ?? result.output.slice(-500)) };
}

/** How often the mutation's original text occurs in the working tree's file (it must be exactly once). */
function occurrences(m) {
  return fs.readFileSync(path.join(root, m.file), 'utf8').split(m.from).length - 1;
}

function list() {
  for (const m of mutations) {
    const found = occurrences(m) === 1 ? '' : `  [occurs ${occurrences(m)} times: stale]`;
    console.log(`${m.name}\n    ${m.file}: ${JSON.stringify(m.from)} -> ${JSON.stringify(m.to)}${found}`);
  }
  console.log('\nEquivalent (not run):');
  for (const e of equivalent) console.log(`- ${e.change}\n    ${e.reason}`);
}

function main() {
  if (process.argv.includes('--list')) return list();
  const only = optionValues('--only').map((text) => text.toLowerCase());
  const selected = mutations.filter((m) => only.length === 0 || only.some((text) => m.name.toLowerCase().includes(text)));
  if (selected.length === 0) throw new Error(`no mutation matches ${only.join(', ')}`);

  // The child processes of the tests load the package from dist/.
  const tsc = run(process.execPath, [require.resolve('typescript/bin/tsc', { paths: [root] }), '-p', 'tsconfig.json']);
  if (!tsc.ok) throw new Error(`tsc failed:\n${tsc.output}`);
  prepareScratch();
  console.log('building the unmutated addon in build-mutate/ ...');
  const baseline = buildAddon();
  if (!baseline.ok) throw new Error(`the unmutated build failed:\n${baseline.output.slice(-3000)}`);
  const clean = boundaryTests();
  if (!clean.pass) throw new Error(`the boundary tests fail without any mutation: ${clean.failing}`);

  const rows = [];
  for (const m of selected) {
    const file = path.join(source, m.file);
    const original = fs.readFileSync(path.join(root, m.file), 'utf8');
    if (occurrences(m) !== 1) {
      rows.push({ name: m.name, status: 'NOT APPLIED', detail: `${JSON.stringify(m.from)} occurs ${occurrences(m)} times in ${m.file}` });
      continue;
    }
    process.stdout.write(`${m.name} ... `);
    fs.writeFileSync(file, original.replace(m.from, m.to));
    try {
      const built = buildAddon();
      if (!built.ok) {
        rows.push({ name: m.name, status: 'BUILD FAILED', detail: built.output.split('\n').find((l) => l.includes('error')) ?? '' });
      } else {
        const tests = boundaryTests();
        rows.push({ name: m.name, status: tests.pass ? 'SURVIVED' : 'killed', detail: tests.pass ? '' : tests.failing });
      }
    } finally {
      fs.writeFileSync(file, original);
    }
    console.log(rows[rows.length - 1].status);
  }

  const width = Math.max(...rows.map((r) => r.name.length));
  console.log(`\n${'mutation'.padEnd(width)}  result\n${'-'.repeat(width)}  ------`);
  for (const r of rows) console.log(`${r.name.padEnd(width)}  ${r.status}${r.detail ? `  (${r.detail})` : ''}`);
  const bad = rows.filter((r) => r.status !== 'killed');
  console.log(`\n${rows.length - bad.length} of ${rows.length} killed; ${equivalent.length} equivalent changes documented (--list).`);
  if (bad.length > 0) process.exitCode = 1;
}

main();
