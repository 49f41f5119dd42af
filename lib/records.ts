// A framed stream of per-request records (id, tokens, masks), for storing
// rollouts in files or sending them between processes. Each record carries
// its own length and checksums, so a reader keeps every intact record of a
// damaged stream and says which bytes it lost.
//
// Record layout (integers little-endian; README "Record streams"):
//   0   magic "SMRS"
//   4   u16 version (1)
//   6   u16 flags (0)
//   8   u32 body length L
//   12  u32 CRC-32C of bytes [0, 12)
//   16  body:
//         u8 id kind: 1 = integer (then i64), 2 = string (then u32 byte length, UTF-8)
//         u32 mask byte length M, then M bytes of serialize(mask)
//         u8 1 if tokens follow (then i32 per mask row), else 0
//         u32 count K of outside steps, then K u32 row numbers
//   16+L u32 CRC-32C of the body
import { once } from 'events';
import type { Writable } from 'stream';
import { finished } from 'stream/promises';
import { allocate, describe, lengthOf, ownBytes, readIds, readOptions } from './args';
import { crc32c, deserialize, serializeCsr } from './codec';
import type { RecordedRequest, RequestId } from './recorder';
import { SamplingMask } from './sampling-mask';
import { isTypedArrayOf } from './tensor';
import { rangeError, typeError } from './errors';

export interface MaskRecord extends Partial<Pick<RecordedRequest, 'tokens' | 'outsideSteps'>> {
  id: RequestId;
  mask: SamplingMask;
}

export interface ReadRecordsOptions {
  /**
   * 'throw' (default): a damaged record throws (ERR_SM_CORRUPT_RECORD, or
   * ERR_SM_TRUNCATED_RECORD for a stream cut mid-record) once every record
   * before it has been returned. 'skip': damaged bytes are skipped, listed in
   * `skipped`, and reading goes on from the next intact record.
   */
  onCorrupt?: 'throw' | 'skip';
  /** Larger declared bodies count as damage (default 1 GiB): bounds what a bad length can allocate. */
  maxRecordBytes?: number;
}

/** Bytes of the stream that held no intact record. */
export interface SkippedBytes {
  offset: number;
  length: number;
  code: 'ERR_SM_CORRUPT_RECORD' | 'ERR_SM_TRUNCATED_RECORD';
  reason: string;
}

const kMagic = [0x53, 0x4d, 0x52, 0x53]; // "SMRS"
const kMagicBytes = Buffer.from(kMagic);
const kVersion = 1;
const kHeaderBytes = 16;
const kTrailerBytes = 4;
const kIdInteger = 1;
const kIdString = 2;

/**
 * One record's bytes. The record's fields are read once; the mask through
 * serialize (which checks it), tokens and outside steps into private copies,
 * checked: token ids in [0, vocab) and row numbers in [0, rows), one token
 * per mask row.
 */
