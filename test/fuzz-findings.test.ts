// Inputs the fuzzer (`npm run fuzz`) found to break the package, kept as
// regression tests once fixed.
import * as fs from 'fs';
import * as path from 'path';
import { mask, readRolloutsArrow, SamplingMask, writeRolloutsArrow, writeRolloutsSafetensors } from '../lib';
import { thrown } from './helpers';

test('an Arrow IPC file whose footer points a record batch at its schema message is corrupt, not an endless loop', () => {
  // bytes class, seed 100003, call 2701: one byte inserted into a written rollout file.
  const bytes = new Uint8Array(fs.readFileSync(path.join(__dirname, 'fixtures', 'arrow-footer-loop.arrow')));
  expect(thrown(() => readRolloutsArrow(bytes))).toMatchObject({ name: 'RangeError', code: 'ERR_SM_CORRUPT_FILE', argument: 'bytes' });
});

// race class, seed 1300040 (and deterministic, as here): with onInvalidRow 'skip', rows dropped for an
// invalid per-row parameter (native/host/skip_rows.cpp, drop_rows) left the ids array at its old
// length, so the result's offsets ended before indices.length: a malformed mask the facade trusts.
test('a row skipped for its parameter leaves a well-formed mask (offsets end at indices.length)', () => {
  const logits = { data: Float32Array.of(1, 2, 3, 4, 4, 3, 2, 1), shape: [2, 4], dtype: 'float32' } as const;
  const m = mask(logits, { temperature: [-1, 1], onInvalidRow: 'skip' });
  expect(Array.from(m.valid as Uint8Array)).toEqual([0, 1]);
  expect(Array.from(m.indices)).toEqual([0, 1, 2, 3]);
  expect(m.offsets[m.rows]).toBe(m.indices.length);
  expect(() => new SamplingMask(m.offsets, m.indices, m.vocab)).not.toThrow();
});

test('no records and a null vocab is a RangeError naming options.vocab, not an engine TypeError', () => {
  // values class, seed 1700087, call 7876.
  for (const write of [writeRolloutsSafetensors, writeRolloutsArrow]) {
    expect(thrown(() => write([], { vocab: null as never }))).toMatchObject({
      name: 'RangeError',
      code: 'ERR_SM_OUT_OF_RANGE',
      argument: 'options.vocab',
    });
  }
});
