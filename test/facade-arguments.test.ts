// The facade reads each argument once, into private values, and checks
// those: getters and proxies that answer differently on a second read,
// lists that change while read, BigInt and symbols anywhere, odd lengths
// and null options give a coded TypeError or RangeError (or the correct
// result), never an engine error, a half-stored step or an unchecked mask.
import {
  DeviceTensor,
  ERROR_CODES,
  MaskRecorder,
  MaskRecordWriter,
  SamplingMask,
  decodeRecords,
  encodeRecord,
  mask,
  maskedLogprobs,
  toDevice,
  toDeviceAsync,
  type RequestId,
} from '../lib';

interface Expected {
  name?: 'TypeError' | 'RangeError';
  code?: string;
  argument?: string;
  row?: number;
}

// The error fn throws: a TypeError or RangeError with a code of the union, and the fields expected.
function codedError(fn: () => unknown, expected: Expected = {}): Error & { code: string; argument: string } {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeDefined();
  const e = thrown as Error & { code: string; argument: string };
  // By name: errors the addon builds belong to Node's main context, not to the test's realm.
  expect(['TypeError', 'RangeError']).toContain(e.name);
  expect(ERROR_CODES).toContain(e.code);
  expect(typeof e.argument).toBe('string');
  if (expected.name) expect(e.name).toBe(expected.name);
  expect(e).toMatchObject({
    ...(expected.code && { code: expected.code }),
    ...(expected.argument && { argument: expected.argument }),
    ...(expected.row !== undefined && { row: expected.row }),
  });
  return e;
}

/** A proxy that counts the reads of each property (and answers truthfully). */
function counted<T extends object>(target: T): { proxy: T; reads: Map<PropertyKey, number> } {
  const reads = new Map<PropertyKey, number>();
  const proxy = new Proxy(target, {
    get(t, key) {
      reads.set(key, (reads.get(key) ?? 0) + 1);
      return Reflect.get(t, key, t);
    },
  });
  return { proxy, reads };
}

/** A proxy that answers `first` on the first read of each property and `later(key)` afterwards. */
function twoFaced<T extends object>(target: T, later: (key: PropertyKey, truth: unknown) => unknown): T {
  const seen = new Set<PropertyKey>();
  return new Proxy(target, {
    get(t, key) {
      const truth = Reflect.get(t, key, t);
      if (seen.has(key)) return later(key, truth);
      seen.add(key);
      return truth;
    },
  });
}

const vocab = 8;
const twoRows = () => SamplingMask.fromLists([[1, 3], [2]], vocab);

describe('null and odd options objects', () => {
  test('null options are a TypeError naming options, in every function that takes options', () => {
    codedError(() => SamplingMask.fromLists([[1]], vocab, null as never), { name: 'TypeError', argument: 'options' });
    codedError(() => SamplingMask.concat([twoRows()], null as never), { name: 'TypeError', argument: 'options' });
    codedError(() => new MaskRecorder(null as never), { name: 'TypeError', argument: 'options' });
    codedError(() => decodeRecords(new Uint8Array(0), null as never), { name: 'TypeError', argument: 'options' });
    codedError(() => new MaskRecorder({ vocab }).recordResponse('a', [[1]], undefined, null as never), { argument: 'options' });
    codedError(() => mask(new Float32Array(4), null as never), { name: 'TypeError' });
    codedError(() => encodeRecord(null as never), { name: 'TypeError', argument: 'record' });
  });

  test('options fields are read once: a getter that changes its answer cannot get past the check', () => {
    let reads = 0;
    const options = {
      padTo: 2,
      get padSide() {
        reads++;
        return reads === 1 ? 'left' : 'bogus';
      },
    };
    const padded = SamplingMask.concat([SamplingMask.fromLists([[5]], vocab)], options as never);
    expect(padded.toLists()).toEqual([[0], [5]]);
    expect(reads).toBe(1);
  });
});

