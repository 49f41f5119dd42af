// A worker thread terminated while it is inside a call (sync or async, every
// operation) must not take the process down: worker pools recycle and cancel
// workers. The terminations run in a child process, so an abort fails the
// test instead of jest.
import { spawnSync } from 'child_process';
import * as path from 'path';

test('terminating workers inside every operation, again and again, leaves the process running', () => {
  const child = spawnSync(process.execPath, [path.join(__dirname, 'fixtures', 'terminate-worker.js'), '4'], {
    encoding: 'utf8',
    timeout: 120000,
  });
  expect({ status: child.status, signal: child.signal, stderr: child.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
  expect(child.stdout).toContain('survived 36 terminations');
});
