// Tensors cross into native code as typed arrays over the caller's memory
// (ArrayBuffer, SharedArrayBuffer or Buffer, any byteOffset): never copied on
// the synchronous path.
import type { LogitsData } from './native';
import { typeError } from './errors';

export type DType = 'float32' | 'bfloat16' | 'float16';

export interface Tensor {
  data: LogitsData;
  shape: readonly number[];
  dtype: DType;
}

/** A tensor, or a plain Float32Array of f32 logits whose row length is `vocab`. */
export type LogitsInput = Tensor | Float32Array;

export interface Rows {
  data: LogitsData;
  dtype: DType;
  rows: number;
  vocab: number;
}

interface TypedArrayKinds {
  Float32Array: Float32Array;
  Int32Array: Int32Array;
  Uint8Array: Uint8Array;
}

/**
 * Whether value is a typed array of the named kind, from any realm: arrays
 * the addon creates belong to Node's main context, so under jest or node:vm
 * `instanceof Int32Array` would refuse them.
 */
export function isTypedArrayOf<K extends keyof TypedArrayKinds>(value: unknown, name: K): value is TypedArrayKinds[K] {
  return ArrayBuffer.isView(value) && Object.prototype.toString.call(value) === `[object ${name}]`;
}

function argumentError(message: string): TypeError {
  return typeError('logits', message);
}

/**
 * Views logits as [rows, vocab]: shape [B, V], or [B, T, V] (rows = B*T).
 * Only the shape is interpreted here; the addon checks data against it.
 */
export function asRows(logits: LogitsInput, vocab?: number): Rows {
  if (isTypedArrayOf(logits, 'Float32Array')) {
    if (vocab === undefined) throw argumentError('a plain Float32Array needs options.vocab');
    return { data: logits, dtype: 'float32', rows: vocab > 0 ? logits.length / vocab : NaN, vocab };
  }
  if (logits === null || typeof logits !== 'object' || !Array.isArray(logits.shape)) {
    throw argumentError('expected a tensor { data, shape, dtype } or a Float32Array');
  }
  const shape = logits.shape;
  if (shape.length < 2 || shape.length > 3) throw argumentError(`shape must be [B, V] or [B, T, V], got [${shape}]`);
  const v = shape[shape.length - 1];
  const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  if (vocab !== undefined && vocab !== v) throw argumentError(`options.vocab ${vocab} disagrees with shape [${shape}]`);
  return { data: logits.data, dtype: logits.dtype, rows, vocab: v };
}

/** The logits fields of a native call: host rows as [rows, vocab], with the row length from options.vocab if given. */
export function nativeLogits(logits: LogitsInput, options: unknown): Rows {
  const vocab = options !== null && typeof options === 'object' ? (options as { vocab?: number }).vocab : undefined;
  return asRows(logits, vocab);
}
