// Every way to call mask() wrongly gets a TypeError or RangeError with a
// stable `code`, the `argument` at fault and, where it applies, the `row` and
// `column`: never a crash, never a silent result.
import { mask, maskAsync, setThreads, type DType, type MaskOptions, type Tensor } from '../lib';
import { dtypes, encode, logitsBatch, rejected, Rng, tensor, thrown, type CaughtError } from './helpers';
import { referenceMask } from './reference';

const TYPE = { name: 'TypeError', code: 'ERR_SM_INVALID_ARG_TYPE' };
const RANGE = { name: 'RangeError', code: 'ERR_SM_OUT_OF_RANGE' };
const LOGITS = { name: 'RangeError', code: 'ERR_SM_INVALID_LOGITS', argument: 'logits' };

const good = (): Tensor => tensor(new Float32Array([1, 2, 3, 4, 5, 6]), 2, 3, 'float32');

/** mask() and maskAsync() must both fail the same way. */
async function expectBoth(logits: unknown, options: unknown, fields: Partial<CaughtError>): Promise<void> {
  expect(thrown(() => mask(logits as Tensor, options as MaskOptions))).toMatchObject(fields);
  expect(await rejected(maskAsync(logits as Tensor, options as MaskOptions))).toMatchObject(fields);
}

describe('logits container and shape', () => {
  test('a typed array that does not match the dtype', async () => {
    const f32 = new Float32Array(6);
    const u16 = new Uint16Array(6);
    for (const [data, dtype] of [
      [f32, 'bfloat16'],
      [f32, 'float16'],
      [u16, 'float32'],
      [new Float64Array(6), 'float32'],
      [new Int16Array(6), 'float16'],
      [new Uint32Array(6), 'float32'],
      [[1, 2, 3, 4, 5, 6], 'float32'],
    ] as const) {
      await expectBoth({ data, shape: [2, 3], dtype }, {}, { ...TYPE, argument: 'logits.data' });
    }
  });

  test('a dtype that is not one of the three', async () => {
    for (const dtype of ['float64', 'bf16', 'Float32', '', undefined, 32]) {
      await expectBoth({ data: new Float32Array(6), shape: [2, 3], dtype }, {}, { ...TYPE, argument: 'logits.dtype' });
    }
  });

  test('data length that disagrees with the shape', async () => {
    await expectBoth(tensor(new Float32Array(5), 2, 3, 'float32'), {}, { ...RANGE, argument: 'logits.data' });
    await expectBoth(tensor(new Uint16Array(7), 2, 3, 'bfloat16'), {}, { ...RANGE, argument: 'logits.data' });
    await expectBoth({ data: new Float32Array(12), shape: [2, 2, 2], dtype: 'float32' }, {}, { ...RANGE, argument: 'logits.data' });
    // A plain Float32Array whose length is not a multiple of vocab.
    await expectBoth(new Float32Array(7), { vocab: 3 }, { ...RANGE, argument: 'logits.shape[0]' });
  });

  test('an empty batch, V = 0, and shapes that are not [B, V] or [B, T, V]', async () => {
    await expectBoth(tensor(new Float32Array(0), 0, 5, 'float32'), {}, { ...RANGE, argument: 'logits.shape[0]' });
    await expectBoth(new Float32Array(0), { vocab: 5 }, { ...RANGE, argument: 'logits.shape[0]' });
    await expectBoth(tensor(new Float32Array(0), 4, 0, 'float32'), {}, { ...RANGE, argument: 'logits.vocab' });
    await expectBoth(new Float32Array(4), { vocab: 0 }, { ...RANGE });
    await expectBoth(tensor(new Float32Array(6), 2.5, 3, 'float32'), {}, { ...RANGE, argument: 'logits.shape[0]' });
    await expectBoth(tensor(new Float32Array(6), -2, -3, 'float32'), {}, { ...RANGE, argument: 'logits.shape[0]' });
    await expectBoth(tensor(new Float32Array(2), 1, 2 ** 23 + 2, 'float32'), {}, { ...RANGE, argument: 'logits.vocab' });
    for (const shape of [[], [6], [1, 1, 2, 3]]) {
      await expectBoth({ data: new Float32Array(6), shape, dtype: 'float32' }, {}, { ...TYPE, argument: 'logits' });
    }
  });

  test('not a tensor at all, a Float32Array without vocab, or a vocab that disagrees with the shape', async () => {
    for (const logits of [null, 42, 'logits', { data: new Float32Array(6) }]) await expectBoth(logits, {}, { ...TYPE, argument: 'logits' });
    await expectBoth(new Float32Array(6), {}, { ...TYPE, argument: 'logits' });
    await expectBoth(good(), { vocab: 2 }, { ...TYPE, argument: 'logits' });
  });

  test('a detached buffer, sync and async', async () => {
    for (const dtype of ['float32', 'bfloat16'] as const) {
      const data = encode(new Float32Array(6), dtype);
      structuredClone(data.buffer, { transfer: [data.buffer as ArrayBuffer] });
      await expectBoth(tensor(data, 2, 3, dtype), {}, { name: 'TypeError', code: 'ERR_SM_DETACHED', argument: 'logits.data' });
    }
    // A view that covered nothing detaches too; it must not pass for an empty batch.
    const plain = new Float32Array(6);
    structuredClone(plain.buffer, { transfer: [plain.buffer] });
    await expectBoth(plain, { vocab: 3 }, { name: 'RangeError', argument: 'logits.shape[0]' });
  });
});

