// What mask() reads and writes: logits over any kind of memory and view,
// tensor shapes, per-row parameter containers, the CSR result, and
// fillLogits writing -inf in each storage format without touching kept entries.
import { mask, maskAsync, type DType, type MaskOptions } from '../lib';
import { bitsOf, dtypes, encode, firstDifference, logitsBatch, maskedBits, Rng, tensor, thrown } from './helpers';
import { referenceMask } from './reference';

/** A random batch with some -inf, -0 and tiny entries, so that fill must preserve odd bit patterns. */
function oddBatch(rng: Rng, rows: number, vocab: number): Float32Array {
  const values = logitsBatch(rng, rows, vocab);
  for (let r = 0; r < rows; r++) {
    values[r * vocab + rng.int(0, vocab - 1)] = -Infinity;
    values[r * vocab + rng.int(0, vocab - 1)] = -0;
    values[r * vocab + rng.int(0, vocab - 1)] = 1e-40;
  }
  return values;
}

/** Checks the filled data against the original: kept entries bit-identical, all others -inf. */
function expectFilled(before: ArrayLike<number>, after: ArrayLike<number>, kept: number[][], vocab: number, dtype: DType): void {
  const keptFlat = new Set(kept.flatMap((ids, r) => ids.map((id) => r * vocab + id)));
  const wrong = Array.from(after).flatMap((bits, i) => (bits === (keptFlat.has(i) ? before[i] : maskedBits[dtype]) ? [] : [i]));
  expect(wrong.slice(0, 10)).toEqual([]);
}

describe('fillLogits', () => {
  test.each(dtypes)('writes -inf over masked entries and leaves kept ones bit for bit (%s)', (dtype) => {
    const rng = new Rng(dtype.length);
    for (const [rows, vocab] of [
      [7, 333],
      [1, 270000], // the row split across threads (top-p over the whole row)
    ]) {
      for (const options of [{ topK: 20 }, { topP: 0.7, temperature: 0.4 }, { minP: 0.2 }, { temperature: 0 }, {}]) {
        const data = encode(oddBatch(rng, rows, vocab), dtype);
        const before = bitsOf(data).slice();
        const expected = referenceMask(data, dtype, rows, vocab, options);
        const result = mask(tensor(data, rows, vocab, dtype), { ...options, fillLogits: true });
        expect(firstDifference(result, expected)).toBeNull();
        expectFilled(before, bitsOf(data), expected, vocab, dtype);
      }
    }
  });

  test.each(dtypes)('leaves the input unchanged when a row is invalid (%s)', (dtype) => {
    const rng = new Rng(3);
    for (const [rows, vocab, badRow] of [
      [8, 500, 5],
      [1, 20000, 0],
      [3, 9000, 2],
    ]) {
      const values = oddBatch(rng, rows, vocab);
      values[badRow * vocab + 7] = NaN;
      const data = encode(values, dtype);
      const before = bitsOf(data).slice();
      const error = thrown(() => mask(tensor(data, rows, vocab, dtype), { topK: 3, fillLogits: true }));
      expect(error).toMatchObject({ name: 'RangeError', code: 'ERR_SM_INVALID_LOGITS', row: badRow, column: 7 });
      expect(bitsOf(data)).toEqual(before);
      // A row with no finite value, after valid rows.
      values[badRow * vocab + 7] = 0;
      values.fill(-Infinity, badRow * vocab, (badRow + 1) * vocab);
      const noFinite = encode(values, dtype);
      const noFiniteBefore = bitsOf(noFinite).slice();
      expect(thrown(() => mask(tensor(noFinite, rows, vocab, dtype), { fillLogits: true, topP: 0.5 }))).toMatchObject({
        code: 'ERR_SM_INVALID_LOGITS',
        row: badRow,
      });
      expect(bitsOf(noFinite)).toEqual(noFiniteBefore);
    }
  });

  test.each(dtypes)('maskAsync fills an ordinary and a shared buffer as mask() does (%s)', async (dtype) => {
    const rng = new Rng(11);
    const rows = 5;
    const vocab = 700;
    const values = oddBatch(rng, rows, vocab);
    const options = { topK: 30, topP: 0.8 };
    const sync = encode(values, dtype);
    mask(tensor(sync, rows, vocab, dtype), { ...options, fillLogits: true });
    const plain = encode(values, dtype);
    const shared =
      dtype === 'float32'
        ? new Float32Array(new SharedArrayBuffer(values.length * 4))
        : new Uint16Array(new SharedArrayBuffer(values.length * 2));
    shared.set(plain);
    await maskAsync(tensor(plain, rows, vocab, dtype), { ...options, fillLogits: true });
    await maskAsync(tensor(shared, rows, vocab, dtype), { ...options, fillLogits: true });
    expect(bitsOf(plain)).toEqual(bitsOf(sync));
    expect(bitsOf(shared)).toEqual(bitsOf(sync));
  });
});

