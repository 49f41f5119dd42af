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

export interface Rows {
  data: LogitsData;
  dtype: DType;
  rows: number;
  vocab: number;
}

interface TypedArrayKinds {
  Float32Array: Float32Array;
  Uint16Array: Uint16Array;
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

const ortTypes: Record<string, { dtype: DType; array: 'Float32Array' | 'Uint16Array' }> = {
  float32: { dtype: 'float32', array: 'Float32Array' },
  float16: { dtype: 'float16', array: 'Uint16Array' },
  bfloat16: { dtype: 'bfloat16', array: 'Uint16Array' },
};

export function isOrtLike(logits: object): logits is OrtLikeTensor {
  return 'dims' in logits && 'type' in logits && !('shape' in logits);
}

/** The same tensor as { data, shape, dtype }, sharing its data; an onnxruntime-style tensor is checked first. */
function asTensor(logits: Tensor | OrtLikeTensor): Tensor {
  if (!isOrtLike(logits)) return logits;
  const { type, dims, location } = logits;
  if (location !== undefined && location !== 'cpu' && location !== 'cpu-pinned') {
    throw argumentError(`the tensor lives on '${location}': download it first (await tensor.getData(true))`);
  }
  const kind = ortTypes[type];
  if (!kind) throw argumentError(`tensor type '${String(type)}' is not a logits type: expected float32, float16 or bfloat16`);
  const data = logits.data;
  if (!isTypedArrayOf(data, kind.array)) {
    throw argumentError(`a '${type}' tensor must hold its data in a ${kind.array}, got ${Object.prototype.toString.call(data)}`);
  }
  if (!Array.isArray(dims)) throw argumentError('tensor dims must be an array');
  return { data, shape: dims, dtype: kind.dtype };
}

function checkedTensor(logits: unknown): Tensor {
  if (logits === null || typeof logits !== 'object') {
    throw argumentError('expected a tensor { data, shape, dtype }, an onnxruntime-style tensor { data, dims, type } or a Float32Array');
  }
  const tensor = asTensor(logits as Tensor | OrtLikeTensor);
  if (!Array.isArray(tensor.shape)) {
    throw argumentError('expected a tensor { data, shape, dtype }, an onnxruntime-style tensor { data, dims, type } or a Float32Array');
  }
  return tensor;
}

/** The logits' dims before the vocabulary ([B] or [B, T]); undefined for a plain Float32Array. */
export function leadingDims(logits: LogitsInput): readonly number[] | undefined {
  if (isTypedArrayOf(logits, 'Float32Array')) return undefined;
  return checkedTensor(logits).shape.slice(0, -1);
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
  const { data, shape, dtype } = checkedTensor(logits);
  if (shape.length < 2 || shape.length > 3) throw argumentError(`shape must be [B, V] or [B, T, V], got [${shape}]`);
  const v = shape[shape.length - 1];
  const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  if (vocab !== undefined && vocab !== v) throw argumentError(`options.vocab ${vocab} disagrees with shape [${shape}]`);
  return { data, dtype, rows, vocab: v };
}

/** The logits fields of a native call: host rows as [rows, vocab], with the row length from options.vocab if given. */
export function nativeLogits(logits: LogitsInput, options: unknown): Rows {
  const vocab = options !== null && typeof options === 'object' ? (options as { vocab?: number }).vocab : undefined;
  return asRows(logits, vocab);
}
