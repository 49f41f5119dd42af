import { execFileSync } from 'child_process';
import * as path from 'path';
import { SamplingMask, crc32c, deserialize, serialize } from '../lib';
import { referenceBytes, referenceCrc32c, referenceRow, referenceSerialize, varint } from './carry-reference';
import { expectError, randomIds, rng } from './helpers';

const V = 151936;

/** Expects a TypeError or RangeError carrying this code. */
function expectCode(fn: () => unknown, code: string): void {
  expectError(fn, { name: expect.stringMatching(/^(TypeError|RangeError)$/), code });
}

function randomLists(seed: number, rows: number, vocab: number): number[][] {
  const random = rng(seed);
  return Array.from({ length: rows }, () => {
    const kind = random();
    // empty, a few ids, around the varint/bitmap crossover, dense, all
    const count =
      kind < 0.1
        ? 0
        : kind < 0.5
          ? 1 + Math.floor(random() * 60)
          : kind < 0.7
            ? Math.floor(vocab / 8 / 2 + (random() * vocab) / 8)
            : kind < 0.9
              ? Math.floor(random() * vocab)
              : vocab;
    return randomIds(random, vocab, count);
  });
}

describe('crc32c', () => {
  test('matches the standard check value and a bitwise reference', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    const random = rng(1);
    for (const n of [0, 1, 7, 8, 9, 63, 64, 65, 1000]) {
      const bytes = Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
      expect(crc32c(bytes)).toBe(referenceCrc32c(bytes));
      // continuing from a seed equals one pass over the concatenation
      expect(crc32c(bytes.subarray(n >> 1), crc32c(bytes.subarray(0, n >> 1)))).toBe(referenceCrc32c(bytes));
    }
  });

  test('the portable table gives the same values as the hardware path', () => {
    const script = `
      const addon = require('node-gyp-build')(${JSON.stringify(path.join(__dirname, '..'))});
      const bytes = Uint8Array.from({ length: 1001 }, (_, i) => (i * 131 + 7) & 255);
      console.log(JSON.stringify([addon.crc32cImpl(), addon.crc32c({ bytes }), addon.crc32c({ bytes: bytes.subarray(3), seed: 12345 })]));`;
    const run = (env: NodeJS.ProcessEnv) =>
      JSON.parse(
        execFileSync(process.execPath, ['-e', script], { cwd: path.join(__dirname, '..'), env: { ...process.env, ...env } }).toString(),
      );
    const table = run({ SAMPLING_MASK_CRC32C: 'table' });
    const chosen = run({});
    expect(table[0]).toBe('table');
    expect(table.slice(1)).toEqual(chosen.slice(1));
    const bytes = Uint8Array.from({ length: 1001 }, (_, i) => (i * 131 + 7) & 255);
    expect(table[1]).toBe(referenceCrc32c(bytes));
    expect(table[2]).toBe(referenceCrc32c(bytes.subarray(3), 12345));
  });
});

