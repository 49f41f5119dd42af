import * as A from 'apache-arrow';
import { SamplingMask, readRolloutsArrow, rolloutTable, rolloutsFromTable, writeRolloutsArrow, type RolloutRecord } from '../lib';
import { requireOptional } from '../lib/optional';
import { randomIds, rng } from './helpers';
import { expectSameRecords, flippedOutcomes, maskedRecords, outcome, simulatedRollout, untyped } from './formats-fixtures';
import { thrown } from './helpers';

const I32 = new A.Int32();
const listOf = (item: A.DataType) => new A.List(new A.Field('item', item, false));

// A List<Int32> vector built by hand, so the tests do not depend on toArrow.
function listVector(lists: number[][], item: A.DataType = I32): A.Vector {
  return A.vectorFromArray(lists, listOf(item));
}

// A rollout table built by hand from plain columns (other tools write these).
function handTable(columns: Record<string, A.Vector>, metadata: Record<string, string> = { 'sampling_mask.vocab': '10' }): A.Table {
  const table = new A.Table(columns);
  return new A.Table(new A.Schema(table.schema.fields, new Map(Object.entries(metadata))), table.batches);
}

function ipc(table: A.Table, format: 'file' | 'stream' = 'stream'): Uint8Array {
  return A.tableToIPC(table, format);
}

describe('SamplingMask <-> Arrow List<Int32>', () => {
  const mask = SamplingMask.fromLists([[1, 2, 3], [4], [], [0, 9]], 10);

  test('toArrow shares the mask buffers: same memory, a write to one is seen by the other', () => {
    const vector = mask.toArrow();
    const data = vector.data[0];
    expect(vector.length).toBe(4);
    expect(data.valueOffsets.buffer).toBe(mask.offsets.buffer);
    expect(data.valueOffsets.byteOffset).toBe(mask.offsets.byteOffset);
    expect(data.children[0].values.buffer).toBe(mask.indices.buffer);
    expect(data.children[0].values.byteOffset).toBe(mask.indices.byteOffset);
    const copy = SamplingMask.fromLists(mask.toLists(), 10);
    const v = copy.toArrow();
    copy.indices[0] = 7;
    expect(Array.from(v.get(0) as A.Vector)).toEqual([7, 2, 3]);
    expect(Array.from(vector, (row) => Array.from(row as unknown as Int32Array))).toEqual(mask.toLists());
    expect(String(vector.type)).toBe('List<Int32>');
  });

  test('fromArrow of an unsliced vector allocates no id array (nor offsets): views of the vector buffers', () => {
    const vector = listVector(mask.toLists());
    const data = vector.data[0];
    const back = SamplingMask.fromArrow(vector, 10);
    expect(back.toLists()).toEqual(mask.toLists());
    expect(back.indices.buffer).toBe(data.children[0].values.buffer);
    expect(back.indices.byteOffset).toBe(data.children[0].values.byteOffset);
    expect(back.offsets.buffer).toBe(data.valueOffsets.buffer);
  });

  test('fromArrow over an IPC file read back: the mask ids are a view of the file bytes', () => {
    const bytes = ipc(new A.Table({ m: listVector(mask.toLists()) }));
    const column = A.tableFromIPC(bytes).getChild('m') as A.Vector;
    const back = SamplingMask.fromArrow(column as never, 10);
    expect(back.toLists()).toEqual(mask.toLists());
    expect(back.indices.buffer).toBe(bytes.buffer);
  });

  test('a slice keeps its ids a view; only the offsets are rebased', () => {
    const vector = listVector(mask.toLists()).slice(1, 4);
    const back = SamplingMask.fromArrow(vector as never, 10);
    expect(back.toLists()).toEqual(mask.toLists().slice(1));
    expect(back.indices.buffer).toBe(vector.data[0].children[0].values.buffer);
  });

  test('several chunks are joined', () => {
    const chunked = new A.Vector([listVector([[1], [2, 3]]).data[0], listVector([[], [4]]).data[0]]);
    expect(SamplingMask.fromArrow(chunked as never, 10).toLists()).toEqual([[1], [2, 3], [], [4]]);
  });

  test('fromArrow checks like any mask: order, range, nulls, types', () => {
    const from = (vector: A.Vector, vocab = 10) => thrown(() => SamplingMask.fromArrow(vector as never, vocab));
    expect(from(listVector([[1], [3, 2]]))).toMatchObject({ code: 'ERR_SM_INVALID_MASK', row: 1 });
    expect(from(listVector([[1], [3, 10]]))).toMatchObject({ code: 'ERR_SM_INVALID_MASK', row: 1 });
    expect(from(listVector([[1], [-1]]))).toMatchObject({ code: 'ERR_SM_INVALID_MASK', row: 1 });
    expect(from(A.vectorFromArray([[1], null], new A.List(new A.Field('item', I32, true))))).toMatchObject({
      code: 'ERR_SM_INVALID_ROLLOUT',
    });
    expect(from(A.vectorFromArray([[1n]], listOf(new A.Int64())))).toMatchObject({ code: 'ERR_SM_INVALID_ROLLOUT' });
    expect(from(A.vectorFromArray([1, 2], I32))).toMatchObject({ code: 'ERR_SM_INVALID_ROLLOUT' });
    expect(from(listVector([[1]]), 0)).toMatchObject({ code: 'ERR_SM_OUT_OF_RANGE', argument: 'vocab' });
    expect(thrown(() => SamplingMask.fromArrow({} as never, 10))).toMatchObject({
      code: 'ERR_SM_INVALID_ARG_TYPE',
      argument: 'vector',
    });
  });

  test('a missing optional package is an error naming what to install', () => {
    const e = thrown(() => requireOptional('sampling-mask-no-such-package', 'Something'));
    expect(e.code).toBe('ERR_SM_MISSING_DEPENDENCY');
    expect(e.message).toMatch(/npm install sampling-mask-no-such-package/);
  });
});

