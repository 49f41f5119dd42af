// The npm tarball's file list (npm pack --dry-run) against the allow-list in
// scripts/package-files.js, and the package.json fields consumers rely on.
import { execFileSync } from 'child_process';
import * as path from 'path';

const root = path.join(__dirname, '..');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { packageFileProblems, required } = require('../scripts/package-files.js') as {
  packageFileProblems(files: string[], options: { prebuilds: boolean }): string[];
  required: string[];
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const pkg = require('../package.json');

test('npm pack would ship exactly the allowed files', () => {
  // npm sets npm_execpath for `npm test`; run directly under jest, npm sits beside node.
  const npmCli =
    process.env.npm_execpath ?? path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
  const packed = JSON.parse(
    execFileSync(process.execPath, [npmCli, 'pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' }),
  );
  const files: string[] = packed[0].files.map((f: { path: string }) => f.path);
  expect(packageFileProblems(files, { prebuilds: false })).toEqual([]);
  expect(files.some((f) => f.startsWith('test/') || f.startsWith('build/') || f.includes('node_modules'))).toBe(false);
});

test('the allow-list refuses tests, build output and stray files, and requires the entry points', () => {
  const good = [...required];
  expect(packageFileProblems(good, { prebuilds: false })).toEqual([]);
  expect(
    packageFileProblems([...good, 'test/mask.test.ts', 'build/Release/sampling_mask.node', 'native/cpu/x.o'], { prebuilds: false }),
  ).toEqual(['not allowed: test/mask.test.ts', 'not allowed: build/Release/sampling_mask.node', 'not allowed: native/cpu/x.o']);
  expect(packageFileProblems(good.slice(1), { prebuilds: true })).toEqual([
    'missing: package.json',
    'missing: prebuilds/<platform>-<arch>/sampling-mask.<flavour>.node',
  ]);
});

test('exports map: types, import, require, package.json, and nothing internal', () => {
  expect(pkg.exports).toEqual({
    '.': {
      import: { types: './dist/index.d.mts', default: './dist/index.mjs' },
      require: { types: './dist/index.d.ts', default: './dist/index.js' },
    },
    './package.json': './package.json',
  });
  expect(pkg.dependencies ?? {}).toEqual({});
  expect(pkg.bin).toEqual({ 'sampling-mask': 'dist/cli/index.js' });
  expect(pkg.license).toBe('MIT');
  expect(pkg.engines.node).toBe('>=20');
});

test('the ES module entry gives every CommonJS export, the very same objects (one addon, one set of defaults)', () => {
  const script = `
    import * as esm from ${JSON.stringify(path.join(root, 'dist', 'index.mjs'))};
    import { createRequire } from 'module';
    const cjs = createRequire(import.meta.url)(${JSON.stringify(path.join(root, 'dist', 'index.js'))});
    const names = Object.keys(cjs).filter((k) => k !== '__esModule');
    console.log(JSON.stringify({ names, missing: names.filter((k) => esm[k] !== cjs[k]) }));`;
  const { names, missing } = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }));
  expect(names).toEqual(expect.arrayContaining(['mask', 'maskAsync', 'maskedLogprobs', 'SamplingMask', 'backendInfo', 'setBackend']));
  expect(missing).toEqual([]);
});
