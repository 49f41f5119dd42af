import { mask as computeMask, SamplingMask } from '../lib';
import { expectError, maskOf, randomIds, randomLogits, rng, sameBytes } from './helpers';

/** Random masks with empty rows, single ids, dense rows and the last id. */
function randomMask(next: () => number, rows: number, vocab: number): SamplingMask {
  return maskOf(
    Array.from({ length: rows }, (_, r) => {
      const ids = randomIds(next, vocab, [0, 1, 7, Math.ceil(vocab / 2), vocab][r % 5]);
      return r % 3 === 0 && vocab > 1 && !ids.includes(vocab - 1) ? [...ids, vocab - 1] : ids;
    }),
    vocab,
  );
}

/** The bitmask written out bit by bit, independently of toBitmask. */
function referenceBitmask(lists: number[][], vocab: number): Uint8Array {
  const rowBytes = Math.ceil(vocab / 8);
  const bytes = new Uint8Array(lists.length * rowBytes);
  lists.forEach((ids, r) => ids.forEach((id) => (bytes[r * rowBytes + Math.floor(id / 8)] += 2 ** (id % 8))));
  return bytes;
}

describe('padded ids', () => {
  test('round trips exactly, with the width of the largest row or a wider one', () => {
    const next = rng(1);
    for (const vocab of [1, 9, 100, 5000]) {
      const original = randomMask(next, 11, vocab);
      const padded = original.toPadded();
      const widest = Math.max(...original.toLists().map((ids) => ids.length));
      expect(padded.width).toBe(widest);
      expect(padded.rows).toBe(11);
      for (let r = 0; r < 11; r++) {
        const row = Array.from(padded.ids.subarray(r * widest, (r + 1) * widest));
        const ids = original.toLists()[r];
        expect(row).toEqual([...ids, ...Array(widest - ids.length).fill(-1)]);
      }
      const back = SamplingMask.fromPadded(padded.ids, padded.rows, padded.width, vocab);
      expect(back.toLists()).toEqual(original.toLists());
      // Wider than the largest row, up to vocab (no row can need more).
      const width = Math.min(widest + 3, vocab);
      const wide = original.toPadded(width);
      expect(SamplingMask.fromPadded(wide.ids, 11, width, vocab).toLists()).toEqual(original.toLists());
    }
  });

  test('rows in any order are sorted (torch.topk gives ids by value)', () => {
    const ids = new Int32Array([9, 2, 5, -1, 3, -1, -1, -1, -1, -1, -1, -1]);
    expect(SamplingMask.fromPadded(ids, 3, 4, 10).toLists()).toEqual([[2, 5, 9], [3], []]);
  });

  test('bad padded input is rejected naming the argument and row', () => {
    const ok = new Int32Array([1, 2, -1, 0]);
    expectError(() => SamplingMask.fromPadded([1, 2] as unknown as Int32Array, 1, 2, 5), { name: 'TypeError', argument: 'ids' });
    expectError(() => SamplingMask.fromPadded(new Float32Array(4) as unknown as Int32Array, 2, 2, 5), {
      name: 'TypeError',
      argument: 'ids',
    });
    expectError(() => SamplingMask.fromPadded(ok, 3, 2, 5), { name: 'RangeError', argument: 'ids', code: 'ERR_SM_OUT_OF_RANGE' });
    expectError(() => SamplingMask.fromPadded(ok, 2, 2, 0), { name: 'RangeError', argument: 'vocab' });
    expectError(() => SamplingMask.fromPadded(ok, 2.5, 2, 5), { name: 'RangeError', argument: 'rows' });
    expectError(() => SamplingMask.fromPadded(ok, 2, -2, 5), { name: 'RangeError', argument: 'width' });
    expectError(() => SamplingMask.fromPadded(new Int32Array([1, -1, -1, 3]), 2, 2, 5), { code: 'ERR_SM_INVALID_MASK', row: 1 });
    expectError(() => SamplingMask.fromPadded(new Int32Array([-1, 2, 0, -1]), 2, 2, 5), { code: 'ERR_SM_INVALID_MASK', row: 0 });
    expectError(() => SamplingMask.fromPadded(new Int32Array([1, 5, 0, -1]), 2, 2, 5), { code: 'ERR_SM_INVALID_MASK', row: 0 });
    expectError(() => SamplingMask.fromPadded(new Int32Array([1, -7, 0, -1]), 2, 2, 5), { code: 'ERR_SM_INVALID_MASK', row: 0 });
    expectError(() => SamplingMask.fromPadded(new Int32Array([0, -1, 3, 3]), 2, 2, 5), { code: 'ERR_SM_INVALID_MASK', row: 1 });
    expectError(() => maskOf([[1, 2, 3]], 5).toPadded(2), { name: 'RangeError', argument: 'width' });
  });
});

