#!/usr/bin/env node
// Builds or picks the native addon, and ends with one line saying what.
//
//   node scripts/install.js          `npm install`: a shipped prebuild that loads here is used as is;
//                                    otherwise (or when a build switch below is set) build from source
//   node scripts/install.js --build  build from source, incrementally (`npm test` runs this first)
//   node scripts/install.js --force  clean build from source
//
// Build switches (environment). A changed switch reconfigures the build
// instead of reusing its CMake cache; a switch left unset keeps the value the
// build folder was configured with (--force: the default).
//   SAMPLING_MASK_CUDA=auto|on|off   CUDA if nvcc is found (default) / required (error without nvcc) / left out
//   SAMPLING_MASK_CUDA_ARCHITECTURES=90  CMAKE_CUDA_ARCHITECTURES (default 80-real;90-real;90-virtual)
//   SAMPLING_MASK_BUILD=cmake|node-gyp   the build system (default: CMake when installed; node-gyp is CPU-only)
//   SAMPLING_MASK_WERROR=on|off      warnings as errors (default: on in a git checkout, off elsewhere)
//   SAMPLING_MASK_BUILD_DIR=dir      build there instead of build/ (a side build: prebuilds, the GPU check)
//   SAMPLING_MASK_SANITIZE=address,undefined  an addon instrumented with these sanitizers, built into
//                                    build-sanitize/ unless SAMPLING_MASK_BUILD_DIR says otherwise (scripts/sanitize.sh)
//   CUDACXX=/path/to/nvcc            the CUDA compiler (default: nvcc on PATH, else /usr/local/cuda/bin/nvcc)
//   CUDAHOSTCXX=g++-11               nvcc's host compiler (older CUDA toolkits need an older GCC)
//   npm_config_build_from_source     (`npm rebuild --build-from-source`) build even when a prebuild fits
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const mode = process.argv.includes('--force') ? 'force' : process.argv.includes('--build') ? 'build' : 'install';
// An instrumented build never goes where the package loads its addon from.
const buildDir = path.resolve(
  root,
  process.env.SAMPLING_MASK_BUILD_DIR || (process.env.SAMPLING_MASK_SANITIZE ? 'build-sanitize' : 'build'),
);
const configFile = path.join(buildDir, 'sampling-mask-config.json');
const switches = [
  'SAMPLING_MASK_CUDA',
  'SAMPLING_MASK_CUDA_ARCHITECTURES',
  'SAMPLING_MASK_BUILD',
  'SAMPLING_MASK_WERROR',
  'SAMPLING_MASK_SANITIZE',
];

class BuildError extends Error {}

function fail(message) {
  throw new BuildError(message);
}

