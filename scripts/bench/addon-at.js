'use strict';
// The CPU addon as it was at a git revision, built once into
// build-before/<rev>/ (native/, CMakeLists.txt and package.json of that
// revision, from git archive), so that a benchmark can time the code before a
// change beside the current build, in one process, against the same
// baselines. Where that cannot be built (no git history, no compiler) it says
// why instead.
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..', '..');

function mustRun(command, args) {
  const result = spawnSync(command, args, { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (result.status !== 0) {
    const output = `${result.stderr ?? ''}${result.stdout ?? ''}`.trim() || String(result.error);
    throw new Error(`${path.basename(command)} ${args[0]} failed: ${output.slice(-600)}`);
  }
}

/**
 * Builds the CPU-only addon of a scratch copy of the sources (native/,
 * CMakeLists.txt, package.json in `source`) into `out`, with this checkout's
 * node_modules: { ok, output }. scripts/mutate-rule.js builds its mutants so.
 */
function buildScratchAddon(source, out) {
  const modules = path.join(source, 'node_modules');
  if (!fs.existsSync(modules)) fs.symlinkSync(path.join(root, 'node_modules'), modules, 'dir');
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
  const result = spawnSync(process.execPath, [cmakeJs, 'build', '--directory', source, '--out', out, '--CDSM_CUDA=OFF'], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  return { ok: result.status === 0, output: `${result.stdout ?? ''}${result.stderr ?? ''}` };
}

/** { addon } (the raw native exports) of the revision, or { reason } it is not available. */
function addonAt(revision) {
  const dir = path.join(root, 'build-before', revision.slice(0, 12));
  const file = path.join(dir, 'build', 'Release', 'sampling_mask.node');
  try {
    if (!fs.existsSync(file)) {
      const source = path.join(dir, 'src');
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(source, { recursive: true });
      const archive = path.join(dir, 'source.tar');
      mustRun('git', ['archive', '--output', archive, revision, 'native', 'CMakeLists.txt', 'package.json']);
      mustRun('tar', ['-xf', archive, '-C', source]);
      console.log(`building the addon of ${revision.slice(0, 12)} into ${path.relative(root, dir)}/ (once, a few minutes) ...`);
      const built = buildScratchAddon(source, path.join(dir, 'build'));
      if (!built.ok) throw new Error(`cmake-js build failed: ${built.output.slice(-600)}`);
    }
    return { addon: require(file) };
  } catch (error) {
    return { reason: error.message.split('\n')[0] };
  }
}

module.exports = { addonAt, buildScratchAddon };
