// Masks and rollouts as Apache Arrow data (with the apache-arrow package, an
// optional peer dependency). A mask's CSR is exactly Arrow's List<Int32>
// layout, offsets + values, so toArrow shares the mask's buffers and
// fromArrow shares the vector's: no copy either way.
//
// A rollout table has one row per request:
//   request_id     utf8 or int64
//   prompt_ids     list<int32>          (when the records have prompts)
//   token_ids      list<int32>          (the generated tokens, when recorded)
//   logprobs       list<float32>        (the sampler's, when recorded)
//   sampling_mask  list<list<int32>>    (one id list per generated token)
//   outside_steps  list<int32>          (when a token was outside its mask)
//   ...            scalar columns the caller adds (reward, ...)
// and the vocabulary size in the schema metadata (sampling_mask.vocab).
import { dirname } from 'path';
import type * as ArrowModule from 'apache-arrow';
import type { Data, DataType, Field, Int32, List, Table, Vector } from 'apache-arrow';
import { describe, readOptions } from './args';
import { fileError, typeError } from './errors';
import { checkVocab, concat } from './lists';
import { requireOptional } from './optional';
import type { RequestId } from './recorder';
import {
  checkRollouts,
  invalidRollout,
  joined,
  kReservedColumns,
  kVocabKey,
  requestRows,
  resolveVocab,
  userMetadata,
  type CheckedRollout,
  type RolloutFile,
  type RolloutLayout,
  type RolloutReadOptions,
  type RolloutRecord,
  type RolloutScalar,
  type RolloutWriteOptions,
  type ScalarKind,
} from './rollouts';
import { SamplingMask } from './sampling-mask';

type Arrow = typeof ArrowModule;

/** A mask as Arrow data: one list of kept ids per row. */
export type MaskVector = Vector<List<Int32>>;

export interface ArrowWriteOptions extends RolloutWriteOptions {
  /** 'stream' (default): the IPC stream format; 'file': the IPC file format (random access, footer). */
  format?: 'stream' | 'file';
}

/** apache-arrow, loaded on first use. @internal */
export function arrowModule(): Arrow {
  return requireOptional<Arrow>('apache-arrow', 'Arrow and Parquet support');
}

function listOf(A: Arrow, item: DataType): List {
  return new A.List(new A.Field('item', item, false));
}

function listData(A: Arrow, offsets: Int32Array, child: Data): Data<List> {
  return A.makeData({
    type: listOf(A, child.type),
    length: offsets.length - 1,
    nullCount: 0,
    valueOffsets: offsets,
    child,
  });
}

function int32Data(A: Arrow, values: Int32Array): Data<Int32> {
  return A.makeData({ type: new A.Int32(), length: values.length, nullCount: 0, data: values });
}

function maskData(A: Arrow, mask: SamplingMask): Data<List<Int32>> {
  return listData(A, mask.offsets, int32Data(A, mask.indices)) as Data<List<Int32>>;
}

/** The mask as an Arrow List<Int32> vector over the mask's own offsets and ids buffers (no copy). */
export function maskToArrow(mask: SamplingMask): MaskVector {
  if (!(mask instanceof SamplingMask)) throw typeError('mask', 'expected a SamplingMask');
  const A = arrowModule();
  return A.makeVector(maskData(A, mask));
}

const isInt32 = (A: Arrow) => (type: DataType | undefined) => A.DataType.isInt(type) && type.bitWidth === 32 && type.isSigned;
const isFloat32 = (A: Arrow) => (type: DataType | undefined) => A.DataType.isFloat(type) && type.precision === A.Precision.SINGLE;

type Values = Int32Array | Float32Array;

// A list column checked once against its own buffers, so that reading its
// rows afterwards cannot go outside them: a file that lies about sizes gives
// an error here, never values from somewhere else. (apache-arrow slices the
// offsets and values buffers along with a Data, so they are indexed from 0;
// data.offset only matters for validity bitmaps, and nulls are refused.)
class CheckedList {
  readonly child: Data;
  private readonly offsets: Int32Array;

