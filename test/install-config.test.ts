// scripts/install.js's decisions about a build folder: which switches a build
// uses, and when a build reconfigures from scratch instead of reusing its
// CMake cache (a changed SAMPLING_MASK_CUDA, architectures, CUDACXX or host
// compiler) or builds incrementally (nothing changed, or a switch left unset).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const install = require('../scripts/install.js') as {
  wantedConfig(saved: Config | undefined, env: NodeJS.ProcessEnv): Config;
  sameConfig(a: Config | undefined, b: Config): boolean;
  describeArchitectures(list: string): string;
};

type Config = Record<string, string | null>;

/** An environment with CUDACXX naming the compiler, so no PATH lookup decides the test. */
const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, CUDACXX: '/opt/cuda-a/bin/nvcc', ...extra });

test('a first build takes the defaults and the environment', () => {
  const config = install.wantedConfig(undefined, env({ SAMPLING_MASK_CUDA_ARCHITECTURES: '90' }));
  expect(config).toEqual({
    SAMPLING_MASK_CUDA: 'auto',
    SAMPLING_MASK_CUDA_ARCHITECTURES: '90',
    SAMPLING_MASK_BUILD: 'cmake', // CMake and cmake-js are installed here
    SAMPLING_MASK_WERROR: 'on', // a git checkout
    nvcc: '/opt/cuda-a/bin/nvcc',
    CUDAHOSTCXX: null,
    CXX: null,
  });
});

test('nothing set: the build folder keeps its switches and builds incrementally', () => {
  const saved = install.wantedConfig(
    undefined,
    env({ SAMPLING_MASK_CUDA: 'off', SAMPLING_MASK_BUILD: 'node-gyp', SAMPLING_MASK_WERROR: 'off' }),
  );
  const again = install.wantedConfig(saved, env());
  expect(again).toEqual(saved);
  expect(install.sameConfig(saved, again)).toBe(true);
});

test.each<[string, NodeJS.ProcessEnv]>([
  ['SAMPLING_MASK_CUDA', { SAMPLING_MASK_CUDA: 'on' }],
  ['SAMPLING_MASK_CUDA_ARCHITECTURES', { SAMPLING_MASK_CUDA_ARCHITECTURES: '80-real;90-real' }],
  ['CUDACXX', { CUDACXX: '/opt/cuda-b/bin/nvcc' }],
  ['CUDAHOSTCXX', { CUDAHOSTCXX: 'g++-11' }],
  ['SAMPLING_MASK_BUILD', { SAMPLING_MASK_BUILD: 'node-gyp' }],
  ['SAMPLING_MASK_SANITIZE', { SAMPLING_MASK_SANITIZE: 'address,undefined' }],
])('a changed %s reconfigures', (_, change) => {
  const saved = install.wantedConfig(undefined, env({ SAMPLING_MASK_CUDA: 'auto' }));
  expect(install.sameConfig(saved, install.wantedConfig(saved, env(change)))).toBe(false);
});

test('SAMPLING_MASK_CUDA=off resolves no compiler, so a toolkit appearing later changes nothing', () => {
  const off = install.wantedConfig(undefined, env({ SAMPLING_MASK_CUDA: 'off' }));
  expect(off.nvcc).toBeNull();
  expect(install.sameConfig(off, install.wantedConfig(off, env({ CUDACXX: '/opt/cuda-b/bin/nvcc' })))).toBe(true);
});

test('a first build has nothing to compare with: it configures', () => {
  expect(install.sameConfig(undefined, install.wantedConfig(undefined, env()))).toBe(false);
});

test.each([
  ['SAMPLING_MASK_CUDA', 'yes', /SAMPLING_MASK_CUDA must be auto, on or off/],
  ['SAMPLING_MASK_BUILD', 'make', /SAMPLING_MASK_BUILD must be cmake or node-gyp/],
  ['SAMPLING_MASK_WERROR', '1', /SAMPLING_MASK_WERROR must be on or off/],
  ['SAMPLING_MASK_SANITIZE', 'address;undefined', /SAMPLING_MASK_SANITIZE must be a comma-separated list/],
])('%s=%s is refused', (name, value, message) => {
  expect(() => install.wantedConfig(undefined, env({ [name]: value }))).toThrow(message);
});

test('architectures are described as SASS and PTX', () => {
  expect(install.describeArchitectures('80-real;90-real;90-virtual')).toBe('sm_80,sm_90 + PTX compute_90');
  expect(install.describeArchitectures('90a')).toBe('sm_90a + PTX compute_90a');
  expect(install.describeArchitectures('all-major')).toBe('all-major');
});
