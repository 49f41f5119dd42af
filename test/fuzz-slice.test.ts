// A short fixed-seed slice of `npm run fuzz` (scripts/fuzz/): each class in
// child processes against the compiled facade (dist/, built by `npm test`)
// and the addon under test, with no finding: no crash, no uncoded error, no
// malformed result. The long runs and their figures are in the README
// ("Reliability").
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.join(__dirname, '..');

interface Summary {
  calls: number;
  findings: { kind: string; class: string; problem: string; label: string; rerun: string }[];
}

function fuzz(cls: string, calls: number): Summary {
  const json = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sm-fuzz-')), 'summary.json');
  const run = spawnSync(
    process.execPath,
    [path.join(root, 'scripts', 'fuzz', 'index.js'), '--classes', cls, '--calls', String(calls), '--seed', '1', '--quiet', '--json', json],
    { cwd: root, encoding: 'utf8', timeout: 120000 },
  );
  if (!fs.existsSync(json)) throw new Error(`the fuzzer did not finish: ${run.stdout}\n${run.stderr}`);
  return JSON.parse(fs.readFileSync(json, 'utf8')) as Summary;
}

test.each([
  ['values', 1500],
  ['bytes', 600],
  ['race', 150],
])('fuzz class %s, seed 1, %i calls: no findings', (cls, calls) => {
  const summary = fuzz(cls, calls);
  expect(summary.findings).toEqual([]);
  expect(summary.calls).toBeGreaterThanOrEqual(calls);
});

// Terminating a worker inside a call must take nothing down (the addon swallows
// the errors a torn-down environment can no longer throw).
test('fuzz class terminate, seed 1: workers terminated inside sync and async calls take nothing down', () => {
  const summary = fuzz('terminate', 6);
  expect(summary.findings).toEqual([]);
});