function run(command, args, env = {}) {
  console.log(`sampling-mask: ${[command, ...args].map((a) => path.relative(root, a) || a).join(' ')}`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  if (result.error) throw result.error;
  if (result.status !== 0) fail(`the build failed (${command} exited with ${result.status})`);
}

function works(command, args = ['--version']) {
  const result = spawnSync(command, args, { stdio: 'ignore' });
  return !result.error && result.status === 0;
}

function resolveFrom(request) {
  try {
    return require.resolve(request, { paths: [root] });
  } catch {
    return undefined;
  }
}

function findNvcc(env) {
  if (env.CUDACXX) return env.CUDACXX;
  const onPath = spawnSync('sh', ['-c', 'command -v nvcc'], { encoding: 'utf8', env });
  if (onPath.status === 0 && onPath.stdout.trim()) return onPath.stdout.trim();
  const standard = '/usr/local/cuda/bin/nvcc';
  return fs.existsSync(standard) ? standard : null;
}

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The switches of this build: the environment's, else (incremental builds) the build folder's, else defaults. */
function wantedConfig(saved, env = process.env) {
  const pick = (name, fallback) => {
    const value = env[name];
    if (value !== undefined && value !== '') return value.toLowerCase();
    return saved && saved[name] !== undefined ? saved[name] : fallback;
  };
  const cmakeUsable = works('cmake') && resolveFrom('cmake-js/package.json') !== undefined;
  const config = {
    SAMPLING_MASK_CUDA: pick('SAMPLING_MASK_CUDA', 'auto'),
    SAMPLING_MASK_CUDA_ARCHITECTURES: env.SAMPLING_MASK_CUDA_ARCHITECTURES || saved?.SAMPLING_MASK_CUDA_ARCHITECTURES || null,
    SAMPLING_MASK_BUILD: pick('SAMPLING_MASK_BUILD', cmakeUsable ? 'cmake' : 'node-gyp'),
    SAMPLING_MASK_WERROR: pick('SAMPLING_MASK_WERROR', fs.existsSync(path.join(root, '.git')) ? 'on' : 'off'),
  };
  // Only when set, so that the build folders of ordinary builds keep their saved switches as they are.
  const sanitize = pick('SAMPLING_MASK_SANITIZE', null);
  if (sanitize !== null) config.SAMPLING_MASK_SANITIZE = sanitize;
  if (!['auto', 'on', 'off'].includes(config.SAMPLING_MASK_CUDA)) fail('SAMPLING_MASK_CUDA must be auto, on or off');
  if (!['cmake', 'node-gyp'].includes(config.SAMPLING_MASK_BUILD)) fail('SAMPLING_MASK_BUILD must be cmake or node-gyp');
  if (!['on', 'off'].includes(config.SAMPLING_MASK_WERROR)) fail('SAMPLING_MASK_WERROR must be on or off');
  if (sanitize !== null && !/^[a-z-]+(,[a-z-]+)*$/.test(sanitize)) {
    fail('SAMPLING_MASK_SANITIZE must be a comma-separated list of sanitizers, e.g. address,undefined');
  }
  // Resolved afresh every time: a toolkit installed since the last build is a change.
  config.nvcc = config.SAMPLING_MASK_CUDA === 'off' ? null : findNvcc(env);
  config.CUDAHOSTCXX = env.CUDAHOSTCXX || null;
  config.CXX = env.CXX || null;
  return config;
}

function sameConfig(a, b) {
  return a !== undefined && JSON.stringify(a) === JSON.stringify(b);
}

const rebuildHint = 'npm rebuild sampling-mask';
const sourceDeps = 'npm install node-addon-api cmake-js';

function requireSourceDependencies(config) {
  if (!resolveFrom('node-addon-api/package.json')) {
    fail(`building from source needs node-addon-api (headers) and, for CUDA, cmake-js:\n  ${sourceDeps} && ${rebuildHint}`);
  }
  if (config.SAMPLING_MASK_BUILD === 'cmake' && !resolveFrom('cmake-js/package.json')) {
    fail(`SAMPLING_MASK_BUILD=cmake needs cmake-js: ${sourceDeps}`);
  }
  if (config.SAMPLING_MASK_BUILD === 'node-gyp' && config.SAMPLING_MASK_SANITIZE) {
    fail('SAMPLING_MASK_SANITIZE needs the CMake build (the node-gyp build has no sanitizer switch)');
  }
  if (config.SAMPLING_MASK_BUILD === 'node-gyp' && config.SAMPLING_MASK_CUDA === 'on') {
    const why = works('cmake') ? 'cmake-js is not installed' : 'CMake is not installed';
    fail(`SAMPLING_MASK_CUDA=on needs the CMake build (${why}; the node-gyp build is CPU-only): install CMake >= 3.20, then ${sourceDeps}`);
  }
  if (config.nvcc && config.nvcc.includes('/') && !fs.existsSync(config.nvcc)) {
    fail(`CUDACXX=${config.nvcc}: no such file (unset it, or name the nvcc to use)`);
  }
  if (config.SAMPLING_MASK_CUDA === 'on' && !config.nvcc) {
    fail('SAMPLING_MASK_CUDA=on but no nvcc was found: set CUDACXX=/path/to/nvcc (CMake does not look in /usr/local/cuda by itself)');
  }
}

function buildWithCmake(config, clean) {
  const cmakeJs = resolveFrom('cmake-js/bin/cmake-js');
  const defines = [
    `--CDSM_CUDA=${config.SAMPLING_MASK_CUDA.toUpperCase()}`,
    `--CDSM_WERROR=${config.SAMPLING_MASK_WERROR === 'on' ? 'ON' : 'OFF'}`,
  ];
  if (config.SAMPLING_MASK_CUDA_ARCHITECTURES) defines.push(`--CDCMAKE_CUDA_ARCHITECTURES=${config.SAMPLING_MASK_CUDA_ARCHITECTURES}`);
  if (config.CUDAHOSTCXX) defines.push(`--CDCMAKE_CUDA_HOST_COMPILER=${config.CUDAHOSTCXX}`);
  defines.push(`--CDSM_SANITIZE=${config.SAMPLING_MASK_SANITIZE ?? ''}`);
  const env = config.nvcc ? { CUDACXX: config.nvcc } : {};
  const out = ['--out', buildDir];
  // reconfigure = remove the build folder, then configure: no stale cache entry (e.g. a CUDA compiler NOTFOUND) survives.
  if (clean) run(process.execPath, [cmakeJs, 'reconfigure', ...out, ...defines], env);
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2) + '\n');
  run(process.execPath, [cmakeJs, 'build', ...out, ...defines], env);
}

