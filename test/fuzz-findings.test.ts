// Inputs the fuzzer (`npm run fuzz`) found to break the package, kept as
// regression tests once fixed.
import * as fs from 'fs';
import * as path from 'path';
import { readRolloutsArrow } from '../lib';

test('an Arrow IPC file whose footer points a record batch at its schema message is corrupt, not an endless loop', () => {
  // bytes class, seed 100003, call 2701: one byte inserted into a written rollout file.
  const bytes = new Uint8Array(fs.readFileSync(path.join(__dirname, 'fixtures', 'arrow-footer-loop.arrow')));
  let thrown: unknown;
  try {
    readRolloutsArrow(bytes);
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toMatchObject({ name: 'RangeError', code: 'ERR_SM_CORRUPT_FILE', argument: 'bytes' });
});
