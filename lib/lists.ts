// Building masks from what inference servers return (one id list per
// generated token) and joining per-request masks into trainer batches.
import { allocate, describe, kMaxElements, readIds, readLength, readList, readOptions } from './args';
import { readMask, SamplingMask, wrapNativeCsr, type MaskSnapshot } from './sampling-mask';
import { rangeError, typeError } from './errors';

/** What fromLists does with a row that is not strictly ascending. */
export type ListOrder = 'reject' | 'sort';

export interface FromListsOptions {
  /**
   * 'reject' (default): an unsorted row or a repeated id is an error naming
   * the row. 'sort': such rows are sorted and repeated ids kept once (a mask
   * is a set).
   */
  order?: ListOrder;
}

export interface ConcatOptions {
  /**
   * Rows per mask in the result: each mask is followed (padSide 'right') or
   * preceded ('left') by padding rows up to this many, so the result is a
   * [masks.length, padTo] batch flattened row-major.
   */
  padTo?: number;
  /**
   * The id a padding row keeps (default 0). A padding row keeps exactly this
   * one id, so when the trainer's target at that position is padId, the
   * masked log-prob there is exactly 0, its entropy 0 and its gradient 0:
   * finite, so a loss mask multiplying it by 0 gives 0, never NaN.
   */
  padId?: number;
  padSide?: 'right' | 'left';
}

/** The largest vocabulary the package handles. */
export const kMaxVocab = 1 << 23;

function listError(message: string, row?: number): RangeError {
  return rangeError('ERR_SM_INVALID_MASK', 'lists', message, row);
}

function outOfRange(argument: string, message: string): RangeError {
  return rangeError('ERR_SM_OUT_OF_RANGE', argument, message);
}

export function checkVocab(vocab: unknown, argument = 'vocab'): number {
  if (typeof vocab !== 'number' || !Number.isInteger(vocab) || vocab < 1 || vocab > kMaxVocab) {
    throw outOfRange(argument, `expected an integer in [1, ${kMaxVocab}], got ${describe(vocab)}`);
  }
  return vocab;
}

export function isArrayLike(value: unknown): value is ArrayLike<unknown> {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as ArrayLike<unknown>).length === 'number' &&
    Number.isInteger((value as ArrayLike<unknown>).length)
  );
}

const kAscending = -1;
const kNotAscending = -2;
// The value copyRow refused (read once: the error message shows it, not a second read).
let refusedId: unknown;

// Copies the first n ids of a row to indices[at, ...), reading each element
// once. Returns the position of the first id that is not an integer in
// [0, vocab) (kept in refusedId), else kAscending or kNotAscending (all
// valid, but not strictly ascending). A small function of its own so the
// engine optimizes this loop for the caller's array kind.
function copyRow(list: ArrayLike<unknown>, n: number, indices: Int32Array, at: number, vocab: number): number {
  let previous = -1;
  let ascending = true;
  for (let j = 0; j < n; j++) {
    const id = list[j];
    if (typeof id !== 'number' || (id | 0) !== id || id < 0 || id >= vocab) {
      refusedId = id;
      return j;
    }
    if (id <= previous) ascending = false;
    indices[at + j] = id;
    previous = id;
  }
  return ascending ? kAscending : kNotAscending;
}

// Why row r (already copied to ids[start, end)) is not strictly ascending.
function describeDisorder(ids: Int32Array, start: number, end: number, row: number): string {
  for (let j = start + 1; j < end; j++) {
    if (ids[j] === ids[j - 1]) return `row ${row} repeats id ${ids[j]}`;
    if (ids[j] < ids[j - 1]) return `row ${row} is not ascending (id ${ids[j]} after ${ids[j - 1]}); pass { order: 'sort' } to sort`;
  }
  return `row ${row} is not strictly ascending`;
}

// Sorts ids[start, end) (at least 2 ids) and drops repeats in place; returns
// the new end.
function sortUnique(ids: Int32Array, start: number, end: number): number {
  ids.subarray(start, end).sort();
  let out = start + 1;
  for (let j = start + 1; j < end; j++) if (ids[j] !== ids[out - 1]) ids[out++] = ids[j];
  return out;
}

/** An options.order of the list readers: 'reject' or 'sort'. */
export function readListOrder(order: unknown): ListOrder {
  if (order !== 'reject' && order !== 'sort') throw typeError('options.order', `expected 'reject' or 'sort', got ${describe(order)}`);
  return order;
}