describe('inputs', () => {
  const rows = 6;
  const vocab = 257;
  const options: MaskOptions = { temperature: 0.8, topK: 40, topP: 0.9 };

  /** The same logits copied into another view, which must give the same mask. */
  function sameMaskOver(dtype: DType, view: (elements: number) => Float32Array | Uint16Array): void {
    const rng = new Rng(21);
    const source = encode(logitsBatch(rng, rows, vocab), dtype);
    const data = view(source.length);
    data.set(source);
    const expected = referenceMask(source, dtype, rows, vocab, options);
    expect(firstDifference(mask(tensor(data, rows, vocab, dtype), options), expected)).toBeNull();
  }

  test.each(dtypes)('over a Buffer, a SharedArrayBuffer and at a non-zero byteOffset (%s)', (dtype) => {
    const size = dtype === 'float32' ? 4 : 2;
    const make = (buffer: ArrayBufferLike, byteOffset: number, n: number) =>
      dtype === 'float32' ? new Float32Array(buffer, byteOffset, n) : new Uint16Array(buffer, byteOffset, n);
    sameMaskOver(dtype, (n) => {
      const buffer = Buffer.allocUnsafe(n * size + 64); // from Node's pool: an offset inside a shared slab
      const offset = (Math.ceil(buffer.byteOffset / size) + 1) * size - buffer.byteOffset;
      return make(buffer.buffer, buffer.byteOffset + offset, n);
    });
    sameMaskOver(dtype, (n) => make(new SharedArrayBuffer(n * size), 0, n));
    sameMaskOver(dtype, (n) => make(new SharedArrayBuffer(n * size + 24), 3 * size, n));
    sameMaskOver(dtype, (n) => make(new ArrayBuffer(n * size + 40), 5 * size, n));
    sameMaskOver(dtype, (n) => make(new ArrayBuffer(n * size + 40), 5 * size, n + 1).subarray(1));
  });

  test('a plain Float32Array with vocab, and a 3-D [B, T, V] tensor, mean rows of length V', () => {
    const rng = new Rng(4);
    const values = logitsBatch(rng, rows, vocab);
    const expected = referenceMask(values, 'float32', rows, vocab, options);
    expect(firstDifference(mask(values, { ...options, vocab }), expected)).toBeNull();
    const threeD = mask({ data: values, shape: [2, rows / 2, vocab], dtype: 'float32' }, options);
    expect(firstDifference(threeD, expected)).toBeNull();
    expect(threeD.rows).toBe(rows);
    const bf16 = encode(values, 'bfloat16');
    const expectedBf16 = referenceMask(bf16, 'bfloat16', rows, vocab, options);
    expect(firstDifference(mask({ data: bf16, shape: [3, 2, vocab], dtype: 'bfloat16' }, options), expectedBf16)).toBeNull();
  });

  test('per-row parameters as Float64Array, Float32Array, Int32Array and plain arrays agree', () => {
    const rng = new Rng(8);
    const values = logitsBatch(rng, rows, vocab);
    const temperature = [0, 0.3, 1, 1.7, 1, 0.5];
    const minP = [0, 0.1, 0, 0.05, 0.5, 0];
    const topK = [5, -1, 0, 40, 1, 300];
    const topP = [1, 0.9, 0.5, 0.99, 1e-6, 0.7];
    const expected = referenceMask(values, 'float32', rows, vocab, { temperature, minP, topK, topP });
    const containers = [(v: number[]) => v, (v: number[]) => Float64Array.from(v), (v: number[]) => Float32Array.from(v)];
    for (const as of containers) {
      const got = mask(tensor(values, rows, vocab, 'float32'), {
        temperature: as(temperature),
        minP: as(minP),
        topK: Int32Array.from(topK),
        topP: as(topP),
      });
      expect(firstDifference(got, expected)).toBeNull();
      expect(
        firstDifference(mask(tensor(values, rows, vocab, 'float32'), { temperature, minP, topK: as(topK), topP }), expected),
      ).toBeNull();
    }
    // One value for every row is the same as that value repeated.
    const scalar = mask(tensor(values, rows, vocab, 'float32'), { temperature: 0.7, topK: 9 });
    const repeated = mask(tensor(values, rows, vocab, 'float32'), {
      temperature: new Array(rows).fill(0.7),
      topK: new Int32Array(rows).fill(9),
    });
    expect(scalar.toLists()).toEqual(repeated.toLists());
  });

  test('the result is CSR: offsets, ascending indices, rows, vocab, count, row views and lists', () => {
    const values = new Float32Array([3, 1, 2, 0, /**/ -Infinity, 5, 5, 4, /**/ 0, 0, 0, 0]);
    const result = mask(values, { vocab: 4, topK: 2 });
    expect(Array.from(result.offsets)).toEqual([0, 2, 4, 8]);
    expect(Array.from(result.indices)).toEqual([0, 2, 1, 2, 0, 1, 2, 3]);
    expect(result.rows).toBe(3);
    expect(result.vocab).toBe(4);
    expect([0, 1, 2].map((r) => result.count(r))).toEqual([2, 2, 4]);
    expect(Array.from(result.row(1))).toEqual([1, 2]);
    expect(result.row(1).buffer).toBe(result.indices.buffer); // a view, not a copy
    expect(result.toLists()).toEqual([
      [0, 2],
      [1, 2],
      [0, 1, 2, 3],
    ]);
  });

  test('a synchronous loop holds a bounded amount of results, and every result is the whole CSR', async () => {
    // Node frees external buffers only from its event loop: were every
    // result adopted, these 300 calls would hold 600 MiB until the loop turns.
    const rows = 8;
    const vocab = 65536; // every id kept: 2 MiB of ids a call
    const data = logitsBatch(new Rng(5), rows, vocab);
    await new Promise((resolve) => setImmediate(resolve)); // earlier tests' results freed
    const before = process.memoryUsage().rss;
    let kept = 0;
    let last = mask(data, { vocab });
    for (let i = 0; i < 300; i++) {
      last = mask(data, { vocab });
      kept += last.indices.length;
    }
    expect(kept).toBe(300 * rows * vocab);
    expect(process.memoryUsage().rss - before).toBeLessThan(450 * 2 ** 20);
    // The late results are copies: still the whole CSR.
    expect(last.count(rows - 1)).toBe(vocab);
    expect(last.row(rows - 1)[vocab - 1]).toBe(vocab - 1);
    expect(last.row(0)[0]).toBe(0);
  });
});
