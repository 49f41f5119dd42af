'use strict';
// Handing masks to the trainer: a rollout of 8192 requests x 256 generated
// tokens with the measured real-world mask sizes (mean ~8 ids, 45% of rows
// keeping one id, p99 ~80), written and read as Arrow IPC and Parquet,
// against JSON of the same data (what a server response or a hand-rolled
// file would hold) measured in the same run; bytes per id against the
// package's own serialize() records. MB/s are of the raw CSR data (4 bytes
// per id, per mask row and per request).
//
// SAMPLING_MASK_BENCH_REQUESTS scales the rollout down (e.g. 1024) on slow
// machines; the default is the full 8192.
const { rng } = require('../shared');
const sm = require('../..');

const V = 151936;
const STEPS = 256;

// Row sizes: 45% keep 1 id; the rest 2 + a log-normal tail (median ~6,
// capped at 2048), which puts the mean near 8 and p99 near 80.
function rowCount(random) {
  if (random() < 0.45) return 1;
  const normal = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return Math.min(2048, 2 + Math.floor(Math.exp(1.62 + 1.345 * normal)));
}

// One request: each row's ids spread over the vocabulary (one uniform id per
// equal stratum: distinct and ascending without sorting), the token its first id.
function request(random, id) {
  const offsets = new Int32Array(STEPS + 1);
  for (let r = 0; r < STEPS; r++) offsets[r + 1] = offsets[r] + rowCount(random);
  const indices = new Int32Array(offsets[STEPS]);
  for (let r = 0; r < STEPS; r++) {
    const count = offsets[r + 1] - offsets[r];
    const stratum = V / count;
    for (let j = 0; j < count; j++) indices[offsets[r] + j] = Math.floor((j + random()) * stratum);
  }
  const mask = new sm.SamplingMask(offsets, indices, V);
  return { id, mask, tokens: Int32Array.from({ length: STEPS }, (_, r) => indices[offsets[r]]) };
}

function toJson(records) {
  return JSON.stringify(records.map((r) => ({ request_id: r.id, token_ids: Array.from(r.tokens), sampling_mask: r.mask.toLists() })));
}

function fromJson(text) {
  return JSON.parse(text).map((r) => ({
    id: r.request_id,
    mask: sm.SamplingMask.fromLists(r.sampling_mask, V),
    tokens: Int32Array.from(r.token_ids),
  }));
}

function same(a, b) {
  const bytes = (x) => Buffer.from(x.buffer, x.byteOffset, x.byteLength);
  return (
    a.length === b.length &&
    a.every(
      (r, i) =>
        r.id === b[i].id &&
        bytes(r.mask.offsets).equals(bytes(b[i].mask.offsets)) &&
        bytes(r.mask.indices).equals(bytes(b[i].mask.indices)) &&
        bytes(r.tokens).equals(bytes(b[i].tokens)),
    )
  );
}

