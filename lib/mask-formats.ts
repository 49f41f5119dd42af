// The mask layouts trainers already have, to and from CSR: ids padded with
// -1 to [rows, width] (PyTorch trainers) and bit-packed [rows, ceil(V / 8)]
// bytes, bit i of a row at byte i >> 3, bit i & 7 (vLLM's fallback).
import { allocate, describe, isTypedArrayOf, kMaxElements, lengthOf, ownBytes, ownInt32 } from './args';
import { rangeError, typeError } from './errors';

export interface Csr {
  offsets: Int32Array;
  indices: Int32Array;
}

/** CSR arrays that are private to the caller (copied and checked: see readMask). */
export interface CheckedCsr extends Csr {
  vocab: number;
  rows: number;
}

/** Kept ids padded with -1 after each row's ids: row r is ids[r * width .. (r + 1) * width). */
export interface PaddedIds {
  ids: Int32Array;
  rows: number;
  width: number;
}

const PADDING = -1;

function checkCount(value: unknown, argument: string, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value >= kMaxElements) {
    throw rangeError('ERR_SM_OUT_OF_RANGE', argument, `expected an integer in [${min}, 2^31 - 1), got ${describe(value)}`);
  }
  return value;
}

function invalidMask(argument: string, message: string, row?: number): RangeError {
  return rangeError('ERR_SM_INVALID_MASK', argument, message, row);
}

/**
 * CSR from padded ids. A row's ids come first, in any order (they are sorted),
 * then only -1 padding; duplicates, ids outside [0, vocab) and ids after the
 * padding are errors naming the row.
 */
export function csrFromPadded(ids: Int32Array, rows: number, width: number, vocab: number): Csr {
  if (!isTypedArrayOf(ids, 'Int32Array')) throw typeError('ids', 'expected an Int32Array of [rows, width] ids');
  checkCount(rows, 'rows', 0);
  checkCount(width, 'width', 0);
  checkCount(vocab, 'vocab', 1);
  if (lengthOf(ids) !== rows * width) {
    throw rangeError('ERR_SM_OUT_OF_RANGE', 'ids', `has ${lengthOf(ids)} entries, rows x width needs ${rows * width}`);
  }
  // The padding checks and the ids copied must be the same values (a copy when shared).
  ids = ownInt32(ids, 'ids', 'an Int32Array of [rows, width] ids');
  const offsets = allocate(() => new Int32Array(rows + 1), 'rows');
  for (let r = 0; r < rows; r++) {
    let count = 0;
    while (count < width && ids[r * width + count] !== PADDING) count++;
    for (let j = count; j < width; j++) {
      if (ids[r * width + j] !== PADDING) throw invalidMask('ids', `row ${r} has id ${ids[r * width + j]} after -1 padding`, r);
    }
    offsets[r + 1] = offsets[r] + count;
  }
  const indices = new Int32Array(offsets[rows]);
  for (let r = 0; r < rows; r++) {
    const row = indices.subarray(offsets[r], offsets[r + 1]);
    row.set(ids.subarray(r * width, r * width + row.length));
    let ascending = true;
    for (let j = 1; j < row.length; j++) ascending &&= row[j - 1] < row[j];
    if (!ascending) row.sort();
    for (let j = 0; j < row.length; j++) {
      if (row[j] < 0 || row[j] >= vocab) throw invalidMask('ids', `row ${r} has id ${row[j]} outside [0, ${vocab})`, r);
      if (j > 0 && row[j] === row[j - 1]) throw invalidMask('ids', `row ${r} has id ${row[j]} twice`, r);
    }
  }
  return { offsets, indices };
}

/**
 * Padded ids of a CSR mask, ascending per row; width defaults to the largest
 * row. A row keeps at most vocab ids, so a width beyond vocab is refused
 * rather than filled.
 */
