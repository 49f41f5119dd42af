// Every TypeScript example in README.md, as a user would run it: extracted
// into its own ES module that imports 'sampling-mask' (this package, through
// its exports map and shipped types in dist/), type-checked strictly with
// module nodenext, then run with node. An example that does not compile or
// throws fails here.
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.join(__dirname, '..');

interface Example {
  line: number;
  code: string;
}

function readmeExamples(): Example[] {
  const lines = fs.readFileSync(path.join(root, 'README.md'), 'utf8').split('\n');
  const examples: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)\s*$/.test(lines[i])) continue;
    const start = i + 1;
    while (i + 1 < lines.length && lines[i + 1] !== '```') i++;
    examples.push({ line: start + 1, code: lines.slice(start, i + 1).join('\n') });
    i++;
  }
  return examples;
}

const examples = readmeExamples();
let dir: string;
let typeCheck: { status: number | null; output: string };

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sampling-mask-readme-'));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(root, path.join(dir, 'node_modules', 'sampling-mask'), 'dir');
  for (const example of examples) fs.writeFileSync(path.join(dir, `readme-line-${example.line}.mts`), example.code + '\n');
  fs.writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'nodenext',
        target: 'ES2022',
        strict: true,
        outDir: 'out',
        types: ['node'],
        typeRoots: [path.join(root, 'node_modules', '@types')],
      },
      include: ['*.mts'],
    }),
  );
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' });
  typeCheck = { status: result.status, output: result.stdout + result.stderr };
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('README.md has TypeScript examples', () => {
  expect(examples.length).toBeGreaterThanOrEqual(3);
});

test('every example type-checks (strict, module nodenext, against the shipped types)', () => {
  expect(typeCheck.output).toBe('');
  expect(typeCheck.status).toBe(0);
});

test.each(examples.map((e) => [e.line, e] as const))('the example at README.md line %i runs', (line) => {
  const compiled = path.join(dir, 'out', `readme-line-${line}.mjs`);
  expect(fs.existsSync(compiled)).toBe(true);
  execFileSync(process.execPath, [compiled], { cwd: dir, stdio: 'pipe', timeout: 60000 });
});