  constructor(
    A: Arrow,
    readonly data: Data,
    private readonly column: string,
    itemIs: (type: DataType | undefined) => boolean,
    itemName: string,
  ) {
    if (!A.DataType.isList(data.type) || !itemIs(data.type.children[0]?.type)) {
      throw invalidRollout(column, `expected List<${itemName}>, got ${String(data.type)}`);
    }
    this.child = data.children[0];
    if (this.child === undefined) throw fileError('ERR_SM_CORRUPT_FILE', column, 'list without its values');
    if (data.nullCount > 0 || this.child.nullCount > 0) throw invalidRollout(column, 'holds nulls');
    this.offsets = data.valueOffsets as Int32Array;
    if (this.offsets.length < data.length + 1) throw fileError('ERR_SM_CORRUPT_FILE', column, 'offsets buffer shorter than its rows');
    const values = this.child.values as ArrayLike<unknown> | undefined;
    if (values !== undefined && values.length < this.child.length) {
      throw fileError('ERR_SM_CORRUPT_FILE', column, 'values buffer shorter than its length');
    }
  }

  /** Child positions of rows [first, end), checked against the child's length. */
  span(first: number, end = first + 1): [number, number] {
    const begin = this.offsets[first];
    const stop = this.offsets[end];
    if (!(begin >= 0 && begin <= stop && stop <= this.child.length)) {
      throw fileError(
        'ERR_SM_CORRUPT_FILE',
        this.column,
        `rows [${first}, ${end}) span [${begin}, ${stop}) of ${this.child.length} values`,
      );
    }
    return [begin, stop];
  }

  /** Row i's values: a view of the Arrow buffer. */
  values<T extends Values>(i: number): T {
    const [begin, stop] = this.span(i);
    return (this.child.values as T).subarray(begin, stop) as T;
  }

  /**
   * Rows [first, end) of a List<Int32> as a mask, checked like any mask. The
   * ids are a view of the Arrow buffer, and so are the offsets when they
   * start at 0 (rows of an unsliced vector): nothing is allocated then.
   */
  mask(first: number, end: number, vocab: number): SamplingMask {
    const [begin, stop] = this.span(first, end);
    const view = this.offsets.subarray(first, end + 1);
    let offsets = view;
    if (begin !== 0) {
      offsets = new Int32Array(view.length);
      for (let r = 0; r < view.length; r++) offsets[r] = view[r] - begin;
    }
    const ids = (this.child.values as Int32Array).subarray(begin, stop);
    return new SamplingMask(offsets, ids, vocab);
  }
}

function chunksOf(vector: unknown): Data[] {
  const value = vector as { data?: unknown; type?: unknown; children?: unknown };
  // Duck-typed rather than instanceof: the caller's apache-arrow may be another copy than ours.
  if (value !== null && typeof value === 'object' && Array.isArray(value.data)) return value.data as Data[];
  if (value !== null && typeof value === 'object' && value.type !== undefined && Array.isArray(value.children)) return [value as Data];
  throw typeError('vector', 'expected an Arrow Vector or Data of List<Int32>');
}

/**
 * A mask from an Arrow List<Int32> vector (or Data), checked like any mask
 * (ids strictly ascending in [0, vocab) per row, no nulls). A vector of one
 * chunk is not copied: the mask's ids (and offsets, unless the vector is a
 * slice) are views of the vector's buffers. Several chunks are joined.
 */
export function maskFromArrow(vector: MaskVector | Data<List<Int32>>, vocab: number): SamplingMask {
  checkVocab(vocab);
  const A = arrowModule();
  const masks = chunksOf(vector)
    .filter((data) => data.length > 0)
    .map((data) => new CheckedList(A, data, 'vector', isInt32(A), 'Int32').mask(0, data.length, vocab));
  if (masks.length === 0) return new SamplingMask(Int32Array.of(0), new Int32Array(0), vocab);
  return masks.length === 1 ? masks[0] : concat(masks);
}

function scalarType(A: Arrow, kind: ScalarKind): DataType {
  switch (kind) {
    case 'float64':
      return new A.Float64();
    case 'int64':
      return new A.Int64();
    case 'utf8':
      return new A.Utf8();
    case 'bool':
      return new A.Bool();
  }
}

/**
 * The records as an Arrow table (layout at the top of this file). Every
 * record is checked before anything is built: a mask of another vocab, ids of
 * mixed types (a column holds one), tokens or log-probs that do not match the
 * mask rows, ids outside [0, vocab) are errors naming the record.
 */
export function rolloutTable(records: readonly RolloutRecord[], options?: RolloutWriteOptions): Table {
  const layout = checkRollouts(records, options);
  return tableOf(layout);
}