describe('parameters', () => {
  test.each([
    ['topK', 2.5],
    ['topK', -2],
    ['topK', NaN],
    ['topK', -Infinity],
    ['topP', NaN],
    ['topP', 0],
    ['topP', -0.1],
    ['topP', 1.5],
    ['minP', -0.1],
    ['minP', 1.01],
    ['minP', NaN],
    ['temperature', -1],
    ['temperature', -1e-30],
    ['temperature', Infinity],
    ['temperature', 1e39], // not a finite f32
    ['temperature', NaN],
  ])('%s = %p is a RangeError naming the parameter', async (argument, value) => {
    await expectBoth(good(), { [argument]: value }, { ...RANGE, argument, row: undefined });
    // Per row: the row is named.
    const perRow =
      argument === 'topK' && Number.isInteger(value)
        ? Int32Array.from([1, value])
        : Float64Array.from([argument === 'topK' ? 1 : 0.5, value]);
    await expectBoth(good(), { [argument]: perRow }, { ...RANGE, argument, row: 1 });
    await expectBoth(good(), { [argument]: [argument === 'topK' ? 1 : 0.5, value] }, { ...RANGE, argument, row: 1 });
  });

  test('a per-row array of the wrong length or type, and a parameter of the wrong kind', async () => {
    for (const argument of ['temperature', 'minP', 'topK', 'topP']) {
      await expectBoth(good(), { [argument]: [1] }, { ...RANGE, argument });
      await expectBoth(good(), { [argument]: new Float32Array(3).fill(1) }, { ...RANGE, argument });
      await expectBoth(good(), { [argument]: new Uint8Array(2).fill(1) }, { ...TYPE, argument });
      await expectBoth(good(), { [argument]: '1' }, { ...TYPE, argument });
      await expectBoth(good(), { [argument]: true }, { ...TYPE, argument });
    }
  });

  test('options that are not an object', async () => {
    for (const options of [null, 5, 'topK']) {
      await expectBoth(good(), options, { ...TYPE, argument: 'options' });
    }
  });

  test('with one row, a per-row array still names row 0', async () => {
    const one = tensor(new Float32Array([1, 2, 3]), 1, 3, 'float32');
    await expectBoth(one, { topP: [0] }, { ...RANGE, argument: 'topP', row: 0 });
    await expectBoth(one, { topK: [1.5] }, { ...RANGE, argument: 'topK', row: 0 });
    await expectBoth(one, { temperature: new Float32Array([-1]) }, { ...RANGE, argument: 'temperature', row: 0 });
  });

  test('errors agree with the reference on random parameter mixes, valid or not', () => {
    const rng = new Rng(99);
    const values = logitsBatch(rng, 4, 50);
    const choices: Record<string, number[]> = {
      temperature: [0, 1, 0.5, -1, NaN, Infinity],
      minP: [0, 0.1, 1, -0.5, 2, NaN],
      topK: [-1, 0, 5, 2.5, -3, NaN],
      topP: [1, 0.5, 0, 1.2, NaN],
    };
    let errors = 0;
    for (let c = 0; c < 300; c++) {
      const options: Record<string, number | number[]> = {};
      for (const [name, list] of Object.entries(choices)) {
        const form = rng.int(0, 2);
        if (form === 1) options[name] = rng.pick(list);
        if (form === 2) options[name] = Array.from({ length: 4 }, () => (rng.next() < 0.7 ? list[0] : rng.pick(list)));
      }
      const viaReference = () => referenceMask(values, 'float32', 4, 50, options);
      const native = () => mask(tensor(values, 4, 50, 'float32'), options);
      let expected: CaughtError | null = null;
      try {
        viaReference();
      } catch {
        expected = thrown(viaReference);
        errors++;
      }
      if (expected === null) {
        expect(native().toLists()).toEqual(viaReference());
      } else {
        const { name, code, argument, row } = expected;
        expect({ options, error: thrown(native) }).toMatchObject({ options, error: { name, code, argument, row } });
      }
    }
    expect(errors).toBeGreaterThan(100);
  });
});

