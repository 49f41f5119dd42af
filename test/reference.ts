// The rule of the README ("The rule"), written once more in plain TypeScript
// for clarity rather than speed: decode a row, sort it, walk it. The native
// backends search for thresholds instead; this file shares none of their code,
// so agreement between the two is evidence that both follow the rule.
//
// Floats: the rule works in f32. Math.fround of one double +, -, * or / on
// f32 inputs is exactly the f32 operation (a double holds enough bits for the
// second rounding never to matter), so `f32(a / b)` below is vLLM's f32 x / T.

const f32 = Math.fround;

export type ReferenceDType = 'float32' | 'bfloat16' | 'float16';

const word = new DataView(new ArrayBuffer(4));

/** bf16 is the top half of an f32. */
export function decodeBf16(bits: number): number {
  word.setUint32(0, bits << 16);
  return word.getFloat32(0);
}

/** IEEE half: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits. */
export function decodeF16(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  if (exponent === 0) return sign * mantissa * 2 ** -24; // subnormal (and zero)
  return sign * (1024 + mantissa) * 2 ** (exponent - 25);
}

/** Row r of a batch as f32 values. */
export function decodeRow(data: Float32Array | Uint16Array, dtype: ReferenceDType, row: number, vocab: number): Float64Array {
  const raw = data.subarray(row * vocab, (row + 1) * vocab);
  if (dtype === 'float32') return Float64Array.from(raw);
  return Float64Array.from(raw, dtype === 'bfloat16' ? decodeBf16 : decodeF16);
}

export type FilterOrderName = 'sequential' | 'joint';

export interface RowParams {
  temperature: number; // f32; 0 = greedy
  minP: number; // f32; 0 = off
  topK: number; // integer; 0, -1 or >= survivors = off
  topP: number; // f32; 1 = off
  filterOrder?: FilterOrderName; // default 'sequential'
}

function rangeError(code: string, argument: string, message: string, row?: number, column?: number): RangeError {
  const error = new RangeError(`${argument}: ${message}`);
  return Object.assign(error, {
    code,
    argument,
    ...(row === undefined ? {} : { row }),
    ...(column === undefined ? {} : { column }),
  });
}

// ---------------------------------------------------------------------------
// Top-p weights: the package's own exp, every operation one f32 rounding.

const LOG2_E = f32(Math.LOG2E); // Cephes writes it 1.44269504088896341, the same double
const LN2_HIGH = f32(0.693359375);
const LN2_LOW = f32(-2.1219444e-4);
const ROUND_TO_INTEGER = f32(12582912); // 1.5 * 2^23: adding it rounds to an integer
const EXP_POLYNOMIAL = [1.98756915e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1].map(f32);
const FRACTION_BITS = 40;

/**
 * The fixed-point weight of a survivor at d = z - z_max <= 0: trunc(2^40 exp(d)),
 * with Cephes' expf (d = n ln2 + r, then a polynomial in r). d below -28
 * weighs nothing (2^40 exp(-28) < 1).
 */
export function fixedWeight(d: number): bigint {
  if (!(d >= -28)) return 0n;
  const n = f32(f32(f32(d * LOG2_E) + ROUND_TO_INTEGER) - ROUND_TO_INTEGER);
  let r = f32(d - f32(n * LN2_HIGH));
  r = f32(r - f32(n * LN2_LOW));
  let polynomial = EXP_POLYNOMIAL[0];
  for (const c of EXP_POLYNOMIAL.slice(1)) polynomial = f32(f32(polynomial * r) + c);
  const expR = f32(f32(f32(f32(polynomial * r) * r) + r) + 1);
  const scaled = f32(expR * 2 ** (n + FRACTION_BITS));
  return BigInt(Math.trunc(scaled));
}

/** ceil(p * total) exactly: an f32 p is an integer over a power of two. */
export function topPBudget(total: bigint, p: number): bigint {
  let numerator = p;
  let denominatorLog2 = 0;
  while (!Number.isInteger(numerator)) {
    numerator *= 2; // exact: only the exponent changes
    denominatorLog2 += 1;
  }
  const denominator = 1n << BigInt(denominatorLog2);
  const product = BigInt(numerator) * total;
  return (product + denominator - 1n) / denominator;
}