describe('serialize / deserialize', () => {
  test('writes exactly the documented format and round-trips, over many shapes', () => {
    for (const [seed, rows, vocab] of [
      [1, 0, 5],
      [2, 1, 1],
      [3, 7, 8],
      [4, 9, 9],
      [5, 20, 17],
      [6, 40, 1000],
      [7, 12, 32000],
      [8, 3, V],
    ]) {
      const lists = randomLists(seed, rows, vocab);
      const mask = SamplingMask.fromLists(lists, vocab);
      const bytes = serialize(mask);
      expect(Buffer.from(bytes).equals(Buffer.from(referenceSerialize(lists, vocab)))).toBe(true);
      const back = deserialize(bytes);
      expect(back.vocab).toBe(vocab);
      expect(back.offsets).toEqual(mask.offsets);
      expect(back.indices).toEqual(mask.indices);
    }
  });

  test('the largest vocabulary and the largest ids', () => {
    const vocab = 1 << 23;
    const lists = [[0, vocab - 1], [vocab - 1], [], [1, 2, 3, vocab - 2]];
    const mask = SamplingMask.fromLists(lists, vocab);
    expect(deserialize(serialize(mask)).toLists()).toEqual(lists);
  });

  test('picks the smaller form per row: sparse rows ~2 bytes per id, dense rows V/8 bytes', () => {
    const random = rng(9);
    const sparse = SamplingMask.fromLists(
      Array.from({ length: 64 }, () => randomIds(random, V, 50)),
      V,
    );
    expect(serialize(sparse).length / sparse.indices.length).toBeLessThanOrEqual(2.2);
    const dense = SamplingMask.fromLists([randomIds(random, V, Math.floor(0.6 * V))], V);
    // one row: the bitmap, a 3-byte row header, the 32-byte header and the checksum
    expect(serialize(dense).length).toBe(Math.ceil(V / 8) + 3 + 32 + 4);
  });

  test('accepts bytes at an offset and over a SharedArrayBuffer', () => {
    const lists = randomLists(10, 30, 500);
    const bytes = serialize(SamplingMask.fromLists(lists, 500));
    const pooled = Buffer.alloc(bytes.length + 13);
    pooled.set(bytes, 13);
    expect(deserialize(pooled.subarray(13)).toLists()).toEqual(lists);
    const shared = new Uint8Array(new SharedArrayBuffer(bytes.length));
    shared.set(bytes);
    expect(deserialize(shared).toLists()).toEqual(lists);
    // and a mask whose arrays live in a SharedArrayBuffer
    const mask = SamplingMask.fromLists(lists, 500);
    const sharedOffsets = new Int32Array(new SharedArrayBuffer(mask.offsets.byteLength));
    const sharedIndices = new Int32Array(new SharedArrayBuffer(mask.indices.byteLength));
    sharedOffsets.set(mask.offsets);
    sharedIndices.set(mask.indices);
    expect(Buffer.from(serialize(new SamplingMask(sharedOffsets, sharedIndices, 500))).equals(Buffer.from(bytes))).toBe(true);
  });

  test('refuses a mask whose arrays were changed after construction', () => {
    const mask = SamplingMask.fromLists([[1, 2], [3]], 10);
    (mask.indices as Int32Array)[1] = 1;
    expectCode(() => serialize(mask), 'ERR_SM_INVALID_MASK');
    (mask.indices as Int32Array)[1] = 10;
    expectCode(() => serialize(mask), 'ERR_SM_INVALID_MASK');
    (mask.indices as Int32Array)[1] = 2;
    (mask.offsets as Int32Array)[1] = 4;
    expectCode(() => serialize(mask), 'ERR_SM_INVALID_MASK');
    expectCode(() => serialize({} as SamplingMask), 'ERR_SM_INVALID_ARG_TYPE');
  });
});