/** The table of checked records (never the caller's objects again). @internal */
export function tableOf(layout: RolloutLayout): Table {
  const records = layout.records;
  const A = arrowModule();
  const fields: Field[] = [];
  const columns: Data[] = [];
  const add = (name: string, data: Data, nullable = false): void => {
    fields.push(new A.Field(name, data.type, nullable));
    columns.push(data);
  };
  const ids = records.map((r) => r.id);
  add(
    'request_id',
    layout.idKind === 'utf8'
      ? A.vectorFromArray(ids as string[], new A.Utf8()).data[0]
      : A.makeData({
          type: new A.Int64(),
          length: ids.length,
          nullCount: 0,
          data: BigInt64Array.from(ids as number[], BigInt),
        }),
  );
  const perRecord = (pick: (r: CheckedRollout) => ArrayLike<number> | undefined) => records.map(pick);
  if (layout.hasPrompt) {
    const prompts = joined(
      perRecord((r) => r.promptIds),
      Int32Array,
    );
    add('prompt_ids', listData(A, prompts.offsets, int32Data(A, prompts.values)));
  }
  if (layout.hasTokens) {
    const tokens = joined(
      perRecord((r) => r.tokens),
      Int32Array,
    );
    add('token_ids', listData(A, tokens.offsets, int32Data(A, tokens.values)));
  }
  if (layout.hasLogprobs) {
    const logprobs = joined(
      perRecord((r) => r.logprobs),
      Float32Array,
    );
    add(
      'logprobs',
      listData(
        A,
        logprobs.offsets,
        A.makeData({ type: new A.Float32(), length: logprobs.values.length, nullCount: 0, data: logprobs.values }),
      ),
    );
  }
  // One request's mask is shared as it is; several are joined once.
  const all =
    records.length === 0
      ? new SamplingMask(Int32Array.of(0), new Int32Array(0), layout.vocab)
      : records.length === 1
        ? records[0].mask
        : concat(records.map((r) => r.mask));
  add('sampling_mask', listData(A, requestRows(records), maskData(A, all)));
  if (layout.hasOutsideSteps) {
    const outside = joined(
      perRecord((r) => r.outsideSteps),
      Int32Array,
    );
    add('outside_steps', listData(A, outside.offsets, int32Data(A, outside.values)));
  }
  for (const [name, kind] of layout.scalars) {
    add(
      name,
      A.vectorFromArray(
        records.map((r) => r.columns?.[name] ?? null),
        scalarType(A, kind),
      ).data[0],
      true,
    );
  }
  const metadata = new Map([[kVocabKey, String(layout.vocab)], ...Object.entries(layout.metadata)]);
  const schema = new A.Schema(fields, metadata);
  const batch = new A.RecordBatch(
    schema,
    A.makeData({ type: new A.Struct(fields), length: records.length, nullCount: 0, children: columns }),
  );
  return new A.Table([batch]);
}

/** The records as Arrow IPC bytes (stream by default, or { format: 'file' }). */
export function writeRolloutsArrow(records: readonly RolloutRecord[], options?: ArrowWriteOptions): Uint8Array {
  const { format = 'stream' } = readOptions(options, ['format']);
  if (format !== 'stream' && format !== 'file') throw typeError('options.format', `expected 'stream' or 'file', got ${describe(format)}`);
  const table = rolloutTable(records, options);
  return arrowModule().tableToIPC(table, format);
}