describe('bitmask', () => {
  test('round trips exactly, bit i of row r at byte i >> 3, bit i & 7', () => {
    const next = rng(2);
    for (const vocab of [1, 7, 8, 9, 31, 32, 33, 64, 1000, 151936]) {
      const original = randomMask(next, 10, vocab);
      const bytes = original.toBitmask();
      expect(sameBytes(bytes, referenceBitmask(original.toLists(), vocab))).toBe(true);
      const back = SamplingMask.fromBitmask(bytes, 10, vocab);
      expect(sameBytes(back.offsets, original.offsets)).toBe(true);
      expect(sameBytes(back.indices, original.indices)).toBe(true);
      expect(back.vocab).toBe(vocab);
    }
  });

  test('reads bytes at any offset of any buffer, a Buffer included', () => {
    const original = maskOf([[0, 8, 31, 32, 39], [1, 2, 3, 33], []], 40);
    const bytes = original.toBitmask();
    for (const offset of [1, 2, 3, 5]) {
      const holder = Buffer.alloc(bytes.length + offset + 3);
      holder.set(bytes, offset);
      expect(SamplingMask.fromBitmask(holder.subarray(offset, offset + bytes.length), 3, 40).toLists()).toEqual(original.toLists());
      const shared = new Uint8Array(new SharedArrayBuffer(bytes.length + offset), offset);
      shared.set(bytes);
      expect(SamplingMask.fromBitmask(shared, 3, 40).toLists()).toEqual(original.toLists());
    }
  });

  test('masks from mask() survive both formats', () => {
    const next = rng(3);
    const logits = randomLogits(next, 6, 32000, 'float32');
    const recorded = computeMask({ data: logits.data, shape: [6, 32000], dtype: 'float32' }, { topK: 50, topP: 0.95 });
    expect(SamplingMask.fromBitmask(recorded.toBitmask(), 6, 32000).toLists()).toEqual(recorded.toLists());
    const padded = recorded.toPadded();
    expect(SamplingMask.fromPadded(padded.ids, 6, padded.width, 32000).toLists()).toEqual(recorded.toLists());
  });

  test('bad bitmask input is rejected naming the argument and row', () => {
    const bytes = maskOf([[1], [2]], 12).toBitmask();
    expectError(() => SamplingMask.fromBitmask(Array.from(bytes) as unknown as Uint8Array, 2, 12), {
      name: 'TypeError',
      argument: 'bytes',
    });
    expectError(() => SamplingMask.fromBitmask(new Uint16Array(4) as unknown as Uint8Array, 2, 12), {
      name: 'TypeError',
      argument: 'bytes',
    });
    expectError(() => SamplingMask.fromBitmask(bytes, 3, 12), { name: 'RangeError', argument: 'bytes', code: 'ERR_SM_OUT_OF_RANGE' });
    expectError(() => SamplingMask.fromBitmask(bytes, 2, 17), { name: 'RangeError', argument: 'bytes' });
    expectError(() => SamplingMask.fromBitmask(bytes, 2, 0), { name: 'RangeError', argument: 'vocab' });
    expectError(() => SamplingMask.fromBitmask(bytes, -1, 12), { name: 'RangeError', argument: 'rows' });
    const stray = bytes.slice();
    stray[3] |= 0x10; // id 12 of row 1: at vocab
    expectError(() => SamplingMask.fromBitmask(stray, 2, 12), {
      name: 'RangeError',
      code: 'ERR_SM_INVALID_MASK',
      argument: 'bytes',
      row: 1,
    });
  });
});
