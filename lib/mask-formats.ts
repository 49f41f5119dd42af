// The mask layouts trainers already have, to and from CSR: ids padded with
// -1 to [rows, width] (PyTorch trainers) and bit-packed [rows, ceil(V / 8)]
// bytes, bit i of a row at byte i >> 3, bit i & 7 (vLLM's fallback).
import { rangeError, typeError } from './errors';
import { isTypedArrayOf } from './tensor';

export interface Csr {
  offsets: Int32Array;
  indices: Int32Array;
}

/** Kept ids padded with -1 after each row's ids: row r is ids[r * width .. (r + 1) * width). */
export interface PaddedIds {
  ids: Int32Array;
  rows: number;
  width: number;
}

const PADDING = -1;

function checkCount(value: number, argument: string, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw rangeError('ERR_SM_OUT_OF_RANGE', argument, `expected an integer >= ${min}, got ${value}`);
  }
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
  if (ids.length !== rows * width) {
    throw rangeError('ERR_SM_OUT_OF_RANGE', 'ids', `has ${ids.length} entries, rows x width needs ${rows * width}`);
  }
  const offsets = new Int32Array(rows + 1);
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

/** Padded ids of a CSR mask, ascending per row; width defaults to the largest row. */
export function csrToPadded(csr: Csr, width?: number): PaddedIds {
  const rows = csr.offsets.length - 1;
  let widest = 0;
  for (let r = 0; r < rows; r++) widest = Math.max(widest, csr.offsets[r + 1] - csr.offsets[r]);
  const padded = width ?? widest;
  checkCount(padded, 'width', 0);
  if (padded < widest) throw rangeError('ERR_SM_OUT_OF_RANGE', 'width', `${padded} is below the largest row's ${widest} ids`);
  const ids = new Int32Array(rows * padded).fill(PADDING);
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
  if (bytes.length !== rows * rowBytes) {
    throw rangeError('ERR_SM_OUT_OF_RANGE', 'bytes', `has ${bytes.length} bytes, rows x ceil(vocab / 8) needs ${rows * rowBytes}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const wholeWords = rowBytes >> 2;
  const paddingBits = rowBytes * 8 - vocab;
  const offsets = new Int32Array(rows + 1);
  let indices = new Int32Array(Math.max(1024, rows * 64));
  let count = 0;
  const push = (id: number): void => {
    if (count === indices.length) {
      const grown = new Int32Array(indices.length * 2);
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
export function csrToBitmask(csr: Csr, vocab: number): Uint8Array {
  const rows = csr.offsets.length - 1;
  const rowBytes = bitmaskRowBytes(vocab);
  const bytes = new Uint8Array(rows * rowBytes);
  for (let r = 0; r < rows; r++) {
    const start = r * rowBytes;
    for (let j = csr.offsets[r]; j < csr.offsets[r + 1]; j++) {
      const id = csr.indices[j];
      bytes[start + (id >> 3)] |= 1 << (id & 7);
    }
  }
  return bytes;
}
