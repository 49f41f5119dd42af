// Parquet rollouts, checked against DuckDB: its Parquet reader and writer are
// its own C++ implementation, independent of the Rust one (parquet-wasm)
// that writes and reads them here.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { SamplingMask, readRolloutsParquet, writeRolloutsParquet, type RolloutRecord } from '../lib';
import { rng } from './helpers';
import { expectSameRecords, flippedOutcomes, maskedRecords, mixedIdRecords, outcome, simulatedRollout, untyped } from './formats-fixtures';
import { thrown } from './helpers';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sm-parquet-'));
let connection: DuckDBConnection;

beforeAll(async () => {
  connection = await (await DuckDBInstance.create(':memory:')).connect();
});

async function query(sql: string): Promise<Record<string, unknown>[]> {
  return (await connection.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
}

function saved(name: string, bytes: Uint8Array): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  return file;
}

const records = simulatedRollout(11, 1000, true);

describe('Parquet round trips', () => {
  test.each(['zstd', 'snappy', 'none'] as const)('recorder output of continuous batching, V = 1000 and 262144 (%s)', (compression) => {
    for (const [seed, vocab] of [
      [12, 1000],
      [13, 262144],
      [14, 262144],
    ]) {
      const rollout = simulatedRollout(seed, vocab, seed % 2 === 0);
      const file = readRolloutsParquet(writeRolloutsParquet(rollout, { compression, metadata: { step: '3' } }));
      expect(file.vocab).toBe(vocab);
      expect(file.metadata).toEqual({ step: '3' });
      expectSameRecords(file.records, rollout);
    }
  });

  test('masks from mask(), V = 262144, and a file of no records', () => {
    const masked = maskedRecords(15, 262144, 4, 3);
    expectSameRecords(readRolloutsParquet(writeRolloutsParquet(masked)).records, masked);
    expect(readRolloutsParquet(writeRolloutsParquet([], { vocab: 9 }))).toEqual({
      records: [],
      vocab: 9,
      metadata: {},
    });
  });
});

describe('DuckDB reads what we write', () => {
  test('same rows, same lists, the declared types, zstd', async () => {
    const file = saved('rollout.parquet', writeRolloutsParquet(records));
    const rows = await query(`
      SELECT request_id, token_ids, prompt_ids, logprobs, reward, env, done,
             list_transform(sampling_mask, r -> len(r)) AS counts, flatten(sampling_mask) AS ids
      FROM read_parquet('${file}', file_row_number = true) ORDER BY file_row_number`);
    expect(rows.length).toBe(records.length);
    rows.forEach((row, i) => {
      const r = records[i];
      expect(Number(row.request_id)).toBe(r.id);
      expect(row.token_ids).toEqual(Array.from(r.tokens!));
      expect(row.prompt_ids).toEqual(Array.from(r.promptIds!));
      expect(row.logprobs).toEqual(Array.from(r.logprobs!, Math.fround));
      expect({ reward: row.reward, env: row.env, done: row.done }).toEqual(r.columns);
      expect((row.counts as bigint[]).map(Number)).toEqual(Array.from({ length: r.mask.rows }, (_, k) => r.mask.count(k)));
      expect(Buffer.from(Int32Array.from(row.ids as number[]).buffer).equals(Buffer.from(r.mask.indices.slice().buffer))).toBe(true);
    });
    const schema = await query(`SELECT name, type, converted_type FROM parquet_schema('${file}')`);
    // A Parquet LIST column: the column, its repeated group and the element.
    const list = (name: string, element: (string | null)[][]) => [[name, null, 'LIST'], ['list', null, null], ...element];
    const int32s = [['item', 'INT32', null]];
    expect(schema.map((s) => [s.name, s.type, s.converted_type])).toEqual([
      ['arrow_schema', null, null],
      ['request_id', 'INT64', null],
      ...list('prompt_ids', int32s),
      ...list('token_ids', int32s),
      ...list('logprobs', [['item', 'FLOAT', null]]),
      ...list('sampling_mask', list('item', int32s)),
      ['reward', 'DOUBLE', null],
      ['env', 'BYTE_ARRAY', 'UTF8'],
      ['done', 'BOOLEAN', null],
    ]);
    const codecs = await query(`SELECT DISTINCT compression FROM parquet_metadata('${file}')`);
    expect(codecs.map((c) => c.compression)).toEqual(['ZSTD']);
    const vocab = await query(`SELECT value::VARCHAR AS v FROM parquet_kv_metadata('${file}') WHERE key::VARCHAR = 'sampling_mask.vocab'`);
    expect(vocab).toEqual([{ v: '1000' }]);
  });

  test('rows keeping most of V = 262144 and empty rows, string ids', async () => {
    const rollout = simulatedRollout(16, 262144, false);
    const file = saved('wide.parquet', writeRolloutsParquet(rollout));
    const rows = await query(
      `SELECT request_id, list_transform(sampling_mask, r -> len(r)) AS counts FROM read_parquet('${file}', file_row_number = true) ORDER BY file_row_number`,
    );
    expect(rows.map((r) => r.request_id)).toEqual(rollout.map((r) => r.id));
    rows.forEach((row, i) =>
      expect((row.counts as bigint[]).map(Number)).toEqual(
        Array.from({ length: rollout[i].mask.rows }, (_, k) => rollout[i].mask.count(k)),
      ),
    );
    const sums = await query(
      `SELECT list_sum(flatten(sampling_mask))::BIGINT AS s, len(flatten(sampling_mask)) AS n FROM read_parquet('${file}', file_row_number = true) ORDER BY file_row_number`,
    );
    sums.forEach((row, i) => {
      expect(Number(row.n)).toBe(rollout[i].mask.indices.length);
      expect(Number(row.s ?? 0)).toBe(rollout[i].mask.indices.reduce((a, b) => a + b, 0));
    });
  });
});

