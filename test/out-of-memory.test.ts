// Allocations that fail are ERR_SM_OUT_OF_MEMORY, never an abort: each case
// runs in a child process under an address-space limit (ulimit -v) that the
// allocation cannot fit in.
import { spawnSync } from 'child_process';
import * as path from 'path';

const LIMIT_KIB = 1600000;

function underLimit(which: string) {
  const script = path.join(__dirname, 'fixtures', 'out-of-memory.js');
  const child = spawnSync('bash', ['-c', `ulimit -v ${LIMIT_KIB} && exec node "$0" "$1"`, script, which], { encoding: 'utf8' });
  return { status: child.status, signal: child.signal, stderr: child.stderr, result: child.stdout.trim().split('\n').pop() };
}

test.each(['deserialize', 'maskAsync', 'setThreads'])('%s', (which) => {
  const { status, signal, stderr, result } = underLimit(which);
  expect({ status, signal, stderr }).toEqual({ status: 0, signal: null, stderr: '' });
  expect(JSON.parse(result as string)).toMatchObject({ code: 'ERR_SM_OUT_OF_MEMORY', name: 'RangeError' });
});
