// Finds and loads the native addon. In order: SAMPLING_MASK_ADDON (a file
// named explicitly), a source build in build/Release (what `npm install`
// compiled because no prebuild fitted, or a development tree), else a
// prebuild from prebuilds/<platform>-<arch>/. Several prebuild flavours may
// ship (sampling-mask.<flavour>.node): CUDA ones linked against different
// CUDA runtimes, which need different minimum drivers, and a CPU one. The
// loader asks each CUDA flavour whether it runs on this host's driver and GPU
// and takes the first that does, so a host with an older driver gets an older
// runtime instead of a silent CPU run.
import * as fs from 'fs';
import * as path from 'path';
import { environmentError } from './errors';
import type { NativeAddon } from './native';

/** 'cpu', or the CUDA runtime the binary is linked against (e.g. 'cuda13.0'). */
export type BinaryFlavour = 'cpu' | `cuda${number}.${number}`;

export interface LoadedBinary {
  binary: BinaryFlavour;
  /** Where the binary came from. */
  binaryOrigin: 'prebuild' | 'source build' | 'SAMPLING_MASK_ADDON';
  binaryPath: string;
  /** Why this binary was taken over the others. */
  binaryReason: string;
}

export interface Loaded {
  addon: NativeAddon;
  loaded: LoadedBinary;
}

/** What choosePrebuild() learns from the host; the loader passes the real ones, tests their own. */
export interface PrebuildHost {
  /** An NVIDIA driver is installed (a kernel module or a device node). */
  driverPresent: boolean;
  load(file: string): NativeAddon;
  /** Says once that no CUDA flavour serves this GPU host. */
  warn(message: string): void;
}

const packageRoot = path.join(__dirname, '..');
const prebuildPattern = /^sampling-mask\.(cpu|cuda(\d+)\.(\d+))\.node$/;