/**
 * A mask from one id list per row (vLLM `sampling_mask`, SGLang
 * `meta_info.output_token_sampling_mask`). Every id must be an integer in
 * [0, vocab); errors name the row. Each row, its length and each id are
 * read once (the ids straight into the mask's own array, checked there).
 */
export function fromLists(lists: ArrayLike<ArrayLike<number>>, vocab: number, options?: FromListsOptions): SamplingMask {
  checkVocab(vocab);
  const { order: asked = 'reject' } = readOptions(options, ['order']);
  const order = readListOrder(asked);
  const rows = readLength(lists, 'lists', 'an array of id lists');
  const rowLists = new Array<ArrayLike<unknown>>(rows);
  const lengths = allocate(() => new Int32Array(rows), 'lists');
  let total = 0;
  for (let r = 0; r < rows; r++) {
    const list = (lists as ArrayLike<unknown>)[r];
    lengths[r] = readLength(list, 'lists', `row ${r} to be an array of ids`, r);
    rowLists[r] = list as ArrayLike<unknown>;
    total += lengths[r];
    if (total > kMaxElements) throw listError(`more than 2^31 - 1 ids in all; split the batch`);
  }
  const offsets = allocate(() => new Int32Array(rows + 1), 'lists');
  const indices = allocate(() => new Int32Array(total), 'lists');
  let at = 0;
  for (let r = 0; r < rows; r++) {
    const status = copyRow(rowLists[r], lengths[r], indices, at, vocab);
    let end = at + lengths[r];
    if (status >= 0) {
      throw listError(`row ${r} has ${describe(refusedId)} at position ${status}, expected an integer id in [0, ${vocab})`, r);
    }
    if (status === kNotAscending) {
      if (order === 'reject') throw listError(describeDisorder(indices, at, end, r), r);
      end = sortUnique(indices, at, end);
    }
    at = end;
    offsets[r + 1] = at;
  }
  return wrapNativeCsr(offsets, at === total ? indices : indices.slice(0, at), vocab);
}

/**
 * The rows of several masks one after another (same vocab), e.g. the requests
 * of a trainer micro-batch; with padTo, a [masks.length, padTo] batch whose
 * padding rows keep only padId (see ConcatOptions). Each mask is read once
 * and checked (readMask), so the result can be trusted.
 */
export function concat(masks: readonly SamplingMask[], options?: ConcatOptions): SamplingMask {
  if (!Array.isArray(masks)) throw typeError('masks', 'expected a non-empty array of SamplingMask');
  const parts = readList(masks, 'masks', 'a non-empty array of SamplingMask').map((m, i) => readMask(m, `masks[${i}]`));
  if (parts.length === 0) throw typeError('masks', 'expected a non-empty array of SamplingMask');
  return joinParts(parts, readPadding(options, parts), 'masks', (i) => `masks[${i}]`);
}

interface Padding {
  padTo: number | undefined;
  padId: number;
  left: boolean;
}

// ConcatOptions read once and checked against the masks they pad.
function readPadding(options: unknown, parts: readonly MaskSnapshot[]): Padding {
  const { padTo, padId = 0, padSide = 'right' } = readOptions(options, ['padTo', 'padId', 'padSide']);
  if (padSide !== 'left' && padSide !== 'right') {
    throw typeError('options.padSide', `expected 'right' or 'left', got ${describe(padSide)}`);
  }
  if (padTo !== undefined && (typeof padTo !== 'number' || !Number.isInteger(padTo) || padTo < 0)) {
    throw outOfRange('options.padTo', `expected an integer >= 0, got ${describe(padTo)}`);
  }
  const vocab = parts[0].vocab;
  if (typeof padId !== 'number' || !Number.isInteger(padId) || padId < 0 || padId >= vocab) {
    throw outOfRange('options.padId', `expected an integer id in [0, ${vocab}), got ${describe(padId)}`);
  }
  return { padTo: padTo as number | undefined, padId, left: padSide === 'left' };
}

