#!/usr/bin/env node
'use strict';
// `npm run lint [-- [--fix] PATH...]`: ESLint (eslint.config.js) and Prettier
// (.prettierrc.json) over the TypeScript and JavaScript, clang-format
// (.clang-format) over the C++/CUDA in native/. PATHs, folders or files
// relative to the project root, narrow it to part of the tree; the default
// is all of it. --fix rewrites the files instead: eslint --fix, prettier
// --write, clang-format -i.
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

process.chdir(path.join(__dirname, '..'));
const args = process.argv.slice(2);
const fix = args.includes('--fix');
const paths = args.filter((arg) => arg !== '--fix');
if (paths.length === 0) paths.push('.');

// Build outputs and dependencies hold C++ that is not ours.
const notOurs = /^(node_modules|dist|build.*|prebuilds|bench-results|\.device|\..*)$/;

function nativeFiles(target) {
  const stat = fs.statSync(target, { throwIfNoEntry: false });
  if (!stat) throw new Error(`lint: no such file or folder: ${target}`);
  if (stat.isFile()) return /\.(h|cpp|cu|inc)$/.test(target) ? [target] : [];
  return fs
    .readdirSync(target)
    .filter((name) => !notOurs.test(name))
    .flatMap((name) => nativeFiles(path.join(target, name)));
}

function run(label, command, commandArgs) {
  console.log(`lint: ${label}`);
  const result = spawnSync(command, commandArgs, { stdio: 'inherit' });
  if (result.error) {
    const hint = result.error.code === 'ENOENT' && command === 'clang-format' ? ' (apt-get install clang-format)' : '';
    console.error(`lint: cannot run ${command}: ${result.error.message}${hint}`);
    return false;
  }
  return result.status === 0;
}

const bin = (name) => path.join('node_modules', '.bin', name);
const sources = paths.flatMap(nativeFiles);
const scripts = paths.filter((p) => fs.statSync(p).isDirectory() || /\.(ts|js)$/.test(p));
const globs = scripts.map((p) => (fs.statSync(p).isDirectory() ? `${p}/**/*.{ts,js}` : p));

const passed = [
  scripts.length === 0 || run('eslint', bin('eslint'), [...(fix ? ['--fix'] : []), '--max-warnings', '0', ...scripts]),
  globs.length === 0 || run('prettier', bin('prettier'), [fix ? '--write' : '--check', '--no-error-on-unmatched-pattern', ...globs]),
  sources.length === 0 ||
    run(`clang-format (${sources.length} files)`, 'clang-format', [...(fix ? ['-i'] : ['--dry-run', '-Werror']), ...sources]),
];
if (passed.includes(false)) process.exit(1);
