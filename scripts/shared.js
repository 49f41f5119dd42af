// @ts-check
'use strict';
// The pieces the tests share with the benchmarks, the demo and the GPU check:
// a seeded PRNG, f32 -> bf16 / f16 encoders and the comparable fields of an
// error. Plain CommonJS with JSDoc types because the scripts run with node
// alone against dist/ (on the GPU machine there is nothing else); the tests
// import it through test/helpers.ts, and tsc checks it there.

/**
 * A seeded PRNG (mulberry32): the same sequence on every run for a seed, so
 * that failures, benchmarks and demos reproduce.
 * @param {number} seed
 * @returns {() => number} uniform in [0, 1)
 */
function rng(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * @param {number} value
 * @returns {number} the bits of value rounded to f32
 */
function f32Bits(value) {
  f32[0] = value;
  return u32[0];
}

/**
 * @param {number} bits
 * @returns {number} the f32 with these bits
 */
function bitsToF32(bits) {
  u32[0] = bits >>> 0;
  return f32[0];
}

/**
 * f32 -> bf16 bits, round to nearest even (NaN stays a quiet NaN).
 * @param {number} value
 * @returns {number}
 */
function f32ToBf16(value) {
  const bits = f32Bits(value);
  if (Number.isNaN(value)) return ((bits >>> 16) | 0x0040) & 0xffff;
  const roundingBias = 0x7fff + ((bits >>> 16) & 1);
  return ((bits + roundingBias) >>> 16) & 0xffff;
}

/**
 * f32 -> IEEE half bits, round to nearest even, with subnormals and overflow to inf.
 * @param {number} value
 * @returns {number}
 */
function f32ToF16(value) {
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

/**
 * A fresh copy of f32 values in the storage of a dtype (raw 16-bit floats for bf16/f16).
 * @param {ArrayLike<number>} values
 * @param {'float32' | 'bfloat16' | 'float16'} dtype
 * @returns {Float32Array | Uint16Array}
 */
function encode(values, dtype) {
  if (dtype === 'float32') return Float32Array.from(values);
  return Uint16Array.from(values, dtype === 'bfloat16' ? f32ToBf16 : f32ToF16);
}

/**
 * @typedef {object} ErrorFields
 * @property {string} name the constructor's name: errors from the addon belong to another realm than jest's, so they compare by name
 * @property {string} [code]
 * @property {string} [argument]
 * @property {number} [row]
 * @property {number} [column]
 * @property {string | number} [requestId]
 */

/**
 * The fields by which the package's errors are compared, or null for no error.
 * @param {unknown} error
 * @returns {ErrorFields | null}
 */
function errorFields(error) {
  if (!error) return null;
  const e = /** @type {Error & Omit<ErrorFields, 'name'>} */ (error);
  return { name: e.constructor.name, code: e.code, argument: e.argument, row: e.row, column: e.column, requestId: e.requestId };
}

module.exports = { rng, f32Bits, bitsToF32, f32ToBf16, f32ToF16, encode, errorFields };
