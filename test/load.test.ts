// Which binary the loader takes (lib/load.ts): the prebuild flavours' order,
// and the choice among them on hosts this machine is not (a GPU with a new
// or an old driver, a GPU no flavour runs on), through fake addons that
// report what a CUDA runtime reports there. Then the real thing: a package
// whose prebuilds/ holds this build under the flavour names, loaded in a
// child process on this host.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { backendInfo } from '../lib';
import { choosePrebuild, prebuildFlavours, type BinaryFlavour, type PrebuildHost } from '../lib/load';
import type { NativeAddon, NativeBackendInfo } from '../lib/native';

let scratch: string;
beforeAll(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'sampling-mask-load-'));
});
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

test('prebuild flavours are listed newest CUDA runtime first, the CPU one last, other files ignored', () => {
  const dir = path.join(scratch, 'listing');
  fs.mkdirSync(dir);
  for (const file of [
    'sampling-mask.cpu.node',
    'sampling-mask.cuda11.8.node',
    'sampling-mask.cuda13.0.node',
    'sampling-mask.cuda12.10.node',
    'manifest.json',
    'other.node',
  ]) {
    fs.writeFileSync(path.join(dir, file), '');
  }
  expect(prebuildFlavours(dir).map((f) => f.flavour)).toEqual(['cuda13.0', 'cuda12.10', 'cuda11.8', 'cpu']);
  expect(prebuildFlavours(path.join(scratch, 'absent'))).toEqual([]);
});

type Cuda = NativeBackendInfo['cuda'];
const driver12 = { driverVersion: 12040, devices: [] };
const runs = (runtimeVersion: number): Cuda => ({ available: true, runtimeVersion, ...driver12 });
const refuses = (runtimeVersion: number, reason: string): Cuda => ({ available: false, reason, runtimeVersion, ...driver12 });

/** Fake addons per file, recording which were loaded and which gave their threads back. */
function fakeHost(cudaByFile: Record<string, Cuda | Error>, driverPresent = true) {
  const loaded: string[] = [];
  const threadsGivenBack: string[] = [];
  const warnings: string[] = [];
  const host: PrebuildHost = {
    driverPresent,
    load(file) {
      const cuda = cudaByFile[file];
      if (cuda instanceof Error) throw cuda;
      loaded.push(file);
      return {
        backendInfo: () => ({ compiled: { cpu: true, cuda: file !== 'cpu' }, cuda }) as NativeBackendInfo,
        setThreads: () => threadsGivenBack.push(file),
      } as unknown as NativeAddon;
    },
    warn: (message) => warnings.push(message),
  };
  return { host, loaded, threadsGivenBack, warnings };
}

const shipped: { flavour: BinaryFlavour; file: string }[] = [
  { flavour: 'cuda13.0', file: 'cuda13' },
  { flavour: 'cuda11.8', file: 'cuda11' },
  { flavour: 'cpu', file: 'cpu' },
];

test('driver 580+: the CUDA 13 flavour, nothing else loaded', () => {
  const fake = fakeHost({ cuda13: runs(13000) });
  const chosen = choosePrebuild(shipped, fake.host, []);
  expect(chosen?.loaded).toMatchObject({ binary: 'cuda13.0', binaryOrigin: 'prebuild', binaryPath: 'cuda13' });
  expect(chosen?.loaded.binaryReason).toMatch(/^CUDA 13\.0 runs on this driver \(CUDA 12\.4\) and GPU$/);
  expect(fake.loaded).toEqual(['cuda13']);
  expect(fake.warnings).toEqual([]);
});

