// Another thread rewriting a SharedArrayBuffer while calls read it in place
// (the trainer ops with and without a mask, mask(), applyMask, sample()): no crash, no
// read outside the buffer, every failure a coded error naming a column
// inside the row. Results of such calls are unspecified (README,
// "Reliability"). In a child process, so that a crash fails the test. Races
// are timing: this stresses the paths (bounded re-scans, clamped weights)
// without a guarantee of hitting each interleaving on every run.
import { spawnSync } from 'child_process';
import * as path from 'path';

test('calls on a buffer another thread keeps rewriting end in a result or a coded error', () => {
  const child = spawnSync(process.execPath, [path.join(__dirname, 'fixtures', 'shared-race.js'), '3000'], {
    encoding: 'utf8',
    timeout: 60000,
  });
  expect({ status: child.status, signal: child.signal, stderr: child.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
  expect(JSON.parse(child.stdout).calls).toBeGreaterThan(0);
});
