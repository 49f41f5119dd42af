// What the tests share: seeded random inputs (logits of the shapes that
// matter to the rule, id lists, masks), f32 -> bf16/f16 encoders, error
// capture, the accuracy bounds the README states, the CUDA suites'
// explicit skip, and sample()'s keys and token-in-mask check. The PRNG, the encoders and the error fields come from
// scripts/shared.js, which the benchmarks and the GPU check use too.
import { spawnSync, type SpawnSyncReturns } from 'child_process';
import { backendInfo, SamplingMask, type DType, type Tensor } from '../lib';
import { errorFields, f32ToBf16, rng, type ErrorFields } from '../scripts/shared';

export { bitsToF32, encode, errorFields, f32Bits, f32ToBf16, f32ToF16, rng } from '../scripts/shared';

export type Storage = Float32Array | Uint16Array;

export const dtypes: readonly DType[] = ['float32', 'bfloat16', 'float16'];

/** The stored bits of -inf in each format: what fillLogits and applyMask write. */
export const maskedBits: Record<DType, number> = { float32: 0xff800000, bfloat16: 0xff80, float16: 0xfc00 };

/** The seeded PRNG with the draws the mask tests need. */
export class Rng {
  /** Uniform in [0, 1); a plain function, so it can be handed to the generators below. */
  readonly next: () => number;

