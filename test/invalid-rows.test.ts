// onInvalidRow: 'skip': one bad row (NaN, all -inf, a temperature that
// overflows the row, an out-of-range per-row parameter) does not take the
// other rows' masks with it, and they are bit-identical to masking each alone.
import { mask, maskAsync, type MaskOptions } from '../lib';
import { logitsBatch, Rng, tensor, thrown } from './helpers';

const ROWS = 256;
const VOCAB = 4096;

function batchWithBadRows() {
  const data = logitsBatch(new Rng(41), ROWS, VOCAB, 'normal');
  data[17 * VOCAB + 5] = NaN; // row 17: a NaN
  data.fill(-Infinity, 100 * VOCAB, 101 * VOCAB); // row 100: no finite logit
  data[200 * VOCAB + 9] = 3e38; // row 200: 3e38 / 0.5 overflows f32
  const temperature = new Float64Array(ROWS).fill(0.8);
  temperature[200] = 0.5;
  temperature[230] = -1; // row 230: an out-of-range temperature of its own
  const topK = Int32Array.from({ length: ROWS }, (_, r) => 1 + (r % 60));
  return { data, options: { temperature, topK, topP: 0.9, minP: 0.01 } };
}

function rowAlone(data: Float32Array, r: number, options: { temperature: Float64Array; topK: Int32Array } & MaskOptions) {
  const row = data.slice(r * VOCAB, (r + 1) * VOCAB);
  const m = mask(tensor(row, 1, VOCAB, 'float32'), { ...options, temperature: options.temperature[r], topK: options.topK[r] });
  return Array.from(m.indices);
}

const BAD = [17, 100, 200, 230];

test.each([false, true])('the other rows are masked exactly as alone (async: %s)', async (useAsync) => {
  const { data, options } = batchWithBadRows();
  const input = tensor(data, ROWS, VOCAB, 'float32');
  const skipping = { ...options, onInvalidRow: 'skip' as const };
  const m = useAsync ? await maskAsync(input, skipping) : mask(input, skipping);
  expect(m.rows).toBe(ROWS);
  expect(Array.from(m.valid ?? [])).toEqual(Array.from({ length: ROWS }, (_, r) => (BAD.includes(r) ? 0 : 1)));
  for (let r = 0; r < ROWS; r++) {
    const ids = Array.from(m.indices.subarray(m.offsets[r], m.offsets[r + 1]));
    expect(ids).toEqual(BAD.includes(r) ? [] : rowAlone(data, r, options));
  }
  expect(m.errors?.map((e) => [e.row, e.code, e.argument, e.name])).toEqual([
    [17, 'ERR_SM_INVALID_LOGITS', 'logits', 'RangeError'],
    [100, 'ERR_SM_INVALID_LOGITS', 'logits', 'RangeError'],
    [200, 'ERR_SM_OUT_OF_RANGE', 'temperature', 'RangeError'],
    [230, 'ERR_SM_OUT_OF_RANGE', 'temperature', 'RangeError'],
  ]);
  expect(m.errors?.[0]).toMatchObject({ column: 5 });
});

test('256 rows with 3 bad ones (NaN, all -inf, a temperature too small for the row): 253 masks, each as alone', () => {
  const { data, options } = batchWithBadRows();
  options.temperature[230] = 0.8; // only rows 17, 100 and 200 are bad
  const m = mask(tensor(data, ROWS, VOCAB, 'float32'), { ...options, onInvalidRow: 'skip' });
  expect(m.errors?.map((e) => e.row)).toEqual([17, 100, 200]);
  const good = Array.from({ length: ROWS }, (_, r) => r).filter((r) => m.valid?.[r] === 1);
  expect(good).toHaveLength(253);
  for (const r of good) expect(Array.from(m.indices.subarray(m.offsets[r], m.offsets[r + 1]))).toEqual(rowAlone(data, r, options));
});

test("'throw' (the default) still fails the batch at the first bad row", () => {
  const { data, options } = batchWithBadRows();
  expect(thrown(() => mask(tensor(data, ROWS, VOCAB, 'float32'), options))).toMatchObject({
    code: 'ERR_SM_OUT_OF_RANGE',
    row: 230,
    argument: 'temperature',
  });
  options.temperature[230] = 0.8;
  expect(thrown(() => mask(tensor(data, ROWS, VOCAB, 'float32'), options))).toMatchObject({
    code: 'ERR_SM_INVALID_LOGITS',
    row: 17,
    column: 5,
  });
});

test('skip with fillLogits fills the valid rows and leaves the skipped rows as they were', () => {
  const { data, options } = batchWithBadRows();
  const before = data.slice();
  const m = mask(tensor(data, ROWS, VOCAB, 'float32'), { ...options, onInvalidRow: 'skip', fillLogits: true });
  for (const r of BAD)
    expect(
      Object.is(data[r * VOCAB + 5], before[r * VOCAB + 5]) &&
        data.subarray(r * VOCAB, (r + 1) * VOCAB).every((v, i) => Object.is(v, before[r * VOCAB + i])),
    ).toBe(true);
  const r = 3;
  const kept = new Set(m.indices.subarray(m.offsets[r], m.offsets[r + 1]));
  for (let i = 0; i < VOCAB; i++) expect(data[r * VOCAB + i]).toBe(kept.has(i) ? before[r * VOCAB + i] : -Infinity);
});

test('a parameter shared by every row that is out of range still fails the call', () => {
  const { data } = batchWithBadRows();
  expect(thrown(() => mask(tensor(data, ROWS, VOCAB, 'float32'), { topP: 2, onInvalidRow: 'skip' }))).toMatchObject({
    code: 'ERR_SM_OUT_OF_RANGE',
    argument: 'topP',
  });
  expect(thrown(() => mask(tensor(data, ROWS, VOCAB, 'float32'), { onInvalidRow: 'sometimes' as 'skip' }))).toMatchObject({
    code: 'ERR_SM_INVALID_ARG_TYPE',
    argument: 'onInvalidRow',
  });
});