function readIds(A: Arrow, data: Data, column: string): RequestId[] {
  if (data.nullCount > 0) throw invalidRollout(column, 'holds nulls; every request needs an id');
  const ids = new Array<RequestId>(data.length);
  if (A.DataType.isUtf8(data.type)) {
    const offsets = data.valueOffsets as Int32Array;
    const bytes = data.values as Uint8Array;
    if (offsets.length < data.length + 1) throw fileError('ERR_SM_CORRUPT_FILE', column, 'offsets buffer shorter than its rows');
    const decoder = new TextDecoder('utf-8', { fatal: true });
    for (let i = 0; i < data.length; i++) {
      const begin = offsets[i];
      const end = offsets[i + 1];
      if (!(begin >= 0 && begin <= end && end <= bytes.length))
        throw fileError('ERR_SM_CORRUPT_FILE', column, `row ${i} spans bytes [${begin}, ${end}) of ${bytes.length}`);
      try {
        ids[i] = decoder.decode(bytes.subarray(begin, end));
      } catch (e) {
        throw fileError('ERR_SM_CORRUPT_FILE', column, `row ${i} is not valid UTF-8`, e);
      }
    }
  } else if (A.DataType.isInt(data.type) && data.type.bitWidth === 64 && data.type.isSigned) {
    const values = data.values as BigInt64Array;
    if (values.length < data.length) throw fileError('ERR_SM_CORRUPT_FILE', column, 'values buffer shorter than its rows');
    for (let i = 0; i < data.length; i++) {
      const id = values[i];
      if (id > BigInt(Number.MAX_SAFE_INTEGER) || id < BigInt(Number.MIN_SAFE_INTEGER)) {
        throw invalidRollout(column, `row ${i}: request id ${id} is outside the safe integer range`, { record: i });
      }
      ids[i] = Number(id);
    }
  } else {
    throw invalidRollout(column, `request ids must be utf8 or int64, got ${String(data.type)}`);
  }
  return ids;
}

function isScalarType(A: Arrow, type: DataType): boolean {
  return A.DataType.isInt(type) || A.DataType.isFloat(type) || A.DataType.isBool(type) || A.DataType.isUtf8(type);
}

// A scalar column's values, after checking its buffers cover its rows.
// (apache-arrow slices value and offset buffers along with the data; only
// validity bitmaps and boolean values are indexed from data.offset.)
function readScalars(A: Arrow, data: Data, column: string): RolloutScalar[] {
  const type = data.type;
  const values = data.values as ArrayLike<unknown>;
  const utf8 = A.DataType.isUtf8(type);
  const covered = A.DataType.isBool(type)
    ? values.length * 8 >= data.offset + data.length
    : utf8
      ? (data.valueOffsets as Int32Array).length > data.length
      : values.length >= data.length;
  if (!covered || (data.nullCount > 0 && data.nullBitmap.length * 8 < data.offset + data.length))
    throw fileError('ERR_SM_CORRUPT_FILE', column, 'buffers shorter than its rows');
  if (utf8) {
    const offsets = data.valueOffsets as Int32Array;
    for (let i = 0; i < data.length; i++) {
      if (!(offsets[i] >= 0 && offsets[i] <= offsets[i + 1] && offsets[i + 1] <= (values as Uint8Array).length)) {
        throw fileError('ERR_SM_CORRUPT_FILE', column, `row ${i} outside the column's bytes`);
      }
    }
  }
  // get() rather than toArray(): a typed array would turn nulls into zeros.
  const vector = A.makeVector(data);
  return Array.from({ length: data.length }, (_, i) => vector.get(i) as RolloutScalar);
}

/**
 * The records of a rollout table (layout at the top of this file), every
 * mask checked. Masks, tokens, prompts and log-probs are views of the table's
 * buffers, not copies. `options.vocab` is needed when the schema metadata has
 * no sampling_mask.vocab (a table made by other tools).
 */
