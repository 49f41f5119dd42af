// What the file formats carry: one record per request (its id, the mask of
// each generated token, and optionally its tokens, prompt, log-probs and
// scalar columns such as a reward), checked whole before any writer
// produces a byte.
import { describe, readIds, readList, readOptions } from './args';
import { rangeError, typeError } from './errors';
import { checkVocab, kMaxVocab } from './lists';
import type { MaskRecord } from './records';
import type { RequestId } from './recorder';
import { readMask, wrapNativeCsr, type SamplingMask } from './sampling-mask';

/** A scalar column value: number (float64), bigint (int64), string, boolean, or null. */
export type RolloutScalar = number | bigint | string | boolean | null;

export interface RolloutRecord extends MaskRecord {
  /** The prompt's token ids. */
  promptIds?: ArrayLike<number>;
  /** The sampler's log-prob of each generated token (one per mask row). */
  logprobs?: ArrayLike<number>;
  /** Scalar columns (reward, advantage, environment name, ...), by column name. */
  columns?: Record<string, RolloutScalar>;
}

/** What a reader returns. */
export interface RolloutFile {
  records: RolloutRecord[];
  vocab: number;
  /** The file's own key-value metadata, the package's keys left out. */
  metadata: Record<string, string>;
}

export interface RolloutWriteOptions {
  /** The vocabulary size; taken from the records' masks when omitted (required for no records). */
  vocab?: number;
  /** Key-value strings stored with the file (Arrow schema metadata, Parquet key-value metadata, safetensors __metadata__). */
  metadata?: Record<string, string>;
}

export interface RolloutReadOptions {
  /** The vocabulary size, for files written without it (e.g. by other tools); must agree with the file's. */
  vocab?: number;
}

export type ScalarKind = 'float64' | 'int64' | 'utf8' | 'bool';

/** A record as checkRollouts read it: every field once, into values of the package's own. */
export interface CheckedRollout {
  id: RequestId;
  /** The record's mask over arrays of the package's own (see readMask), checked. */
  mask: SamplingMask;
  tokens?: Int32Array;
  logprobs?: Float32Array;
  promptIds?: Int32Array;
  outsideSteps?: number[];
  columns?: Record<string, RolloutScalar>;
}

/**
 * The shape of a set of records that every writer needs, checked once, up
 * front, with the records and metadata as read: a writer uses these, never
 * the caller's objects again (a getter could answer otherwise the second time).
 */
export interface RolloutLayout {
  records: CheckedRollout[];
  /** The caller's metadata (options.metadata), checked; empty when none. */
  metadata: Record<string, string>;
  vocab: number;
  idKind: 'utf8' | 'int64';
  hasPrompt: boolean;
  hasTokens: boolean;
  hasLogprobs: boolean;
  hasOutsideSteps: boolean;
  /** Extra scalar columns in first-seen order. */
  scalars: Map<string, ScalarKind>;
  /** Generated tokens (mask rows) of all records. */
  totalRows: number;
}

/** Column names the formats use themselves; scalar columns may not take them. */
export const kReservedColumns = ['request_id', 'prompt_ids', 'token_ids', 'logprobs', 'sampling_mask', 'outside_steps'];

export function recordError(index: number, field: string, message: string): RangeError {
  return rangeError('ERR_SM_OUT_OF_RANGE', `records[${index}].${field}`, message);
}

function recordTypeError(index: number, field: string, message: string): TypeError {
  return typeError(`records[${index}].${field}`, message);
}

function scalarKind(value: unknown): ScalarKind | null | undefined {
  switch (typeof value) {
    case 'number':
      return 'float64';
    case 'bigint':
      return 'int64';
    case 'string':
      return 'utf8';
    case 'boolean':
      return 'bool';
    default:
      return value === null ? null : undefined;
  }
}

// One record, each field read once: the mask checked (readMask), the arrays
// copied; ids and tokens are checked against the vocab once it is known.
function readRecord(record: unknown, i: number) {
  if (record === null || typeof record !== 'object') throw typeError(`records[${i}]`, 'expected a record { id, mask, ... }');
  const { id, mask, tokens, logprobs, promptIds, outsideSteps, columns } = record as RolloutRecord;
  const m = readMask(mask, `records[${i}].mask`);
  const list = (values: unknown, field: string, what: string) =>
    values === undefined ? undefined : readList(values, `records[${i}].${field}`, what);
  const logprobValues = list(logprobs, 'logprobs', 'an array of numbers');
  logprobValues?.forEach((value, j) => {
    if (typeof value !== 'number') throw recordTypeError(i, 'logprobs', `entry ${j} is ${describe(value)}, not a number`);
  });
  if (outsideSteps !== undefined && !Array.isArray(outsideSteps))
    throw recordTypeError(i, 'outsideSteps', 'expected an array of row numbers');
  if (columns !== undefined && (columns === null || typeof columns !== 'object'))
    throw recordTypeError(i, 'columns', 'expected an object of scalars');
  return {
    id,
    mask: wrapNativeCsr(m.offsets, m.indices, m.vocab),
    tokens: list(tokens, 'tokens', 'an array of numbers'),
    logprobs: logprobValues === undefined ? undefined : Float32Array.from(logprobValues as number[]),
    promptIds: list(promptIds, 'promptIds', 'an array of token ids'),
    outsideSteps:
      outsideSteps === undefined ? [] : readIds(outsideSteps, `records[${i}].outsideSteps`, 'an array of row numbers', 0, m.rows),
    columns: columns === undefined ? {} : Object.fromEntries(Object.entries(columns as object)),
  };
}

