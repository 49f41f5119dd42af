// Reading the caller's arguments. Every JS value the facade uses is read
// once, into private plain values (numbers, strings, copies of typed
// arrays), and checked there: a getter or proxy that answers differently on
// a second read, or another thread writing a SharedArrayBuffer, cannot make
// the value that was checked differ from the value that is used. Nothing
// here runs the caller's code beyond those reads (no toString, valueOf or
// iteration), so an exception thrown by the caller's own getter or proxy
// trap reaches the caller unchanged; every other error is a coded
// TypeError or RangeError from errors.ts.
import { rangeError, typeError, type ErrorFields } from './errors';

/** The most elements any array this package builds may hold (offsets and ids are Int32). */
export const kMaxElements = 0x7fffffff;

// %TypedArray%.prototype's own accessors: they read internal slots, so an
// instance cannot shadow them with own properties, and they answer for
// typed arrays of any realm (the addon's arrays belong to Node's main
// context, jest runs tests in another).
const typedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype) as object;
function intrinsicGetter(key: PropertyKey): (this: unknown) => unknown {
  return Object.getOwnPropertyDescriptor(typedArrayPrototype, key)?.get as (this: unknown) => unknown;
}
const typedArrayName = intrinsicGetter(Symbol.toStringTag);
const typedArrayLength = intrinsicGetter('length');
const typedArrayBuffer = intrinsicGetter('buffer');
const typedArrayByteOffset = intrinsicGetter('byteOffset');
// Throws unless its receiver is a SharedArrayBuffer (of any realm).
const sharedByteLength = Object.getOwnPropertyDescriptor(SharedArrayBuffer.prototype, 'byteLength')?.get as (this: unknown) => number;

interface TypedArrayKinds {
  Float32Array: Float32Array;
  Int32Array: Int32Array;
  Uint8Array: Uint8Array;
  Uint16Array: Uint16Array;
}

/** Whether value is a typed array of the named kind (a Buffer is a Uint8Array), from any realm. */
export function isTypedArrayOf<K extends keyof TypedArrayKinds>(value: unknown, name: K): value is TypedArrayKinds[K] {
  return typedArrayName.call(value) === name;
}

/** A typed array's element count, from its internal slot (an own `length` property cannot change it). */
export function lengthOf(view: ArrayBufferView): number {
  return typedArrayLength.call(view) as number;
}

/** Whether a typed array lives in a SharedArrayBuffer (then another thread may write it at any time). */
function isShared(view: ArrayBufferView): boolean {
  try {
    sharedByteLength.call(typedArrayBuffer.call(view));
    return true;
  } catch {
    return false;
  }
}

type TypedArrayOf<T> = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; new (source: T): T };

/**
 * A typed array argument as this package's own: a new view of the same
 * memory (without the caller's own properties, e.g. a shadowing `subarray`),
 * or a private copy when another thread may write it (shared), so that
 * what is checked is what is used.
 */
function ownView<T extends ArrayBufferView>(Kind: TypedArrayOf<T>, view: T, argument: string): T {
  if (isShared(view)) return allocate(() => new Kind(view), argument);
  try {
    return new Kind(typedArrayBuffer.call(view) as ArrayBuffer, typedArrayByteOffset.call(view) as number, lengthOf(view));
  } catch {
    // The only view of a non-shared buffer that cannot be made again: one whose buffer was detached.
    throw typeError(argument, 'its buffer has been detached (transferred)', { code: 'ERR_SM_DETACHED' });
  }
}

/** ownView of a Uint8Array (or Buffer) argument. */
export function ownBytes(bytes: Uint8Array, argument: string): Uint8Array {
  return ownView(Uint8Array, bytes, argument);
}

/** A value as an error message shows it, without running the caller's code. */
export function describe(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return `'${value.length > 40 ? `${value.slice(0, 40)}...` : value}'`;
    case 'bigint':
      return `${value}n`;
    case 'symbol':
      return value.toString();
    case 'function':
      return 'a function';
    case 'object': {
      if (value === null) return 'null';
      const kind = typedArrayName.call(value);
      return kind === undefined ? 'an object' : `a ${String(kind)}`;
    }
    default:
      return String(value);
  }
}