describe('BigInt, symbols and other non-numbers', () => {
  test('in a logits shape', () => {
    const data = new Float32Array(6);
    codedError(() => mask({ data, shape: [2n, 3] as never, dtype: 'float32' }), { name: 'TypeError', argument: 'logits.shape' });
    codedError(() => mask({ data, shape: [2, Symbol('v')] as never, dtype: 'float32' }), { name: 'TypeError', argument: 'logits.shape' });
    // A numeric string is not a number: it is not coerced.
    codedError(() => mask({ data, shape: ['2', 3] as never, dtype: 'float32' }), { name: 'TypeError', argument: 'logits.shape' });
    codedError(() => mask(data, { vocab: 3n as never }), { name: 'TypeError', argument: 'options.vocab' });
    // Shapes too large for any buffer are refused by range, not overflowed.
    codedError(() => mask({ data, shape: [2 ** 40, 2 ** 40, 3], dtype: 'float32' }), { name: 'RangeError' });
  });

  test('in id lists, row indices, padding widths and request ids', () => {
    codedError(() => SamplingMask.fromLists([[1n] as never], vocab), { name: 'RangeError', code: 'ERR_SM_INVALID_MASK', row: 0 });
    codedError(() => SamplingMask.fromLists([[1], [Symbol('id')] as never], vocab), { code: 'ERR_SM_INVALID_MASK', row: 1 });
    codedError(() => SamplingMask.fromLists([[null] as never], vocab), { code: 'ERR_SM_INVALID_MASK', row: 0 });
    codedError(() => twoRows().row(Symbol('row') as never), { name: 'RangeError', argument: 'row' });
    codedError(() => twoRows().count(1n as never), { name: 'RangeError', argument: 'row' });
    codedError(() => twoRows().toPadded(2n as never), { name: 'RangeError', argument: 'width' });
    codedError(() => SamplingMask.concat([twoRows()], { padTo: 4n as never }), { argument: 'options.padTo' });
    codedError(() => new SamplingMask(Int32Array.of(0), new Int32Array(0), Symbol('v') as never), { code: 'ERR_SM_INVALID_MASK' });
    const recorder = new MaskRecorder();
    codedError(() => recorder.peek(10n as never), { code: 'ERR_SM_UNKNOWN_REQUEST' });
    codedError(() => recorder.record([Symbol('id') as never, 'b'], twoRows()), { name: 'TypeError', argument: 'requestIds', row: 0 });
    codedError(() => recorder.record(['a', 'b'], twoRows(), [1n as never, 2]), { argument: 'tokens', row: 0 });
    codedError(() => encodeRecord({ id: 1, mask: twoRows(), tokens: [3, Symbol('t')] as never }), { argument: 'record.tokens', row: 1 });
  });

  test('null tokens and steps in a record are refused by type', () => {
    codedError(() => encodeRecord({ id: 1, mask: twoRows(), tokens: null as never }), { name: 'TypeError', argument: 'record.tokens' });
    codedError(() => encodeRecord({ id: 1, mask: twoRows(), outsideSteps: [7] }), { name: 'RangeError', argument: 'record.outsideSteps' });
  });
});

describe('lengths', () => {
  test('negative, fractional, huge or non-number lengths of lists are coded errors, not engine errors or empty masks', () => {
    for (const length of [-1, 1.5, 2 ** 32, Infinity, NaN]) {
      codedError(() => SamplingMask.fromLists({ length } as never, vocab), { name: 'RangeError', argument: 'lists' });
      codedError(() => SamplingMask.fromLists([{ length }] as never, vocab), { name: 'RangeError', argument: 'lists', row: 0 });
    }
    codedError(() => SamplingMask.fromLists({ length: 2n } as never, vocab), { name: 'TypeError', argument: 'lists' });
    codedError(() => new MaskRecorder().record({ length: -1 } as never, twoRows()), { argument: 'requestIds' });
  });

  test("a typed array's own length property cannot stand in for its real length", () => {
    const logits = new Float32Array([0, 1, 2, 3, 4, 5]);
    Object.defineProperty(logits, 'length', { value: Symbol('length') });
    expect(mask(logits, { vocab: 3, topK: 1 }).toLists()).toEqual([[2], [2]]);
  });
});

