// Seeded random inputs for the trainer tests, and the accuracy bounds the
// README states.
import { SamplingMask } from '../lib';
import type { DTypeName, Storage } from './trainer-reference';

/** mulberry32, the seeded generator the benchmarks and the demo use: repeatable test data. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const rng: (seed: number) => () => number = require('../scripts/bench/util').rng;

/** Expects fn to throw an error with these fields (name, code, argument, row, ...). */
export function expectError(fn: () => unknown, fields: Record<string, unknown>): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toMatchObject(fields);
}

export interface LogitsCase {
  data: Storage;
  dtype: DTypeName;
  rows: number;
  vocab: number;
}

/**
 * Logits of spread `scale` around 0 (a Zipf-like heavy top when zipf), some
 * entries -inf when negInfRate > 0. bf16 keeps the top half of an f32; f16
 * is built from a random exponent in [2^-6, 2^5] and fraction.
 */
export function randomLogits(
  next: () => number,
  rows: number,
  vocab: number,
  dtype: DTypeName,
  { scale = 3, zipf = false, negInfRate = 0 } = {},
): LogitsCase {
  const value = (i: number) => (zipf ? -Math.log(1 + (i % vocab)) * scale + next() : (next() + next() + next() - 1.5) * 2 * scale);
  const count = rows * vocab;
  if (dtype === 'float32') {
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) data[i] = next() < negInfRate ? -Infinity : value(i);
    return { data, dtype, rows, vocab };
  }
  const data = new Uint16Array(count);
  const f32 = new Float32Array(1);
  const bits = new Uint32Array(f32.buffer);
  for (let i = 0; i < count; i++) {
    if (next() < negInfRate) {
      data[i] = dtype === 'bfloat16' ? 0xff80 : 0xfc00;
    } else if (dtype === 'bfloat16') {
      f32[0] = value(i);
      data[i] = bits[0] >>> 16;
    } else {
      const exponent = 9 + Math.floor(next() * 11);
      data[i] = (next() < 0.5 ? 0x8000 : 0) | (exponent << 10) | Math.floor(next() * 1024);
    }
  }
  return { data, dtype, rows, vocab };
}

/** count distinct ids in [0, vocab), ascending. */
export function randomIds(next: () => number, vocab: number, count: number): number[] {
  const ids = new Set<number>();
  if (count >= vocab) return Array.from({ length: vocab }, (_, i) => i);
  while (ids.size < count) ids.add(Math.floor(next() * vocab));
  return [...ids].sort((a, b) => a - b);
}

/** A SamplingMask from plain lists, built without the package's converters. */
export function maskOf(lists: number[][], vocab: number): SamplingMask {
  const offsets = new Int32Array(lists.length + 1);
  lists.forEach((ids, r) => (offsets[r + 1] = offsets[r] + ids.length));
  const indices = new Int32Array(offsets[lists.length]);
  lists.forEach((ids, r) => indices.set(ids, offsets[r]));
  return new SamplingMask(offsets, indices, vocab);
}

/** Byte equality of two typed arrays (jest's toEqual walks large arrays slowly). */
export function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

// The documented accuracy against the float64 reference (README, "Trainer
// side: accuracy"). u = 2^-24 is the f32 unit roundoff.
const U = 2 ** -24;

/** |logprob - reference| <= 8 u (1 + |reference| + ln K) for K kept ids. */
export function logprobBound(reference: number, kept: number): number {
  return 8 * U * (1 + Math.abs(reference) + Math.log(kept));
}

/** |entropy - reference| <= 8 u (1 + reference). */
export function entropyBound(reference: number): number {
  return 8 * U * (1 + reference);
}

/** |gradient - reference| <= 8 u |gradOutput| / T per kept id (T as the f32 the addon receives). */
export function gradientBound(gradOutput: number, temperature: number): number {
  return (8 * U * Math.abs(gradOutput)) / Math.fround(temperature);
}
