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

/**
 * A tensor as onnxruntime (`ort.Tensor`) and transformers.js (`Tensor`, which
 * wraps one) present it, read by duck typing so neither package is a
 * dependency: `type` 'float32' over a Float32Array, 'float16' (or 'bfloat16')
 * as raw bits in a Uint16Array, on the CPU (`location` 'cpu' or 'cpu-pinned').
 */
export interface OrtLikeTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
  readonly type: string;
  readonly location?: string;
}

/** A tensor, an onnxruntime / transformers.js tensor, or a plain Float32Array of f32 logits whose row length is `vocab`. */
export type LogitsInput = Tensor | OrtLikeTensor | Float32Array;

/**
 * Logits as [rows, vocab], from one read of each field of the caller's
 * tensor. Values are passed on unchecked for the addon to check: data and
 * dtype (types), rows and vocab (ranges). For a tensor, `dims` is its shape
 * as read (numbers), `leading` the dims before the vocabulary and `ortType`
 * the type of an onnxruntime-style tensor; none for a plain Float32Array.
 */
export interface Rows {
  data: LogitsData;
  dtype: DType;
  rows: number;
  vocab: number;
  dims?: number[];
  leading?: number[];
  ortType?: string;
}

function argumentError(message: string): TypeError {
  return typeError('logits', message);
}

const ortTypes: Record<string, { dtype: DType; array: 'Float32Array' | 'Uint16Array' }> = {
  float32: { dtype: 'float32', array: 'Float32Array' },
  float16: { dtype: 'float16', array: 'Uint16Array' },
  bfloat16: { dtype: 'bfloat16', array: 'Uint16Array' },
};

export function isOrtLike(logits: object): logits is OrtLikeTensor {
  return 'dims' in logits && 'type' in logits && !('shape' in logits);
}

const kNotATensor = 'expected a tensor { data, shape, dtype }, an onnxruntime-style tensor { data, dims, type } or a Float32Array';

/** The dimensions of a shape, each read once: numbers (the addon checks their ranges). */
function readShape(shape: unknown, argument: string): number[] {
  if (!Array.isArray(shape)) throw argumentError(kNotATensor);
  const length: unknown = shape.length;
  if (typeof length !== 'number' || length < 2 || length > 3) {
    throw argumentError(`shape must be [B, V] or [B, T, V], got ${describe(length)} dimensions`);
  }
  const dims: number[] = [];
  for (let i = 0; i < length; i++) {
    const dim: unknown = shape[i];
    if (typeof dim !== 'number') throw typeError(argument, `dimension ${i} is ${describe(dim)}, expected a number`);
    dims.push(dim);
  }
  return dims;
}

/** A tensor's fields, each read once; an onnxruntime-style tensor is checked first. */
function readTensor(logits: object): { data: LogitsData; dims: number[]; dtype: DType; ortType?: string } {
  if (!isOrtLike(logits)) {
    const { data, shape, dtype } = logits as Tensor;
    return { data, dims: readShape(shape, 'logits.shape'), dtype };
  }
  const { type, dims, location, data } = logits;
  if (location !== undefined && location !== 'cpu' && location !== 'cpu-pinned') {
    throw argumentError(`the tensor lives on ${describe(location)}: download it first (await tensor.getData(true))`);
  }
  const kind = typeof type === 'string' && Object.hasOwn(ortTypes, type) ? ortTypes[type] : undefined;
  if (!kind) throw argumentError(`tensor type ${describe(type)} is not a logits type: expected float32, float16 or bfloat16`);
  if (!isTypedArrayOf(data, kind.array)) {
    throw argumentError(`a '${type}' tensor must hold its data in a ${kind.array}, got ${describe(data)}`);
  }
  if (!Array.isArray(dims)) throw argumentError('tensor dims must be an array');
  return { data, dims: readShape(dims, 'logits.dims'), dtype: kind.dtype, ortType: type as string };
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
  if (logits === null || typeof logits !== 'object') throw argumentError(kNotATensor);
  const { data, dims, dtype, ortType } = readTensor(logits);
  const v = dims[dims.length - 1];
  const leading = dims.slice(0, -1);
  if (vocab !== undefined && vocab !== v) {
    throw argumentError(`options.vocab ${describe(vocab)} disagrees with shape [${dims.join(', ')}]`);
  }
  const rows: Rows = { data, dtype, rows: leading.reduce((a, b) => a * b, 1), vocab: v, dims, leading };
  if (ortType !== undefined) rows.ortType = ortType;
  return rows;
}

/** The logits fields of a native call: host rows as [rows, vocab], with the row length from options.vocab if given. */
export function nativeLogits(logits: LogitsInput, options: unknown): Rows {
  const vocab = options !== null && typeof options === 'object' ? (options as { vocab?: unknown }).vocab : undefined;
  return asRows(logits, vocab);
}