test('a CUDA 12 driver: CUDA 13 refuses, the CUDA 11.8 flavour runs, the first gives its threads back', () => {
  const fake = fakeHost({
    cuda13: refuses(13000, "the CUDA driver (version 12040) is older than this build's CUDA runtime (version 13000)"),
    cuda11: runs(11080),
  });
  const chosen = choosePrebuild(shipped, fake.host, []);
  expect(chosen?.loaded.binary).toBe('cuda11.8');
  expect(chosen?.loaded.binaryReason).toMatch(
    /^CUDA 11\.8 runs on this driver \(CUDA 12\.4\) and GPU \(cuda13\.0: the CUDA driver \(version 12040\) is older/,
  );
  expect(fake.threadsGivenBack).toEqual(['cuda13']);
  expect(fake.warnings).toEqual([]);
});

test('a GPU no flavour runs on: the first CUDA flavour (CPU backend), and one warning saying what to install', () => {
  const noImage = 'the CUDA kernels of this build do not run on Tesla V100 (compute capability 7.0): no kernel image is available';
  const fake = fakeHost({ cuda13: refuses(13000, noImage), cuda11: refuses(11080, noImage) });
  const chosen = choosePrebuild(shipped, fake.host, []);
  expect(chosen?.loaded.binary).toBe('cuda13.0');
  expect(chosen?.loaded.binaryReason).toMatch(/^no CUDA flavour runs here, so the CPU backend runs: cuda13\.0: the CUDA kernels/);
  expect(fake.loaded).toEqual(['cuda13', 'cuda11']);
  expect(fake.threadsGivenBack).toEqual(['cuda11']);
  expect(fake.warnings).toHaveLength(1);
  expect(fake.warnings[0]).toMatch(/driver 580 or newer.*450\.80\.02 or newer.*compute capability 8\.0.*SAMPLING_MASK_CUDA=on npm rebuild/);
});

test('devices hidden (CUDA_VISIBLE_DEVICES empty): the CUDA flavour stays, without a warning', () => {
  const fake = fakeHost({ cuda13: refuses(13000, 'no CUDA device is visible') });
  const chosen = choosePrebuild(shipped, fake.host, []);
  expect(chosen?.loaded).toMatchObject({ binary: 'cuda13.0', binaryReason: 'no CUDA device is visible: runs on the CPU' });
  expect(fake.warnings).toEqual([]);
});

test('no NVIDIA driver: the CPU flavour, no CUDA flavour loaded', () => {
  const fake = fakeHost({ cpu: runs(0) }, false);
  expect(choosePrebuild(shipped, fake.host, [])?.loaded).toMatchObject({ binary: 'cpu', binaryReason: 'no NVIDIA driver on this host' });
  expect(fake.loaded).toEqual(['cpu']);
});

test('a flavour that does not load (e.g. too old a glibc) is reported and the next one is tried', () => {
  const tried: string[] = [];
  const fake = fakeHost({ cuda13: new Error("/lib/libc.so.6: version `GLIBC_2.25' not found"), cuda11: runs(11080) });
  expect(choosePrebuild(shipped, fake.host, tried)?.loaded.binary).toBe('cuda11.8');
  expect(tried).toEqual([expect.stringMatching(/cuda13: .*GLIBC_2\.25' not found/)]);
});

test('a package whose prebuilds hold this build loads the CPU flavour on this host, and names it in backendInfo()', () => {
  // A copy of the package: dist/ and package.json, no build/ folder, prebuilds/ with this build under both names.
  const pkg = path.join(scratch, 'package');
  fs.cpSync(path.join(__dirname, '..', 'dist'), path.join(pkg, 'dist'), { recursive: true });
  fs.copyFileSync(path.join(__dirname, '..', 'package.json'), path.join(pkg, 'package.json'));
  const prebuilds = path.join(pkg, 'prebuilds', `${process.platform}-${process.arch}`);
  fs.mkdirSync(prebuilds, { recursive: true });
  for (const flavour of ['cpu', 'cuda13.0'])
    fs.copyFileSync(backendInfo().binaryPath, path.join(prebuilds, `sampling-mask.${flavour}.node`));
  const script = `const info = require(${JSON.stringify(pkg)}).backendInfo(); console.log(JSON.stringify([info.binary, info.binaryOrigin, info.binaryPath]));`;
  const env = { ...process.env };
  delete env.SAMPLING_MASK_ADDON;
  const [binary, origin, file] = JSON.parse(execFileSync(process.execPath, ['-e', script], { env, encoding: 'utf8' }));
  expect(origin).toBe('prebuild');
  const driver = ['/proc/driver/nvidia/version', '/dev/nvidiactl', '/dev/dxg'].some((f) => fs.existsSync(f));
  expect(binary).toBe(driver ? 'cuda13.0' : 'cpu');
  expect(file).toBe(path.join(prebuilds, `sampling-mask.${binary}.node`));

  fs.rmSync(prebuilds, { recursive: true });
  const failure = (() => {
    try {
      execFileSync(process.execPath, ['-e', script], { env, encoding: 'utf8', stdio: 'pipe' });
      return '';
    } catch (error) {
      return String((error as { stderr: string }).stderr);
    }
  })();
  expect(failure).toMatch(/no native binary loads on linux-x64.*\n.*no build in build\/Release and no prebuild in prebuilds\/linux-x64\//);
  expect(failure).toMatch(/npm install node-addon-api cmake-js && npm rebuild sampling-mask/);
});