describe('arguments are read once', () => {
  test('fromLists reads each row, each length and each id once', () => {
    const rows = [counted([1, 4]), counted([0, 2, 7])];
    const lists = counted(rows.map((r) => r.proxy));
    expect(SamplingMask.fromLists(lists.proxy, vocab).toLists()).toEqual([
      [1, 4],
      [0, 2, 7],
    ]);
    for (const { reads } of [lists, ...rows]) for (const n of reads.values()) expect(n).toBe(1);
  });

  test('a list whose length shrinks after it was read yields the ids read, checked (not an unchecked row)', () => {
    let lengthReads = 0;
    const shrinking = new Proxy([2, 5], {
      get(target, key) {
        if (key === 'length') return ++lengthReads <= 2 ? 2 : 1;
        return Reflect.get(target, key);
      },
    });
    const m = SamplingMask.fromLists([shrinking], vocab);
    expect(m.toLists()).toEqual([[2, 5]]);
    // What it returns is a valid mask: the checked constructor accepts its arrays.
    expect(() => new SamplingMask(m.offsets, m.indices, m.vocab)).not.toThrow();
  });

  test('a logits tensor whose fields answer differently on a second read is used as first read', () => {
    const data = new Float32Array([0, 1, 2, 3, 4, 5]);
    const logits = twoFaced({ data, shape: [2, 3], dtype: 'float32' }, (key) =>
      key === 'shape' ? [3, 2] : key === 'data' ? new Float32Array(2) : 'float16',
    );
    expect(mask(logits as never, { topK: 1 }).toLists()).toEqual([[2], [2]]);
    const targets = twoFaced({ data: Int32Array.of(2, 0), shape: [2] }, () => ({ not: 'an array' }));
    const result = maskedLogprobs(twoFaced({ data, shape: [2, 3], dtype: 'float32' }, () => undefined) as never, null, targets as never);
    expect(result.logprobs).toHaveLength(2);
  });

  test('toDevice reads its options once, so the tensor reports the device it was uploaded to', async () => {
    for (const upload of [toDevice, toDeviceAsync]) {
      const options = counted({ device: 0, vocab: 2 });
      let tensor: DeviceTensor | undefined;
      try {
        tensor = await upload(Float32Array.of(1, 2, 3, 4), options.proxy);
      } catch (error) {
        // Without a usable GPU the upload is refused, after the options are read.
        expect(error).toMatchObject({ code: 'ERR_SM_CUDA_UNAVAILABLE' });
      }
      expect(Object.fromEntries(options.reads)).toEqual({ device: 1, vocab: 1 });
      if (tensor) {
        expect(tensor.device).toBe(0);
        tensor.free();
      }
    }
  });

  test('an object that merely inherits from DeviceTensor, or a proxy of one, is not taken for one', () => {
    // Taken for a tensor instead, whose shape (DeviceTensor's getter, without rows) is refused.
    const lookalike = Object.create(DeviceTensor.prototype) as object;
    codedError(() => mask(lookalike as never), { name: 'TypeError', argument: 'logits.shape' });
    codedError(() => mask(new Proxy(lookalike, {}) as never), { name: 'TypeError', argument: 'logits.shape' });
    codedError(() => maskedLogprobs(lookalike as never, null, new Int32Array(1)), { name: 'TypeError', argument: 'logits.shape' });
  });

  test('the record writer calls the stream methods it checked', async () => {
    const written: Uint8Array[] = [];
    const destination = twoFaced(
      { write: (chunk: Uint8Array) => written.push(chunk) > 0, end: () => undefined, once: () => undefined },
      () => 'not a function',
    );
    const writer = new MaskRecordWriter(destination as never);
    await writer.write({ id: 1, mask: twoRows() });
    expect(written).toHaveLength(1);
    expect(decodeRecords(written[0]).records[0].mask.toLists()).toEqual([[1, 3], [2]]);
  });
});

