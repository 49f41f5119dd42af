// The results of the benchmark inputs, bit for bit, against digests computed
// before the last change that claimed to keep them (fixtures/bench-digests.json).
// A refactor or a faster kernel must reproduce them; a deliberate change of
// the rule regenerates the file (`node scripts/bench/digests.js`) and says so.
import * as fs from 'fs';
import * as path from 'path';
import * as sm from '../lib';

const expected = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'bench-digests.json'), 'utf8')) as Record<string, string>;

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { benchDigests } = require('../scripts/bench/digests') as {
  benchDigests: (pkg: typeof sm) => Record<string, string>;
};

test('masks and trainer results on the bench inputs are the bits recorded before', () => {
  expect(benchDigests(sm)).toEqual(expected);
});