function buildWithNodeGyp(config, clean) {
  const nodeGyp = process.env.npm_config_node_gyp || resolveFrom('node-gyp/bin/node-gyp.js');
  if (!nodeGyp)
    fail('neither CMake nor node-gyp is available: install CMake >= 3.20 and cmake-js, or run this through npm (which ships node-gyp)');
  if (buildDir !== path.join(root, 'build')) fail('SAMPLING_MASK_BUILD_DIR needs the CMake build (node-gyp always builds in build/)');
  // Build against this Node's own headers when it ships them: no download.
  const prefix = path.join(path.dirname(process.execPath), '..');
  const localHeaders = fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'));
  const nodedir = process.env.npm_config_nodedir || (localHeaders ? prefix : undefined);
  const common = nodedir ? [`--nodedir=${nodedir}`] : [];
  if (clean) {
    fs.rmSync(buildDir, { recursive: true, force: true });
    run(process.execPath, [nodeGyp, 'configure', ...common, '--', `-Dwerror=${config.SAMPLING_MASK_WERROR === 'on' ? 1 : 0}`]);
  }
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2) + '\n');
  run(process.execPath, [nodeGyp, 'build', ...common]);
}

/** "80-real;90-real;90-virtual" -> "sm_80,sm_90 + PTX compute_90". */
function describeArchitectures(list) {
  const real = [];
  const ptx = [];
  for (const entry of list.split(';')) {
    const [arch, kind] = entry.split('-');
    if (!/^\d+[a-z]?$/.test(arch)) return list;
    if (kind !== 'virtual') real.push(`sm_${arch}`);
    if (kind !== 'real') ptx.push(`compute_${arch}`);
  }
  return [real.join(','), ptx.length ? `PTX ${ptx.join(',')}` : ''].filter(Boolean).join(' + ');
}

function cudaSkippedReason(config) {
  if (config.SAMPLING_MASK_CUDA === 'off') return 'SAMPLING_MASK_CUDA=off';
  if (config.SAMPLING_MASK_BUILD === 'node-gyp') {
    return `the node-gyp build is CPU-only (${works('cmake') ? 'cmake-js is not installed' : 'CMake is not installed'})`;
  }
  if (!config.nvcc) return 'no nvcc found (CUDACXX unset, none on PATH or at /usr/local/cuda/bin/nvcc)';
  return `${config.nvcc} did not pass CMake's CUDA compiler check (see ${path.relative(root, buildDir)}/CMakeFiles/CMakeError.log)`;
}