describe('logits values', () => {
  afterEach(() => setThreads(0));

  const invalid: Record<DType, { nan: number; posInf: number; negInf: number }> = {
    float32: { nan: NaN, posInf: Infinity, negInf: -Infinity },
    bfloat16: { nan: 0x7fc0, posInf: 0x7f80, negInf: 0xff80 },
    float16: { nan: 0x7e00, posInf: 0x7c00, negInf: 0xfc00 },
  };

  test.each(dtypes)('NaN and +inf name the first bad row and its first bad column (%s)', async (dtype) => {
    const rng = new Rng(1);
    for (const [rows, vocab, threads] of [
      [9, 300, 2],
      [1, 270000, 2], // split across threads (top-p alone below): the column is still the first in the row
      [3, 9000, 8],
    ]) {
      setThreads(threads);
      const data = encode(logitsBatch(rng, rows, vocab), dtype);
      const badRow = rows - 1;
      const at = (r: number, c: number) => r * vocab + c;
      data[at(badRow, vocab - 3)] = invalid[dtype].nan;
      data[at(badRow, vocab - 1)] = invalid[dtype].posInf;
      await expectBoth(tensor(data, rows, vocab, dtype), { topK: 5 }, { ...LOGITS, row: badRow, column: vocab - 3 });
      await expectBoth(tensor(data, rows, vocab, dtype), { topP: 0.9 }, { ...LOGITS, row: badRow, column: vocab - 3 });
      data[at(badRow, 1)] = invalid[dtype].posInf;
      await expectBoth(tensor(data, rows, vocab, dtype), {}, { ...LOGITS, row: badRow, column: 1 });
      if (rows > 1) {
        data[at(0, vocab - 2)] = invalid[dtype].nan;
        await expectBoth(tensor(data, rows, vocab, dtype), { temperature: 0 }, { ...LOGITS, row: 0, column: vocab - 2 });
      }
      // A row of -inf only comes after NaN/+inf in the rows before it, and names no column.
      const allNegInf = encode(logitsBatch(rng, rows, vocab), dtype);
      allNegInf.fill(invalid[dtype].negInf, at(badRow, 0), at(badRow + 1, 0));
      expect(thrown(() => mask(tensor(allNegInf, rows, vocab, dtype), { topP: 0.5 }))).toEqual(
        expect.objectContaining({ ...LOGITS, row: badRow, column: undefined }),
      );
    }
  });

  test('NaNs of any sign and payload are caught, in every format', async () => {
    const nanBits: Record<DType, number[]> = {
      float32: [0xffc00001, 0x7f800001, 0xff800001],
      bfloat16: [0xffc1, 0x7f81, 0xff81],
      float16: [0xfe01, 0x7c01, 0xfc01],
    };
    for (const [dtype, patterns] of Object.entries(nanBits) as [DType, number[]][]) {
      for (const bits of patterns) {
        const data = encode(new Float32Array([1, 1, 1, 1]), dtype);
        const raw = dtype === 'float32' ? new Uint32Array(data.buffer) : data;
        raw[2] = bits;
        await expectBoth(tensor(data, 1, 4, dtype), {}, { ...LOGITS, row: 0, column: 2 });
      }
    }
  });

  test('a row maximum that overflows when divided by the temperature', async () => {
    const data = new Float32Array([1, 2, 3, 3e38, -1, 0]);
    await expectBoth(tensor(data, 2, 3, 'float32'), { temperature: 0.5 }, { ...RANGE, argument: 'temperature', row: 1 });
    await expectBoth(tensor(data, 2, 3, 'float32'), { temperature: [1, 0.5] }, { ...RANGE, argument: 'temperature', row: 1 });
    // Greedy rows never divide, and row 0 scales fine.
    expect(mask(tensor(data, 2, 3, 'float32'), { temperature: [0.5, 0] }).toLists()).toEqual([[0, 1, 2], [0]]);
    await expectBoth(
      tensor(new Float32Array([-3e38, -3e38]), 1, 2, 'float32'),
      { temperature: 0.5 },
      { ...RANGE, argument: 'temperature', row: 0 },
    );
  });
});

test('SamplingMask.row and count refuse rows out of range', () => {
  const result = mask(good());
  for (const i of [-1, 2, 0.5, NaN]) {
    expect(thrown(() => result.row(i))).toMatchObject({ ...RANGE, argument: 'row' });
    expect(thrown(() => result.count(i))).toMatchObject({ ...RANGE, argument: 'row' });
  }
});

test('setThreads refuses what is not a thread count', () => {
  for (const threads of [-1, 1.5, NaN, 5000]) expect(thrown(() => setThreads(threads))).toMatchObject({ ...RANGE, argument: 'threads' });
  expect(thrown(() => setThreads('2' as never))).toMatchObject({ ...TYPE, argument: 'threads' });
  setThreads(0);
});
