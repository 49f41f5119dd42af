// `sampling-mask` (dist/cli/index.js, the package's bin, compiled by pretest):
// each command run as a user runs it, in a child process with stdout piped.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { backendInfo, encodeRecord, mask, serialize, SamplingMask } from '../lib';
import { benchSvg } from '../lib/cli/bench';

const root = path.join(__dirname, '..');
const cli = path.join(root, 'dist', 'cli', 'index.js');

function run(args: string[], nodeOptions: string[] = []) {
  const result = spawnSync(process.execPath, [...nodeOptions, cli, ...args], { cwd: root, encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

let scratch: string;
beforeAll(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'sampling-mask-cli-'));
});
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

test('--help lists every command; no command is a usage error', () => {
  const help = run(['--help']);
  expect(help.code).toBe(0);
  for (const command of ['info', 'check', 'demo', 'bench', 'inspect']) expect(help.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
  expect(run([]).code).toBe(2);
  const unknown = run(['frobnicate']);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toMatch(/unknown command 'frobnicate'/);
});

test('info --json describes the binary this process loads', () => {
  const result = run(['info', '--json']);
  expect(result.code).toBe(0);
  const info = JSON.parse(result.stdout);
  const here = backendInfo();
  expect(info.backend).toMatchObject({ binary: here.binary, binaryPath: here.binaryPath, cpuIsa: here.cpuIsa, compiled: here.compiled });
  expect(info.package.name).toBe('sampling-mask');
  expect(info.compiled.cpuVariants).toContain('baseline');
  expect(info.compiled.cuda === null).toBe(!here.compiled.cuda);
});

test('check passes on this build, quietly when piped', () => {
  const result = run(['check']);
  expect(result.stdout).toMatch(/ok {4}mask\(\) vs the reference rule/);
  expect(result.stdout).toMatch(/ok {4}log-probs and entropies vs the float64 reference/);
  expect(result.stdout).toMatch(/ok {4}CPU at 1 thread vs \d+ threads/);
  expect(result.stdout).toMatch(/\npassed\n$/);
  expect(result.code).toBe(0);
  // eslint-disable-next-line no-control-regex -- the escape itself is what must not appear
  expect(result.stderr).not.toMatch(/\x1b\[K/); // no progress escapes on a pipe
  if (!backendInfo().cuda.available) expect(run(['check', '--require-cuda']).code).toBe(2);
});

test('check fails (exit 1) when mask() disagrees with the reference rule', () => {
  // A preload that makes mask() drop the last kept id of row 0 whenever it keeps more than one.
  const sabotage = path.join(scratch, 'sabotage.js');
  fs.writeFileSync(
    sabotage,
    `const masks = require(${JSON.stringify(path.join(root, 'dist', 'mask.js'))});
     const { SamplingMask } = require(${JSON.stringify(path.join(root, 'dist', 'index.js'))});
     const original = masks.mask;
     masks.mask = (logits, options) => {
       const lists = original(logits, options).toLists();
       if (lists[0].length > 1) lists[0].pop();
       return SamplingMask.fromLists(lists, original(logits, options).vocab);
     };`,
  );
  const result = run(['check'], ['-r', sabotage]);
  expect(result.code).toBe(1);
  expect(result.stdout).toMatch(/FAIL {2}mask\(\) vs the reference rule/);
  expect(result.stdout).toMatch(/FAILED: /);
});

describe('inspect', () => {
  const kept = SamplingMask.fromLists([[3], [1, 2, 5], [0, 1, 2, 3, 4, 5, 6, 7], [9]], 10);

  test('summarizes a serialized mask', () => {
    const file = path.join(scratch, 'mask.smsk');
    fs.writeFileSync(file, serialize(kept));
    const result = run(['inspect', file, '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      kind: 'mask',
      bytes: fs.statSync(file).size,
      rows: 4,
      vocab: 10,
      keptIds: 13,
      perRow: { min: 1, median: 3, mean: 13 / 4, p99: 8, max: 8 },
      singleIdRows: 2,
    });
    expect(run(['inspect', file]).stdout).toMatch(/serialized mask, .*checksum ok\n {2}4 rows over vocab 10, 13 kept ids/);
  });

  test('lists the records of a stream and the damaged bytes it skipped', () => {
    const file = path.join(scratch, 'records.smrs');
    const second = mask({ data: new Float32Array([0, 1, 2, 3]), shape: [2, 2], dtype: 'float32' }, { topK: 1 });
    const first = encodeRecord({ id: 'req-1', mask: kept, tokens: new Int32Array([3, 2, 7, 9]) });
    const damaged = encodeRecord({ id: 7, mask: second });
    damaged[damaged.length - 1] ^= 0xff; // the body checksum no longer holds
    fs.writeFileSync(file, Buffer.concat([first, damaged, encodeRecord({ id: 8, mask: second })]));
    const result = run(['inspect', file, '--json']);
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout);
    expect(summary.records.map((r: { id: unknown; rows: number; tokens: boolean }) => [r.id, r.rows, r.tokens])).toEqual([
      ['req-1', 4, true],
      [8, 2, false],
    ]);
    expect(summary.skipped).toEqual([
      expect.objectContaining({ offset: first.length, length: damaged.length, code: 'ERR_SM_CORRUPT_RECORD' }),
    ]);
  });

  test('refuses a file of neither kind, naming what it starts with', () => {
    const file = path.join(scratch, 'other.bin');
    fs.writeFileSync(file, 'hello world');
    const result = run(['inspect', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/neither a serialized mask \("SMSK"\) nor a record stream \("SMRS"\): starts with "hell"/);
  });
});

test('demo runs a small RL step and reports ratio 1 over the recorded masks', () => {
  const result = run(['demo', '--batch', '2', '--steps', '8', '--vocab', '500']);
  expect(result.code).toBe(0);
  expect(result.stdout).toMatch(/\| recorded masks \| 1\.000000 \|/);
});

test('the bench chart has one bar per timing and the roofline in the legend', () => {
  const svg = benchSvg(
    {
      'mask-cpu': [
        { case: 'topK=50', dtype: 'float32', ms: 2, readMs: 1, sortMs: 400, xRead: 2 },
        { case: 'topP=0.9', dtype: 'bfloat16', ms: 3, readMs: 0.5, sortMs: '', xRead: 6 },
      ],
      carry: [{ case: 'no timings here', ratio: 3 }],
    },
    'title <&>',
  );
  expect(svg.match(/<rect x="\d+" y="\d+" width="[\d.]+" height="8"/g)).toHaveLength(5);
  expect(svg).toContain('one read of the logits (roofline)');
  expect(svg).toContain('title &lt;&amp;&gt;');
  expect(svg).not.toContain('carry');
  expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
});