// Every entry an integer in [0, vocab), so no file ever holds an id the
// trainer cannot index with.
function checkIds(values: readonly unknown[], vocab: number, index: number, field: string): Int32Array {
  const ids = new Int32Array(values.length);
  values.forEach((id, j) => {
    if (typeof id !== 'number' || (id | 0) !== id || id < 0 || id >= vocab) {
      throw recordError(index, field, `entry ${j} is ${describe(id)}, expected a token id in [0, ${vocab})`);
    }
    ids[j] = id;
  });
  return ids;
}

/**
 * Checks records for writing (each read once: see RolloutLayout); throws a
 * TypeError or RangeError naming the record and field.
 */
export function checkRollouts(records: readonly RolloutRecord[], options?: RolloutWriteOptions): RolloutLayout {
  if (!Array.isArray(records)) throw typeError('records', 'expected an array of records');
  const { vocab, metadata } = readOptions(options, ['vocab', 'metadata']);
  const read = readList(records, 'records', 'an array of records').map(readRecord);
  const first = read[0];
  if (vocab === undefined && first === undefined)
    throw rangeError('ERR_SM_OUT_OF_RANGE', 'options.vocab', 'no records to take the vocabulary size from: pass { vocab }');
  const layout: RolloutLayout = {
    records: [],
    metadata: metadata === undefined ? {} : checkMetadata(metadata, 'options.metadata'),
    vocab: checkVocab(vocab !== undefined ? vocab : first.mask.vocab, 'options.vocab'),
    idKind: typeof first?.id === 'string' ? 'utf8' : 'int64',
    hasPrompt: read.some((r) => r.promptIds !== undefined),
    hasTokens: read.some((r) => r.tokens !== undefined),
    hasLogprobs: read.some((r) => r.logprobs !== undefined),
    hasOutsideSteps: read.some((r) => r.outsideSteps.length > 0),
    scalars: new Map(),
    totalRows: read.reduce((n, r) => n + r.mask.rows, 0),
  };
  if (layout.totalRows > 0x7fffffff)
    throw rangeError('ERR_SM_OUT_OF_RANGE', 'records', `${layout.totalRows} mask rows in all, more than 2^31 - 1`);
  const kinds = new Map<string, ScalarKind | null>();
  layout.records = read.map((record, i) => {
    const { id, mask } = record;
    if (mask.vocab !== layout.vocab) throw recordError(i, 'mask', `vocab ${mask.vocab} differs from ${layout.vocab}`);
    const kind = typeof id === 'string' ? 'utf8' : typeof id === 'number' && Number.isSafeInteger(id) ? 'int64' : undefined;
    if (kind === undefined) throw recordTypeError(i, 'id', `expected a string or a safe integer, got ${describe(id)}`);
    if (kind !== layout.idKind) {
      throw recordTypeError(
        i,
        'id',
        `${describe(id)} is a ${typeof id} but records[0].id is a ${typeof first.id}: a column holds one type (convert the ids with String())`,
      );
    }
    const checked: CheckedRollout = { id, mask };
    const perRow = (field: 'tokens' | 'logprobs', values: ArrayLike<unknown> | undefined, required: boolean): void => {
      if (values === undefined) {
        if (required) throw recordError(i, field, `missing while other records have ${field}; every record needs them or none does`);
        return;
      }
      if (values.length !== mask.rows) throw recordError(i, field, `has ${values.length} entries for ${mask.rows} mask rows`);
    };
    perRow('tokens', record.tokens, layout.hasTokens);
    perRow('logprobs', record.logprobs, layout.hasLogprobs);
    if (record.tokens !== undefined) checked.tokens = checkIds(record.tokens, layout.vocab, i, 'tokens');
    if (record.logprobs !== undefined) checked.logprobs = record.logprobs;
    if (layout.hasPrompt) {
      if (record.promptIds === undefined)
        throw recordError(i, 'promptIds', 'missing while other records have promptIds; every record needs them or none does');
      checked.promptIds = checkIds(record.promptIds, layout.vocab, i, 'promptIds');
    }
    checked.outsideSteps = Array.from(record.outsideSteps);
    for (const [name, value] of Object.entries(record.columns)) {
      if (kReservedColumns.includes(name))
        throw recordError(i, `columns.${name}`, `'${name}' is one of the format's own columns: ${kReservedColumns.join(', ')}`);
      const valueKind = scalarKind(value);
      if (valueKind === undefined)
        throw recordTypeError(i, `columns.${name}`, `expected a number, bigint, string, boolean or null, got ${typeof value}`);
      const seen = kinds.get(name);
      if (seen === undefined || seen === null) kinds.set(name, valueKind);
      else if (valueKind !== null && valueKind !== seen)
        throw recordTypeError(i, `columns.${name}`, `is a ${valueKind} where earlier records have a ${seen}`);
    }
    checked.columns = record.columns as Record<string, RolloutScalar>;
    return checked;
  });
  // A column of nulls only is stored as float64.
  for (const [name, kind] of kinds) layout.scalars.set(name, kind ?? 'float64');
  return layout;
}

