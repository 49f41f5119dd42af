// One crafted row (or a few) for every comparison and constant of the rule
// (README "The rule", "How the rule is pinned"), placed where changing that
// comparison or constant in native code changes the result: a `>=` turned
// into `>`, the weight floor -28 into -27.7, one coefficient of the package's
// exp or log, the ceiling of the top-p budget, the trainer's exp cut at -87.
// `npm run mutate` makes exactly such changes to native/ and checks that this
// file then fails.
//
// Every mask case states its kept ids by hand, with why the row sits on the
// boundary; the reference (reference.ts) must agree with that statement, and
// native must agree with both, in process and in child processes running each
// CPU kernel variant (baseline, AVX2, AVX-512). Trainer cases check native
// against the float64 reference (trainer-reference.ts) and the exact values
// the rule's own exp and sums give.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as api from '../lib';
import type { DType, MaskOptions } from '../lib';
import {
  MAX_F32,
  ONE,
  nextDoubleDown,
  nextDown,
  nextUp,
  pairAtDifference,
  rowWeighing,
  smallestTotalKeepingSecond,
  valuesWeighing,
} from './boundary-rows';
import { bitsToF32, encode, f32Bits, spawnPerIsa, thrown, type CaughtError } from './helpers';

type ErrorFields = Partial<CaughtError>;
import { fixedWeight, packageLog, referenceMask } from './reference';
import { referenceRow } from './trainer-reference';

const f32 = Math.fround;

// ---------------------------------------------------------------------------
// Calls as plain data, run by fixtures/isa-calls.js in process and per ISA.

interface Logits {
  dtype: DType;
  rows: number;
  vocab: number;
  /** f32 bit patterns, or raw 16-bit floats */
  bits: number[];
}

type Call =
  | (Logits & { op: 'mask'; options: MaskOptions })
  | (Logits & {
      op: 'logprobs' | 'backward';
      kept: number[][] | null;
      /** [position, id] pairs written into the mask's indices after it was checked */
      overwrite?: [number, number][];
      targets: number[];
      temperature: number;
      gradOutput?: number[];
    });

interface Output {
  lists?: number[][];
  filledBits?: number[];
  logprobsBits?: number[];
  entropyBits?: number[];
  valuesBits?: number[];
  error?: ErrorFields;
}