export function encodeRecord(record: MaskRecord): Uint8Array {
  const {
    id,
    mask,
    tokens: tokenList,
    outsideSteps: stepList = [],
  } = readOptions(record, ['id', 'mask', 'tokens', 'outsideSteps'], 'record');
  const idText = typeof id === 'string' ? Buffer.from(id, 'utf8') : undefined;
  if (idText === undefined && !(typeof id === 'number' && Number.isSafeInteger(id))) {
    throw typeError('record.id', `expected a string or a safe integer, got ${describe(id)}`);
  }
  if (!(mask instanceof SamplingMask)) throw typeError('record.mask', `expected a SamplingMask, got ${describe(mask)}`);
  const { offsets, indices, vocab } = mask;
  const maskBytes = serializeCsr(offsets, indices, vocab);
  const rows = lengthOf(offsets) - 1;
  const tokens = tokenList === undefined ? undefined : readIds(tokenList, 'record.tokens', 'an array of token ids', 0, vocab);
  if (tokens !== undefined && tokens.length !== rows) {
    throw rangeError('ERR_SM_OUT_OF_RANGE', 'record.tokens', `has ${tokens.length} tokens for ${rows} mask rows`);
  }
  const outsideSteps = readIds(stepList, 'record.outsideSteps', 'an array of row numbers', 0, rows);
  const bodyLength =
    1 + (idText ? 4 + idText.length : 8) + 4 + maskBytes.length + 1 + (tokens ? 4 * tokens.length : 0) + 4 + 4 * outsideSteps.length;
  if (bodyLength > 0xffffffff) throw rangeError('ERR_SM_OUT_OF_RANGE', 'record', 'body over 4 GiB');
  const out = allocate(() => new Uint8Array(kHeaderBytes + bodyLength + kTrailerBytes), 'record');
  const view = new DataView(out.buffer);
  out.set(kMagic, 0);
  view.setUint16(4, kVersion, true);
  view.setUint16(6, 0, true);
  view.setUint32(8, bodyLength, true);
  view.setUint32(12, crc32c(out.subarray(0, 12)), true);
  let at = kHeaderBytes;
  if (idText) {
    out[at] = kIdString;
    view.setUint32(at + 1, idText.length, true);
    out.set(idText, at + 5);
    at += 5 + idText.length;
  } else {
    out[at] = kIdInteger;
    view.setBigInt64(at + 1, BigInt(id as number), true);
    at += 9;
  }
  view.setUint32(at, maskBytes.length, true);
  out.set(maskBytes, at + 4);
  at += 4 + maskBytes.length;
  out[at++] = tokens ? 1 : 0;
  if (tokens) {
    for (let i = 0; i < tokens.length; i++) view.setInt32(at + 4 * i, tokens[i], true);
    at += 4 * tokens.length;
  }
  view.setUint32(at, outsideSteps.length, true);
  for (let i = 0; i < outsideSteps.length; i++) view.setUint32(at + 4 + 4 * i, outsideSteps[i], true);
  view.setUint32(kHeaderBytes + bodyLength, crc32c(out.subarray(kHeaderBytes, kHeaderBytes + bodyLength)), true);
  return out;
}

class Damage extends Error {}

// Parses a record body whose checksum matched; a Damage if its parts do not add up.
function decodeBody(body: Uint8Array): MaskRecord {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let at = 0;
  const need = (n: number) => {
    if (at + n > body.length) throw new Damage('body shorter than its parts');
  };
  need(1);
  const kind = body[at++];
  let id: RequestId;
  if (kind === kIdInteger) {
    need(8);
    const big = view.getBigInt64(at, true);
    if (big > BigInt(Number.MAX_SAFE_INTEGER) || big < BigInt(Number.MIN_SAFE_INTEGER))
      throw new Damage('integer id out of the safe range');
    id = Number(big);
    at += 8;
  } else if (kind === kIdString) {
    need(4);
    const n = view.getUint32(at, true);
    need(4 + n);
    id = Buffer.from(body.buffer, body.byteOffset + at + 4, n).toString('utf8');
    at += 4 + n;
  } else {
    throw new Damage(`unknown id kind ${kind}`);
  }
  need(4);
  const maskLength = view.getUint32(at, true);
  need(4 + maskLength);
  let mask: SamplingMask;
  try {
    mask = deserialize(body.subarray(at + 4, at + 4 + maskLength));
  } catch (e) {
    throw new Damage(`mask: ${(e as Error).message}`);
  }
  at += 4 + maskLength;
  need(1);
  const hasTokens = body[at++];
  if (hasTokens > 1) throw new Damage('bad tokens flag');
  const record: MaskRecord = { id, mask };
  if (hasTokens === 1) {
    need(4 * mask.rows);
    const tokens = new Int32Array(mask.rows);
    for (let i = 0; i < tokens.length; i++) tokens[i] = view.getInt32(at + 4 * i, true);
    record.tokens = tokens;
    at += 4 * mask.rows;
  }
  need(4);
  const outsideCount = view.getUint32(at, true);
  need(4 + 4 * outsideCount);
  const outsideSteps = new Array<number>(outsideCount);
  for (let i = 0; i < outsideCount; i++) outsideSteps[i] = view.getUint32(at + 4 + 4 * i, true);
  record.outsideSteps = outsideSteps;
  at += 4 + 4 * outsideCount;
  if (at !== body.length) throw new Damage('body longer than its parts');
  return record;
}

