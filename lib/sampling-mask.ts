// The kept ids of N rows in CSR form: row i keeps indices[offsets[i] ..
// offsets[i+1]), strictly ascending, each in [0, vocab).
import { describe, isTypedArrayOf, lengthOf, ownInt32 } from './args';
import type { NativeProfile as MaskProfile } from './native';
import { concat, fromLists, type ConcatOptions, type FromListsOptions } from './lists';
import { csrFromBitmask, csrFromPadded, csrToBitmask, csrToPadded, type PaddedIds } from './mask-formats';
import { rangeError, typeError, type SamplingMaskError } from './errors';
import { maskFromArrow, maskToArrow, type MaskVector } from './arrow';
import { maskFromSafetensors, maskToSafetensors, type MaskSafetensorsOptions } from './safetensors';
import type { RolloutReadOptions } from './rollouts';
import type { Data, Int32, List } from 'apache-arrow';

function maskError(argument: string, message: string, row?: number): RangeError {
  return rangeError('ERR_SM_INVALID_MASK', argument, message, row);
}

// Set while wrapping CSR that native code produced and already guarantees
// (or that this package built and checked itself, e.g. fromLists).
let trusted = false;

/** Wraps CSR arrays that the addon produced or the package checked, skipping the O(ids) structure check. @internal */
export function wrapNativeCsr(offsets: Int32Array, indices: Int32Array, vocab: number): SamplingMask {
  trusted = true;
  try {
    return new SamplingMask(offsets, indices, vocab);
  } finally {
    trusted = false;
  }
}

function checkCsr(offsets: Int32Array, indices: Int32Array, vocab: number, argument?: string): void {
  if (!isTypedArrayOf(offsets, 'Int32Array') || lengthOf(offsets) < 1) {
    throw maskError(argument ?? 'offsets', `expected an Int32Array of rows + 1 offsets, got ${describe(offsets)}`);
  }
  if (!isTypedArrayOf(indices, 'Int32Array')) throw maskError(argument ?? 'indices', `expected an Int32Array, got ${describe(indices)}`);
  if (!Number.isInteger(vocab) || vocab < 1) throw maskError(argument ?? 'vocab', `expected a positive integer, got ${describe(vocab)}`);
  const rows = lengthOf(offsets) - 1;
  if (offsets[0] !== 0 || offsets[rows] !== lengthOf(indices)) {
    throw maskError(argument ?? 'offsets', 'must start at 0 and end at indices.length');
  }
  for (let r = 0; r < rows; r++) {
    const start = offsets[r];
    const end = offsets[r + 1];
    if (end < start) throw maskError(argument ?? 'offsets', `decrease at row ${r}`, r);
    let previous = -1;
    for (let j = start; j < end; j++) {
      const id = indices[j];
      if (id <= previous || id >= vocab) {
        throw maskError(argument ?? 'indices', `row ${r} must be strictly ascending ids in [0, ${vocab})`, r);
      }
      previous = id;
    }
  }
}

/** A mask's CSR as one read of its fields, over arrays of the package's own (ownInt32). */
export interface MaskSnapshot {
  offsets: Int32Array;
  indices: Int32Array;
  vocab: number;
  rows: number;
}

/**
 * A SamplingMask argument for code that indexes by its CSR here in JS: its
 * fields read once, its arrays as the package's own (copied when they are
 * shared: another thread may write them) and checked like the constructor
 * checks (any caller can have written into them since). O(rows + ids), as
 * what uses it.
 */
export function readMask(value: unknown, argument: string): MaskSnapshot {
  if (!(value instanceof SamplingMask)) throw typeError(argument, `expected a SamplingMask, got ${describe(value)}`);
  const { offsets, indices, vocab } = value;
  const snapshot = {
    offsets: ownInt32(offsets, argument, 'a SamplingMask (its offsets are not an Int32Array)'),
    indices: ownInt32(indices, argument, 'a SamplingMask (its indices are not an Int32Array)'),
    vocab,
  };
  checkCsr(snapshot.offsets, snapshot.indices, vocab, argument);
  return { ...snapshot, rows: snapshot.offsets.length - 1 };
}

export class SamplingMask {
  readonly offsets: Int32Array;
  readonly indices: Int32Array;
  readonly vocab: number;
  /** Timings of the call that computed this mask, when it was asked for (`profile: true`). */
  profile?: MaskProfile;
  /** With mask()'s onInvalidRow: 'skip': 1 for each row masked, 0 for each row skipped (it keeps no ids). */
  valid?: Uint8Array;
  /** With mask()'s onInvalidRow: 'skip': the error of each skipped row (its `row` says which), ascending. */
  errors?: SamplingMaskError[];

