// What the npm tarball may hold (and must): the built facade and CLI, the
// native sources and build files for a source build, the prebuilds, and
// nothing else (no tests, no build intermediates). Used by
// test/package-files.test.ts (npm pack --dry-run) and
// scripts/ci-package-check.sh (the real tarball, prebuilds included).
'use strict';

const allowed = [
  /^package\.json$/,
  /^README\.md$/,
  /^LICENSE$/,
  /^dist\/(cli\/)?[\w.-]+\.(js|d\.ts)$/,
  /^dist\/index\.(mjs|d\.mts)$/,
  /^dist\/reference\/[\w-]+\.js$/,
  /^native\/[\w-]+\/[\w-]+\.(h|cpp|cu|inc|S)$/,
  /^CMakeLists\.txt$/,
  /^binding\.gyp$/,
  /^scripts\/(install|demo|shared)\.js$/,
  /^scripts\/bench\/[\w-]+\.js$/,
  /^prebuilds\/[\w-]+\/sampling-mask\.(cpu|cuda\d+\.\d+)\.node$/,
  /^prebuilds\/[\w-]+\/manifest\.json$/,
];

const required = [
  'package.json',
  'README.md',
  'LICENSE',
  'dist/index.js',
  'dist/index.d.ts',
  'dist/index.mjs',
  'dist/index.d.mts',
  'dist/load.js',
  'dist/cli/index.js',
  'dist/reference/reference.js',
  'dist/reference/trainer-reference.js',
  'scripts/install.js',
  'scripts/demo.js',
  'scripts/shared.js',
  'CMakeLists.txt',
  'binding.gyp',
  'native/glibc/pins.S',
];

/** Problems with a tarball's file list (paths relative to the package root); empty when it is right. */
function packageFileProblems(files, { prebuilds }) {
  const problems = files.filter((f) => !allowed.some((pattern) => pattern.test(f))).map((f) => `not allowed: ${f}`);
  for (const f of required) if (!files.includes(f)) problems.push(`missing: ${f}`);
  const shipped = files.filter((f) => f.startsWith('prebuilds/') && f.endsWith('.node'));
  if (prebuilds && shipped.length === 0) problems.push('missing: prebuilds/<platform>-<arch>/sampling-mask.<flavour>.node');
  if (shipped.length > 0 && !files.some((f) => f.endsWith('/manifest.json'))) problems.push('missing: the prebuilds manifest.json');
  return problems;
}

module.exports = { packageFileProblems, required };