interface IsaCalls {
  runCall(library: typeof api, call: Call): Output;
  stringify(value: unknown): string;
  parse(text: string): unknown;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const isaCalls = require('./fixtures/isa-calls') as IsaCalls;

interface Case {
  name: string;
  call: Call;
  /** The problems with an output; none when it is what the rule gives. */
  check(output: Output): string[];
}

function logitsOf(rows: readonly (readonly number[])[], dtype: DType): Logits {
  const vocab = Math.max(...rows.map((row) => row.length));
  // Shorter rows are padded with -inf, which is never kept and weighs nothing.
  const values = Float32Array.from(rows.flatMap((row) => [...row, ...new Array(vocab - row.length).fill(-Infinity)]));
  const data = encode(values, dtype);
  const bits = data instanceof Float32Array ? Array.from(values, f32Bits) : Array.from(data);
  return { dtype, rows: rows.length, vocab, bits };
}

function dataOf(logits: Logits): Float32Array | Uint16Array {
  return logits.dtype === 'float32' ? Float32Array.from(logits.bits, bitsToF32) : Uint16Array.from(logits.bits);
}

function sameErrorFields(actual: ErrorFields | undefined, expected: ErrorFields): boolean {
  return actual !== undefined && Object.entries(expected).every(([key, value]) => actual[key as keyof ErrorFields] === value);
}

const maskCases: (Case & { expected: number[][] | ErrorFields })[] = [];

/**
 * A mask case: rows of f32 values (converted to dtype), options, and the kept
 * ids of each row stated by hand, or the error's fields.
 */
function maskCase(
  name: string,
  rows: readonly (readonly number[])[],
  options: MaskOptions,
  expected: number[][] | ErrorFields,
  dtype: DType = 'float32',
): void {
  const call: Call = { op: 'mask', options, ...logitsOf(rows, dtype) };
  const check = (output: Output): string[] => {
    if (!Array.isArray(expected)) {
      return sameErrorFields(output.error, expected) ? [] : [`expected error ${JSON.stringify(expected)}, got ${JSON.stringify(output)}`];
    }
    if (output.error) return [`unexpected error ${JSON.stringify(output.error)}`];
    const problems = expected.flatMap((ids, r) =>
      JSON.stringify(output.lists?.[r]) === JSON.stringify(ids)
        ? []
        : [`row ${r}: kept ${JSON.stringify(output.lists?.[r])}, expected ${JSON.stringify(ids)}`],
    );
    if (options.fillLogits) {
      // Kept entries untouched, every other one -inf in the input's format.
      const negInf = dtype === 'float32' ? 0xff800000 : dtype === 'bfloat16' ? 0xff80 : 0xfc00;
      const kept = new Set(expected.flatMap((ids: number[], r: number) => ids.map((id) => r * call.vocab + id)));
      const want = call.bits.map((bits, i) => (kept.has(i) ? bits : negInf));
      if (JSON.stringify(output.filledBits) !== JSON.stringify(want))
        problems.push(`filled ${JSON.stringify(output.filledBits)}, expected ${JSON.stringify(want)}`);
    }
    return problems;
  };
  maskCases.push({ name, call, check, expected });
}

const trainerCases: Case[] = [];

// ---------------------------------------------------------------------------
// Step 1: parameter ranges (rule.h invalid_param), logits validation.

const RANGE = { name: 'RangeError', code: 'ERR_SM_OUT_OF_RANGE' };

// T = 0 is the lowest valid temperature (`temperature >= 0`) and means greedy
// (`temperature == 0`): every id equal to the maximum, both 4s, whatever the
// other parameters say (`x >= cut` with the cut at the maximum).
maskCase(
  'T = 0 is valid and greedy; ties at the maximum are all kept',
  [[1, 4, -Infinity, 4, 3.9999998]],
  { temperature: 0, topK: 1, topP: 1e-6, minP: 1 },
  [[1, 3]],
);
// The largest finite f32 is a valid temperature (`temperature <= kMaxFinite`);
// z = 2 / T and 1 / T are distinct subnormals, so top-k 1 keeps id 0 only.
maskCase('T = the largest finite f32 is valid', [[2, 1, -Infinity]], { temperature: MAX_F32, topK: 1 }, [[0]]);
maskCase('T = +inf is out of range', [[2, 1]], { temperature: Infinity }, { ...RANGE, argument: 'temperature' });
// minP = 0 is valid and off (`min_p >= 0`, `min_p > 0`): were min-p on at 0,
// the package's log(0) = -1023 ln 2 = -709.1 would drop id 1 at d = -1000.
maskCase('minP = 0 is valid and off', [[0, -1000]], { minP: 0 }, [[0, 1]]);
// minP = 1 is valid (`min_p <= 1`): ln 1 = 0 keeps the maximum and its ties.
maskCase('minP = 1 is valid: the maximum and its ties', [[2, 5, 5, 4.9999]], { minP: 1 }, [[1, 2]]);
maskCase('minP just above 1 is out of range', [[2, 5]], { minP: nextUp(1) }, { ...RANGE, argument: 'minP' });
// topK = -1 is valid and off (`top_k < -1` is the error), and so is 0 (`top_k > 0`).
maskCase('topK = -1 is valid and off', [[3, -1, 2]], { topK: -1 }, [[0, 1, 2]]);
maskCase('topK = 0 is off', [[3, -1, 2]], { topK: 0 }, [[0, 1, 2]]);
// topP = 1 is valid and off (`top_p <= 1`, `top_p < 1`): were top-p on at 1,
// id 1 (weight 0 at d = -30) would have 2^40 above it, not < ceil(1 * 2^40).
maskCase('topP = 1 is valid and off', [[0, -30]], { topP: 1 }, [[0, 1]]);
// The same where top-k applies first (2 < 4 survivors; its 2nd largest is -30).
maskCase('topP = 1 is off after top-k too', [[0, -30, -31, -31]], { topP: 1, topK: 2 }, [[0, 1]]);
maskCase('topP = 0 is out of range', [[0, -1]], { topP: 0 }, { ...RANGE, argument: 'topP' });
maskCase('topP just above 1 is out of range', [[0, -1]], { topP: nextUp(1) }, { ...RANGE, argument: 'topP' });

const LOGITS = { name: 'RangeError', code: 'ERR_SM_INVALID_LOGITS', argument: 'logits' };
// +inf is an error (`!(x < +inf)`), named by its column, the first bad one.
maskCase('+inf and NaN are errors at the first bad column', [[0, 1, Infinity, NaN]], {}, { ...LOGITS, row: 0, column: 2 });
// 37 = 2 * 16 + 5 = 4 * 8 + 5 = 9 * 4 + 1: the last id is in the partial block of every vector width.
maskCase('+inf in the last, partial vector block', [[...new Array(36).fill(0), Infinity]], { topK: 3 }, { ...LOGITS, row: 0, column: 36 });
// f16 widening: 0x7bff = 65504 is the largest finite half (finite below the
// 65536 that marks exponent 31), 0xfc00 is -inf (never kept), 0x7c00 +inf.
maskCase('f16: +-65504 are finite, -inf is never kept', [[-Infinity, 1, 0, 65504, -65504]], {}, [[1, 2, 3, 4]], 'float16');
maskCase('f16: +inf is an error', [[1, 0, Infinity]], {}, { ...LOGITS, row: 0, column: 2 }, 'float16');

// ---------------------------------------------------------------------------
// Step 2: z = x / T must be finite at the row maximum (scaled_max_is_finite).

// z_max = the largest finite f32 (T = 1) is finite (`z_max <= kMaxFinite`); id 1 has d = -3.4e38.
maskCase('z_max = the largest finite f32 is valid', [[MAX_F32, 0]], {}, [[0, 1]]);
// z_max = the lowest finite f32 is finite (`z_max >= -kMaxFinite`).
maskCase('z_max = the lowest finite f32 is valid', [[-MAX_F32, -Infinity]], {}, [[0]]);
maskCase('z_max overflowing to +inf is an error', [[MAX_F32, 0]], { temperature: 0.5 }, { ...RANGE, argument: 'temperature', row: 0 });
// The lowest finite logit is kept when nothing filters (the cut starts at -kMaxFinite).
maskCase('x = the lowest finite f32 is kept', [[0, -MAX_F32]], {}, [[0, 1]]);
// z = -MAX / 0.5 = -inf for ids 0 and 2: the 3rd largest z is -inf, so top-k
// keeps every finite x, ids 0 to 3; the cut stays at the lowest finite x,
// never -inf, so id 4 (-inf) stays out.
maskCase('a cut at z = -inf keeps every finite x and no -inf', [[-MAX_F32, 1, -MAX_F32, 0, -Infinity]], { temperature: 0.5, topK: 3 }, [
  [0, 1, 2, 3],
]);

// ---------------------------------------------------------------------------
// Step 3: min-p keeps z - z_max >= ln(minP), the difference in double.

/** The first f32 at or after start (stepping up) for which pairAt finds a row, and the row. */
function firstMinP(start: number, pairAt: (logMinP: number) => [number, number] | undefined): [number, [number, number]] {
  for (let minP = f32(start); ; minP = nextUp(minP)) {
    const pair = pairAt(packageLog(minP));
    if (pair) return [minP, pair];
  }
}

// For each minP, two rows [z_max, z]: in the first z - z_max is exactly
// ln(minP) as the package computes it (kept: `>=`, not `>`), in the second
// exactly one double below it (dropped). So the package's log of minP must be
// exactly that double: a coefficient, a range reduction or a constant of ln 2
// that moves it by one unit in the last place either way flips one of the rows.
// The minP values cover mantissas below and above sqrt(2) (where the log
// halves the mantissa) and exponents from 2^-40 to 2^-1. Two are where only
// the last digits decide: 0.70710796 (mantissa 1.41421592, just above
// sqrt(2): its log differs by one unit if the mantissa is not halved there)
// and 0.67028671 (its log differs by one unit if the series stops one term
// earlier); found by evaluating those variants of the log over every f32.
const minPStarts = [0.05, 0.1, 0.3, 0.5, 0.7, 0.72, 0.9, 0.99, 1 - 2 ** -20, 1e-3, 1e-6, 1e-12, 0.7071079611778259, 0.6702867150306702];
for (const start of minPStarts) {
  const [onMinP, onRow] = firstMinP(start, (log) => pairAtDifference(log));
  const [belowMinP, belowRow] = firstMinP(start, (log) => pairAtDifference(nextDoubleDown(log)));
  maskCase(`min-p on and one double below ln(minP) (minP from ${start})`, [onRow, belowRow], { minP: [onMinP, belowMinP] }, [[0, 1], [0]]);
}

// ---------------------------------------------------------------------------
// Step 4: top-k keeps z >= the k-th largest z, counting duplicates.

// Sorted: 5, 4, 4, 4, 3, 1. The 2nd, 3rd and 4th largest are all 4 (ties all
// kept, `z >= tau`); the 5th is 3. Counting distinct values, k = 3 would reach 3.
maskCase(
  'ties at the k-th value are kept; duplicates count toward k',
  [
    [5, 1, 4, 4, 4, 3],
    [5, 1, 4, 4, 4, 3],
    [5, 1, 4, 4, 4, 3],
  ],
  { topK: [2, 3, 5] },
  [
    [0, 2, 3, 4],
    [0, 2, 3, 4],
    [0, 2, 3, 4, 5],
  ],
);
// 37 ids: id i holds 100 - i, except ids 0 and 36 which tie with id 10 at 90.
// The 10th largest is 90 (ids 1..9 are above it), so ids 0..10 and 36 are
// kept: one tie in the first vector block, one in the partial last block.
maskCase(
  'ties at the k-th value in the first and the partial last vector block',
  [Array.from({ length: 37 }, (_, i) => (i === 0 || i === 36 ? 90 : 100 - i))],
  { topK: 10 },
  [[...Array.from({ length: 11 }, (_, i) => i), 36]],
);
// 600 ids: 1000, 999, ..., 701, then 300 ids at 991. The candidates buffer
// (256 values) fills before the ties arrive and is cut at its 10th largest,
// 991: the ties later in the row are exactly at that threshold and must still
// be gathered (`x >= threshold`). Kept: ids 0..9 (1000..991) and 300..599.
maskCase(
  'ties at the k-th value after the candidates were cut at it',
  [Array.from({ length: 600 }, (_, i) => (i < 300 ? 1000 - i : 991))],
  { topK: 10 },
  [[...Array.from({ length: 10 }, (_, i) => i), ...Array.from({ length: 300 }, (_, i) => 300 + i)]],
);
// fillLogits writes -inf below the cut only: the cut is the 2nd largest, 2, itself kept.
maskCase('fillLogits keeps the entries at the cut', [[3, 1, 2, 2]], { topK: 2, fillLogits: true }, [[0, 2, 3]]);

// ---------------------------------------------------------------------------
// Step 5: top-p keeps a group iff the weight strictly above it is < ceil(topP * total).

// Weights 1 (the maximum), 4 e^-1 = 1.47 (a tie group) and e^-3 = 0.05, of
// 2.52 in all: the maximum alone is 39.7%, with the tie group 98.0%.
maskCase(
  'a tie group at the top-p boundary is kept or dropped whole',
  [
    [0, -1, -1, -1, -1, -3],
    [0, -1, -1, -1, -1, -3],
    [0, -1, -1, -1, -1, -3],
    [0, -1, -1, -1, -1, -3],
  ],
  { topP: [0.39, 0.4, 0.98, 0.99] },
  [[0], [0, 1, 2, 3, 4], [0, 1, 2, 3, 4], [0, 1, 2, 3, 4, 5]],
);
// topP = 2^-104, 2^-105, 2^-106 and 2^-149 (subnormal): topP * total < 1, so
// the budget is 1 and only the maximum is kept. 2^-105 is the f32 whose exact
// scale is 2^-128, where the budget stops shifting by the exponent.
maskCase(
  'tiny topP keeps only the maximum',
  new Array(4).fill([0, -0.5, -1]),
  { topP: [2 ** -104, 2 ** -105, 2 ** -106, 2 ** -149] },
  new Array(4).fill([0]),
);

const LOWEST_WEIGHING = nextUp(f32(Math.log(2 ** -40))); // -27.725885: the lowest d of weight 1 (checked below)
const BELOW_FLOOR = -27.9; // weight trunc(0.84) = 0 at 2^40, trunc(1.67) = 1 at 2^41

/**
 * Keep and drop rows around one second group: rows [0, second, lower...,
 * fillers] whose survivors weigh exactly the smallest total at which the
 * second group is kept, and one unit less. Any weight (of any id, at any d),
 * the budget or its comparison off by one unit flips one of the two rows.
 * Each row ends in two ties at -40 (weight 0, dropped by top-p), and runs
 * once without top-k and once with a top-k that keeps every survivor
 * (k = survivors - 1 lands on that tie), the two ways native reaches top-p.
 */
function topPCases(name: string, topP: number, second: number, keepLower: number[] = [], dropLower: number[] = []): void {
  const total = smallestTotalKeepingSecond(topP);
  const rows = [
    [...rowWeighing(total, second, keepLower), -40, -40],
    [...rowWeighing(total - 1n, second, dropLower), -40, -40],
  ];
  const topK = rows.map((row) => row.length - 1);
  maskCase(`${name}: total weight at the budget step and one unit below`, rows, { topP }, [[0, 1], [0]]);
  maskCase(`${name}, after top-k`, rows, { topP, topK }, [[0, 1], [0]]);
}

// Second groups across the range of d = z - z_max: the package's exp reduces
// d to r = d - n ln 2 with |r| <= ln2 / 2 (n = 0 .. -40) and evaluates a
// polynomial in r; every weight above d = -11.8 is an exact f32 value, so any
// change to a coefficient or a reduction constant moves it by 2^16 or more.
// topP is picked so that the second group takes about half the room above
// the maximum. The highest coefficients and log2(e) reach the last bit only
// where the exp lies within a few hundredths of an ulp of a rounding tie:
// -0.2019875 (r^6's coefficient decides it), -0.1309715 (r^5's) and
// -5.1985888 (d log2(e) within 1e-6 of -7.5, where n and r switch); found by
// evaluating the exp with those constants cut to three digits.
const probes = [
  -(2 ** -20),
  -0.01,
  -0.2,
  -0.3465,
  -0.3467,
  -0.69,
  -1,
  -1.7,
  -2.5,
  -3.3,
  -4.9,
  -6.2,
  -8.3,
  -10.4,
  -12.1,
  -15.9,
  -19.7,
  -23.4,
  -26.2,
  -27.03,
  -0.20198750495910645,
  -0.1309715062379837,
  -5.198588848114014,
];
for (const d of probes) {
  const second = f32(d);
  topPCases(`second group at d = ${d}`, Math.min(f32(1 / (1 + 2 * Math.exp(second))), 1 - 2 ** -24), second);
}
// topP = 1/2 exactly: the drop row weighs 2^41, so topP * total = 2^40 is an
// integer and the budget equals the weight above the second group: `<`, not `<=`.
topPCases('topP = 1/2, budget exactly 2^40', 0.5, f32(-0.5));
// The floor and the fixed-point scale: the keep row holds one id at the
// lowest d that weighs 1 (a floor raised to -27.7, or 39 fractional bits,
// makes it weigh 0); the drop row holds three ids at -27.9, which weigh 0 at
// 40 bits and 1 each at 41.
topPCases(
  'weights at the floor and the scale',
  f32(1 / (1 + 2 * Math.exp(-0.7))),
  f32(-0.7),
  [LOWEST_WEIGHING],
  [BELOW_FLOOR, BELOW_FLOOR, BELOW_FLOOR],
);

// Native's top-p search first finds the bucket of d (trunc(-d * 73),
// weight_buckets.h) where the weight from the top reaches the budget, then
// walks that bucket's values, [lo, hi) with hi the lowest x of the bucket
// above. Id 1 sits exactly at such an hi: it belongs to the bucket above,
// whose weight is already counted, and must not be walked again (`x < hi`).
// The group below it, id 2, is then kept with exactly ONE + w(id 1) above it
// (total at the budget step), and dropped one unit below. Sixteen ids at
// -27.9 (weight 0) make the members long enough that id 1 is compared in a
// full vector block; the third row has the edge id last instead, after a
// number of members that is no multiple of 4, so that every vector width
// compares it in the scalar tail (kept: ids 0, 1 and the last).
const weightBucket = (d: number) => Math.trunc(f32(-d * 73));
const BUCKET_19_BOTTOM = (() => {
  let d = f32(-20 / 73);
  while (weightBucket(d) > 19) d = nextUp(d);
  while (weightBucket(nextDown(d)) <= 19) d = nextDown(d);
  return d;
})();
{
  const edge = BUCKET_19_BOTTOM;
  const below = f32(edge - 0.005); // in bucket 20 (checked below)
  const above = ONE + fixedWeight(edge);
  const total = smallestTotalKeepingSecond(0.5, above);
  const fillers = (weight: bigint) => valuesWeighing(below, weight - above - fixedWeight(below));
  const lower = new Array(16).fill(BELOW_FLOOR);
  const edgeFirst = (weight: bigint) => [0, edge, below, ...lower, ...fillers(weight)];
  const members = [0, below, ...lower, ...fillers(total)];
  const edgeLast = [...members, ...(members.length % 4 === 3 ? [BELOW_FLOOR] : []), edge];
  maskCase(
    'a survivor exactly at the top of the top-p boundary bucket is walked once',
    [edgeFirst(total), edgeFirst(total - 1n), edgeLast],
    { topP: 0.5 },
    [
      [0, 1, 2],
      [0, 1],
      [0, 1, edgeLast.length - 1],
    ],
  );
}

// Min-p before top-p: only survivors weigh. minP = e^-27.5; the two ids at
// the min-p cut (the smallest f32 x with x - 0 >= ln(minP)) weigh 1 each and
// count (`x >= cut`); the id just below the cut weighs 1 too but is not a
// survivor. With top-k, k = survivors - 1 lands on the tie at the cut.
{
  const minP = f32(Math.exp(-27.5));
  let cut = f32(packageLog(minP));
  if (cut < packageLog(minP)) cut = nextUp(cut);
  const topP = f32(1 / (1 + 2 * Math.exp(-0.7)));
  const total = smallestTotalKeepingSecond(topP);
  const rows = [
    [...rowWeighing(total, f32(-0.7), [cut, cut]), nextDown(cut)],
    [...rowWeighing(total - 1n, f32(-0.7), [cut, cut]), nextDown(cut)],
  ];
  maskCase('survivors at the min-p cut weigh, the id below it does not', rows, { topP, minP }, [[0, 1], [0]]);
  maskCase('survivors at the min-p cut weigh, after top-k', rows, { topP, minP, topK: rows.map((row) => row.length - 2) }, [[0, 1], [0]]);
}

// ---------------------------------------------------------------------------
// Trainer side (core/trainer.h).

function trainerCall(
  op: 'logprobs' | 'backward',
  rows: number[][],
  kept: number[][] | null,
  targets: number[],
  extra: Partial<Call> = {},
): Call {
  return { op, kept, targets, temperature: 1, gradOutput: targets.map(() => 1), ...logitsOf(rows, 'float32'), ...extra } as Call;
}

function expectError(fields: ErrorFields) {
  return (output: Output) =>
    sameErrorFields(output.error, fields) ? [] : [`expected error ${JSON.stringify(fields)}, got ${JSON.stringify(output)}`];
}

const floats = (bits: number[] | undefined) => (bits ?? []).map(bitsToF32);

trainerCases.push(
  // The sampler's temperature must be > 0 for the trainer (`t > 0`): T = 0 is
  // rejected as a parameter, one value for all rows, so the error names no row
  // (were it let through, x / 0 would fail later as an overflow at row 0)...
  {
    name: 'trainer: T = 0 is out of range',
    call: trainerCall('logprobs', [[0, 1]], null, [0], { temperature: 0 }),
    check: expectError({ ...RANGE, argument: 'temperature', row: undefined }),
  },
  // ... and at most the largest finite f32 (`t <= kMaxFinite`): z = 1 / T is a
  // subnormal, so both ids weigh exp(~0) = 1 and log q(0) = -ln 2.
  {
    name: 'trainer: T = the largest finite f32 is valid',
    call: trainerCall('logprobs', [[1, 0]], null, [0], { temperature: MAX_F32 }),
    check: (output) => {
      const [logprob] = floats(output.logprobsBits);
      return logprob === f32(-Math.LN2) ? [] : [`log-prob ${logprob}, expected ${f32(-Math.LN2)} (${JSON.stringify(output.error)})`];
    },
  },
  // Kept ids must rise strictly (`id > previous`) and stay below vocab (`id < vocab`).
  {
    name: 'trainer: a repeated kept id is an invalid mask',
    call: trainerCall('logprobs', [[0, 1, 2]], [[0, 1]], [0], { overwrite: [[1, 0]] }),
    check: expectError({ code: 'ERR_SM_INVALID_MASK', row: 0 }),
  },
  {
    name: 'trainer: a kept id = vocab is an invalid mask',
    call: trainerCall('logprobs', [[0, 1, 2]], [[0, 1]], [0], { overwrite: [[1, 3]] }),
    check: expectError({ code: 'ERR_SM_INVALID_MASK', row: 0 }),
  },
  {
    name: 'trainer: a kept id = vocab - 1 is valid',
    call: trainerCall('logprobs', [[0, 1, 2]], [[0, 1]], [0], { overwrite: [[1, 2]] }),
    check: (output) => {
      // Kept ids 0 and 2: log q(0) = 0 - ln(1 + e^2).
      const [logprob] = floats(output.logprobsBits);
      const want = -Math.log(1 + Math.exp(2));
      return Math.abs(logprob - want) <= 1e-6 ? [] : [`log-prob ${logprob}, expected ${want} (${JSON.stringify(output.error)})`];
    },
  },
);

// exp(d) is 0 below d = -87 (`d >= -87`): at d = -87 itself it is
// 1.6458e-38, a normal f32, and the gradient of that id is -q = -1.6458e-38;
// one f32 below -87 it is exactly 0. The maximum's gradient is 1 - q = 0
// (mass 1 + 1.6e-38 rounds to 1), and the entropy is 87 e^-87 = 1.43e-36.
trainerCases.push({
  name: 'trainer: exp is kept down to d = -87 and 0 below',
  call: trainerCall('backward', [[0, -87, nextDown(-87)]], null, [0]),
  check: (output) => {
    const values = floats(output.valuesBits);
    const q = Math.exp(-87);
    const ok = values.length === 3 && values[0] === 0 && Math.abs(values[1] + q) <= 1e-6 * q && values[2] === 0;
    return ok ? [] : [`gradient ${JSON.stringify(values)}, expected [0, ${-q}, 0] (${JSON.stringify(output.error)})`];
  },
});
trainerCases.push({
  name: 'trainer: the entropy counts exp(-87) and not below',
  call: trainerCall('logprobs', [[0, -87, nextDown(-87)]], null, [0]),
  check: (output) => {
    const [entropy] = floats(output.entropyBits);
    const want = 87 * Math.exp(-87);
    return Math.abs(entropy - want) <= 1e-5 * want ? [] : [`entropy ${entropy}, expected ${want} (${JSON.stringify(output.error)})`];
  },
});
// A kept -inf has exp 0 and adds nothing to the entropy (`e > 0`: not 0 * -inf = NaN).
{
  const row = [0, -Infinity, -1];
  trainerCases.push({
    name: 'trainer: a kept -inf adds nothing to the entropy',
    call: trainerCall('logprobs', [row], null, [0]),
    check: (output) => {
      const [entropy] = floats(output.entropyBits);
      const want = referenceRow(row, [0, 2], 0, 1).entropy;
      return Math.abs(entropy - want) <= 1e-6 ? [] : [`entropy ${entropy}, expected ${want}`];
    },
  });
}
// Compensated sums. 16 lanes (the i-th kept id goes to lane i % 16), each
// summing e, then 1 (ids 16..31 are the maxima), then e seven times, with
// e = exp(f32(ln 2^-26)) ~ 2^-26, under half an ulp of 1: a plain sum rounds
// every e away, and so does a compensation that takes the error from the
// wrong operand when the new term is the larger one. The exact mass is
// 16 + 128 e ~ 16 + 2^-19, whose nearest f32 is 16 + 2^-19 (ulp 2^-19 at 16),
// so the probability of each maximum is fround(1 / (16 + 2^-19)), not 1/16,
// and a maximum that is not the target has gradient minus that.
{
  const small = f32(Math.log(2 ** -26));
  const row = Array.from({ length: 144 }, (_, i) => (i >= 16 && i < 32 ? 0 : small));
  trainerCases.push({
    name: 'trainer: the mass is the compensated sum',
    call: trainerCall('backward', [row], null, [16]),
    check: (output) => {
      const values = floats(output.valuesBits);
      const exact = referenceRow(row, Array.from(row.keys()), 16, 1);
      const want = f32(exact.gradient[17]);
      return values[17] === want && want !== -1 / 16
        ? []
        : [`gradient of a maximum ${values[17]}, expected ${want} (${JSON.stringify(output.error)})`];
    },
  });
}

const cases: Case[] = [...maskCases, ...trainerCases];

// ---------------------------------------------------------------------------

describe('the boundary rows are where the hand-stated results say', () => {
  test('the bucket edge row: id 1 is the lowest d of bucket 19, id 2 is in bucket 20', () => {
    expect(weightBucket(BUCKET_19_BOTTOM)).toBe(19);
    expect(weightBucket(nextDown(BUCKET_19_BOTTOM))).toBe(20);
    expect(weightBucket(f32(BUCKET_19_BOTTOM - 0.005))).toBe(20);
  });

  test('the lowest weighing d weighs 1 and the one below it 0; -27.9 weighs 0', () => {
    expect(fixedWeight(LOWEST_WEIGHING)).toBe(1n);
    expect(fixedWeight(nextDown(LOWEST_WEIGHING))).toBe(0n);
    expect(fixedWeight(f32(BELOW_FLOOR))).toBe(0n);
  });

  test.each(maskCases.map((c) => [c.name, c] as const))('reference: %s', (_, c) => {
    const call = c.call as Logits & { options: MaskOptions };
    const run = () => referenceMask(dataOf(call), call.dtype, call.rows, call.vocab, call.options);
    if (Array.isArray(c.expected)) expect(run()).toEqual(c.expected);
    else expect(thrown(run)).toMatchObject(c.expected);
  });
});

describe('native (CPU, this process) decides every boundary row as the rule does', () => {
  test.each(cases.map((c) => [c.name, c] as const))('%s', (_, c) => {
    expect(c.check(isaCalls.runCall(api, c.call))).toEqual([]);
  });

  test('vocab up to 2^23 (kMaxVocab), not beyond', () => {
    const vocab = 2 ** 23;
    const data = new Float32Array(vocab);
    data[vocab - 1] = 1;
    expect(api.mask({ data, shape: [1, vocab], dtype: 'float32' }, { topK: 1, backend: 'cpu' }).toLists()).toEqual([[vocab - 1]]);
    const tooLong = { data: new Float32Array(1), shape: [1, vocab + 1], dtype: 'float32' } as const;
    expect(thrown(() => api.mask(tooLong, { backend: 'cpu' }))).toMatchObject({ ...RANGE, argument: 'logits.vocab' });
  });
});

test('every CPU kernel variant (baseline, AVX2, AVX-512) decides every boundary row as the rule does', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sm-boundaries-'));
  try {
    const manifest = path.join(dir, 'calls.json');
    fs.writeFileSync(manifest, isaCalls.stringify({ calls: cases.map((c) => c.call) }));
    const script = path.join(__dirname, 'fixtures', 'isa-calls.js');
    const problems: string[] = [];
    const ran = new Set<string>();
    for (const { isa, child } of spawnPerIsa(script, manifest)) {
      if (child.status !== 0) {
        problems.push(`${isa}: exit ${child.status} ${child.signal ?? ''} ${child.stderr}`);
        continue;
      }
      const { isa: ranIsa, outputs } = isaCalls.parse(child.stdout) as { isa: string; outputs: Output[] };
      ran.add(ranIsa);
      cases.forEach((c, i) => problems.push(...c.check(outputs[i]).map((problem) => `${ranIsa}: ${c.name}: ${problem}`)));
    }
    expect(problems).toEqual([]);
    expect(ran.has('baseline')).toBe(true);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
