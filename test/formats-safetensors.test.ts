import {
  SamplingMask,
  decodeSafetensors,
  encodeSafetensors,
  readRolloutsSafetensors,
  writeRolloutsSafetensors,
  type RolloutRecord,
} from '../lib';
import { expectSameRecords, flippedOutcomes, maskedRecords, mixedIdRecords, outcome, simulatedRollout, untyped } from './formats-fixtures';
import { thrown } from './helpers';

// A file framed by hand from the specification: u64 little-endian header
// length, the header text (padded with spaces to `pad` bytes when given), data.
function framed(header: string, data: Uint8Array = new Uint8Array(0), pad?: number): Uint8Array {
  const text = Buffer.from(header.padEnd(pad ?? header.length, ' '), 'utf8');
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

const f32 = (...values: number[]) => new Uint8Array(Float32Array.from(values).buffer);
const i32 = (values: ArrayLike<number>) => new Uint8Array(Int32Array.from(values).buffer);

// The tensors of a file, read with nothing but JSON.parse and the byte
// layout of the specification (the independent reader of these tests).
function plainRead(bytes: Uint8Array): {
  metadata: Record<string, string>;
  tensors: Record<string, { dtype: string; shape: number[]; values: number[] }>;
} {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8'));
  const tensors: Record<string, { dtype: string; shape: number[]; values: number[] }> = {};
  for (const [name, info] of Object.entries<{ dtype: string; shape: number[]; data_offsets: [number, number] }>(header)) {
    if (name === '__metadata__') continue;
    const raw = bytes.slice(8 + n + info.data_offsets[0], 8 + n + info.data_offsets[1]);
    const values = info.dtype === 'F32' ? Array.from(new Float32Array(raw.buffer)) : Array.from(new Int32Array(raw.buffer));
    tensors[name] = { dtype: info.dtype, shape: info.shape, values };
  }
  return { metadata: header.__metadata__ ?? {}, tensors };
}

describe('safetensors container, to the specification', () => {
  test('bytes equal to the reference implementation for its own test cases', () => {
    expect(encodeSafetensors({ 'attn.0': { dtype: 'F32', shape: [1, 2, 3], data: Float32Array.of(0, 1, 2, 3, 4, 5) } })).toEqual(
      framed('{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}', f32(0, 1, 2, 3, 4, 5)),
    );
    // a header of 65 bytes is padded with 7 spaces so the data starts 8-byte aligned
    expect(encodeSafetensors({ attn0: { dtype: 'F32', shape: [1, 1, 2, 3], data: Float32Array.of(0, 1, 2, 3, 4, 5) } })).toEqual(
      framed('{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}', f32(0, 1, 2, 3, 4, 5), 72),
    );
    expect(encodeSafetensors({})).toEqual(Uint8Array.of(8, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d, 32, 32, 32, 32, 32, 32));
    expect(encodeSafetensors({}, { framework: 'pt' })).toEqual(framed('{"__metadata__":{"framework":"pt"}}', undefined, 40));
  });

  test('tensors ordered by descending dtype size, then name; every one aligned to its size', () => {
    const bytes = encodeSafetensors({
      b: { dtype: 'U8', shape: [3], data: Uint8Array.of(1, 2, 3) },
      a: { dtype: 'I32', shape: [2], data: Int32Array.of(-1, 7) },
      c: { dtype: 'I64', shape: [1], data: BigInt64Array.of(5n) },
      d: { dtype: 'I32', shape: [0, 4], data: new Int32Array(0) },
    });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString());
    expect(Object.keys(header)).toEqual(['c', 'a', 'd', 'b']);
    expect([header.c, header.a, header.d, header.b].map((t) => t.data_offsets)).toEqual([
      [0, 8],
      [8, 16],
      [16, 16],
      [16, 19],
    ]);
    const back = decodeSafetensors(bytes);
    expect(Array.from(new Int32Array(back.tensors.get('a')!.bytes.slice().buffer))).toEqual([-1, 7]);
    expect(back.tensors.get('d')!.shape).toEqual([0, 4]);
    expect(back.tensors.get('b')!.bytes).toEqual(Uint8Array.of(1, 2, 3));
  });

  test('the writer checks its input', () => {
    expect(thrown(() => encodeSafetensors({ x: { dtype: 'I32', shape: [3], data: new Int32Array(2) } }))).toMatchObject({
      code: 'ERR_SM_OUT_OF_RANGE',
      argument: 'tensors.x.data',
    });
    expect(thrown(() => encodeSafetensors({ x: { dtype: 'I33' as 'I32', shape: [1], data: new Int32Array(1) } })).code).toBe(
      'ERR_SM_INVALID_ARG_TYPE',
    );
    expect(thrown(() => encodeSafetensors({ x: { dtype: 'I32', shape: [-1], data: new Int32Array(1) } })).argument).toBe('tensors.x.shape');
    expect(thrown(() => encodeSafetensors({ __metadata__: { dtype: 'I32', shape: [0], data: new Int32Array(0) } })).code).toBe(
      'ERR_SM_OUT_OF_RANGE',
    );
    expect(thrown(() => encodeSafetensors({}, { n: 1 as unknown as string })).argument).toBe('metadata.n');
  });

  // Every check the specification (and its reference reader) makes, one file each.
  const good = '{"x":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}}';
  test.each([
    ['fewer than 8 bytes', Uint8Array.of(1, 2, 3), 'ERR_SM_TRUNCATED', /fewer than the 8-byte/],
    [
      'a header longer than the file',
      framed(good, i32([1, 2])).subarray(0, 40),
      'ERR_SM_TRUNCATED',
      /header of 54 bytes claimed, 32 bytes follow/,
    ],
    ['a header over 100 MB', Uint8Array.of(0, 0xe2, 0xf5, 0x05, 0, 0, 0, 0, 0x7b), 'ERR_SM_CORRUPT_FILE', /limit/],
    ['a header length of 2^64 - 1', Uint8Array.of(255, 255, 255, 255, 255, 255, 255, 255), 'ERR_SM_CORRUPT_FILE', /limit/],
    ['a header that is not UTF-8', framed('{"\u0000"}').map((b, i) => (i === 10 ? 0xff : b)), 'ERR_SM_CORRUPT_FILE', /UTF-8/],
    ['a header not starting with {', framed(` ${good}`, i32([1, 2])), 'ERR_SM_CORRUPT_FILE', /start with/],
    ['a header that is not JSON', framed('{"x":', i32([1, 2])), 'ERR_SM_CORRUPT_FILE', /JSON/],
    [
      'a header that repeats a key',
      framed('{"x":{"dtype":"I32","shape":[1],"data_offsets":[0,4]},"x":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}}', i32([1])),
      'ERR_SM_CORRUPT_FILE',
      /repeats the key "x"/,
    ],
    ['metadata that is not strings', framed('{"__metadata__":{"a":1}}'), 'ERR_SM_CORRUPT_FILE', /strings only/],
    ['an unknown dtype', framed('{"x":{"dtype":"I33","shape":[2],"data_offsets":[0,8]}}', i32([1, 2])), 'ERR_SM_CORRUPT_FILE', /dtype/],
    [
      'a negative dimension',
      framed('{"x":{"dtype":"I32","shape":[-2],"data_offsets":[0,8]}}', i32([1, 2])),
      'ERR_SM_CORRUPT_FILE',
      /shape/,
    ],
    [
      'offsets that do not start at 0 (a hole)',
      framed('{"x":{"dtype":"I32","shape":[2],"data_offsets":[4,12]}}', i32([0, 1, 2])),
      'ERR_SM_CORRUPT_FILE',
      /contiguous/,
    ],
    [
      'overlapping tensors',
      framed('{"x":{"dtype":"I32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"I32","shape":[1],"data_offsets":[4,8]}}', i32([1, 2])),
      'ERR_SM_CORRUPT_FILE',
      /contiguous/,
    ],
    [
      'end before begin',
      framed('{"x":{"dtype":"I32","shape":[0],"data_offsets":[8,0]}}', i32([1, 2])),
      'ERR_SM_CORRUPT_FILE',
      /contiguous/,
    ],
    [
      'a shape that disagrees with the byte length',
      framed('{"x":{"dtype":"I32","shape":[3],"data_offsets":[0,8]}}', i32([1, 2])),
      'ERR_SM_CORRUPT_FILE',
      /12 bytes, data_offsets give 8/,
    ],
    [
      'a shape whose size overflows',
      framed('{"x":{"dtype":"I32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}', i32([1, 2])),
      'ERR_SM_CORRUPT_FILE',
      /data_offsets give 8/,
    ],
    [
      'data offsets past the end of the file',
      framed('{"x":{"dtype":"I32","shape":[4],"data_offsets":[0,16]}}', i32([1, 2])),
      'ERR_SM_TRUNCATED',
      /ends at byte/,
    ],
    ['bytes after the last tensor', framed(good, i32([1, 2, 3])), 'ERR_SM_CORRUPT_FILE', /after the last tensor/],
  ])('rejects %s', (_, bytes, code, message) => {
    const e = thrown(() => decodeSafetensors(bytes as Uint8Array));
    expect(e.code).toBe(code);
    expect(e.message).toMatch(message as RegExp);
  });

  test('accepts a header without padding, keys in any order, extra tensor fields ignored', () => {
    const back = decodeSafetensors(
      framed(
        '{"y":{"dtype":"F32","shape":[1],"data_offsets":[8,12],"note":"x"},"x":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}}',
        Uint8Array.from([...i32([1, 2]), ...f32(0.5)]),
      ),
    );
    expect([...back.tensors.keys()]).toEqual(['x', 'y']);
    expect(Array.from(new Float32Array(back.tensors.get('y')!.bytes.slice().buffer))).toEqual([0.5]);
  });
});

