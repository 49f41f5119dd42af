import { applyMask, applyMaskAsync, mask as computeMask, maskAsync, type Tensor } from '../lib';
import { bitsOf, dtypes, maskOf, randomIds, randomLogits, rng } from './helpers';
import { referenceApplyMask } from './trainer-reference';

describe('applyMask', () => {
  for (const dtype of dtypes) {
    test(`${dtype}: -inf in its own format off the mask, kept entries untouched bit for bit`, () => {
      const next = rng(dtype.length * 31);
      for (const [rows, vocab] of [
        [1, 1],
        [7, 13],
        [30, 1000],
      ]) {
        const logits = randomLogits(next, rows, vocab, dtype, { negInfRate: 0.05 });
        // Special values among the kept entries: -0, NaN with a payload, the largest finite.
        const special =
          dtype === 'float32' ? [0x80000000, 0x7fc12345, 0x7f7fffff] : [0x8000, 0x7e01, dtype === 'bfloat16' ? 0x7f7f : 0x7bff];
        const bits = bitsOf(logits.data);
        special.forEach((b, k) => (bits[k % bits.length] = b));
        const kept = Array.from({ length: rows }, (_, r) => randomIds(next, vocab, [0, 1, 5, vocab][r % 4]));
        const expected = bitsOf(referenceApplyMask(logits.data, dtype, vocab, kept));
        const tensor: Tensor = { data: logits.data, shape: [rows, vocab], dtype };
        const before = logits.data.slice();
        const fresh = applyMask(tensor, maskOf(kept, vocab));
        expect(fresh).not.toBe(tensor);
        expect(fresh.shape).toEqual(tensor.shape);
        expect(fresh.dtype).toBe(dtype);
        expect(bitsOf(fresh.data)).toEqual(expected);
        expect(logits.data).toEqual(before);
        const same = applyMask(tensor, maskOf(kept, vocab), { inPlace: true });
        expect(same).toBe(tensor);
        expect(bitsOf(logits.data)).toEqual(expected);
      }
    });
  }

  test('a plain Float32Array gives a Float32Array; [B, T, V] keeps its shape', () => {
    const logits = new Float32Array([1, 2, 3, 4, 5, 6]);
    const out = applyMask(logits, maskOf([[1], [0, 2]], 3), { vocab: 3 });
    expect(out).toEqual(new Float32Array([-Infinity, 2, -Infinity, 4, -Infinity, 6]));
    const cube = applyMask({ data: logits, shape: [1, 2, 3], dtype: 'float32' }, maskOf([[1], [0, 2]], 3));
    expect(cube.shape).toEqual([1, 2, 3]);
    expect(cube.data).toEqual(out);
  });

  test('agrees with mask({ fillLogits: true }) on the same rows', () => {
    const next = rng(8);
    for (const dtype of dtypes) {
      const logits = randomLogits(next, 12, 2000, dtype);
      const tensor: Tensor = { data: logits.data, shape: [12, 2000], dtype };
      const options = { topK: 30, topP: 0.8 };
      const applied = applyMask(tensor, computeMask(tensor, options));
      const filled = { ...tensor, data: logits.data.slice() };
      computeMask(filled, { ...options, fillLogits: true });
      expect(bitsOf(applied.data)).toEqual(bitsOf(filled.data));
    }
  });

  test('async: new tensor and in place, on ArrayBuffer and SharedArrayBuffer', async () => {
    const next = rng(12);
    const logits = randomLogits(next, 9, 500, 'float32');
    const kept = Array.from({ length: 9 }, () => randomIds(next, 500, 25));
    const expected = referenceApplyMask(logits.data, 'float32', 500, kept);
    const fresh = await applyMaskAsync(logits.data as Float32Array, maskOf(kept, 500), { vocab: 500 });
    expect(fresh).toEqual(expected);
    const plain = logits.data.slice() as Float32Array;
    expect(await applyMaskAsync(plain, maskOf(kept, 500), { vocab: 500, inPlace: true })).toBe(plain);
    expect(plain).toEqual(expected);
    const shared = new Float32Array(new SharedArrayBuffer(plain.byteLength));
    shared.set(logits.data as Float32Array);
    await applyMaskAsync(shared, maskOf(kept, 500), { vocab: 500, inPlace: true });
    expect(shared).toEqual(expected);
  });

  test('maskAsync with fillLogits writes back through the same held buffer (it used a stale handle before)', async () => {
    const logits = new Float32Array([1, 5, 3, 4, 2, 0]);
    await maskAsync(logits, { vocab: 3, topK: 1, fillLogits: true });
    expect(logits).toEqual(new Float32Array([-Infinity, 5, -Infinity, 4, -Infinity, -Infinity]));
  });

  test('async in place on a buffer detached meanwhile rejects instead of writing', async () => {
    const logits = new Float32Array(4000).fill(1);
    const pending = applyMaskAsync(logits, maskOf([[3]], 4000), { vocab: 4000, inPlace: true });
    structuredClone(logits.buffer, { transfer: [logits.buffer] });
    await expect(pending).rejects.toMatchObject({ name: 'TypeError', code: 'ERR_SM_DETACHED', argument: 'logits' });
  });

  test('a bad mask leaves in-place logits untouched', () => {
    const logits = new Float32Array([1, 2, 3, 4, 5, 6]);
    const mask = maskOf([[0], [1]], 3);
    mask.indices[1] = 7;
    expect(() => applyMask(logits, mask, { vocab: 3, inPlace: true })).toThrow(
      expect.objectContaining({ code: 'ERR_SM_INVALID_MASK', row: 1 }),
    );
    expect(logits).toEqual(new Float32Array([1, 2, 3, 4, 5, 6]));
  });
});
