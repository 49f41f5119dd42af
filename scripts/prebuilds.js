#!/usr/bin/env node
// `npm run prebuilds` (the release step before `npm pack`): builds every
// binary flavour that ships in prebuilds/<platform>-<arch>/, each in its own
// side build folder (build-prebuild-<flavour>/, incremental), strips it and
// names it sampling-mask.<flavour>.node, the name lib/load.ts picks among.
// The flavour name comes from the CUDA version the build actually used.
//
//   node scripts/prebuilds.js [--only cpu,cuda13,cuda11]
//
// Toolchains (environment, defaults are this project's build machine):
//   SAMPLING_MASK_CUDA13_NVCC  CUDA 13 nvcc (/usr/local/cuda/bin/nvcc): driver 580+
//   SAMPLING_MASK_CUDA11_NVCC  CUDA 11.8 nvcc (Debian bookworm non-free nvidia-cuda-toolkit,
//                              /usr/bin/nvcc, host compiler g++-11): driver 450.80.02+
// prebuildify is not used: it always builds in build/Release and moves the
// result away (the development build with it), and it has no flavour tag.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const target = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);

// SASS for every data-centre and workstation generation the toolkit knows, PTX for the newest (JIT on later GPUs).
const flavours = {
  cpu: { env: { SAMPLING_MASK_CUDA: 'off' } },
  cuda13: {
    env: {
      SAMPLING_MASK_CUDA: 'on',
      CUDACXX: process.env.SAMPLING_MASK_CUDA13_NVCC || '/usr/local/cuda/bin/nvcc',
      SAMPLING_MASK_CUDA_ARCHITECTURES: '80-real;86-real;89-real;90-real;100-real;120-real;120-virtual',
    },
  },
  cuda11: {
    env: {
      SAMPLING_MASK_CUDA: 'on',
      CUDACXX: process.env.SAMPLING_MASK_CUDA11_NVCC || '/usr/bin/nvcc',
      CUDAHOSTCXX: process.env.SAMPLING_MASK_CUDA11_HOSTCXX || 'g++-11',
      SAMPLING_MASK_CUDA_ARCHITECTURES: '80-real;86-real;89-real;90-real;90-virtual',
      // Debian's nvcc 11.8 runs ptxas/fatbinary from PATH: its own in /usr/bin, not a newer toolkit's.
      PATH: `/usr/bin:${process.env.PATH}`,
    },
  },
};

// The oldest driver each CUDA major runs on (minor version compatibility).
const minimumDriver = { 11: '450.80.02', 12: '525.60.13', 13: '580' };

function fail(message) {
  console.error(`prebuilds: ${message}`);
  process.exit(1);
}

function run(command, args, env) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  if (result.status !== 0) fail(`${command} ${args.join(' ')} failed`);
}

/** The newest glibc version the binary's symbols require ("2.25"). */
function glibcFloor(file) {
  const dump = spawnSync('objdump', ['-T', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const versions = [...dump.stdout.matchAll(/\bGLIBC_([0-9.]+)\b/g)].map((m) => m[1].split('.').map(Number));
  versions.sort((a, b) => a[0] - b[0] || a[1] - b[1] || (a[2] ?? 0) - (b[2] ?? 0));
  return versions.length ? versions.at(-1).join('.') : null;
}

function build(name) {
  const flavour = flavours[name];
  if (flavour.env.CUDACXX && !fs.existsSync(flavour.env.CUDACXX)) {
    fail(`${name}: no nvcc at ${flavour.env.CUDACXX} (set SAMPLING_MASK_${name.toUpperCase()}_NVCC, or leave it out with --only)`);
  }
  const buildDir = path.join(root, `build-prebuild-${name}`);
  const started = Date.now();
  run(process.execPath, [path.join(__dirname, 'install.js'), '--build'], {
    SAMPLING_MASK_CUDA_ARCHITECTURES: '',
    CUDACXX: '',
    CUDAHOSTCXX: '',
    ...flavour.env,
    SAMPLING_MASK_BUILD: 'cmake',
    SAMPLING_MASK_BUILD_DIR: buildDir,
  });
  const built = JSON.parse(fs.readFileSync(path.join(buildDir, 'sampling-mask-build.json'), 'utf8'));
  const cuda = built.cuda && { version: built.cuda.version.split('.').slice(0, 2).join('.'), architectures: built.cuda.architectures };
  const flavourName = cuda ? `cuda${cuda.version}` : 'cpu';
  if (cuda && !flavourName.startsWith(name)) fail(`${name}: ${flavour.env.CUDACXX} is CUDA ${cuda.version}`);
  const file = path.join(target, `sampling-mask.${flavourName}.node`);
  fs.copyFileSync(path.join(buildDir, 'Release', 'sampling_mask.node'), file);
  run('strip', ['--strip-unneeded', file]);
  return {
    flavour: flavourName,
    file: path.basename(file),
    bytes: fs.statSync(file).size,
    glibc: glibcFloor(file),
    cuda: cuda && { ...cuda, minimumDriver: minimumDriver[cuda.version.split('.')[0]] },
    buildSeconds: Math.round((Date.now() - started) / 1000),
  };
}

function main() {
  const onlyIndex = process.argv.indexOf('--only');
  const names = onlyIndex >= 0 ? process.argv[onlyIndex + 1].split(',') : Object.keys(flavours);
  for (const name of names) if (!flavours[name]) fail(`unknown flavour ${name} (known: ${Object.keys(flavours).join(', ')})`);
  fs.mkdirSync(target, { recursive: true });
  const manifestFile = path.join(target, 'manifest.json');
  const previous = fs.existsSync(manifestFile) ? JSON.parse(fs.readFileSync(manifestFile, 'utf8')).flavours : [];
  const made = names.map(build);
  // Flavours not rebuilt this time keep their entries (and files).
  const kept = previous.filter((p) => !made.some((m) => m.flavour === p.flavour) && fs.existsSync(path.join(target, p.file)));
  const manifest = { platform: `${process.platform}-${process.arch}`, flavours: [...made, ...kept] };
  fs.writeFileSync(manifestFile, JSON.stringify(manifest, null, 2) + '\n');
  for (const m of manifest.flavours) {
    const cuda = m.cuda ? `CUDA ${m.cuda.version} (${m.cuda.architectures}; driver ${m.cuda.minimumDriver}+)` : 'CPU only';
    console.log(`prebuilds: ${m.file}  ${(m.bytes / 1e6).toFixed(1)} MB  ${cuda}  glibc ${m.glibc}+`);
  }
}

main();