describe('rollout tables: Arrow IPC file and stream', () => {
  const roundTrip = (records: RolloutRecord[], format: 'file' | 'stream', vocab?: number) => {
    const bytes = writeRolloutsArrow(records, { format, vocab, metadata: { run: 'r7' } });
    const file = readRolloutsArrow(bytes);
    expect(file.metadata).toEqual({ run: 'r7' });
    expectSameRecords(file.records, records);
    return { bytes, file };
  };

  test.each(['file', 'stream'] as const)('recorder output of continuous batching, V = 1000 and 262144 (%s)', (format) => {
    for (const [seed, vocab] of [
      [1, 1000],
      [2, 1000],
      [3, 262144],
      [4, 262144],
    ]) {
      const records = simulatedRollout(seed, vocab, seed % 2 === 0);
      const counts = records.flatMap((r) => Array.from({ length: r.mask.rows }, (_, i) => r.mask.count(i)));
      expect(counts.some((n) => n === 0)).toBe(seed % 2 === 1); // empty rows where there are no tokens
      expect(counts.some((n) => n > vocab - 30)).toBe(true); // rows keeping most of V
      const { file } = roundTrip(records, format);
      expect(file.vocab).toBe(vocab);
    }
  });

  test.each(['file', 'stream'] as const)('masks from mask(), V = 262144 (%s)', (format) => {
    const records = maskedRecords(5, 262144, 4, 3);
    expect(records[1].mask.count(0)).toBeGreaterThan(262144 / 2);
    roundTrip(records, format);
  });

  test('a single request table shares the mask buffers; read masks are views of the bytes', () => {
    const record = maskedRecords(6, 5000, 1, 4)[0];
    const table = rolloutTable([record]);
    const data = table.getChild('sampling_mask')!.data[0].children[0];
    expect(data.children[0].values.buffer).toBe(record.mask.indices.buffer);
    const bytes = writeRolloutsArrow([record]);
    expect(readRolloutsArrow(bytes).records[0].mask.indices.buffer).toBe(bytes.buffer);
    expect(rolloutsFromTable(table).records[0].mask.indices.buffer).toBe(record.mask.indices.buffer);
  });

  test('no records, ids as int64 or utf8, scalar columns with nulls, the schema', () => {
    const empty = readRolloutsArrow(writeRolloutsArrow([], { vocab: 77 }));
    expect(empty).toEqual({ records: [], vocab: 77, metadata: {} });
    const m = SamplingMask.fromLists([[1, 2], [3]], 10);
    const records: RolloutRecord[] = [
      { id: 2 ** 40, mask: m, columns: { reward: 1.5, tag: 'a', big: 5n } },
      { id: 0, mask: m.slice(1), columns: { reward: null, tag: null, big: null } },
    ];
    const table = rolloutTable(records);
    expect(table.schema.fields.map((f) => `${f.name}: ${String(f.type)}`)).toEqual([
      'request_id: Int64',
      'sampling_mask: List<List<Int32>>',
      'reward: Float64',
      'tag: Utf8',
      'big: Int64',
    ]);
    expectSameRecords(readRolloutsArrow(ipc(table)).records, records);
  });

  test('tables from other tools: several batches, no vocab in the metadata (then { vocab }), extra columns', () => {
    const random = rng(7);
    const lists = Array.from({ length: 6 }, () =>
      Array.from({ length: 1 + Math.floor(random() * 4) }, () => randomIds(random, 50, 1 + Math.floor(random() * 5))),
    );
    const batches = [0, 3].map((at) => {
      const t = new A.Table({
        request_id: A.vectorFromArray(['a', 'b', 'c', 'd', 'e', 'f'].slice(at, at + 3), new A.Utf8()),
        sampling_mask: A.vectorFromArray(lists.slice(at, at + 3), listOf(listOf(I32))),
        score: A.vectorFromArray(
          [1, 2, 3].map((x) => x + at),
          new A.Int32(),
        ),
      });
      return t.batches[0];
    });
    const table = new A.Table(batches);
    expect(thrown(() => readRolloutsArrow(ipc(table))).code).toBe('ERR_SM_INVALID_ROLLOUT');
    const file = readRolloutsArrow(ipc(table), { vocab: 50 });
    expect(file.records.map((r) => [r.id, r.mask.toLists(), r.columns])).toEqual(
      lists.map((rows, i) => ['abcdef'[i], rows, { score: i + 1 }]),
    );
    expect(thrown(() => readRolloutsArrow(writeRolloutsArrow([], { vocab: 5 }), { vocab: 6 })).code).toBe('ERR_SM_INVALID_ROLLOUT');
  });
});