// hyparquet-writer / hyparquet, the pure-JavaScript alternative to
// parquet-wasm, on the same records (ESM-only: needs require(esm), Node 20.19+).
function hyparquetCase(records) {
  let writer;
  let reader;
  try {
    writer = require('hyparquet-writer');
    reader = require('hyparquet');
  } catch {
    return null;
  }
  const list = (name, item) => [
    { name, repetition_type: 'REQUIRED', converted_type: 'LIST', num_children: 1 },
    { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
    item,
  ];
  const schema = [
    { name: 'root', num_children: 3 },
    { name: 'request_id', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
    ...list('token_ids', { name: 'item', type: 'INT32', repetition_type: 'REQUIRED' }),
    ...list('sampling_mask', { name: 'item', repetition_type: 'REQUIRED', converted_type: 'LIST', num_children: 1 }),
    { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
    { name: 'item', type: 'INT32', repetition_type: 'REQUIRED' },
  ];
  let bytes;
  let back;
  const t0 = process.hrtime.bigint();
  bytes = writer.parquetWriteBuffer({
    columnData: [
      { name: 'request_id', data: records.map((r) => r.id) },
      { name: 'token_ids', data: records.map((r) => Array.from(r.tokens)) },
      { name: 'sampling_mask', data: records.map((r) => r.mask.toLists()) },
    ],
    schema,
    rowGroupSize: 100000,
  });
  const t1 = process.hrtime.bigint();
  const rows = reader.parquetReadObjects({ file: bytes });
  return rows.then((objects) => {
    back = objects.map((o) => ({
      id: o.request_id,
      mask: sm.SamplingMask.fromLists(o.sampling_mask, V),
      tokens: Int32Array.from(o.token_ids),
    }));
    const t2 = process.hrtime.bigint();
    return {
      writeMs: Number(t1 - t0) / 1e6,
      readMs: Number(t2 - t1) / 1e6,
      bytes: bytes.byteLength,
      same: same(back, records),
    };
  });
}

const row = (measure, ours, baseline, ratio, target, met) => ({
  measure,
  ours,
  baseline,
  ratio,
  target,
  met: met === undefined ? '' : met ? 'yes' : 'NO',
});

module.exports = {
  name: 'formats',
  async run({ timeIt }) {
    const requests = Number(process.env.SAMPLING_MASK_BENCH_REQUESTS ?? 8192);
    const random = rng(12);
    const records = Array.from({ length: requests }, (_, i) => request(random, `req-${i}`));
    const ids = records.reduce((n, r) => n + r.mask.indices.length, 0);
    const rows = requests * STEPS;
    const single = records.reduce((n, r) => n + Array.from({ length: STEPS }, (_, k) => r.mask.count(k)).filter((c) => c === 1).length, 0);
    const mb = (4 * (ids + rows + requests)) / 1e6;
    const rate = (ms) => mb / (ms / 1e3);
    const out = [
      row(
        `rollout: ${requests} requests x ${STEPS} tokens, V=${V}: ids per row (mean), rows keeping 1 id`,
        ids / rows,
        single / rows,
        0,
        '~8, 45%',
      ),
    ];

    const jsonStart = process.hrtime.bigint();
    const json = toJson(records);
    const jsonWriteMs = Number(process.hrtime.bigint() - jsonStart) / 1e6;
    const parseStart = process.hrtime.bigint();
    if (!same(fromJson(json), records)) throw new Error('formats: JSON round trip differs');
    const jsonReadMs = Number(process.hrtime.bigint() - parseStart) / 1e6;
    out.push(row('JSON (toLists + stringify / parse + fromLists): write, read MB/s', rate(jsonWriteMs), rate(jsonReadMs), 0, '(baseline)'));

    const cases = [
      ['Arrow IPC stream', () => sm.writeRolloutsArrow(records), sm.readRolloutsArrow],
      ['Arrow IPC file', () => sm.writeRolloutsArrow(records, { format: 'file' }), sm.readRolloutsArrow],
      ['Parquet zstd (parquet-wasm)', () => sm.writeRolloutsParquet(records), sm.readRolloutsParquet],
      ['Parquet snappy (parquet-wasm)', () => sm.writeRolloutsParquet(records, { compression: 'snappy' }), sm.readRolloutsParquet],
    ];
    const sizes = { JSON: json.length };
    for (const [name, write, read] of cases) {
      let bytes;
      const writeMs = await timeIt(
        () => {
          bytes = write();
        },
        { repeats: 3, warmup: 1 },
      );
      const readMs = await timeIt(() => read(bytes), { repeats: 3, warmup: 1 });
      if (!same(read(bytes).records, records)) throw new Error(`formats: ${name} round trip differs`);
      sizes[name] = bytes.length;
      out.push(
        row(
          `${name}: write MB/s, vs JSON`,
          rate(writeMs),
          rate(jsonWriteMs),
          jsonWriteMs / writeMs,
          'faster than JSON',
          writeMs < jsonWriteMs,
        ),
      );
      out.push(
        row(
          `${name}: read MB/s (every mask checked), vs JSON`,
          rate(readMs),
          rate(jsonReadMs),
          jsonReadMs / readMs,
          'faster than JSON',
          readMs < jsonReadMs,
        ),
      );
    }

    let serialized = 0;
    for (const r of records) serialized += sm.encodeRecord(r).length;
    const perId = (bytes) => bytes / ids;
    out.push(row('bytes per id: serialize() records (SMRS), the reference', perId(serialized), 4, 0, '(information)'));
    for (const [name, bytes] of Object.entries(sizes)) {
      out.push(row(`bytes per id: ${name}, vs serialize() records`, perId(bytes), perId(serialized), bytes / serialized, '(information)'));
    }

    // The Parquet library choice: hyparquet on an eighth of the rollout (it
    // would take minutes on all of it), against parquet-wasm on the same.
    const part = records.slice(0, Math.max(1, requests >> 3));
    const hyparquet = await hyparquetCase(part);
    if (hyparquet === null) {
      out.push(row('hyparquet-writer / hyparquet not installed (devDependencies): comparison skipped', 0, 0, 0, '(information)'));
    } else {
      let bytes;
      const wasmWriteMs = await timeIt(
        () => {
          bytes = sm.writeRolloutsParquet(part, { compression: 'snappy' });
        },
        { repeats: 3, warmup: 1 },
      );
      const wasmReadMs = await timeIt(() => sm.readRolloutsParquet(bytes), { repeats: 3, warmup: 1 });
      const partMb = (4 * part.reduce((n, r) => n + r.mask.indices.length + STEPS + 1, 0)) / 1e6;
      out.push(
        row(
          `${part.length} requests, snappy: hyparquet-writer write MB/s, vs parquet-wasm`,
          partMb / (hyparquet.writeMs / 1e3),
          partMb / (wasmWriteMs / 1e3),
          hyparquet.writeMs / wasmWriteMs,
          '(why parquet-wasm)',
        ),
      );
      out.push(
        row(
          `${part.length} requests: hyparquet read MB/s (+ fromLists), vs parquet-wasm`,
          partMb / (hyparquet.readMs / 1e3),
          partMb / (wasmReadMs / 1e3),
          hyparquet.readMs / wasmReadMs,
          '(why parquet-wasm)',
          hyparquet.same,
        ),
      );
      out.push(
        row(
          `${part.length} requests: hyparquet-writer bytes, vs parquet-wasm snappy`,
          hyparquet.bytes,
          bytes.length,
          hyparquet.bytes / bytes.length,
          '(information)',
        ),
      );
    }
    return out;
  },
};