describe('we read what DuckDB writes', () => {
  test('INTEGER[][] masks, VARCHAR ids: the same lists, given the vocab', async () => {
    const random = rng(17);
    const lists = Array.from({ length: 5 }, () =>
      Array.from({ length: Math.floor(random() * 4) }, () =>
        Array.from(new Set(Array.from({ length: 1 + Math.floor(random() * 6) }, () => Math.floor(random() * 100)))).sort((a, b) => a - b),
      ),
    );
    const file = path.join(dir, 'duck.parquet');
    const values = lists.map((rows, i) => `('r${i}', ${JSON.stringify(rows)}::INTEGER[][], ${i * 0.5}::DOUBLE)`).join(', ');
    await query(`COPY (SELECT * FROM (VALUES ${values}) t(request_id, sampling_mask, reward)) TO '${file}' (FORMAT parquet)`);
    const bytes = fs.readFileSync(file);
    expect(thrown(() => readRolloutsParquet(bytes)).code).toBe('ERR_SM_INVALID_ROLLOUT'); // no vocab in the file
    const read = readRolloutsParquet(bytes, { vocab: 100 });
    expect(read.records.map((r) => [r.id, r.mask.toLists(), r.columns])).toEqual(
      lists.map((rows, i) => [`r${i}`, rows, { reward: i * 0.5 }]),
    );
  });

  test('an id >= vocab and a request id of the wrong type are errors naming the request', async () => {
    const bad = path.join(dir, 'bad-id.parquet');
    await query(
      `COPY (SELECT * FROM (VALUES ('a', [[1, 2]]::INTEGER[][]), ('b', [[3], [4, 100]]::INTEGER[][])) t(request_id, sampling_mask)) TO '${bad}' (FORMAT parquet)`,
    );
    const e = thrown(() => readRolloutsParquet(fs.readFileSync(bad), { vocab: 100 }));
    expect(e).toMatchObject({ code: 'ERR_SM_INVALID_MASK', row: 1 });
    expect(e.message).toMatch(/request "b"/);
    const floats = path.join(dir, 'float-id.parquet');
    await query(`COPY (SELECT * FROM (VALUES (1.5, [[1]]::INTEGER[][])) t(request_id, sampling_mask)) TO '${floats}' (FORMAT parquet)`);
    expect(thrown(() => readRolloutsParquet(fs.readFileSync(floats), { vocab: 100 }))).toMatchObject({
      code: 'ERR_SM_INVALID_ROLLOUT',
      argument: 'request_id',
    });
    expect(thrown(() => writeRolloutsParquet(mixedIdRecords(2)))).toMatchObject({
      code: 'ERR_SM_INVALID_ARG_TYPE',
      argument: 'records[1].id',
    });
  });
});

describe('bad Parquet bytes get a clear error', () => {
  const bytes = writeRolloutsParquet(records.slice(0, 8));

  test('cut anywhere: ERR_SM_TRUNCATED (or ERR_SM_CORRUPT_FILE), never a partial read', () => {
    const seen = new Set<string>();
    for (let cut = 0; cut < bytes.length; cut += 1 + (cut % 53)) seen.add(outcome(() => readRolloutsParquet(bytes.subarray(0, cut))));
    expect(seen).toEqual(new Set(['ERR_SM_TRUNCATED']));
    expect(outcome(() => readRolloutsParquet(bytes.subarray(4)))).toBe('ERR_SM_CORRUPT_FILE');
  });

  test('a footer length that lies: beyond the file, or short of the footer', () => {
    const lying = (length: number) => {
      const copy = bytes.slice();
      new DataView(copy.buffer).setUint32(copy.length - 8, length, true);
      return thrown(() => readRolloutsParquet(copy));
    };
    const footer = new DataView(bytes.buffer, bytes.byteOffset).getUint32(bytes.length - 8, true);
    expect(lying(bytes.length)).toMatchObject({ code: 'ERR_SM_CORRUPT_FILE', argument: 'bytes' });
    expect(lying(0xffffffff).message).toMatch(/footer of 4294967295 bytes/);
    expect(lying(footer - 16).code).toBe('ERR_SM_CORRUPT_FILE');
    expect(lying(footer + 16).code).toBe('ERR_SM_CORRUPT_FILE');
  });

  test('random corruption: a typed error or an intact-looking file, never an untyped error; the reader stays usable', () => {
    expect(untyped(flippedOutcomes(bytes, readRolloutsParquet, 18, 150))).toEqual([]);
    expectSameRecords(readRolloutsParquet(bytes).records, records.slice(0, 8));
  });

  test('options are checked', () => {
    const m = SamplingMask.fromLists([[1]], 10);
    const records1: RolloutRecord[] = [{ id: 'a', mask: m }];
    expect(thrown(() => writeRolloutsParquet(records1, { compression: 'lz4' as 'zstd' }))).toMatchObject({
      argument: 'options.compression',
    });
    expect(thrown(() => readRolloutsParquet('PAR1' as unknown as Uint8Array))).toMatchObject({
      code: 'ERR_SM_INVALID_ARG_TYPE',
    });
  });
});