export function prebuildDirectory(): string {
  return path.join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`);
}

/** Shipped flavours for this platform, best first: newest CUDA runtime first, the CPU one last. */
export function prebuildFlavours(directory = prebuildDirectory()): { flavour: BinaryFlavour; file: string }[] {
  const files = fs.existsSync(directory) ? fs.readdirSync(directory) : [];
  const found = files.flatMap((file) => {
    const match = prebuildPattern.exec(file);
    if (!match) return [];
    const rank = match[2] === undefined ? -1 : Number(match[2]) * 1000 + Number(match[3]);
    return [{ flavour: match[1] as BinaryFlavour, file: path.join(directory, file), rank }];
  });
  return found.sort((a, b) => b.rank - a.rank).map(({ flavour, file }) => ({ flavour, file }));
}

/**
 * Whether an NVIDIA driver is installed: without one no CUDA flavour can
 * run, and loading one only to hear so would cost memory for nothing.
 */
function nvidiaDriverPresent(): boolean {
  return ['/proc/driver/nvidia/version', '/dev/nvidiactl', '/dev/dxg'].some((file) => fs.existsSync(file));
}

/**
 * The flavour of a binary not named by its file: what its build recorded next
 * to Release/ (CMake writes it), else its CUDA runtime's version (which a
 * CUDA 11 runtime reports as 0 without a driver).
 */
function flavourOf(addon: NativeAddon, file: string): BinaryFlavour {
  const info = addon.backendInfo();
  if (!info.compiled.cuda) return 'cpu';
  try {
    const record = JSON.parse(fs.readFileSync(path.join(path.dirname(path.dirname(file)), 'sampling-mask-build.json'), 'utf8'));
    const [major, minor] = String(record.cuda.version).split('.');
    return `cuda${Number(major)}.${Number(minor)}`;
  } catch {
    return `cuda${cudaVersionText(info.cuda.runtimeVersion)}` as BinaryFlavour;
  }
}

/** A CUDA version number as cudaRuntimeGetVersion gives it (12040) in words (12.4). @internal */
export function cudaVersionText(version: number): string {
  return `${Math.floor(version / 1000)}.${(version % 1000) / 10}`;
}

function requireAddon(file: string): NativeAddon {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(file) as NativeAddon;
}

function noBinaryError(tried: string[]): Error {
  const libc = glibcVersion();
  const host = `${process.platform}-${process.arch}${libc ? ` (glibc ${libc})` : ''}, Node ${process.versions.node}`;
  const lines = [
    `sampling-mask: no native binary loads on ${host}.`,
    ...tried.map((line) => `  ${line}`),
    'Prebuilds ship for linux-x64 with glibc 2.25 or newer. Elsewhere, build from source:',
    '  npm install node-addon-api cmake-js && npm rebuild sampling-mask',
    '  (needs a C++17 compiler and CMake >= 3.20; for CUDA also nvcc: CUDACXX=/usr/local/cuda/bin/nvcc)',
  ];
  return environmentError('ERR_SM_NO_BINARY', 'binary', lines.join('\n'));
}

/** The glibc this process runs on, when it runs on glibc. @internal */
export function glibcVersion(): string | undefined {
  const header = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header;
  return header?.glibcVersionRuntime;
}

function describeLoadError(file: string, error: unknown): string {
  const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
  return `${path.relative(packageRoot, file) || file}: ${message}`;
}

/**
 * Picks among the prebuilds: the first CUDA flavour whose runtime this
 * driver runs and whose kernels this GPU runs; the CPU flavour on a host
 * without an NVIDIA driver. A GPU host that no flavour serves keeps the first
 * CUDA flavour (its CPU backend is the same) and gets one warning saying what
 * to install.
 */
export function choosePrebuild(
  flavours: { flavour: BinaryFlavour; file: string }[],
  host: PrebuildHost,
  tried: string[],
): Loaded | undefined {
  const cpu = flavours.find((f) => f.flavour === 'cpu');
  const take = (file: string, flavour: BinaryFlavour, reason: string): Loaded | undefined => {
    try {
      return { addon: host.load(file), loaded: { binary: flavour, binaryOrigin: 'prebuild', binaryPath: file, binaryReason: reason } };
    } catch (error) {
      tried.push(describeLoadError(file, error));
      return undefined;
    }
  };
  if (cpu && !host.driverPresent) return take(cpu.file, 'cpu', 'no NVIDIA driver on this host');

  const rejected: Loaded[] = [];
  const reasons: string[] = [];
  for (const { flavour, file } of flavours.filter((f) => f.flavour !== 'cpu')) {
    const candidate = take(file, flavour, '');
    if (!candidate) continue;
    const cuda = candidate.addon.backendInfo().cuda;
    const nothingToRunOn = /no CUDA device is visible|no CUDA driver is installed/.test(cuda.reason ?? '');
    if (cuda.available || nothingToRunOn) {
      // A flavour loaded before stays in the process (addons cannot be unloaded): give back its threads.
      for (const other of rejected) other.addon.setThreads(1);
      const skipped = reasons.length ? ` (${reasons.join('; ')})` : '';
      candidate.loaded.binaryReason = cuda.available
        ? `CUDA ${cudaVersionText(cuda.runtimeVersion)} runs on this driver (CUDA ${cudaVersionText(cuda.driverVersion)}) and GPU${skipped}`
        : `${cuda.reason}: runs on the CPU`;
      return candidate;
    }
    rejected.push(candidate);
    reasons.push(`${flavour}: ${cuda.reason}`);
  }
  const [first, ...others] = rejected;
  if (!first) return cpu && take(cpu.file, 'cpu', tried.length ? 'no CUDA flavour loads here' : 'no CUDA flavour ships for this platform');
  for (const other of others) other.addon.setThreads(1);
  first.loaded.binaryReason = `no CUDA flavour runs here, so the CPU backend runs: ${reasons.join('; ')}`;
  host.warn(
    `sampling-mask runs on the CPU on this GPU host: ${reasons.join('; ')}. ` +
      'The CUDA 13.0 build needs NVIDIA driver 580 or newer, the CUDA 11.8 build driver 450.80.02 or newer, ' +
      'and both need a GPU of compute capability 8.0 or newer. Update the driver, or build for this GPU from ' +
      'source: npm install node-addon-api cmake-js && SAMPLING_MASK_CUDA=on npm rebuild sampling-mask',
  );
  return first;
}

function loadPrebuild(tried: string[]): Loaded | undefined {
  const host: PrebuildHost = {
    driverPresent: nvidiaDriverPresent(),
    load: requireAddon,
    warn: (message) => process.emitWarning(message, { code: 'SM_NO_USABLE_CUDA_BINARY' }),
  };
  return choosePrebuild(prebuildFlavours(), host, tried);
}

/** The addon in `file`, which is either a source build or named by the environment. */
function loadFile(file: string, binaryOrigin: 'source build' | 'SAMPLING_MASK_ADDON', binaryReason: string): Loaded {
  const addon = requireAddon(file);
  return { addon, loaded: { binary: flavourOf(addon, file), binaryOrigin, binaryPath: file, binaryReason } };
}

/** Loads the addon (see the top of this file) and says which binary it is and why. */
export function loadNativeAddon(): Loaded {
  const explicit = process.env.SAMPLING_MASK_ADDON;
  if (explicit) {
    return loadFile(path.resolve(explicit), 'SAMPLING_MASK_ADDON', 'named by SAMPLING_MASK_ADDON');
  }
  const tried: string[] = [];
  const built = path.join(packageRoot, 'build', 'Release', 'sampling_mask.node');
  if (fs.existsSync(built)) {
    try {
      return loadFile(built, 'source build', 'built from source on this host');
    } catch (error) {
      tried.push(describeLoadError(built, error));
    }
  }
  const prebuild = loadPrebuild(tried);
  if (prebuild) return prebuild;
  if (tried.length === 0) tried.push(`no build in build/Release and no prebuild in ${path.relative(packageRoot, prebuildDirectory())}/`);
  throw noBinaryError(tried);
}

/** The addon with backendInfo() extended by which binary was loaded and why. */
export function loadAddon(): NativeAddon {
  const { addon, loaded } = loadNativeAddon();
  return { ...addon, backendInfo: () => ({ ...addon.backendInfo(), ...loaded }) };
}