describe('deserialize rejects bad bytes', () => {
  const lists = [
    [3, 9, 200],
    [],
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33],
    [255],
  ];
  const vocab = 256;
  const good = serialize(SamplingMask.fromLists(lists, vocab));

  test('the sample has both row forms', () => {
    expect(referenceRow(lists[2], vocab)[0] & 1).toBe(1);
    expect(referenceRow(lists[0], vocab)[0] & 1).toBe(0);
  });

  test('truncation at every byte offset', () => {
    for (let n = 0; n < good.length; n++) {
      expectCode(() => deserialize(good.slice(0, n)), 'ERR_SM_TRUNCATED');
    }
  });

  test('every single-bit flip is caught, never a wrong mask', () => {
    for (let bit = 0; bit < good.length * 8; bit++) {
      const bad = good.slice();
      bad[bit >> 3] ^= 1 << (bit & 7);
      const byte = bit >> 3;
      // the field hit decides the error; everything else is caught by the checksum
      const code =
        byte < 4
          ? 'ERR_SM_BAD_MAGIC'
          : byte < 8
            ? 'ERR_SM_UNSUPPORTED_VERSION'
            : byte >= 24 && byte < 32
              ? /ERR_SM_(TRUNCATED|CORRUPT_MASK)/
              : 'ERR_SM_CHECKSUM';
      let error: { code?: string; message?: string } = {};
      try {
        deserialize(bad);
      } catch (e) {
        error = e as typeof error;
      }
      expect(error.message).toMatch(/^bytes: /);
      expect(error.code).toMatch(code);
    }
  });

  test('random multi-byte damage is caught', () => {
    const random = rng(11);
    for (let trial = 0; trial < 2000; trial++) {
      const bad = good.slice();
      const flips = 1 + Math.floor(random() * 8);
      for (let f = 0; f < flips; f++) bad[Math.floor(random() * bad.length)] ^= 1 + Math.floor(random() * 255);
      let decoded: SamplingMask | undefined;
      try {
        decoded = deserialize(bad);
      } catch (e) {
        expect((e as Error).name).toBe('RangeError');
      }
      // A collision of CRC-32C is possible in principle; then the mask must still be a valid one.
      if (decoded) expect(Buffer.from(serialize(decoded)).equals(Buffer.from(bad))).toBe(true);
    }
  });

  test('wrong magic, version, encoding, trailing bytes', () => {
    const magic = good.slice();
    magic[0] = 0x58;
    expectCode(() => deserialize(magic), 'ERR_SM_BAD_MAGIC');
    const payload = Array.from(good.subarray(32, good.length - 4));
    expectCode(() => deserialize(referenceBytes({ rows: 4, vocab, ids: 38, payload, version: 2 })), 'ERR_SM_UNSUPPORTED_VERSION');
    expectCode(() => deserialize(referenceBytes({ rows: 4, vocab, ids: 38, payload, encoding: 7 })), 'ERR_SM_UNSUPPORTED_VERSION');
    const longer = new Uint8Array(good.length + 1);
    longer.set(good);
    expectCode(() => deserialize(longer), 'ERR_SM_CORRUPT_MASK');
    expectCode(() => deserialize(new Uint8Array(0)), 'ERR_SM_TRUNCATED');
    expectCode(() => deserialize(Buffer.from('not a mask at all, just some text here')), 'ERR_SM_BAD_MAGIC');
    expectCode(() => deserialize(new Int32Array(20) as unknown as Uint8Array), 'ERR_SM_INVALID_ARG_TYPE');
  });

  // Bytes with a valid checksum whose content does not add up: only a buggy
  // or hostile writer makes these, and they must still fail cleanly.
  test.each([
    ['rows beyond what the payload can hold', { rows: 0xffffffff, vocab, ids: 0, payload: [0, 0] }],
    ['ids beyond 8 per payload byte', { rows: 1, vocab, ids: 0x7fffffff, payload: [0] }],
    ['more ids than rows x vocab', { rows: 1, vocab: 2, ids: 3, payload: [6, 0, 0, 0] }],
    ['vocab 0', { rows: 1, vocab: 0, ids: 0, payload: [0] }],
    ['vocab over 2^23', { rows: 1, vocab: 2 ** 23 + 1, ids: 0, payload: [0] }],
    ['a row count over vocab', { rows: 1, vocab: 4, ids: 4, payload: [...varint(5 * 2), 0, 0, 0, 0, 0] }],
    ['rows with more ids than the header says', { rows: 2, vocab, ids: 1, payload: [2, 5, 2, 7] }],
    ['rows with fewer ids than the header says', { rows: 2, vocab, ids: 3, payload: [2, 5, 2, 7] }],
    ['payload left after the last row', { rows: 1, vocab, ids: 1, payload: [2, 5, 0] }],
    ['a varint running past the payload', { rows: 1, vocab, ids: 1, payload: [2, 0x85] }],
    ['an id past vocab', { rows: 1, vocab, ids: 1, payload: [2, ...varint(256)] }],
    ['a gap past vocab', { rows: 1, vocab, ids: 2, payload: [4, ...varint(200), ...varint(60)] }],
    ['a 5-byte varint', { rows: 1, vocab, ids: 1, payload: [2, 0x81, 0x80, 0x80, 0x80, 0x00] }],
    ['a row header missing', { rows: 2, vocab, ids: 1, payload: [2, 5] }],
    ['a bitmap shorter than vocab / 8', { rows: 1, vocab: 64, ids: 1, payload: [3, 1, 0, 0] }],
    ['a bitmap with fewer ids than its count', { rows: 1, vocab: 16, ids: 2, payload: [5, 1, 0] }],
    ['a bitmap with more ids than its count', { rows: 1, vocab: 16, ids: 1, payload: [3, 3, 0] }],
    ['a bitmap bit past vocab', { rows: 1, vocab: 12, ids: 1, payload: [3, 0, 0x10] }],
  ])('%s', (_name, fields) => {
    expectCode(() => deserialize(referenceBytes(fields)), 'ERR_SM_CORRUPT_MASK');
  });

  test('the hand-made bytes are right when consistent (so the cases above fail for their stated reason)', () => {
    expect(deserialize(referenceBytes({ rows: 2, vocab, ids: 2, payload: [2, 5, 2, 7] })).toLists()).toEqual([[5], [7]]);
    expect(deserialize(referenceBytes({ rows: 1, vocab: 16, ids: 2, payload: [5, 3, 0] })).toLists()).toEqual([[0, 1]]);
    expect(deserialize(referenceBytes({ rows: 1, vocab: 12, ids: 1, payload: [3, 0, 0x08] })).toLists()).toEqual([[11]]);
    expect(deserialize(referenceBytes({ rows: 1, vocab, ids: 2, payload: [4, ...varint(200), ...varint(54)] })).toLists()).toEqual([
      [200, 255],
    ]);
  });
});
