#!/usr/bin/env node
// `npm install` entry: use a shipped prebuild when one loads, else build the
// addon. CMake (cmake-js) is the main build and compiles the CUDA backend when
// nvcc is found; hosts without CMake fall back to node-gyp (binding.gyp, CPU only).
//
//   --force                      rebuild even if a prebuild or build loads
//   SAMPLING_MASK_CUDA=on|off    require CUDA (error if no nvcc) / leave it out
//   SAMPLING_MASK_CUDA_ARCHITECTURES=90  CMAKE_CUDA_ARCHITECTURES (default 80-real;90-real;90-virtual)
//   SAMPLING_MASK_BUILD_DIR=dir  build there instead of build/ (a side build, e.g. for the GPU check)
//   SAMPLING_MASK_BUILD=node-gyp build through binding.gyp
//   SAMPLING_MASK_SANITIZE=address,undefined  an instrumented addon in build-sanitize/ (scripts/sanitize.sh)
//   CUDACXX=/path/to/nvcc        the CUDA compiler (else nvcc on PATH or /usr/local/cuda)
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const force = process.argv.includes('--force');

function run(command, args, env) {
  console.log(`sampling-mask: ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  if (result.error) throw result.error;
  if (result.status !== 0) process.exit(result.status || 1);
}

function has(command, args = ['--version']) {
  const result = spawnSync(command, args, { stdio: 'ignore' });
  return !result.error && result.status === 0;
}

function findNvcc() {
  if (process.env.CUDACXX) return process.env.CUDACXX;
  if (has('nvcc')) return 'nvcc';
  const standard = '/usr/local/cuda/bin/nvcc';
  return fs.existsSync(standard) ? standard : undefined;
}

function binPath(pkg, bin) {
  return require.resolve(path.join(pkg, bin), { paths: [root] });
}

if (!force) {
  try {
    require('node-gyp-build')(root);
    console.log('sampling-mask: using the existing build or prebuild');
    process.exit(0);
  } catch {
    // nothing loads: build below
  }
}

const cudaMode = (process.env.SAMPLING_MASK_CUDA || 'auto').toLowerCase();
const sanitize = process.env.SAMPLING_MASK_SANITIZE;
if (process.env.SAMPLING_MASK_BUILD === 'node-gyp' || !has('cmake')) {
  if (sanitize) {
    console.error('sampling-mask: SAMPLING_MASK_SANITIZE needs CMake (the node-gyp build has no sanitizer switch)');
    process.exit(1);
  }
  if (cudaMode === 'on') {
    console.error('sampling-mask: SAMPLING_MASK_CUDA=on needs CMake (the node-gyp build is CPU-only)');
    process.exit(1);
  }
  // Build against this Node's own headers when it ships them: no download.
  const prefix = path.join(path.dirname(process.execPath), '..');
  const localHeaders = fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'));
  const nodedir = process.env.npm_config_nodedir || (localHeaders ? prefix : undefined);
  run(process.execPath, [binPath('node-gyp', 'bin/node-gyp.js'), 'rebuild', ...(nodedir ? [`--nodedir=${nodedir}`] : [])]);
} else {
  const args = [binPath('cmake-js', 'bin/cmake-js'), 'compile'];
  const env = {};
  if (cudaMode === 'off') {
    args.push('--CDSM_CUDA=OFF');
  } else {
    const nvcc = findNvcc();
    if (nvcc) env.CUDACXX = nvcc;
    args.push(`--CDSM_CUDA=${cudaMode === 'on' ? 'ON' : 'AUTO'}`);
  }
  if (process.env.SAMPLING_MASK_CUDA_ARCHITECTURES) {
    args.push(`--CDCMAKE_CUDA_ARCHITECTURES=${process.env.SAMPLING_MASK_CUDA_ARCHITECTURES}`);
  }
  // A sanitized build goes to its own directory: never where the package loads its addon from.
  if (sanitize) args.push(`--CDSM_SANITIZE=${sanitize}`);
  const buildDir = process.env.SAMPLING_MASK_BUILD_DIR || (sanitize ? 'build-sanitize' : undefined);
  if (buildDir) args.push('--out', buildDir);
  run(process.execPath, args, env);
}
