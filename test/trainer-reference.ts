// A plain float64 reference of the trainer side, written for clarity: the
// native results are compared against it. Only z = x / T is computed as the
// rule defines it (one f32 division, Math.fround of the exact quotient);
// everything after that is double precision.

import { decodeBf16, decodeF16, type ReferenceDType } from './reference';

type Storage = Float32Array | Uint16Array;

/** One stored logit widened to a number. */
function widen(data: Storage, i: number, dtype: ReferenceDType): number {
  if (dtype === 'float32') return data[i];
  return dtype === 'bfloat16' ? decodeBf16(data[i]) : decodeF16(data[i]);
}

/** Row r of [rows, vocab] logits as numbers. */
export function rowValues(data: Storage, dtype: ReferenceDType, vocab: number, r: number): number[] {
  const row: number[] = [];
  for (let i = 0; i < vocab; i++) row.push(widen(data, r * vocab + i, dtype));
  return row;
}

/** The stored -inf of each format. */
export function negInfBits(dtype: ReferenceDType): number {
  return dtype === 'float32' ? -Infinity : dtype === 'bfloat16' ? 0xff80 : 0xfc00;
}

/** applyMask: every entry not kept becomes -inf; kept entries are copied as stored. */
export function referenceApplyMask(data: Storage, dtype: ReferenceDType, vocab: number, kept: number[][]): Storage {
  const out = data.slice();
  for (let r = 0; r < kept.length; r++) {
    const keep = new Set(kept[r]);
    for (let i = 0; i < vocab; i++) if (!keep.has(i)) out[r * vocab + i] = negInfBits(dtype);
  }
  return out;
}

export interface ReferenceRow {
  logprob: number;
  entropy: number;
  /** E_q[(z - z_max)^2]: how far the kept mass spreads below the maximum (it scales the entropy's rounding). */
  spread: number;
  targetKept: boolean;
  /** d logprob / d x_id for each kept id, in kept order (upstream gradient 1). */
  gradient: number[];
}

/**
 * The kept distribution of one row: q_i = exp(z_i) / sum_kept exp(z_j),
 * z = scale(x, T) with T the f32 temperature the addon receives: by default
 * the rule's one f32 division (the exact quotient rounded once to f32), or
 * the exact x / T when finite differences need a smooth function.
 */
export function referenceRow(
  row: number[],
  kept: number[],
  target: number,
  temperatureArgument: number,
  scale: (x: number, t: number) => number = (x, t) => Math.fround(x / t),
): ReferenceRow {
  const temperature = Math.fround(temperatureArgument);
  const z = kept.map((id) => scale(row[id], temperature));
  const zMax = Math.max(...z);
  const weights = z.map((v) => Math.exp(v - zMax));
  const mass = weights.reduce((a, b) => a + b, 0);
  const q = weights.map((w) => w / mass);
  const logMass = Math.log(mass);
  let entropy = 0;
  let spread = 0;
  for (let i = 0; i < q.length; i++) {
    if (q[i] === 0) continue;
    entropy -= q[i] * (z[i] - zMax - logMass);
    spread += q[i] * (z[i] - zMax) ** 2;
  }
  const position = kept.indexOf(target);
  const logprob = position < 0 ? -Infinity : z[position] - zMax - logMass;
  const gradient = q.map((qi, i) => ((i === position ? 1 : 0) - qi) / temperature);
  return { logprob, entropy, spread, targetKept: position >= 0, gradient };
}

/** Every id of a row: the unmasked log-softmax. */
export function everyId(vocab: number): number[] {
  return Array.from({ length: vocab }, (_, i) => i);
}