// Buffered stream bytes as a queue of chunks: a record that arrives in many
// chunks is joined once, when all of it is there.
class ByteQueue {
  private chunks: Uint8Array[] = [];
  available = 0;
  consumedTotal = 0;

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.available += chunk.length;
  }

  /** The first n bytes (n <= available) as one array. */
  peek(n: number): Uint8Array {
    if (this.chunks[0].length < n) {
      const joined = new Uint8Array(this.available);
      let at = 0;
      for (const c of this.chunks) {
        joined.set(c, at);
        at += c.length;
      }
      this.chunks = [joined];
    }
    return this.chunks[0].subarray(0, n);
  }

  consume(n: number): void {
    this.available -= n;
    this.consumedTotal += n;
    while (n > 0) {
      const first = this.chunks[0];
      if (first.length <= n) {
        this.chunks.shift();
        n -= first.length;
      } else {
        this.chunks[0] = first.subarray(n);
        n = 0;
      }
    }
  }

  /** Offset (>= from) of the next record magic among the buffered bytes, or -1. */
  findMagic(from: number): number {
    const all = this.peek(this.available);
    return Buffer.from(all.buffer, all.byteOffset, all.length).indexOf(kMagicBytes, from);
  }
}

type Step = { record: MaskRecord } | { needMore: true };

// The record parser behind both readers: push bytes, pull records, end().
class RecordParser {
  readonly skipped: SkippedBytes[] = [];
  private readonly queue = new ByteQueue();
  private readonly onCorrupt: 'throw' | 'skip';
  private readonly maxRecordBytes: number;
  private ended = false;

  constructor(options: unknown) {
    const { onCorrupt = 'throw', maxRecordBytes = 2 ** 30 } = readOptions(options, ['onCorrupt', 'maxRecordBytes']);
    if (onCorrupt !== 'throw' && onCorrupt !== 'skip') {
      throw typeError('options.onCorrupt', `expected 'throw' or 'skip', got ${describe(onCorrupt)}`);
    }
    if (typeof maxRecordBytes !== 'number' || !Number.isInteger(maxRecordBytes) || maxRecordBytes < 0) {
      throw typeError('options.maxRecordBytes', `expected an integer >= 0, got ${describe(maxRecordBytes)}`);
    }
    this.onCorrupt = onCorrupt;
    this.maxRecordBytes = maxRecordBytes;
  }

  push(chunk: unknown): void {
    if (!isTypedArrayOf(chunk, 'Uint8Array')) throw typeError('source', 'expected chunks of bytes (Buffer or Uint8Array)');
    // Shared bytes are copied: the checksum and the decoded record must be the same bytes.
    this.queue.push(ownBytes(chunk, 'source'));
  }

  /** No more bytes will come: what is left is a cut-off record. */
  end(): void {
    this.ended = true;
  }

  next(): Step {
    const q = this.queue;
    for (;;) {
      if (q.available === 0) return { needMore: true };
      if (q.available < kHeaderBytes) {
        if (!this.ended) return { needMore: true };
        this.damage('ERR_SM_TRUNCATED_RECORD', 'the stream ends inside a record header');
        continue;
      }
      const header = q.peek(kHeaderBytes);
      const view = new DataView(header.buffer, header.byteOffset, kHeaderBytes);
      const magicOk = kMagic.every((b, i) => header[i] === b);
      if (!magicOk || view.getUint32(12, true) !== crc32c(header.subarray(0, 12))) {
        this.damage('ERR_SM_CORRUPT_RECORD', magicOk ? 'record header checksum mismatch' : 'no record magic');
        continue;
      }
      const version = view.getUint16(4, true);
      const bodyLength = view.getUint32(8, true);
      if (version !== kVersion) {
        this.damage('ERR_SM_CORRUPT_RECORD', `record version ${version} is not supported (this build reads ${kVersion})`);
        continue;
      }
      if (bodyLength > this.maxRecordBytes) {
        this.damage('ERR_SM_CORRUPT_RECORD', `record body of ${bodyLength} bytes exceeds maxRecordBytes ${this.maxRecordBytes}`);
        continue;
      }
      const total = kHeaderBytes + bodyLength + kTrailerBytes;
      if (q.available < total) {
        if (!this.ended) return { needMore: true };
        this.damage('ERR_SM_TRUNCATED_RECORD', `the stream ends inside a record (${q.available} of its ${total} bytes)`);
        continue;
      }
      const bytes = q.peek(total);
      const body = bytes.subarray(kHeaderBytes, kHeaderBytes + bodyLength);
      const stored = new DataView(bytes.buffer, bytes.byteOffset + kHeaderBytes + bodyLength, 4).getUint32(0, true);
      if (stored !== crc32c(body)) {
        this.damage('ERR_SM_CORRUPT_RECORD', 'record body checksum mismatch');
        continue;
      }
      try {
        const record = decodeBody(body);
        q.consume(total);
        return { record };
      } catch (e) {
        if (!(e instanceof Damage)) throw e;
        this.damage('ERR_SM_CORRUPT_RECORD', e.message);
      }
    }
  }