describe('masks and rollouts as safetensors', () => {
  test('a mask from mask(), V = 262144 (rows keeping most of V), with the padded form', () => {
    const { mask } = maskedRecords(21, 262144, 2, 2)[1];
    expect(mask.count(0)).toBeGreaterThan(262144 / 2);
    const bytes = mask.toSafetensors({ metadata: { note: 'n' }, padded: true });
    const plain = plainRead(bytes);
    expect(plain.metadata).toEqual({ note: 'n', 'sampling_mask.vocab': '262144', 'sampling_mask.rows': '2' });
    expect(plain.tensors.offsets).toEqual({ dtype: 'I32', shape: [3], values: Array.from(mask.offsets) });
    expect(plain.tensors.indices.shape).toEqual([mask.indices.length]);
    expect(Buffer.from(Int32Array.from(plain.tensors.indices.values).buffer).equals(Buffer.from(mask.indices.slice().buffer))).toBe(true);
    const width = Math.max(mask.count(0), mask.count(1));
    expect(plain.tensors.ids.shape).toEqual([2, width]);
    expect(plain.tensors.ids.values.slice(width - 2, width + 2)).toEqual([
      ...(mask.count(0) === width ? mask.row(0).slice(-2) : [-1, -1]),
      ...mask.row(1).slice(0, 2),
    ]);
    const back = SamplingMask.fromSafetensors(bytes);
    expect(back.vocab).toBe(262144);
    expect(Buffer.from(back.indices.slice().buffer).equals(Buffer.from(mask.indices.slice().buffer))).toBe(true);
    expect(back.indices.buffer).toBe(bytes.buffer); // read in place: no copy of the ids
  });

  test('empty rows, an empty mask, a padded form alone', () => {
    const mask = SamplingMask.fromLists([[], [3, 5], [], [0]], 8);
    expect(SamplingMask.fromSafetensors(mask.toSafetensors()).toLists()).toEqual(mask.toLists());
    expect(SamplingMask.fromSafetensors(mask.toSafetensors({ padded: 4 })).toLists()).toEqual(mask.toLists());
    const empty = SamplingMask.fromLists([], 8);
    expect(SamplingMask.fromSafetensors(empty.toSafetensors({ padded: true })).rows).toBe(0);
    const paddedOnly = encodeSafetensors(
      { ids: { dtype: 'I32', shape: [2, 3], data: Int32Array.of(5, 1, -1, 2, -1, -1) } },
      { 'sampling_mask.vocab': '8' },
    );
    expect(SamplingMask.fromSafetensors(paddedOnly).toLists()).toEqual([[1, 5], [2]]);
  });

  test.each([
    [31, 1000, true],
    [32, 1000, false],
    [33, 262144, true],
  ] as const)('recorder output of continuous batching (seed %i, V = %i, tokens %s)', (seed, vocab, withTokens) => {
    // eslint-disable-next-line @typescript-eslint/no-unused-vars -- safetensors files hold no scalar columns: drop them
    const records = simulatedRollout(seed, vocab, withTokens).map(({ columns, ...record }) => record);
    const file = readRolloutsSafetensors(writeRolloutsSafetensors(records, { metadata: { policy: 'v3' } }));
    expect(file.vocab).toBe(vocab);
    expect(file.metadata).toEqual({ policy: 'v3' });
    expectSameRecords(file.records, records);
    expect(readRolloutsSafetensors(writeRolloutsSafetensors([], { vocab: 5 }))).toEqual({
      records: [],
      vocab: 5,
      metadata: {},
    });
  });

  test('request ids keep their type: "7" stays a string, 7 a number', () => {
    const m = SamplingMask.fromLists([[1]], 10);
    const strings = writeRolloutsSafetensors([
      { id: '7', mask: m },
      { id: '8', mask: m },
    ]);
    expect(readRolloutsSafetensors(strings).records.map((r) => r.id)).toEqual(['7', '8']);
    expect(plainRead(strings).metadata['sampling_mask.request_ids']).toBe('["7","8"]');
    const numbers = writeRolloutsSafetensors([
      { id: 7, mask: m },
      { id: 2 ** 53 - 1, mask: m },
    ]);
    expect(readRolloutsSafetensors(numbers).records.map((r) => r.id)).toEqual([7, 2 ** 53 - 1]);
  });

  test('what safetensors cannot hold is refused, not dropped', () => {
    const m = SamplingMask.fromLists([[1]], 10);
    expect(thrown(() => writeRolloutsSafetensors([{ id: 'a', mask: m, columns: { reward: 1 } }]))).toMatchObject({
      argument: 'records[0].columns',
    });
    expect(thrown(() => writeRolloutsSafetensors([{ id: 'a', mask: m, outsideSteps: [0] }]))).toMatchObject({
      argument: 'records[0].outsideSteps',
    });
  });
});

