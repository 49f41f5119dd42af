// Builders of rows that sit exactly on a boundary of the rule: float
// neighbours, top-p rows whose total weight is one fixed-point unit either
// side of where the budget passes a group, and min-p rows whose difference
// z - z_max is exactly a given double. They compute with the reference's
// weights and budget (reference.ts), so a row is on the boundary as the rule
// defines it; the tests then check that native decides it the same way.
import { bitsToF32, f32Bits } from './helpers';
import { fixedWeight, topPBudget } from './reference';

const f32 = Math.fround;

/** The weight of the row maximum: d = 0 weighs exactly 2^40. */
export const ONE = 2n ** 40n;
export const MAX_F32 = f32(3.4028234663852886e38);

/** The next f32 above x. */
export function nextUp(x: number): number {
  if (x === 0) return 2 ** -149;
  return x > 0 ? bitsToF32(f32Bits(x) + 1) : bitsToF32(f32Bits(x) - 1);
}

/** The next f32 below x. */
export function nextDown(x: number): number {
  return -nextUp(-x);
}

const float64 = new Float64Array(1);
const float64Bits = new BigInt64Array(float64.buffer);

/** The next double below x (x negative, finite). */
export function nextDoubleDown(x: number): number {
  float64[0] = x;
  float64Bits[0] += 1n;
  return float64[0];
}

/** The largest f32 d < ceiling with fixedWeight(d) <= weight (weight >= 1). */
export function largestBelowWithWeightAtMost(ceiling: number, weight: bigint): number {
  // Negative floats: a larger bit pattern is a more negative value.
  let lo = f32Bits(ceiling) + 1;
  let hi = f32Bits(-28);
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (fixedWeight(bitsToF32(mid)) <= weight) hi = mid;
    else lo = mid + 1;
  }
  return bitsToF32(lo);
}

/**
 * The smallest total weight at which top-p keeps a group with `above` (by
 * default the maximum's weight 2^40) above it: the budget ceil(topP * total)
 * first exceeds `above` there. At this total the group is kept; one unit
 * less, it is not.
 */
export function smallestTotalKeepingSecond(topP: number, above = ONE): bigint {
  const keeps = (total: bigint) => topPBudget(total, topP) > above;
  let lo = above; // topP < 1: the groups above never exceed their own budget
  let hi = 2n * above;
  while (!keeps(hi)) hi *= 2n;
  while (hi - lo > 1n) {
    const mid = (lo + hi) / 2n;
    if (keeps(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** Values below ceiling whose weights add up to exactly `weight`: each the highest that still fits. */
export function valuesWeighing(ceiling: number, weight: bigint): number[] {
  const values: number[] = [];
  let rest = weight;
  let below = ceiling;
  while (rest > 0n) {
    const d = largestBelowWithWeightAtMost(below, rest);
    values.push(d);
    rest -= fixedWeight(d);
    below = nextUp(d); // the next value may tie with this one, never rise above it
  }
  return values;
}

/**
 * A row (T = 1) whose survivors weigh exactly `total`: the maximum 0 at id 0,
 * the second group `second` at id 1, then `lower` (each below second), then
 * fillers below second that make up the rest of the weight.
 */
export function rowWeighing(total: bigint, second: number, lower: readonly number[] = []): number[] {
  const rest = total - ONE - fixedWeight(second) - lower.reduce((sum, d) => sum + fixedWeight(d), 0n);
  if (rest < 0n) throw new Error(`the row's groups already weigh more than ${total}`);
  return [0, second, ...lower, ...valuesWeighing(second, rest)];
}

/**
 * Two f32 values [zMax, z] whose difference z - zMax, taken in double, is
 * exactly `difference` (negative), or undefined when no such pair with z the
 * f32 nearest `difference` exists: zMax must then be the remainder, and only
 * some remainders are f32 values.
 */
export function pairAtDifference(difference: number): [number, number] | undefined {
  const z = f32(difference);
  const zMax = z - difference; // exact: z and difference are within an f32 ulp of each other
  return f32(zMax) === zMax && zMax > z ? [zMax, z] : undefined;
}