export function csrToPadded(csr: CheckedCsr, width?: unknown): PaddedIds {
  const { rows, vocab } = csr;
  let widest = 0;
  for (let r = 0; r < rows; r++) widest = Math.max(widest, csr.offsets[r + 1] - csr.offsets[r]);
  const padded = checkCount(width ?? widest, 'width', 0);
  if (padded < widest) throw rangeError('ERR_SM_OUT_OF_RANGE', 'width', `${padded} is below the largest row's ${widest} ids`);
  if (padded > vocab) throw rangeError('ERR_SM_OUT_OF_RANGE', 'width', `${padded} is above vocab ${vocab}: no row can keep more ids`);
  if (rows * padded > kMaxElements) {
    throw rangeError('ERR_SM_OUT_OF_RANGE', 'width', `[${rows}, ${padded}] is more than 2^31 - 1 ids; pad fewer rows at a time`);
  }
  const ids = allocate(() => new Int32Array(rows * padded), 'width').fill(PADDING);
  for (let r = 0; r < rows; r++) ids.set(csr.indices.subarray(csr.offsets[r], csr.offsets[r + 1]), r * padded);
  return { ids, rows, width: padded };
}

/** Bytes per row of a bitmask over vocab ids. */
export function bitmaskRowBytes(vocab: number): number {
  return Math.ceil(vocab / 8);
}

/**
 * CSR from a bitmask. Reads 32-bit little-endian words, skips zero words and
 * takes each set bit by counting trailing zeros, so the cost follows the
 * number of words and kept ids, not of bits. Bits at or above vocab in a
 * row's last byte must be 0.
 */
export function csrFromBitmask(bytes: Uint8Array, rows: number, vocab: number): Csr {
  if (!isTypedArrayOf(bytes, 'Uint8Array')) throw typeError('bytes', 'expected a Uint8Array (or Buffer) of [rows, ceil(vocab / 8)] bytes');
  checkCount(rows, 'rows', 0);
  checkCount(vocab, 'vocab', 1);
  const rowBytes = bitmaskRowBytes(vocab);
  if (lengthOf(bytes) !== rows * rowBytes) {
    throw rangeError('ERR_SM_OUT_OF_RANGE', 'bytes', `has ${lengthOf(bytes)} bytes, rows x ceil(vocab / 8) needs ${rows * rowBytes}`);
  }
  // The padding-bit check and the bits read must be the same bytes (a copy when shared).
  bytes = ownBytes(bytes, 'bytes');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const wholeWords = rowBytes >> 2;
  const paddingBits = rowBytes * 8 - vocab;
  const offsets = allocate(() => new Int32Array(rows + 1), 'rows');
  let indices = allocate(() => new Int32Array(Math.min(Math.max(1024, rows * 64), lengthOf(bytes) * 8 + 1)), 'bytes');
  let count = 0;
  const push = (id: number): void => {
    if (count === indices.length) {
      const grown = allocate(() => new Int32Array(indices.length * 2), 'bytes');
      grown.set(indices);
      indices = grown;
    }
    indices[count++] = id;
  };
  for (let r = 0; r < rows; r++) {
    const start = r * rowBytes;
    if (paddingBits > 0 && bytes[start + rowBytes - 1] >> (8 - paddingBits) !== 0) {
      throw invalidMask('bytes', `row ${r} sets bits at or above vocab ${vocab}`, r);
    }
    for (let w = 0; w < wholeWords; w++) {
      let word = view.getUint32(start + 4 * w, true);
      if (word === 0) continue;
      const base = 32 * w;
      while (word !== 0) {
        const lowest = word & -word;
        push(base + 31 - Math.clz32(lowest));
        word ^= lowest;
      }
    }
    for (let b = 4 * wholeWords; b < rowBytes; b++) {
      let byte = bytes[start + b];
      while (byte !== 0) {
        const lowest = byte & -byte;
        push(8 * b + 31 - Math.clz32(lowest));
        byte ^= lowest;
      }
    }
    offsets[r + 1] = count;
  }
  return { offsets, indices: indices.slice(0, count) };
}

/** The bitmask of a CSR mask over vocab ids. */
export function csrToBitmask(csr: CheckedCsr, vocab: number): Uint8Array {
  const rows = csr.rows;
  const rowBytes = bitmaskRowBytes(vocab);
  const bytes = allocate(() => new Uint8Array(rows * rowBytes), 'mask');
  for (let r = 0; r < rows; r++) {
    const start = r * rowBytes;
    for (let j = csr.offsets[r]; j < csr.offsets[r + 1]; j++) {
      const id = csr.indices[j];
      bytes[start + (id >> 3)] |= 1 << (id & 7);
    }
  }
  return bytes;
}