  constructor(seed: number) {
    this.next = rng(seed);
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

/** Random logits already in their storage format, with their shape. */
export interface LogitsCase {
  data: Storage;
  dtype: DType;
  rows: number;
  vocab: number;
}

/**
 * Logits of spread `scale` around 0 (a Zipf-like heavy top when zipf), some
 * entries -inf when negInfRate > 0. f16 is built from a random exponent in
 * [2^-6, 2^5] and fraction.
 */
export function randomLogits(
  next: () => number,
  rows: number,
  vocab: number,
  dtype: DType,
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
  for (let i = 0; i < count; i++) {
    if (next() < negInfRate) {
      data[i] = maskedBits[dtype];
    } else if (dtype === 'bfloat16') {
      data[i] = f32ToBf16(value(i));
    } else {
      const exponent = 9 + Math.floor(next() * 11);
      data[i] = (next() < 0.5 ? 0x8000 : 0) | (exponent << 10) | Math.floor(next() * 1024);
    }
  }
  return { data, dtype, rows, vocab };
}

export function tensor(data: Storage, rows: number, vocab: number, dtype: DType): Tensor {
  return { data, shape: [rows, vocab], dtype };
}

export function tensorOf(logits: LogitsCase): Tensor {
  return tensor(logits.data, logits.rows, logits.vocab, logits.dtype);
}

/** A view of the stored bits (writes go through), so that -0, NaN payloads and -inf compare exactly. */
export function bitsOf(data: Storage): Uint32Array | Uint16Array {
  // BYTES_PER_ELEMENT, not instanceof: the addon's arrays come from another realm than jest's.
  return data.BYTES_PER_ELEMENT === 2 ? (data as Uint16Array) : new Uint32Array(data.buffer, data.byteOffset, data.length);
}

/** Byte equality of two typed arrays (jest's toEqual walks large arrays slowly). */
export function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** count distinct random ids in [0, vocab), ascending (all of them when count >= vocab). */
export function randomIds(next: () => number, vocab: number, count: number): number[] {
  if (count >= vocab) return Array.from({ length: vocab }, (_, i) => i);
  if (count > vocab / 2) {
    const all = Array.from({ length: vocab }, (_, i) => i);
    for (let i = vocab - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [all[i], all[j]] = [all[j], all[i]];
    }
    return all.slice(0, count).sort((a, b) => a - b);
  }
  const ids = new Set<number>();
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
    const extra = Array.from(got)
      .filter((id) => !wantSet.has(id))
      .slice(0, 8);
    const missing = want.filter((id) => !gotSet.has(id)).slice(0, 8);
    return `row ${r}: kept ${got.length} ids, expected ${want.length}; extra [${extra}], missing [${missing}]`;
  }
  return null;
}

/** A caught error's comparable fields and message, for toMatchObject and toEqual. */
export type CaughtError = Partial<ErrorFields> & { message: string };

function caught(error: unknown): CaughtError {
  return { ...errorFields(error), message: (error as Error).message };
}

/** Runs fn, expects it to throw, and returns the error's class name and fields. */
export function thrown(fn: () => unknown): CaughtError {
  try {
    fn();
  } catch (error) {
    return caught(error);
  }
  throw new Error('expected an error, none was thrown');
}

/** Like thrown(), for a promise that must reject. */
export async function rejected(promise: Promise<unknown>): Promise<CaughtError> {
  try {
    await promise;
  } catch (error) {
    return caught(error);
  }
  throw new Error('expected a rejection, the promise resolved');
}

/** Expects fn to throw an error with these fields (name, code, argument, row, ...). */
export function expectError(fn: () => unknown, fields: Partial<CaughtError>): void {
  expect(thrown(fn)).toMatchObject(fields);
}

/**
 * describe() for suites that need a usable CUDA device. Where none is, the
 * suite is skipped, and says so and why: a skip is never silent.
 */
export function describeCuda(name: string, suite: () => void): void {
  const { available, reason } = backendInfo().cuda;
  if (available) {
    describe(name, suite);
  } else {
    console.log(`skipped "${name}": CUDA cannot run here (${reason})`);
    describe.skip(name, suite);
  }
}

/** describe() for suites about running without CUDA (clear errors, CPU fallback); skipped where CUDA runs. */
export function describeWithoutCuda(name: string, suite: () => void): void {
  if (!backendInfo().cuda.available) {
    describe(name, suite);
  } else {
    console.log(`skipped "${name}": CUDA runs here`);
    describe.skip(name, suite);
  }
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

/** null when every row's token is one of its kept ids; else the first row where it is not. */
export function tokenOutsideMask(result: { tokens: Int32Array; mask: SamplingMask }): string | null {
  const { tokens, mask } = result;
  if (tokens.length !== mask.rows) return `${tokens.length} tokens for ${mask.rows} rows`;
  for (let r = 0; r < mask.rows; r++) {
    if (!mask.row(r).includes(tokens[r])) return `row ${r}: token ${tokens[r]} not in [${Array.from(mask.row(r)).slice(0, 8)}]`;
  }
  return null;
}

/** Asserts that every drawn token is in its row's mask: every sample() test draw goes through it. */
export function expectTokensKept(result: { tokens: Int32Array; mask: SamplingMask }): void {
  expect(tokenOutsideMask(result)).toBeNull();
}

/** sample()'s keys for a batch. */
export interface Keys {
  seed: bigint;
  stream: bigint[];
  step: number[];
}

/** A random 64-bit integer as a bigint. */
export function random64(rng: Rng): bigint {
  return (BigInt(rng.int(0, 0xffffffff)) << 32n) | BigInt(rng.int(0, 0xffffffff));
}

/** Random keys for `rows` rows: a 64-bit seed, 64-bit streams (some small), 32-bit steps. */
export function randomKeys(rng: Rng, rows: number): Keys {
  return {
    seed: random64(rng),
    stream: Array.from({ length: rows }, () => (rng.next() < 0.3 ? BigInt(rng.int(0, 1000)) : random64(rng))),
    step: Array.from({ length: rows }, () => rng.int(0, 0xffffffff)),
  };
}

/** `node script manifest` in a child per CPU kernel variant the tests force (SAMPLING_MASK_CPU_ISA), baseline first. */
export function spawnPerIsa(script: string, manifest: string): { isa: string; child: SpawnSyncReturns<string> }[] {
  return ['baseline', 'avx2', 'avx512'].map((isa) => ({
    isa,
    child: spawnSync(process.execPath, [script, manifest], {
      env: { ...process.env, SAMPLING_MASK_CPU_ISA: isa },
      maxBuffer: 1 << 28,
      encoding: 'utf8',
    }),
  }));
}

/** [rows, vocab] of the trainer tests' random batches, from a one-id vocabulary to rows of thousands. */
export const trainerShapes: readonly (readonly [number, number])[] = [
  [1, 1],
  [3, 1],
  [5, 7],
  [20, 64],
  [40, 100],
  [25, 900],
  [30, 1000],
  [6, 5000],
  [4, 6000],
];