export function rolloutsFromTable(table: Table, options: RolloutReadOptions = {}): RolloutFile {
  const A = arrowModule();
  if (table === null || typeof table !== 'object' || !Array.isArray((table as Table).batches))
    throw typeError('table', 'expected an Arrow Table');
  const vocab = resolveVocab(table.schema.metadata.get(kVocabKey), options, 'table');
  const names = table.schema.fields.map((f) => f.name);
  for (const required of ['request_id', 'sampling_mask']) {
    if (!names.includes(required)) throw invalidRollout('table', `no '${required}' column (columns: ${names.join(', ')})`);
  }
  const scalars = table.schema.fields.filter((f) => !kReservedColumns.includes(f.name));
  for (const field of scalars) {
    if (!isScalarType(A, field.type))
      throw invalidRollout(field.name, `extra columns must be scalars (int, float, bool, utf8), got ${String(field.type)}`);
  }
  const records: RolloutRecord[] = [];
  for (const batch of table.batches) {
    // An empty batch may come without child arrays: nothing to read in it.
    if (batch.numRows === 0) continue;
    const column = (name: string): Data | undefined => {
      const data = batch.getChild(name)?.data[0];
      if (data !== undefined && data.length !== batch.numRows)
        throw fileError('ERR_SM_CORRUPT_FILE', name, `has ${data.length} rows in a batch of ${batch.numRows}`);
      return data;
    };
    const list = (name: string, itemIs: (type: DataType | undefined) => boolean, itemName: string): CheckedList | undefined => {
      const data = column(name);
      return data === undefined ? undefined : new CheckedList(A, data, name, itemIs, itemName);
    };
    const ids = readIds(A, column('request_id') as Data, 'request_id');
    const masks = list(
      'sampling_mask',
      (type) => A.DataType.isList(type) && isInt32(A)(type.children[0]?.type),
      'List<Int32>',
    ) as CheckedList;
    const maskRows = new CheckedList(A, masks.child, 'sampling_mask', isInt32(A), 'Int32');
    const prompts = list('prompt_ids', isInt32(A), 'Int32');
    const tokens = list('token_ids', isInt32(A), 'Int32');
    const logprobs = list('logprobs', isFloat32(A), 'Float32');
    const outside = list('outside_steps', isInt32(A), 'Int32');
    const extra = scalars.map((field) => [field.name, readScalars(A, column(field.name) as Data, field.name)] as const);
    for (let i = 0; i < batch.numRows; i++) {
      const id = ids[i];
      const where = { requestId: id, record: records.length };
      const [first, end] = masks.span(i);
      let mask: SamplingMask;
      try {
        mask = maskRows.mask(first, end, vocab);
      } catch (e) {
        throw Object.assign(e as Error, {
          message: `sampling_mask of request ${JSON.stringify(id)}: ${(e as Error).message}`,
          ...where,
        });
      }
      const record: RolloutRecord = { id, mask };
      const perRow = <T extends Values>(source: CheckedList | undefined, name: string): T | undefined => {
        const values = source?.values<T>(i);
        if (values !== undefined && values.length !== mask.rows) {
          throw invalidRollout(name, `request ${JSON.stringify(id)} has ${values.length} entries for ${mask.rows} mask rows`, where);
        }
        return values;
      };
      const tokenIds = perRow<Int32Array>(tokens, 'token_ids');
      if (tokenIds !== undefined) record.tokens = checkTokenIds(tokenIds, vocab, 'token_ids', id, where);
      const sampled = perRow<Float32Array>(logprobs, 'logprobs');
      if (sampled !== undefined) record.logprobs = sampled;
      if (prompts !== undefined) record.promptIds = checkTokenIds(prompts.values<Int32Array>(i), vocab, 'prompt_ids', id, where);
      if (outside !== undefined) {
        const steps = Array.from(outside.values<Int32Array>(i));
        if (steps.some((s) => s < 0 || s >= mask.rows))
          throw invalidRollout('outside_steps', `request ${JSON.stringify(id)} lists a step outside its ${mask.rows} rows`, where);
        record.outsideSteps = steps;
      }
      if (extra.length > 0) record.columns = Object.fromEntries(extra.map(([name, values]) => [name, values[i]]));
      records.push(record);
    }
  }
  return { records, vocab, metadata: userMetadata(table.schema.metadata) };
}

function checkTokenIds(ids: Int32Array, vocab: number, column: string, id: RequestId, where: object): Int32Array {
  for (let j = 0; j < ids.length; j++) {
    if (ids[j] < 0 || ids[j] >= vocab)
      throw invalidRollout(column, `request ${JSON.stringify(id)}: entry ${j} is ${ids[j]}, outside [0, ${vocab})`, where);
  }
  return ids;
}

const kFileMagic = [0x41, 0x52, 0x52, 0x4f, 0x57, 0x31]; // "ARROW1"
const kEndOfStream = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];

function endsWith(bytes: Uint8Array, tail: readonly number[]): boolean {
  return bytes.length >= tail.length && tail.every((b, i) => bytes[bytes.length - tail.length + i] === b);
}

/**
 * Arrow IPC bytes (file or stream, told apart by the file magic) as a
 * table. A file must end with its footer magic and a stream with the
 * end-of-stream marker: Arrow's reader alone returns whatever messages are
 * complete, so a cut file would otherwise read as fewer (or no) rows.
 */