describe('MaskRecorder steps are stored whole or not at all, never twice under one id', () => {
  test('request ids that change on a second read are stored as first read, once each', () => {
    const recorder = new MaskRecorder();
    const ids = twoFaced(['a', 'b'], (key, truth) => (key === '1' ? 'a' : truth));
    recorder.record(ids as RequestId[], twoRows());
    expect(recorder.ids()).toEqual(['a', 'b']);
    expect(recorder.steps('a')).toBe(1);
    expect(recorder.steps('b')).toBe(1);
  });

  test('tokens are checked and stored from one read', () => {
    const recorder = new MaskRecorder();
    const tokens = twoFaced([3, 2], () => 6);
    recorder.record(['a', 'b'], twoRows(), tokens as number[]);
    expect(Array.from(recorder.peek('a').tokens as Int32Array)).toEqual([3]);
    expect(Array.from(recorder.peek('b').tokens as Int32Array)).toEqual([2]);
  });

  test('an id list that throws on a second read cannot leave half a step behind', () => {
    const recorder = new MaskRecorder();
    const thrown = new Error('second read');
    const ids = twoFaced(['a', 'b'], () => {
      throw thrown;
    });
    recorder.record(ids as RequestId[], twoRows());
    expect([recorder.steps('a'), recorder.steps('b')]).toEqual([1, 1]);
    // An exception of the caller's own getter reaches the caller unchanged, and nothing is stored.
    const first = new Proxy(['c', 'd'], {
      get(target, key) {
        if (key === '1') throw thrown;
        return Reflect.get(target, key);
      },
    });
    expect(() => recorder.record(first, twoRows())).toThrow(thrown);
    expect([recorder.has('c'), recorder.has('d')]).toEqual([false, false]);
  });

  test('a mask written after it was built is checked again before it is stored', () => {
    const recorder = new MaskRecorder();
    const m = twoRows();
    m.indices[1] = 99; // outside vocab, after construction
    codedError(() => recorder.record(['a', 'b'], m), { code: 'ERR_SM_INVALID_MASK', argument: 'mask', row: 0 });
    expect(recorder.ids()).toEqual([]);
    codedError(() => SamplingMask.concat([m]), { code: 'ERR_SM_INVALID_MASK', argument: 'masks[0]' });
    codedError(() => m.toBitmask(), { code: 'ERR_SM_INVALID_MASK' });
  });

  test('a mask whose buffer was detached after it was built is refused, not taken for an empty one', () => {
    const m = twoRows();
    structuredClone(m.indices.buffer, { transfer: [m.indices.buffer as ArrayBuffer] });
    codedError(() => SamplingMask.concat([m]), { name: 'TypeError', code: 'ERR_SM_DETACHED', argument: 'masks[0]' });
    codedError(() => new MaskRecorder().record(['a', 'b'], m), { code: 'ERR_SM_DETACHED', argument: 'mask' });
  });

  test('an empty response keeps the recorder consistent: its mask is over the recorder vocab', () => {
    const recorder = new MaskRecorder();
    recorder.recordResponse('a', SamplingMask.fromLists([], vocab));
    expect(recorder.peek('a').mask.vocab).toBe(vocab);
    expect(recorder.vocab).toBe(vocab);
  });
});

describe('toPadded', () => {
  test('a width beyond vocab cannot be needed: a RangeError, not a fill of rows x width ids', () => {
    codedError(() => twoRows().toPadded(2 ** 31), { name: 'RangeError', code: 'ERR_SM_OUT_OF_RANGE', argument: 'width' });
    codedError(() => twoRows().toPadded(vocab + 1), { name: 'RangeError', argument: 'width' });
    expect(twoRows().toPadded(vocab).ids).toHaveLength(2 * vocab);
  });
});