  /**
   * Wraps CSR arrays without copying. Checks the structure: offsets start at
   * 0, never decrease and end at indices.length; each row strictly ascending
   * within [0, vocab).
   */
  constructor(offsets: Int32Array, indices: Int32Array, vocab: number) {
    if (!trusted) checkCsr(offsets, indices, vocab);
    this.offsets = offsets;
    this.indices = indices;
    this.vocab = vocab;
  }

  /** See fromLists() in lists.ts: one id list per row, as vLLM and SGLang return masks. */
  static fromLists(lists: ArrayLike<ArrayLike<number>>, vocab: number, options?: FromListsOptions): SamplingMask {
    return fromLists(lists, vocab, options);
  }

  /** See concat() in lists.ts: the rows of several masks, optionally padded to a [B, T] batch. */
  static concat(masks: readonly SamplingMask[], options?: ConcatOptions): SamplingMask {
    return concat(masks, options);
  }

  get rows(): number {
    return this.offsets.length - 1;
  }

  /** The number of kept ids in row i. */
  count(i: number): number {
    this.checkRow(i);
    return this.offsets[i + 1] - this.offsets[i];
  }

  /** Row i's kept ids, ascending: a view, not a copy. */
  row(i: number): Int32Array {
    this.checkRow(i);
    return this.indices.subarray(this.offsets[i], this.offsets[i + 1]);
  }

  /** One plain array of ids per row, as vLLM and SGLang return them. */
  toLists(): number[][] {
    const lists: number[][] = new Array(this.rows);
    for (let i = 0; i < this.rows; i++) lists[i] = Array.from(this.row(i));
    return lists;
  }

  /** A mask from [rows, width] ids, each row's ids (any order) followed by -1 padding. */
  static fromPadded(ids: Int32Array, rows: number, width: number, vocab: number): SamplingMask {
    const csr = csrFromPadded(ids, rows, width, vocab);
    return new SamplingMask(csr.offsets, csr.indices, vocab);
  }

  /** [rows, width] ids, ascending per row, padded with -1; width defaults to the largest row. */
  toPadded(width?: number): PaddedIds {
    return csrToPadded(readMask(this, 'mask'), width);
  }

  /** A mask from [rows, ceil(vocab / 8)] bytes: bit i of row r is byte r * ceil(vocab / 8) + (i >> 3), bit i & 7. */
  static fromBitmask(bytes: Uint8Array, rows: number, vocab: number): SamplingMask {
    const csr = csrFromBitmask(bytes, rows, vocab);
    return new SamplingMask(csr.offsets, csr.indices, vocab);
  }

  /** The bit-packed [rows, ceil(vocab / 8)] form (see fromBitmask). */
  toBitmask(): Uint8Array {
    const snapshot = readMask(this, 'mask');
    return csrToBitmask(snapshot, snapshot.vocab);
  }

  /** Rows [start, end) as a mask: its ids are a view of this mask's, its offsets a new array. */
  slice(start = 0, end = this.rows): SamplingMask {
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || start > end || end > this.rows) {
      throw rangeError(
        'ERR_SM_OUT_OF_RANGE',
        'start',
        `expected integers 0 <= start <= end <= ${this.rows}, got ${describe(start)}, ${describe(end)}`,
      );
    }
    const base = this.offsets[start];
    const offsets = new Int32Array(end - start + 1);
    for (let r = 0; r < offsets.length; r++) offsets[r] = this.offsets[start + r] - base;
    return wrapNativeCsr(offsets, this.indices.subarray(base, this.offsets[end]), this.vocab);
  }

  /** See maskToArrow() in arrow.ts: an Arrow List<Int32> vector sharing this mask's buffers (needs apache-arrow). */
  toArrow(): MaskVector {
    return maskToArrow(this);
  }

  /** See maskFromArrow() in arrow.ts: a mask over an Arrow List<Int32> vector's buffers, checked (needs apache-arrow). */
  static fromArrow(vector: MaskVector | Data<List<Int32>>, vocab: number): SamplingMask {
    return maskFromArrow(vector, vocab);
  }

  /** See maskToSafetensors() in safetensors.ts: tensors offsets, indices (and padded ids on request), vocab and rows in __metadata__. */
  toSafetensors(options?: MaskSafetensorsOptions): Uint8Array {
    return maskToSafetensors(this, options);
  }

  /** See maskFromSafetensors() in safetensors.ts: the mask of a safetensors mask set, every spec check made. */
  static fromSafetensors(bytes: Uint8Array, options?: RolloutReadOptions): SamplingMask {
    return maskFromSafetensors(bytes, options);
  }

  private checkRow(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.rows) {
      throw rangeError('ERR_SM_OUT_OF_RANGE', 'row', `expected an integer in [0, ${this.rows}), got ${describe(i)}`);
    }
  }
}
