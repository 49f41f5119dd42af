// Building masks from what inference servers return (one id list per
// generated token) and joining per-request masks into trainer batches.
import { SamplingMask, wrapNativeCsr } from './sampling-mask';
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
    throw outOfRange(argument, `expected an integer in [1, ${kMaxVocab}], got ${String(vocab)}`);
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

// Copies a row's ids to indices[at, ...). Returns the position of the first
// id that is not an integer in [0, vocab), else kAscending or kNotAscending
// (all valid, but not strictly ascending). A small function of its own so
// the engine optimizes this loop for the caller's array kind.
function copyRow(list: ArrayLike<number>, indices: Int32Array, at: number, vocab: number): number {
  let previous = -1;
  let ascending = true;
  for (let j = 0; j < list.length; j++) {
    const id = list[j];
    if ((id | 0) !== id || id < 0 || id >= vocab) return j;
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

/**
 * A mask from one id list per row (vLLM `sampling_mask`, SGLang
 * `meta_info.output_token_sampling_mask`). Every id must be an integer in
 * [0, vocab); errors name the row.
 */
export function fromLists(
  lists: ArrayLike<ArrayLike<number>>,
  vocab: number,
  options: FromListsOptions = {},
): SamplingMask {
  checkVocab(vocab);
  const order = options.order ?? 'reject';
  if (order !== 'reject' && order !== 'sort') throw typeError('options.order', `expected 'reject' or 'sort', got ${String(order)}`);
  if (!isArrayLike(lists)) throw typeError('lists', 'expected an array of id lists');
  const rows = lists.length;
  let total = 0;
  for (let r = 0; r < rows; r++) {
    const list = lists[r];
    if (!isArrayLike(list)) throw Object.assign(typeError('lists', `row ${r} is not an array of ids`), { row: r });
    total += list.length;
  }
  if (total > 0x7fffffff) throw listError(`${total} ids in all, more than 2^31 - 1; split the batch`);
  const offsets = new Int32Array(rows + 1);
  const indices = new Int32Array(total);
  let at = 0;
  for (let r = 0; r < rows; r++) {
    const list = lists[r];
    const n = list.length;
    if (at + n > total) throw listError(`row ${r} changed length while being read`, r);
    const status = copyRow(list, indices, at, vocab);
    let end = at + n;
    if (status >= 0) {
      const id = list[status];
      throw listError(`row ${r} has ${typeof id === 'string' ? JSON.stringify(id) : String(id)} at position ${status}, expected an integer id in [0, ${vocab})`, r);
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
 * padding rows keep only padId (see ConcatOptions).
 */
export function concat(masks: readonly SamplingMask[], options: ConcatOptions = {}): SamplingMask {
  if (!Array.isArray(masks) || masks.length === 0) throw typeError('masks', 'expected a non-empty array of SamplingMask');
  masks.forEach((m, i) => {
    if (!(m instanceof SamplingMask)) throw typeError(`masks[${i}]`, 'expected a SamplingMask');
    if (m.vocab !== masks[0].vocab) throw outOfRange(`masks[${i}]`, `vocab ${m.vocab} differs from masks[0]'s ${masks[0].vocab}`);
  });
  const vocab = masks[0].vocab;
  const padTo = options.padTo;
  const padId = options.padId ?? 0;
  const padLeft = (options.padSide ?? 'right') === 'left';
  if (options.padSide !== undefined && options.padSide !== 'left' && options.padSide !== 'right') {
    throw typeError('options.padSide', `expected 'right' or 'left', got ${String(options.padSide)}`);
  }
  if (padTo !== undefined) {
    if (!Number.isInteger(padTo) || padTo < 0) throw outOfRange('options.padTo', `expected an integer >= 0, got ${padTo}`);
    masks.forEach((m, i) => {
      if (m.rows > padTo) throw outOfRange('options.padTo', `masks[${i}] has ${m.rows} rows, more than padTo ${padTo}`);
    });
  }
  if (!Number.isInteger(padId) || padId < 0 || padId >= vocab) {
    throw outOfRange('options.padId', `expected an integer id in [0, ${vocab}), got ${padId}`);
  }
  let rows = 0;
  let ids = 0;
  for (const m of masks) {
    const pad = padTo === undefined ? 0 : padTo - m.rows;
    rows += m.rows + pad;
    ids += m.indices.length + pad;
  }
  if (ids > 0x7fffffff) throw outOfRange('masks', `${ids} ids in all, more than 2^31 - 1`);
  const offsets = new Int32Array(rows + 1);
  const indices = new Int32Array(ids);
  let row = 0;
  let at = 0;
  const pad = (count: number) => {
    for (let i = 0; i < count; i++) {
      indices[at++] = padId;
      offsets[++row] = at;
    }
  };
  for (const m of masks) {
    const padding = padTo === undefined ? 0 : padTo - m.rows;
    if (padLeft) pad(padding);
    indices.set(m.indices, at);
    for (let r = 1; r <= m.rows; r++) offsets[row + r] = at + m.offsets[r];
    row += m.rows;
    at += m.indices.length;
    if (!padLeft) pad(padding);
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
 * request. Tokens must be ids in [0, vocab), one per mask row.
 */
export function trainerBatch(requests: readonly TrainerBatchRequest[], options: ConcatOptions = {}): TrainerBatch {
  if (!Array.isArray(requests) || requests.length === 0) throw typeError('requests', 'expected a non-empty array of { mask, tokens }');
  const masks = requests.map((r, i) => {
    if (r === null || typeof r !== 'object') throw typeError(`requests[${i}]`, 'expected { mask, tokens }');
    return r.mask;
  });
  const padTo = options.padTo ?? Math.max(...masks.map((m) => (m instanceof SamplingMask ? m.rows : 0)));
  const mask = concat(masks, { ...options, padTo });
  const padId = options.padId ?? 0;
  const left = options.padSide === 'left';
  const targets = new Int32Array(requests.length * padTo).fill(padId);
  const lossMask = new Float32Array(requests.length * padTo);
  requests.forEach(({ mask: m, tokens }, b) => {
    if (!isArrayLike(tokens)) throw typeError(`requests[${b}].tokens`, 'expected the token generated at each mask row');
    if (tokens.length !== m.rows) throw outOfRange(`requests[${b}].tokens`, `has ${tokens.length} tokens for ${m.rows} mask rows`);
    const start = b * padTo + (left ? padTo - m.rows : 0);
    for (let t = 0; t < tokens.length; t++) {
      const token = tokens[t] as number;
      if ((token | 0) !== token || token < 0 || token >= mask.vocab) {
        throw outOfRange(`requests[${b}].tokens`, `entry ${t} is ${String(token)}, expected a token id in [0, ${mask.vocab})`);
      }
      targets[start + t] = token;
      lossMask[start + t] = 1;
    }
  });
  return { mask, targets: { data: targets, shape: [requests.length, padTo] }, lossMask };
}
