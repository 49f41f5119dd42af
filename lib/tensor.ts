// Tensors cross into native code as typed arrays over the caller's memory
// (ArrayBuffer, SharedArrayBuffer or Buffer, any byteOffset): never copied on
// the synchronous path.
import type { LogitsData } from './native';
import { describe, isTypedArrayOf, lengthOf } from './args';
import { typeError } from './errors';

export { isTypedArrayOf } from './args';

export type DType = 'float32' | 'bfloat16' | 'float16';

export interface Tensor {
  data: LogitsData;
  shape: readonly number[];
  dtype: DType;
}

/** A tensor, or a plain Float32Array of f32 logits whose row length is `vocab`. */
export type LogitsInput = Tensor | Float32Array;

/**
 * Logits as [rows, vocab], from one read of each field of the caller's
 * tensor. `leading` is the shape without its last dimension (undefined for
 * a plain Float32Array). Values are passed on unchecked for the addon to
 * check: data and dtype (types), rows and vocab (ranges).
 */
export interface Rows {
  data: LogitsData;
  dtype: DType;
  rows: number;
  vocab: number;
  leading?: number[];
}

function argumentError(message: string): TypeError {
  return typeError('logits', message);
}

/** The dimensions of a shape, each read once: numbers (the addon checks their ranges). */
function readShape(shape: unknown): number[] {
  if (!Array.isArray(shape)) throw argumentError('expected a tensor { data, shape, dtype } or a Float32Array');
  const length: unknown = shape.length;
  if (typeof length !== 'number' || length < 2 || length > 3) {
    throw argumentError(`shape must be [B, V] or [B, T, V], got ${describe(length)} dimensions`);
  }
  const dims: number[] = [];
  for (let i = 0; i < length; i++) {
    const dim: unknown = shape[i];
    if (typeof dim !== 'number') throw typeError('logits.shape', `dimension ${i} is ${describe(dim)}, expected a number`);
    dims.push(dim);
  }
  return dims;
}

/**
 * Views logits as [rows, vocab]: shape [B, V], or [B, T, V] (rows = B*T).
 * Only the shape is interpreted here; the addon checks data against it.
 */
export function asRows(logits: LogitsInput, vocab?: unknown): Rows {
  if (isTypedArrayOf(logits, 'Float32Array')) {
    if (vocab === undefined) throw argumentError('a plain Float32Array needs options.vocab');
    if (typeof vocab !== 'number') throw typeError('options.vocab', `expected an integer, got ${describe(vocab)}`);
    return { data: logits, dtype: 'float32', rows: vocab > 0 ? lengthOf(logits) / vocab : NaN, vocab };
  }
  if (logits === null || typeof logits !== 'object') {
    throw argumentError('expected a tensor { data, shape, dtype } or a Float32Array');
  }
  const dims = readShape((logits as { shape?: unknown }).shape);
  const data = logits.data;
  const dtype = logits.dtype;
  const v = dims[dims.length - 1];
  const leading = dims.slice(0, -1);
  if (vocab !== undefined && vocab !== v) {
    throw argumentError(`options.vocab ${describe(vocab)} disagrees with shape [${dims.join(', ')}]`);
  }
  return { data, dtype, rows: leading.reduce((a, b) => a * b, 1), vocab: v, leading };
}

/** The logits fields of a native call: host rows as [rows, vocab], with the row length from options.vocab if given. */
export function nativeLogits(logits: LogitsInput, options: unknown): Rows {
  const vocab = options !== null && typeof options === 'object' ? (options as { vocab?: unknown }).vocab : undefined;
  return asRows(logits, vocab);
}
