// `sampling-mask info`: which binary runs, what it was compiled with, and
// what it finds on this host (CPU, CUDA driver, runtime and devices).
import * as fs from 'fs';
import * as path from 'path';
import { backendInfo, type BackendInfo } from '../backend';
import { cudaVersionText, glibcVersion } from '../load';
import { formatBytes } from './io';

export interface Compiled {
  cpuVariants: string[];
  /** e.g. { version: '13.0', architectures: '80-real;90-real;90-virtual' }, null for a CPU-only binary. */
  cuda: { version: string; architectures: string; minimumDriver?: string } | null;
  /** Where these facts come from (a prebuild manifest or a source build's record); null when unknown. */
  source: string | null;
}

export interface HostInfo {
  package: { name: string; version: string };
  node: string;
  napi: string;
  platform: string;
  glibc: string | null;
  nvidiaKernelDriver: string | null;
  backend: BackendInfo;
  compiled: Compiled;
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

function compiledWith(info: BackendInfo): Compiled {
  const cpuVariants = process.arch === 'x64' ? ['baseline', 'avx2', 'avx512'] : ['baseline'];
  const binary = info.binaryPath;
  const manifest = readJson(path.join(path.dirname(binary), 'manifest.json')) as
    { flavours: { file: string; cuda: Compiled['cuda'] }[] } | undefined;
  const entry = manifest?.flavours.find((f) => f.file === path.basename(binary));
  if (entry) return { cpuVariants, cuda: entry.cuda, source: path.join(path.dirname(binary), 'manifest.json') };
  // A source build: CMake records what it compiled next to Release/ (scripts/install.js reads the same file).
  const record = path.join(path.dirname(path.dirname(binary)), 'sampling-mask-build.json');
  const built = readJson(record) as { cuda: { version: string; architectures: string } | null } | undefined;
  if (built) {
    const cuda = built.cuda && { version: built.cuda.version.split('.').slice(0, 2).join('.'), architectures: built.cuda.architectures };
    return { cpuVariants, cuda, source: record };
  }
  return {
    cpuVariants,
    cuda: info.compiled.cuda ? { version: cudaVersion(info.cuda.runtimeVersion), architectures: 'unknown' } : null,
    source: null,
  };
}

const cudaVersion = (version: number): string => (version ? cudaVersionText(version) : 'none');

// The install script's own wording of architectures (it runs before dist/ exists, so it holds the code).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { describeArchitectures } = require(path.join(__dirname, '..', '..', 'scripts', 'install.js')) as {
  describeArchitectures(list: string): string;
};

export function hostInfo(): HostInfo {
  const backend = backendInfo();
  const pkg = readJson(path.join(__dirname, '..', '..', 'package.json')) as { name: string; version: string };
  let nvidiaKernelDriver: string | null = null;
  try {
    nvidiaKernelDriver = /Kernel Module(?: for \S+)?\s+([\d.]+)/.exec(fs.readFileSync('/proc/driver/nvidia/version', 'utf8'))?.[1] ?? null;
  } catch {
    // no NVIDIA kernel module
  }
  return {
    package: { name: pkg.name, version: pkg.version },
    node: process.versions.node,
    napi: process.versions.napi ?? 'unknown',
    platform: `${process.platform}-${process.arch}`,
    glibc: glibcVersion() ?? null,
    nvidiaKernelDriver,
    backend,
    compiled: compiledWith(backend),
  };
}

export function formatInfo(info: HostInfo): string {
  const b = info.backend;
  const c = info.compiled;
  const cuda = c.cuda
    ? ` + CUDA ${c.cuda.version} ${describeArchitectures(c.cuda.architectures)}${c.cuda.minimumDriver ? ` (driver ${c.cuda.minimumDriver}+)` : ''}`
    : '';
  const lines = [
    `${info.package.name} ${info.package.version}  Node ${info.node}  N-API ${info.napi}  ${info.platform}${info.glibc ? `  glibc ${info.glibc}` : ''}`,
    `binary     ${b.binary} (${b.binaryOrigin}) ${b.binaryPath}`,
    `           why: ${b.binaryReason}`,
    `compiled   CPU (${c.cpuVariants.join(', ')})${cuda}`,
    `backend    default calls run on: ${b.backend} (setBackend: ${b.default.backend}, device ${b.default.device})`,
    `CPU        ${b.cpuIsa} kernels, ${b.threads} threads`,
    `CUDA       ${b.cuda.available ? 'available' : `not used: ${b.cuda.reason}`}`,
  ];
  if (b.compiled.cuda) {
    const kernelModule = info.nvidiaKernelDriver ? ` (kernel module ${info.nvidiaKernelDriver})` : '';
    lines.push(
      `           driver: CUDA ${cudaVersion(b.cuda.driverVersion)}${kernelModule}; runtime: CUDA ${cudaVersion(b.cuda.runtimeVersion)}`,
    );
  }
  for (const d of b.cuda.devices) {
    lines.push(
      `device ${d.ordinal}   ${d.name}, compute capability ${d.computeCapability}, ${d.multiprocessors} SMs, ${formatBytes(d.memoryBytes)}`,
    );
  }
  return lines.join('\n');
}