// The rows of checked masks one after another, padded. Errors name the
// argument that holds them, and name(i) mask i within it.
function joinParts(
  parts: readonly MaskSnapshot[],
  { padTo, padId, left }: Padding,
  argument: string,
  name: (i: number) => string,
): SamplingMask {
  const vocab = parts[0].vocab;
  parts.forEach((m, i) => {
    if (m.vocab !== vocab) throw outOfRange(name(i), `vocab ${m.vocab} differs from ${name(0)}'s ${vocab}`);
    if (padTo !== undefined && m.rows > padTo) throw outOfRange('options.padTo', `${name(i)} has ${m.rows} rows, more than padTo ${padTo}`);
  });
  let rows = 0;
  let ids = 0;
  for (const m of parts) {
    const pad = padTo === undefined ? 0 : padTo - m.rows;
    rows += m.rows + pad;
    ids += m.indices.length + pad;
  }
  if (ids > kMaxElements || rows >= kMaxElements) throw outOfRange(argument, `${ids} ids in ${rows} rows, more than 2^31 - 1`);
  const offsets = allocate(() => new Int32Array(rows + 1), argument);
  const indices = allocate(() => new Int32Array(ids), argument);
  let row = 0;
  let at = 0;
  const pad = (count: number) => {
    for (let i = 0; i < count; i++) {
      indices[at++] = padId;
      offsets[++row] = at;
    }
  };
  for (const m of parts) {
    const padding = padTo === undefined ? 0 : padTo - m.rows;
    if (left) pad(padding);
    indices.set(m.indices, at);
    for (let r = 1; r <= m.rows; r++) offsets[row + r] = at + m.offsets[r];
    row += m.rows;
    at += m.indices.length;
    if (!left) pad(padding);
  }
  return wrapNativeCsr(offsets, indices, vocab);
}

/** One request of a trainer batch: its mask rows and the token generated at each. */
export interface TrainerBatchRequest {
  mask: SamplingMask;
  tokens?: ArrayLike<number>;
}

/** A [B, T] batch, everything flattened row-major. */
export interface TrainerBatch {
  /** Each request's rows, padded as concat({ padTo }) pads: a padding row keeps only padId. */
  mask: SamplingMask;
  /** Each request's tokens, padId at the padded positions: maskedLogprobs gives exactly 0 there. */
  targets: { data: Int32Array; shape: [number, number] };
  /** 1 at the requests' positions, 0 at the padded ones. */
  lossMask: Float32Array;
}

/**
 * The masks, targets and loss mask of a [B, T] trainer batch, aligned:
 * request b's rows and tokens at [b, 0 .. rows) (padSide 'right', default)
 * or at the end of its row of T ('left'). padTo defaults to the longest
 * request. Tokens must be ids in [0, vocab), one per mask row. Every request
 * is read once (its mask checked as concat checks it).
 */
export function trainerBatch(requests: readonly TrainerBatchRequest[], options?: ConcatOptions): TrainerBatch {
  const expected = 'a non-empty array of { mask, tokens }';
  if (!Array.isArray(requests)) throw typeError('requests', `expected ${expected}`);
  const fields = readList(requests, 'requests', expected).map((r, i) => {
    if (r === null || typeof r !== 'object') throw typeError(`requests[${i}]`, 'expected { mask, tokens }');
    const { mask, tokens } = r as TrainerBatchRequest;
    return { mask: readMask(mask, `requests[${i}].mask`), tokens };
  });
  if (fields.length === 0) throw typeError('requests', `expected ${expected}`);
  const parts = fields.map((f) => f.mask);
  const padding = readPadding(options, parts);
  const padTo = padding.padTo ?? Math.max(...parts.map((m) => m.rows));
  const mask = joinParts(parts, { ...padding, padTo }, 'requests', (i) => `requests[${i}].mask`);
  const targets = allocate(() => new Int32Array(fields.length * padTo), 'requests').fill(padding.padId);
  const lossMask = allocate(() => new Float32Array(fields.length * padTo), 'requests');
  fields.forEach(({ mask: m, tokens }, b) => {
    const argument = `requests[${b}].tokens`;
    const ids = readIds(tokens, argument, 'the token generated at each mask row', 0, mask.vocab);
    if (ids.length !== m.rows) throw outOfRange(argument, `has ${ids.length} tokens for ${m.rows} mask rows`);
    const start = b * padTo + (padding.left ? padTo - m.rows : 0);
    targets.set(ids, start);
    lossMask.fill(1, start, start + ids.length);
  });
  return { mask, targets: { data: targets, shape: [fields.length, padTo] }, lossMask };
}