/** Key-value metadata must be strings to strings (Arrow, Parquet and safetensors store nothing else). */
export function checkMetadata(metadata: unknown, argument: string): Record<string, string> {
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata))
    throw typeError(argument, 'expected an object of strings');
  // One read of each entry, into an object of the package's own.
  const entries = Object.entries(metadata);
  for (const [key, value] of entries) {
    if (typeof value !== 'string') throw typeError(`${argument}.${key}`, `expected a string, got ${typeof value}`);
    if (key.startsWith(kMetadataPrefix))
      throw rangeError('ERR_SM_OUT_OF_RANGE', `${argument}.${key}`, `keys starting with '${kMetadataPrefix}' are the package's own`);
  }
  return Object.fromEntries(entries) as Record<string, string>;
}

/** The prefix of the package's own metadata keys. */
export const kMetadataPrefix = 'sampling_mask.';
export const kVocabKey = `${kMetadataPrefix}vocab`;

/** The user's part of a file's metadata. */
export function userMetadata(entries: Iterable<[string, string]>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of entries) if (!key.startsWith(kMetadataPrefix)) out[key] = value;
  return out;
}

/** A file's content is not a rollout of this package (a column of the wrong type, a missing vocab, ...). */
export function invalidRollout(argument: string, message: string, extra: { requestId?: RequestId; record?: number } = {}): RangeError {
  return Object.assign(rangeError('ERR_SM_INVALID_ROLLOUT', argument, message), extra);
}

/** The vocabulary size from the file and/or the caller: one of them is needed, and they must agree. */
export function resolveVocab(stored: string | undefined, options: RolloutReadOptions, argument: string): number {
  let fromFile: number | undefined;
  if (stored !== undefined) {
    fromFile = Number(stored);
    if (!/^[1-9][0-9]{0,7}$/.test(stored) || fromFile > kMaxVocab)
      throw invalidRollout(argument, `${kVocabKey} is ${JSON.stringify(stored)}, not an integer in [1, ${kMaxVocab}]`);
  }
  const { vocab: asked } = readOptions(options, ['vocab']);
  const given = asked === undefined ? undefined : checkVocab(asked, 'options.vocab');
  if (fromFile !== undefined && given !== undefined && fromFile !== given) {
    throw invalidRollout(argument, `the file says vocab ${fromFile}, options.vocab says ${given}`);
  }
  const vocab = fromFile ?? given;
  if (vocab === undefined) throw invalidRollout(argument, `no ${kVocabKey} in the file's metadata: pass { vocab }`);
  return vocab;
}

/** Per-record arrays (a missing one counts as empty) joined into one values array, with its offsets. */
export function joined<T extends Int32Array | Float32Array>(
  lists: readonly (ArrayLike<number> | undefined)[],
  Ctor: { new (length: number): T },
): { offsets: Int32Array; values: T } {
  const offsets = new Int32Array(lists.length + 1);
  lists.forEach((list, i) => (offsets[i + 1] = offsets[i] + (list?.length ?? 0)));
  const values = new Ctor(offsets[lists.length]);
  lists.forEach((list, i) => list !== undefined && values.set(list, offsets[i]));
  return { offsets, values };
}

/** Where each record's mask rows start among all records' rows, and their total at the end. */
export function requestRows(records: readonly { mask: SamplingMask }[]): Int32Array {
  const offsets = new Int32Array(records.length + 1);
  records.forEach((r, i) => (offsets[i + 1] = offsets[i] + r.mask.rows));
  return offsets;
}