describe('bad mask sets get a clear error, nothing half-read', () => {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- safetensors files hold no scalar columns: drop them
  const records: RolloutRecord[] = simulatedRollout(34, 500, true).map(({ columns, ...r }) => r);
  const bytes = writeRolloutsSafetensors(records);
  const codeOf = (input: Uint8Array) => outcome(() => readRolloutsSafetensors(input));

  test('cut anywhere: ERR_SM_TRUNCATED', () => {
    const seen = new Set<string>();
    for (let cut = 0; cut < bytes.length; cut += 1 + (cut % 41)) seen.add(codeOf(bytes.subarray(0, cut)));
    expect(seen).toEqual(new Set(['ERR_SM_TRUNCATED']));
  });

  test('a header length that lies, either way', () => {
    const lying = (delta: number) => {
      const copy = bytes.slice();
      const view = new DataView(copy.buffer);
      view.setBigUint64(0, view.getBigUint64(0, true) + BigInt(delta), true);
      return codeOf(copy);
    };
    expect(lying(8)).toBe('ERR_SM_CORRUPT_FILE');
    expect(lying(-8)).toBe('ERR_SM_CORRUPT_FILE');
    expect(lying(bytes.length)).toBe('ERR_SM_TRUNCATED');
  });

  test('random corruption: typed errors only', () => {
    expect(untyped(flippedOutcomes(bytes, readRolloutsSafetensors, 35, 300))).toEqual([]);
  });

  const set = (tensors: Record<string, Int32Array>, metadata: Record<string, string>) =>
    encodeSafetensors(
      Object.fromEntries(Object.entries(tensors).map(([k, v]) => [k, { dtype: 'I32' as const, shape: [v.length], data: v }])),
      metadata,
    );
  const meta = { 'sampling_mask.vocab': '10', 'sampling_mask.request_ids': '["a","b"]' };
  const offsets = Int32Array.of(0, 1, 3);
  const requestOffsets = Int32Array.of(0, 1, 2);

  test('an id >= vocab, rows out of order, offsets that do not add up', () => {
    expect(
      thrown(() => readRolloutsSafetensors(set({ offsets, indices: Int32Array.of(1, 2, 10), request_offsets: requestOffsets }, meta))),
    ).toMatchObject({ code: 'ERR_SM_INVALID_MASK', row: 1 });
    expect(
      thrown(() => readRolloutsSafetensors(set({ offsets, indices: Int32Array.of(1, 3, 2), request_offsets: requestOffsets }, meta))),
    ).toMatchObject({ code: 'ERR_SM_INVALID_MASK', row: 1 });
    expect(
      thrown(() =>
        readRolloutsSafetensors(
          set({ offsets: Int32Array.of(0, 1, 4), indices: Int32Array.of(1, 2, 3), request_offsets: requestOffsets }, meta),
        ),
      ).code,
    ).toBe('ERR_SM_INVALID_MASK');
    expect(
      thrown(() =>
        readRolloutsSafetensors(set({ offsets, indices: Int32Array.of(1, 2, 3), request_offsets: Int32Array.of(0, 2, 1) }, meta)),
      ).code,
    ).toBe('ERR_SM_INVALID_ROLLOUT');
    expect(
      thrown(() =>
        readRolloutsSafetensors(
          set({ offsets, indices: Int32Array.of(1, 2, 3), request_offsets: requestOffsets, tokens: Int32Array.of(1, 10) }, meta),
        ),
      ).code,
    ).toBe('ERR_SM_INVALID_ROLLOUT');
    expect(
      thrown(() =>
        readRolloutsSafetensors(
          set({ offsets, indices: Int32Array.of(1, 2, 3), request_offsets: requestOffsets }, { ...meta, 'sampling_mask.rows': '3' }),
        ),
      ).code,
    ).toBe('ERR_SM_INVALID_ROLLOUT');
    const disagreeing = encodeSafetensors(
      {
        offsets: { dtype: 'I32', shape: [3], data: offsets },
        indices: { dtype: 'I32', shape: [3], data: Int32Array.of(1, 2, 3) },
        ids: { dtype: 'I32', shape: [2, 2], data: Int32Array.of(1, -1, 2, 4) },
      },
      { 'sampling_mask.vocab': '10' },
    );
    expect(thrown(() => SamplingMask.fromSafetensors(disagreeing))).toMatchObject({
      code: 'ERR_SM_INVALID_ROLLOUT',
      argument: 'ids',
    });
  });

  test('request ids of the wrong type, tensors of the wrong dtype, a missing vocab', () => {
    const tensors = { offsets, indices: Int32Array.of(1, 2, 3), request_offsets: requestOffsets };
    for (const ids of ['[1.5, 2]', '[{"id":1}, "b"]', '[null, "b"]', '{"a":1}', 'not json']) {
      expect(thrown(() => readRolloutsSafetensors(set(tensors, { ...meta, 'sampling_mask.request_ids': ids }))).code).toBe(
        'ERR_SM_INVALID_ROLLOUT',
      );
    }
    expect(thrown(() => readRolloutsSafetensors(set(tensors, { ...meta, 'sampling_mask.request_ids': '["a"]' }))).code).toBe(
      'ERR_SM_INVALID_ROLLOUT',
    );
    const int64 = encodeSafetensors(
      {
        offsets: { dtype: 'I64', shape: [3], data: BigInt64Array.of(0n, 1n, 3n) },
        indices: { dtype: 'I32', shape: [3], data: Int32Array.of(1, 2, 3) },
      },
      meta,
    );
    expect(thrown(() => SamplingMask.fromSafetensors(int64)).message).toMatch(/dtype I64, expected I32/);
    expect(thrown(() => SamplingMask.fromSafetensors(set(tensors, { 'sampling_mask.request_ids': '[]' }))).code).toBe(
      'ERR_SM_INVALID_ROLLOUT',
    );
    expect(SamplingMask.fromSafetensors(set(tensors, {}), { vocab: 10 }).toLists()).toEqual([[1], [2, 3]]);
    expect(thrown(() => readRolloutsSafetensors(SamplingMask.fromLists([[1]], 10).toSafetensors())).message).toMatch(/fromSafetensors/);
  });

  test('a writer given a request id of the wrong type writes nothing', () => {
    const m = SamplingMask.fromLists([[1]], 10);
    expect(thrown(() => writeRolloutsSafetensors(mixedIdRecords(1)))).toMatchObject({
      code: 'ERR_SM_INVALID_ARG_TYPE',
      argument: 'records[1].id',
    });
    expect(thrown(() => writeRolloutsSafetensors([{ id: NaN, mask: m }]))).toMatchObject({
      code: 'ERR_SM_INVALID_ARG_TYPE',
      argument: 'records[0].id',
    });
  });
});