  // Throws, or skips to the next record magic after the current position
  // (not by the record's length: a damaged or cut record may be followed by
  // intact ones, e.g. a writer that crashed and a later one that appended).
  private damage(code: SkippedBytes['code'], reason: string): void {
    const q = this.queue;
    const offset = q.consumedTotal;
    if (this.onCorrupt === 'throw') {
      const what = code === 'ERR_SM_TRUNCATED_RECORD' ? 'truncated record' : 'corrupt record';
      throw rangeError(code, 'source', `${what} at byte ${offset}: ${reason}`, { offset });
    }
    const next = q.findMagic(1);
    // Without a magic in sight, keep the last bytes: they may start one.
    const length = next >= 0 ? next : this.ended ? q.available : Math.max(1, q.available - (kMagic.length - 1));
    const last = this.skipped[this.skipped.length - 1];
    if (last !== undefined && last.offset + last.length === offset && last.code === code) {
      last.length += length;
    } else {
      this.skipped.push({ offset, length, code, reason });
    }
    q.consume(length);
  }
}

/**
 * Reads records from a Node stream (e.g. fs.createReadStream) or any async
 * iterable of byte chunks: `for await (const record of reader)`. With
 * onCorrupt 'skip', `skipped` lists the damaged byte ranges afterwards.
 */
export class MaskRecordReader implements AsyncIterable<MaskRecord> {
  private readonly parser: RecordParser;

  constructor(
    private readonly source: AsyncIterable<Uint8Array>,
    options?: ReadRecordsOptions,
  ) {
    if (source === null || typeof source !== 'object' || !(Symbol.asyncIterator in source)) {
      throw typeError('source', 'expected a readable stream or an async iterable of byte chunks');
    }
    this.parser = new RecordParser(options);
  }

  get skipped(): SkippedBytes[] {
    return this.parser.skipped;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<MaskRecord> {
    for await (const chunk of this.source) {
      this.parser.push(chunk);
      for (let step = this.parser.next(); 'record' in step; step = this.parser.next()) yield step.record;
    }
    this.parser.end();
    for (let step = this.parser.next(); 'record' in step; step = this.parser.next()) yield step.record;
  }
}

/** All records of a complete byte buffer (e.g. a file read whole), and the damaged ranges skipped. */
export function decodeRecords(bytes: Uint8Array, options?: ReadRecordsOptions): { records: MaskRecord[]; skipped: SkippedBytes[] } {
  const parser = new RecordParser(options);
  parser.push(bytes);
  const records: MaskRecord[] = [];
  parser.end();
  for (let step = parser.next(); 'record' in step; step = parser.next()) records.push(step.record);
  return { records, skipped: parser.skipped };
}

/** Writes records to a Node stream (e.g. fs.createWriteStream), honouring backpressure. */
export class MaskRecordWriter {
  // The stream's methods, read once: what was checked is what is called.
  private readonly writeChunk: (chunk: Uint8Array) => boolean;
  private readonly endStream: () => void;

  constructor(private readonly destination: Writable) {
    if (destination === null || typeof destination !== 'object') throw typeError('destination', 'expected a writable stream');
    const { write, end, once: onceMethod } = destination;
    if (typeof write !== 'function' || typeof end !== 'function' || typeof onceMethod !== 'function') {
      throw typeError('destination', 'expected a writable stream (with write, end and once methods)');
    }
    this.writeChunk = write.bind(destination) as (chunk: Uint8Array) => boolean;
    this.endStream = end.bind(destination) as () => void;
  }

  /** Resolves once the stream accepts more (at once unless it is full). */
  async write(record: MaskRecord): Promise<void> {
    if (!this.writeChunk(encodeRecord(record))) await once(this.destination, 'drain');
  }

  /** Ends the stream and resolves when everything is flushed. */
  async end(): Promise<void> {
    this.endStream();
    await finished(this.destination);
  }
}