export function tableFromArrowBytes(bytes: Uint8Array, argument = 'bytes'): Table {
  if (!ArrayBuffer.isView(bytes) || Object.prototype.toString.call(bytes) !== '[object Uint8Array]')
    throw typeError(argument, 'expected a Uint8Array (or Buffer) of Arrow IPC bytes');
  const A = arrowModule();
  const isFile = kFileMagic.every((b, i) => bytes[i] === b);
  if (isFile ? !endsWith(bytes, kFileMagic) || bytes.length < 2 * kFileMagic.length + 6 : !endsWith(bytes, kEndOfStream)) {
    throw fileError(
      'ERR_SM_TRUNCATED',
      argument,
      isFile
        ? 'Arrow IPC file without its closing magic: cut short'
        : 'Arrow IPC stream without its end-of-stream marker: cut short (or not Arrow)',
    );
  }
  // Arrow views its buffers in place; Int32 views need 4-byte alignment.
  const aligned = bytes.byteOffset % 8 === 0 ? bytes : bytes.slice();
  try {
    return withBoundedVectors(() => withBoundedMessages(A, aligned.length, () => A.tableFromIPC(aligned)));
  } catch (e) {
    throw fileError('ERR_SM_CORRUPT_FILE', argument, `not a readable Arrow IPC ${isFile ? 'file' : 'stream'}: ${(e as Error).message}`, e);
  }
}

interface FlatbufferBytes {
  bytes_: Uint8Array;
  readInt32(offset: number): number;
}

/**
 * Runs read() with the length of every flatbuffer vector checked against the
 * bytes it lives in. apache-arrow decodes IPC metadata with the flatbuffers
 * package, which reads vector lengths unchecked (out-of-range reads give 0):
 * one flipped bit in a lying length made it loop over millions of phantom
 * buffer descriptors (seconds to minutes). A vector of n elements needs at
 * least n bytes, so a longer claim is corrupt. The check is installed on the
 * flatbuffers copy apache-arrow uses, for this synchronous call only.
 */
function withBoundedVectors<T>(read: () => T): T {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the optional package's own dependency, resolved at run time
  const flatbuffers = require(require.resolve('flatbuffers', { paths: [dirname(require.resolve('apache-arrow'))] })) as {
    ByteBuffer: { prototype: { __vector_len(this: FlatbufferBytes, offset: number): number } };
  };
  const prototype = flatbuffers.ByteBuffer.prototype;
  const unchecked = prototype.__vector_len;
  prototype.__vector_len = function checkedVectorLength(this: FlatbufferBytes, offset: number): number {
    const start = offset + this.readInt32(offset);
    const length = this.readInt32(start);
    if (start < 0 || length < 0 || start + 4 + length > this.bytes_.length) {
      throw new RangeError(`metadata vector of ${length} entries at byte ${start} runs past its ${this.bytes_.length} bytes`);
    }
    return length;
  };
  try {
    return read();
  } finally {
    prototype.__vector_len = unchecked;
  }
}

/**
 * Runs read() with the number of IPC messages it may read bounded by what
 * the bytes can hold (every message takes at least 8 of them). apache-arrow's
 * file reader re-reads the same footer block forever when that block holds a
 * schema message instead of a record batch (one inserted byte does it,
 * found by `npm run fuzz`), so a longer read is corrupt input, not progress.
 */
function withBoundedMessages<T>(A: Arrow, byteLength: number, read: () => T): T {
  const prototype = A.MessageReader.prototype as { readMessage(this: unknown, type?: unknown): unknown };
  const unbounded = prototype.readMessage;
  let left = Math.floor(byteLength / 8) + 2;
  prototype.readMessage = function boundedReadMessage(this: unknown, type?: unknown): unknown {
    if (--left < 0) throw new RangeError(`more IPC messages read than ${byteLength} bytes can hold: the file points back into itself`);
    return unbounded.call(this, type);
  };
  try {
    return read();
  } finally {
    prototype.readMessage = unbounded;
  }
}

/** Errors from reading a file's content that are not already the package's own are the file's fault. @internal */
export function asFileError<T>(argument: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_SM_')) throw e;
    throw fileError('ERR_SM_CORRUPT_FILE', argument, `unreadable content: ${(e as Error).message}`, e);
  }
}

/** The records of Arrow IPC bytes (file or stream), as rolloutsFromTable reads them. */
export function readRolloutsArrow(bytes: Uint8Array, options: RolloutReadOptions = {}): RolloutFile {
  const table = tableFromArrowBytes(bytes);
  return asFileError('bytes', () => rolloutsFromTable(table, options));
}