function summary(config, seconds) {
  // An instrumented addon loads only with its sanitizer runtimes preloaded: not into this process.
  if (config.SAMPLING_MASK_SANITIZE) {
    return `sampling-mask: built from source (${config.SAMPLING_MASK_BUILD}, ${seconds} s) with ${config.SAMPLING_MASK_SANITIZE} sanitizers into ${path.relative(root, buildDir)}/: run it through scripts/sanitize.sh`;
  }
  const addon = require(path.join(buildDir, 'Release', 'sampling_mask.node'));
  const info = addon.backendInfo(0);
  const isas = process.arch === 'x64' ? 'baseline, avx2, avx512' : 'baseline';
  let line = `sampling-mask: built from source (${config.SAMPLING_MASK_BUILD}, ${seconds} s): CPU (${isas}; this CPU runs ${info.cpuIsa})`;
  const built = readJson(path.join(buildDir, 'sampling-mask-build.json'));
  if (info.compiled.cuda) {
    const cuda = built?.cuda;
    line += ` + CUDA ${cuda ? `${cuda.version.split('.').slice(0, 2).join('.')} ${describeArchitectures(cuda.architectures)}` : ''}`;
    if (!info.cuda.available) line += ` (CUDA does not run here: ${info.cuda.reason})`;
    return line;
  }
  line += ` only. CUDA skipped: ${cudaSkippedReason(config)}.`;
  if (config.SAMPLING_MASK_CUDA !== 'off') {
    line += ` For CUDA: install the CUDA toolkit, CMake >= 3.20 and cmake-js, then CUDACXX=/path/to/nvcc SAMPLING_MASK_CUDA=on ${rebuildHint}`;
  }
  return line;
}

/** A shipped prebuild that loads here, described; undefined when none does. */
function fittingPrebuild() {
  const loader = path.join(root, 'dist', 'load.js');
  if (!fs.existsSync(loader) || !fs.existsSync(path.join(root, 'prebuilds'))) return undefined;
  const { loadNativeAddon } = require(loader);
  let loaded;
  try {
    loaded = loadNativeAddon();
  } catch (error) {
    console.log(error.message);
    return undefined;
  }
  if (loaded.loaded.binaryOrigin !== 'prebuild') return undefined;
  const { binary, binaryReason, binaryPath } = loaded.loaded;
  return `sampling-mask: using the prebuilt ${binary} binary (${path.relative(root, binaryPath)}): ${binaryReason}`;
}

function main() {
  const fromSourceAsked =
    mode !== 'install' || switches.some((name) => process.env[name]) || /^(true|1)$/.test(process.env.npm_config_build_from_source || '');
  if (!fromSourceAsked) {
    const prebuild = fittingPrebuild();
    if (prebuild) {
      console.log(prebuild);
      return;
    }
  }
  const saved = mode === 'force' ? undefined : readJson(configFile);
  const config = wantedConfig(saved);
  requireSourceDependencies(config);
  const clean = mode === 'force' || !sameConfig(saved, config);
  if (clean && saved) console.log('sampling-mask: the build switches changed: reconfiguring from scratch');
  const started = Date.now();
  if (config.SAMPLING_MASK_BUILD === 'cmake') buildWithCmake(config, clean);
  else buildWithNodeGyp(config, clean);
  console.log(summary(config, ((Date.now() - started) / 1000).toFixed(1)));
}

if (require.main === module) {
  try {
    main();
  } catch (error) {
    if (!(error instanceof BuildError)) throw error;
    console.error(`sampling-mask: ${error.message}`);
    process.exit(1);
  }
}

module.exports = { wantedConfig, sameConfig, describeArchitectures };