/**
 * ln(x) in double as the package computes it for min-p (the rule's own log,
 * native/core/rule.h): the mantissa m reduced to [sqrt(1/2), sqrt(2)], then
 * 2 atanh((m - 1) / (m + 1)) as a series, plus e ln 2 in two parts. Min-p
 * compares a double difference with this value, so a row can sit on its last
 * bit, where libm's log (Math.log) may round the other way.
 */
export function packageLog(x: number): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  let exponent = Number((bits >> 52n) & 0x7ffn) - 1023;
  view.setBigUint64(0, (bits & 0xfffffffffffffn) | 0x3ff0000000000000n);
  let m = view.getFloat64(0);
  if (m > Math.SQRT2) {
    m *= 0.5;
    exponent += 1;
  }
  const s = (m - 1) / (m + 1);
  const s2 = s * s;
  let series = 1 / 25;
  for (let odd = 23; odd >= 1; odd -= 2) series = 1 / odd + s2 * series;
  const logM = 2 * s * series;
  const LN2_HIGH = 6.9314718036912381649e-1; // low bits zero: exponent * LN2_HIGH is exact
  const LN2_LOW = 1.90821492927058770002e-10;
  return exponent * LN2_HIGH + (exponent * LN2_LOW + logM);
}

// ---------------------------------------------------------------------------
// One row.

/** The values in descending order (-inf last; -0 and +0 are equal). */
function descending(values: Float64Array): Float64Array {
  return values.sort().reverse();
}

/** The kept ids of one row of f32 values, ascending. Throws the errors the package throws. */
export function keptIds(values: ArrayLike<number>, p: RowParams, row: number): number[] {
  const x = Float64Array.from(values);
  const ids = Array.from(x.keys());
  const column = ids.find((id) => Number.isNaN(x[id]) || x[id] === Infinity);
  if (column !== undefined) {
    throw rangeError('ERR_SM_INVALID_LOGITS', 'logits', `NaN or +inf at row ${row}, column ${column}`, row, column);
  }
  // -inf means "already excluded": only finite ids can be kept.
  const finite = ids.filter((id) => x[id] !== -Infinity);
  if (finite.length === 0) throw rangeError('ERR_SM_INVALID_LOGITS', 'logits', `row ${row} has no finite value`, row);
  const xMax = finite.reduce((max, id) => Math.max(max, x[id]), -Infinity);

  if (p.temperature === 0) return finite.filter((id) => x[id] === xMax);

  const z = x.map((v) => f32(v / p.temperature));
  const zMax = f32(xMax / p.temperature);
  if (!Number.isFinite(zMax)) {
    throw rangeError('ERR_SM_OUT_OF_RANGE', 'temperature', `row maximum / temperature overflows at row ${row}`, row);
  }
  let survivors = finite;

  if (p.minP > 0) {
    const logMinP = packageLog(p.minP);
    survivors = survivors.filter((id) => z[id] - zMax >= logMinP); // in double
  }

  if (p.topK > 0 && p.topK < survivors.length) {
    const tau = descending(Float64Array.from(survivors, (id) => z[id]))[p.topK - 1];
    survivors = survivors.filter((id) => z[id] >= tau);
  }

  if (p.topP < 1) {
    // Sequential (vLLM): top-p judges the survivors of min-p and top-k, renormalized. Joint (SGLang, FlashInfer's
    // 'joint'): it judges every finite id of the row, and the kept set is the intersection of the three filters.
    const judged = p.filterOrder === 'joint' ? finite : survivors;
    const weight = (zi: number) => fixedWeight(f32(zi - zMax));
    const sorted = descending(Float64Array.from(judged, (id) => z[id]));
    let total = 0n;
    for (const zi of sorted) total += weight(zi);
    const budget = topPBudget(total, p.topP);
    // Walk groups of equal z from the top; a group is kept iff the weight strictly above it is
    // within budget. The kept set is then every survivor at or above the last kept group.
    let lastKept = sorted[0];
    let weightAbove = 0n;
    for (let start = 0; start < sorted.length && weightAbove < budget;) {
      lastKept = sorted[start];
      let end = start;
      while (end < sorted.length && sorted[end] === lastKept) weightAbove += weight(sorted[end++]);
      start = end;
    }
    survivors = survivors.filter((id) => z[id] >= lastKept);
  }
  return survivors;
}

