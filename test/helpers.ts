// Test inputs: a seeded PRNG, logits generators of the shapes that matter to
// the rule (smooth, heavy-tailed, tied, quantized), and f32 -> bf16/f16
// encoders so that 16-bit inputs can be built from f32 values.
import type { DType, SamplingMask, Tensor } from '../lib';

/** mulberry32: small, fast, and the same sequence on every run for a seed. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
}

export type LogitsKind = 'normal' | 'zipf' | 'ties' | 'quantized';
export const logitsKinds: readonly LogitsKind[] = ['normal', 'zipf', 'ties', 'quantized'];

/**
 * One row of f32 logits:
 * - normal: N(0, scale)
 * - zipf: log-probabilities of a Zipf(1.1) law over a random permutation of ids, plus a little noise,
 *   so that a few ids carry most of the mass as in a language model
 * - ties: a handful of distinct values, so that every threshold falls on a large tie
 * - quantized: N(0, scale) rounded to multiples of 1/8, so that ties are frequent but values spread
 */
export function logitsRow(rng: Rng, vocab: number, kind: LogitsKind, scale = 3): Float32Array {
  const row = new Float32Array(vocab);
  switch (kind) {
    case 'normal':
      for (let i = 0; i < vocab; i++) row[i] = scale * rng.normal();
      break;
    case 'zipf': {
      const order = Array.from({ length: vocab }, (_, i) => i);
      for (let i = vocab - 1; i > 0; i--) {
        const j = rng.int(0, i);
        [order[i], order[j]] = [order[j], order[i]];
      }
      for (let rank = 0; rank < vocab; rank++) row[order[rank]] = 10 - 1.1 * Math.log(rank + 1) + 0.01 * rng.normal();
      break;
    }
    case 'ties': {
      const values = Array.from({ length: rng.int(1, 6) }, () => Math.round(scale * rng.normal() * 4) / 4);
      for (let i = 0; i < vocab; i++) row[i] = rng.pick(values);
      break;
    }
    case 'quantized':
      for (let i = 0; i < vocab; i++) row[i] = Math.round(scale * rng.normal() * 8) / 8;
      break;
  }
  return row;
}

/** A batch [rows, vocab] of f32 logits, each row of a randomly picked kind unless one is given. */
export function logitsBatch(rng: Rng, rows: number, vocab: number, kind?: LogitsKind): Float32Array {
  const out = new Float32Array(rows * vocab);
  for (let r = 0; r < rows; r++) {
    out.set(logitsRow(rng, vocab, kind ?? rng.pick(logitsKinds), rng.pick([0.5, 1, 3, 8])), r * vocab);
  }
  return out;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function f32Bits(value: number): number {
  f32[0] = value;
  return u32[0];
}

export function bitsToF32(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0];
}

/** f32 -> bf16 bits, round to nearest even (NaN stays a quiet NaN). */
export function f32ToBf16(value: number): number {
  const bits = f32Bits(value);
  if (Number.isNaN(value)) return ((bits >>> 16) | 0x0040) & 0xffff;
  const roundingBias = 0x7fff + ((bits >>> 16) & 1);
  return ((bits + roundingBias) >>> 16) & 0xffff;
}

/** f32 -> IEEE half bits, round to nearest even, with subnormals and overflow to inf. */
export function f32ToF16(value: number): number {
  const bits = f32Bits(value);
  const sign = (bits >>> 16) & 0x8000;
  const biased = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (biased === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  if (biased === 0) return sign; // f32 subnormals are far below half's smallest subnormal
  const exponent = biased - 127; // |value| = significand * 2^(exponent - 23)
  const significand = mantissa | 0x800000;
  // Half keeps 11 significant bits, and nothing finer than 2^-24 (its subnormal step).
  const shift = Math.max(exponent - 10, -24) - (exponent - 23);
  if (shift > 25) return sign;
  const step = 2 ** shift;
  let units = Math.floor(significand / step);
  const rest = significand - units * step;
  if (rest > step / 2 || (rest === step / 2 && units % 2 === 1)) units += 1;
  // Below 2^-14 units are the subnormal bits; a carry into 1024 lands on the smallest normal, as it should.
  const half = exponent >= -14 ? ((exponent + 15) << 10) + units - 1024 : units;
  return sign | Math.min(half, 0x7c00);
}

/** A fresh copy of f32 logits in the storage of a dtype (raw 16-bit floats for bf16/f16). */
export function encode(values: Float32Array, dtype: DType): Float32Array | Uint16Array {
  if (dtype === 'float32') return values.slice();
  const out = new Uint16Array(values.length);
  const convert = dtype === 'bfloat16' ? f32ToBf16 : f32ToF16;
  for (let i = 0; i < values.length; i++) out[i] = convert(values[i]);
  return out;
}

export function tensor(data: Float32Array | Uint16Array, rows: number, vocab: number, dtype: DType): Tensor {
  return { data, shape: [rows, vocab], dtype };
}

/** The fields every error of the package carries, for toMatchObject. */
export interface ErrorFields {
  name?: string;
  code?: string;
  argument?: string;
  row?: number;
  column?: number;
}

/** Runs fn, expects it to throw, and returns the error's class name and fields. */
export function thrown(fn: () => unknown): ErrorFields & { message: string } {
  try {
    fn();
  } catch (error) {
    const e = error as Error & ErrorFields;
    return { name: e.constructor.name, message: e.message, code: e.code, argument: e.argument, row: e.row, column: e.column };
  }
  throw new Error('expected an error, none was thrown');
}

/** Like thrown(), for a promise that must reject. */
export async function rejected(promise: Promise<unknown>): Promise<ErrorFields & { message: string }> {
  try {
    await promise;
  } catch (error) {
    const e = error as Error & ErrorFields;
    return { name: e.constructor.name, message: e.message, code: e.code, argument: e.argument, row: e.row, column: e.column };
  }
  throw new Error('expected a rejection, the promise resolved');
}

/**
 * null when the mask keeps exactly the expected ids in every row; otherwise a
 * short description of the first row that differs (a full diff of large rows
 * would be unreadable).
 */
export function firstDifference(actual: SamplingMask, expected: number[][]): string | null {
  if (actual.rows !== expected.length) return `rows ${actual.rows}, expected ${expected.length}`;
  for (let r = 0; r < expected.length; r++) {
    const got = actual.row(r);
    const want = expected[r];
    if (got.length === want.length && want.every((id, i) => got[i] === id)) continue;
    const gotSet = new Set(got);
    const wantSet = new Set(want);
    const extra = Array.from(got).filter((id) => !wantSet.has(id)).slice(0, 8);
    const missing = want.filter((id) => !gotSet.has(id)).slice(0, 8);
    return `row ${r}: kept ${got.length} ids, expected ${want.length}; extra [${extra}], missing [${missing}]`;
  }
  return null;
}