/**
 * The named fields of the caller's options object, each read once
 * (inherited ones too: options may be a class instance). undefined means
 * no options; anything else that is not an object is a TypeError.
 */
export function readOptions<K extends string>(options: unknown, names: readonly K[], argument = 'options'): { [P in K]?: unknown } {
  const fields: { [P in K]?: unknown } = {};
  if (options === undefined) return fields;
  if (options === null || typeof options !== 'object') throw typeError(argument, `expected an object, got ${describe(options)}`);
  for (const name of names) fields[name] = (options as Record<K, unknown>)[name];
  return fields;
}

/** A number that must be an integer in [min, max]: TypeError for another type, RangeError outside. */
export function readInteger(value: unknown, argument: string, min: number, max: number, fields?: ErrorFields): number {
  if (typeof value !== 'number') throw typeError(argument, `expected an integer, got ${describe(value)}`, fields);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw rangeError('ERR_SM_OUT_OF_RANGE', argument, `expected an integer in [${min}, ${max}], got ${describe(value)}`, fields);
  }
  return value;
}

/**
 * The length of an array-like (an array, a typed array, any object with a
 * length), read once: an integer in [0, 2^31 - 1]. `what` names the
 * expected value in the TypeError.
 */
export function readLength(value: unknown, argument: string, what: string, fields?: ErrorFields): number {
  if (value === null || typeof value !== 'object') throw typeError(argument, `expected ${what}, got ${describe(value)}`, fields);
  const length = (value as { length?: unknown }).length;
  if (typeof length !== 'number') throw typeError(argument, `expected ${what} (its length is ${describe(length)})`, fields);
  if (!Number.isInteger(length) || length < 0 || length > kMaxElements) {
    throw rangeError('ERR_SM_OUT_OF_RANGE', argument, `length ${describe(length)} is not an integer in [0, ${kMaxElements}]`, fields);
  }
  return length;
}

/** The elements of an array-like, each read once, in a new plain array. */
export function readList(value: unknown, argument: string, what: string): unknown[] {
  const length = readLength(value, argument, what);
  const items = new Array<unknown>(length);
  for (let i = 0; i < length; i++) items[i] = (value as ArrayLike<unknown>)[i];
  return items;
}

/**
 * An array-like of integers in [min, max) (token ids, row numbers), each
 * element read once into a private Int32Array; errors name the row.
 */
export function readIds(value: unknown, argument: string, what: string, min: number, max: number): Int32Array {
  const length = readLength(value, argument, what);
  const ids = allocate(() => new Int32Array(length), argument);
  for (let i = 0; i < length; i++) {
    const id = (value as ArrayLike<unknown>)[i];
    if (typeof id !== 'number' || !Number.isInteger(id) || id < min || id >= max) {
      throw rangeError('ERR_SM_OUT_OF_RANGE', argument, `row ${i}: ${describe(id)} is not an integer in [${min}, ${max})`, i);
    }
    ids[i] = id;
  }
  return ids;
}

/** ownView of an Int32Array argument, after checking that it is one. */
export function ownInt32(value: unknown, argument: string, what: string): Int32Array {
  if (!isTypedArrayOf(value, 'Int32Array')) throw typeError(argument, `expected ${what}, got ${describe(value)}`);
  return ownView(Int32Array, value, argument);
}

/**
 * Runs an allocation whose size the caller decides: a failure is
 * ERR_SM_OUT_OF_MEMORY naming the argument, not the engine's uncoded
 * "Array buffer allocation failed".
 */
export function allocate<T>(make: () => T, argument: string): T {
  try {
    return make();
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw rangeError('ERR_SM_OUT_OF_MEMORY', argument, `could not allocate the result (${e.message})`);
  }
}