// ---------------------------------------------------------------------------
// A batch, with the parameter checks of mask().

export type ReferenceParam = number | readonly number[] | Float64Array | Float32Array | Int32Array;

export interface ReferenceOptions {
  temperature?: ReferenceParam;
  minP?: ReferenceParam;
  topK?: ReferenceParam;
  topP?: ReferenceParam;
  filterOrder?: FilterOrderName;
}

/**
 * One value per row, or the same for all; NaN is an error. `row` in errors
 * is given only when the parameter is per row.
 */
function perRow(
  value: ReferenceParam | undefined,
  fallback: number,
  name: string,
  rows: number,
  convert: (v: number, row: number | undefined) => number,
): number[] {
  if (value === undefined) return new Array(rows).fill(fallback);
  const check = (v: number, row?: number) => {
    if (Number.isNaN(v)) throw rangeError('ERR_SM_OUT_OF_RANGE', name, 'is NaN', row);
    return convert(v, row);
  };
  if (typeof value === 'number') return new Array(rows).fill(check(value));
  const isArray = Array.isArray(value) || value instanceof Float64Array || value instanceof Float32Array || value instanceof Int32Array;
  if (!isArray) {
    throw Object.assign(new TypeError(`${name}: expected a number or an array`), {
      code: 'ERR_SM_INVALID_ARG_TYPE',
      argument: name,
    });
  }
  if (value.length !== rows) throw rangeError('ERR_SM_OUT_OF_RANGE', name, `needs ${rows} values`);
  return Array.from(value as ArrayLike<number>, (v, row) => check(v, row));
}

/** Parameters as the rule sees them (f32, integer k), or the error mask() throws. */
export function rowParams(options: ReferenceOptions, rows: number): RowParams[] {
  const float = (v: number) => f32(v);
  const temperature = perRow(options.temperature, 1, 'temperature', rows, float);
  const minP = perRow(options.minP, 0, 'minP', rows, float);
  const topP = perRow(options.topP, 1, 'topP', rows, float);
  const topK = perRow(options.topK, -1, 'topK', rows, (k, row) => {
    if (!Number.isInteger(k) && k !== Infinity) throw rangeError('ERR_SM_OUT_OF_RANGE', 'topK', 'not an integer', row);
    if (k < -1) throw rangeError('ERR_SM_OUT_OF_RANGE', 'topK', 'below -1', row);
    return Math.min(k, 2 ** 31 - 1);
  });
  const anyPerRow = [options.temperature, options.minP, options.topK, options.topP].some((v) => v !== undefined && typeof v !== 'number');
  const filterOrder = options.filterOrder ?? 'sequential';
  if (filterOrder !== 'sequential' && filterOrder !== 'joint') {
    throw Object.assign(new TypeError(`filterOrder: expected 'sequential' or 'joint'`), {
      code: 'ERR_SM_INVALID_ARG_TYPE',
      argument: 'filterOrder',
    });
  }
  const params = temperature.map((t, r) => ({ temperature: t, minP: minP[r], topK: topK[r], topP: topP[r], filterOrder }));
  params.forEach((p, r) => {
    const row = anyPerRow ? r : undefined;
    if (!(Number.isFinite(p.temperature) && p.temperature >= 0))
      throw rangeError('ERR_SM_OUT_OF_RANGE', 'temperature', 'not a finite number >= 0', row);
    if (!(p.minP >= 0 && p.minP <= 1)) throw rangeError('ERR_SM_OUT_OF_RANGE', 'minP', 'not in [0, 1]', row);
    if (!(p.topP > 0 && p.topP <= 1)) throw rangeError('ERR_SM_OUT_OF_RANGE', 'topP', 'not in (0, 1]', row);
  });
  return params;
}

/** The kept ids of every row of a [rows, vocab] batch, as mask() defines them. */
export function referenceMask(
  data: Float32Array | Uint16Array,
  dtype: ReferenceDType,
  rows: number,
  vocab: number,
  options: ReferenceOptions = {},
): number[][] {
  const params = rowParams(options, rows);
  return params.map((p, r) => keptIds(decodeRow(data, dtype, r, vocab), p, r));
}