describe('rollout tables: bad input gets a clear error, never a partial result', () => {
  const records = simulatedRollout(8, 300, true);
  const codes = (bytes: Uint8Array) => outcome(() => readRolloutsArrow(bytes));

  test.each(['file', 'stream'] as const)('a %s cut anywhere is ERR_SM_TRUNCATED or ERR_SM_CORRUPT_FILE', (format) => {
    const bytes = writeRolloutsArrow(records, { format });
    const seen = new Set<string>();
    for (let cut = 0; cut < bytes.length; cut += 1 + (cut % 37)) seen.add(codes(bytes.subarray(0, cut)));
    expect([...seen].filter((c) => c !== 'ERR_SM_TRUNCATED' && c !== 'ERR_SM_CORRUPT_FILE')).toEqual([]);
    expect(seen.has('ERR_SM_TRUNCATED')).toBe(true);
  });

  test('headers that lie about sizes: message and body lengths, buffer lengths', () => {
    const bytes = writeRolloutsArrow(records.slice(0, 4));
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    // The stream's first message: 0xFFFFFFFF, i32 metadata length, then the schema.
    const lying = (edit: (b: Uint8Array, v: DataView) => void) => {
      const copy = bytes.slice();
      edit(copy, new DataView(copy.buffer));
      return codes(copy);
    };
    expect(view.getUint32(0, true)).toBe(0xffffffff);
    expect(lying((_, v) => v.setInt32(4, v.getInt32(4, true) + 4096, true))).toMatch(/^ERR_SM_(CORRUPT_FILE|TRUNCATED)$/);
    expect(lying((_, v) => v.setInt32(4, 0x7ffffff0, true))).toMatch(/^ERR_SM_(CORRUPT_FILE|TRUNCATED)$/);
    // Every 8-byte-aligned little-endian integer in the bytes, one at a time, made huge: a
    // length somewhere in the metadata or a buffer descriptor now lies.
    const outcomes = new Set<string>();
    for (let at = 0; at + 8 <= bytes.length; at += 8) {
      const value = view.getInt32(at, true);
      if (value <= 0 || value > bytes.length) continue;
      outcomes.add(lying((_, v) => v.setInt32(at, value * 64 + 8, true)));
    }
    expect(untyped(outcomes)).toEqual([]);
  });

  test('random corruption never escapes as an untyped error', () => {
    expect(untyped(flippedOutcomes(writeRolloutsArrow(records.slice(0, 6)), readRolloutsArrow, 9, 300))).toEqual([]);
  });

  test('an id >= vocab, unsorted rows, nulls, bad columns: errors naming the request', () => {
    const masks = (lists: number[][][]) => A.vectorFromArray(lists, listOf(listOf(I32)));
    const ids = A.vectorFromArray(['x', 'y'], new A.Utf8());
    const read = (table: A.Table) => thrown(() => readRolloutsArrow(ipc(table)));
    const e = read(handTable({ request_id: ids, sampling_mask: masks([[[1]], [[2], [3, 10]]]) }));
    expect(e).toMatchObject({ code: 'ERR_SM_INVALID_MASK', row: 1 });
    expect(e.message).toMatch(/request "y"/);
    expect(read(handTable({ request_id: ids, sampling_mask: masks([[[2, 1]], []]) }))).toMatchObject({
      code: 'ERR_SM_INVALID_MASK',
      row: 0,
    });
    const tokens = (lists: number[][]) => A.vectorFromArray(lists, listOf(I32));
    expect(read(handTable({ request_id: ids, sampling_mask: masks([[[1]], [[2]]]), token_ids: tokens([[1], [12]]) })).code).toBe(
      'ERR_SM_INVALID_ROLLOUT',
    );
    expect(read(handTable({ request_id: ids, sampling_mask: masks([[[1]], [[2]]]), token_ids: tokens([[1], [2, 3]]) })).code).toBe(
      'ERR_SM_INVALID_ROLLOUT',
    );
    expect(
      read(
        handTable({
          request_id: ids,
          sampling_mask: masks([[[1]], [[2]]]),
          extra: A.vectorFromArray([[1.5], [2]], listOf(new A.Float64())),
        }),
      ).code,
    ).toBe('ERR_SM_INVALID_ROLLOUT');
    expect(read(handTable({ request_id: ids })).code).toBe('ERR_SM_INVALID_ROLLOUT');
    expect(read(handTable({ request_id: ids, sampling_mask: masks([[[1]], [[2]]]) }, { 'sampling_mask.vocab': 'ten' })).code).toBe(
      'ERR_SM_INVALID_ROLLOUT',
    );
  });

  test('a request id of the wrong type: in the file, and when writing', () => {
    const masks = A.vectorFromArray([[[1]], [[2]]], listOf(listOf(I32)));
    for (const ids of [
      A.vectorFromArray([1.5, 2], new A.Float64()),
      A.vectorFromArray(['a', null], new A.Utf8()),
      A.vectorFromArray([2n ** 60n, 1n], new A.Int64()),
    ]) {
      const e = thrown(() => readRolloutsArrow(ipc(handTable({ request_id: ids, sampling_mask: masks }))));
      expect(e.code).toBe('ERR_SM_INVALID_ROLLOUT');
      expect(e.argument).toBe('request_id');
    }
    const m = SamplingMask.fromLists([[1]], 10);
    expect(
      thrown(() =>
        writeRolloutsArrow([
          { id: 1, mask: m },
          { id: '2', mask: m },
        ]),
      ),
    ).toMatchObject({ code: 'ERR_SM_INVALID_ARG_TYPE', argument: 'records[1].id' });
    expect(thrown(() => writeRolloutsArrow([{ id: 1.5, mask: m }]))).toMatchObject({
      code: 'ERR_SM_INVALID_ARG_TYPE',
      argument: 'records[0].id',
    });
    expect(thrown(() => writeRolloutsArrow([{ id: {} as never, mask: m }]))).toMatchObject({
      code: 'ERR_SM_INVALID_ARG_TYPE',
    });
  });

  test('the writer checks every record before producing a byte', () => {
    const m = SamplingMask.fromLists([[1], [2, 3]], 10);
    const write = (records: RolloutRecord[]) => thrown(() => writeRolloutsArrow(records));
    expect(write([{ id: 'a', mask: m, tokens: Int32Array.of(1, 10) }])).toMatchObject({
      code: 'ERR_SM_OUT_OF_RANGE',
      argument: 'records[0].tokens',
    });
    expect(write([{ id: 'a', mask: m, tokens: Int32Array.of(1) }])).toMatchObject({ argument: 'records[0].tokens' });
    expect(
      write([
        { id: 'a', mask: m, tokens: Int32Array.of(1, 2) },
        { id: 'b', mask: m },
      ]),
    ).toMatchObject({ argument: 'records[1].tokens' });
    expect(
      write([
        { id: 'a', mask: m },
        { id: 'b', mask: SamplingMask.fromLists([[1]], 11) },
      ]),
    ).toMatchObject({ argument: 'records[1].mask' });
    expect(write([{ id: 'a', mask: m, promptIds: [10] }])).toMatchObject({ argument: 'records[0].promptIds' });
    expect(write([{ id: 'a', mask: m, columns: { token_ids: 1 } }])).toMatchObject({
      argument: 'records[0].columns.token_ids',
    });
    expect(
      write([
        { id: 'a', mask: m, columns: { x: 1 } },
        { id: 'b', mask: m, columns: { x: 'one' } },
      ]),
    ).toMatchObject({ code: 'ERR_SM_INVALID_ARG_TYPE', argument: 'records[1].columns.x' });
    expect(write([{ id: 'a', mask: m, columns: { x: {} as never } }])).toMatchObject({
      code: 'ERR_SM_INVALID_ARG_TYPE',
    });
    expect(write([{ id: 'a', mask: m, outsideSteps: [2] }])).toMatchObject({ argument: 'records[0].outsideSteps' });
    expect(write([{ id: 'a', mask: {} as SamplingMask }])).toMatchObject({
      code: 'ERR_SM_INVALID_ARG_TYPE',
      argument: 'records[0].mask',
    });
    expect(thrown(() => writeRolloutsArrow([]))).toMatchObject({ argument: 'options.vocab' });
    expect(thrown(() => writeRolloutsArrow([{ id: 'a', mask: m }], { metadata: { 'sampling_mask.vocab': '3' } }))).toMatchObject({
      code: 'ERR_SM_OUT_OF_RANGE',
    });
    expect(thrown(() => writeRolloutsArrow([{ id: 'a', mask: m }], { format: 'feather' as 'file' }))).toMatchObject({
      argument: 'options.format',
    });
  });
});
