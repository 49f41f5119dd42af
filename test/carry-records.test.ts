import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PassThrough, Readable } from 'stream';
import { MaskRecordReader, MaskRecordWriter, SamplingMask, decodeRecords, encodeRecord, type MaskRecord } from '../lib';
import { randomIds, rng } from './helpers';

function makeRecords(seed: number, count: number, vocab = 1000): MaskRecord[] {
  const random = rng(seed);
  return Array.from({ length: count }, (_, i) => {
    const lists = Array.from({ length: Math.floor(random() * 6) }, () => randomIds(random, vocab, 1 + Math.floor(random() * 30)));
    const record: MaskRecord = { id: i % 2 === 0 ? i * 1e9 + 1 : `request-${i}-é`, mask: SamplingMask.fromLists(lists, vocab) };
    if (i % 3 !== 2) record.tokens = Int32Array.from(lists, (row) => row[0]);
    if (i % 4 === 1) record.outsideSteps = lists.length > 0 ? [0] : [];
    return record;
  });
}

function plain(record: MaskRecord) {
  return {
    id: record.id,
    vocab: record.mask.vocab,
    rows: record.mask.toLists(),
    tokens: record.tokens ? Array.from(record.tokens) : undefined,
    outsideSteps: record.outsideSteps ?? [],
  };
}

function chunked(bytes: Uint8Array, size: number): Readable {
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) chunks.push(Buffer.from(bytes.subarray(at, at + size)));
  return Readable.from(chunks);
}

async function readAll(reader: MaskRecordReader): Promise<MaskRecord[]> {
  const out: MaskRecord[] = [];
  for await (const record of reader) out.push(record);
  return out;
}

const records = makeRecords(1, 7);
const encoded = records.map(encodeRecord);
const stream = Buffer.concat(encoded);
const starts = encoded.reduce<number[]>((acc, r) => [...acc, acc[acc.length - 1] + r.length], [0]);

describe('record streams', () => {
  test('round trip through a file with the writer and reader', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sm-carry-')), 'rollout.smr');
    const writer = new MaskRecordWriter(fs.createWriteStream(file));
    for (const r of records) await writer.write(r);
    await writer.end();
    expect(fs.readFileSync(file).equals(stream)).toBe(true);
    const back = await readAll(new MaskRecordReader(fs.createReadStream(file, { highWaterMark: 7 })));
    expect(back.map(plain)).toEqual(records.map(plain));
    fs.rmSync(path.dirname(file), { recursive: true });
  });

  test('any chunking of the stream gives the same records', async () => {
    for (const size of [1, 3, 16, 17, 100, stream.length]) {
      expect((await readAll(new MaskRecordReader(chunked(stream, size)))).map(plain)).toEqual(records.map(plain));
    }
    expect(decodeRecords(stream).records.map(plain)).toEqual(records.map(plain));
  });

  test('the writer waits for a full stream to drain', async () => {
    const pipe = new PassThrough({ highWaterMark: 16 });
    const writer = new MaskRecordWriter(pipe);
    const reading = readAll(new MaskRecordReader(pipe));
    for (const r of records) await writer.write(r);
    await writer.end();
    expect((await reading).map(plain)).toEqual(records.map(plain));
  });

  test('a stream cut at every byte offset loses only the record it cuts, and says so', async () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const whole = starts.filter((s) => s > 0 && s <= cut).length;
      const atBoundary = starts.includes(cut);
      const { records: got, skipped } = decodeRecords(stream.subarray(0, cut), { onCorrupt: 'skip' });
      expect(got.map(plain)).toEqual(records.slice(0, whole).map(plain));
      if (atBoundary) {
        expect(skipped).toEqual([]);
      } else {
        expect(skipped).toEqual([
          { offset: starts[whole], length: cut - starts[whole], code: 'ERR_SM_TRUNCATED_RECORD', reason: expect.any(String) },
        ]);
      }
    }
    // the default reader yields the whole records, then throws naming the offset
    const reader = new MaskRecordReader(chunked(stream.subarray(0, starts[3] + 5), 10));
    const got: MaskRecord[] = [];
    await expect(
      (async () => {
        for await (const r of reader) got.push(r);
      })(),
    ).rejects.toMatchObject({ code: 'ERR_SM_TRUNCATED_RECORD', offset: starts[3] });
    expect(got.map(plain)).toEqual(records.slice(0, 3).map(plain));
  });

  test('a damaged record is lost alone; the ones after it are read', () => {
    const random = rng(2);
    for (let trial = 0; trial < 300; trial++) {
      const victim = Math.floor(random() * records.length);
      const bad = Buffer.from(stream);
      const at = starts[victim] + Math.floor(random() * encoded[victim].length);
      bad[at] ^= 1 << Math.floor(random() * 8);
      const { records: got, skipped } = decodeRecords(bad, { onCorrupt: 'skip' });
      expect(got.map(plain)).toEqual(records.filter((_, i) => i !== victim).map(plain));
      expect(skipped).toHaveLength(1);
      expect(skipped[0]).toMatchObject({ offset: starts[victim], length: encoded[victim].length, code: 'ERR_SM_CORRUPT_RECORD' });
      expect(() => decodeRecords(bad)).toThrow(expect.objectContaining({ code: 'ERR_SM_CORRUPT_RECORD', offset: starts[victim] }));
    }
  });

  test('a cut record followed by more records (a crashed writer, then a new one appending)', () => {
    const cut = Buffer.concat([stream.subarray(0, starts[2] + 20), stream.subarray(starts[4])]);
    const { records: got, skipped } = decodeRecords(cut, { onCorrupt: 'skip' });
    expect(got.map(plain)).toEqual([...records.slice(0, 2), ...records.slice(4)].map(plain));
    expect(skipped).toMatchObject([{ offset: starts[2], length: 20 }]);
  });

  test('garbage between records, and a length over maxRecordBytes', () => {
    const garbage = Buffer.concat([
      Buffer.from('junk SMRS junk'),
      stream.subarray(0, starts[2]),
      Buffer.alloc(50, 0x53),
      stream.subarray(starts[2]),
    ]);
    const { records: got, skipped } = decodeRecords(garbage, { onCorrupt: 'skip' });
    expect(got.map(plain)).toEqual(records.map(plain));
    expect(skipped.map((s) => s.length)).toEqual([14, 50]);
    const limited = decodeRecords(stream, { onCorrupt: 'skip', maxRecordBytes: Math.max(...encoded.map((e) => e.length)) - 21 });
    expect(limited.records.length).toBeLessThan(records.length);
    expect(limited.skipped.every((s) => /maxRecordBytes/.test(s.reason))).toBe(true);
  });

  test('argument errors', () => {
    expect(() => encodeRecord({ id: 1.5, mask: records[0].mask })).toThrow(expect.objectContaining({ argument: 'record.id' }));
    expect(() => encodeRecord({ id: 1, mask: SamplingMask.fromLists([[1]], 5), tokens: Int32Array.of(1, 2) })).toThrow(
      expect.objectContaining({ argument: 'record.tokens' }),
    );
    expect(() => new MaskRecordReader(5 as unknown as Readable)).toThrow(expect.objectContaining({ argument: 'source' }));
    expect(() => decodeRecords(stream, { onCorrupt: 'ignore' as 'skip' })).toThrow(
      expect.objectContaining({ argument: 'options.onCorrupt' }),
    );
    expect(() => new MaskRecordWriter({} as PassThrough)).toThrow(expect.objectContaining({ argument: 'destination' }));
  });
});
