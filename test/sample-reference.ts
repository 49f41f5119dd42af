// sample()'s draw (README "Sampling") written once more for clarity, sharing
// no code with the addon: Philox-4x32-10 in BigInt arithmetic, the kept set
// from the reference rule, and the inverse CDF over the exact BigInt weights.
// Also the truncated distribution in float64, which the statistical tests
// compare draws against.
import { fixedWeight, keptIds, type RowParams } from './reference';

const f32 = Math.fround;
const WORD = 0xffffffffn;

/** Philox-4x32-10 (Salmon et al., SC'11) with Random123's constants: 10 rounds, the key bumped before rounds 2..10. */
export function philox4x32_10(counter: readonly bigint[], key: readonly bigint[]): bigint[] {
  let [c0, c1, c2, c3] = counter;
  let [k0, k1] = key;
  for (let round = 0; round < 10; round++) {
    if (round > 0) {
      k0 = (k0 + 0x9e3779b9n) & WORD;
      k1 = (k1 + 0xbb67ae85n) & WORD;
    }
    const product0 = 0xd2511f53n * c0;
    const product1 = 0xcd9e8d57n * c2;
    [c0, c1, c2, c3] = [(product1 >> 32n) ^ c1 ^ k0, product1 & WORD, (product0 >> 32n) ^ c3 ^ k1, product0 & WORD];
  }
  return [c0, c1, c2, c3];
}

export interface DrawKey {
  seed: bigint;
  stream: bigint;
  step: bigint;
}

/** The 128 random bits of a row's draw: counter (0, step, stream low, stream high), key (seed low, seed high); word 0 first. */
export function drawBits(key: DrawKey): bigint {
  const counter = [0n, key.step, key.stream & WORD, key.stream >> 32n];
  const words = philox4x32_10(counter, [key.seed & WORD, key.seed >> 32n]);
  return words.reduce((bits, word) => (bits << 32n) | word, 0n);
}

/** The token sample() draws from one row of f32 values, by the README's definition. */
export function referenceToken(values: ArrayLike<number>, p: RowParams, key: DrawKey, row = 0): number {
  const kept = keptIds(values, p, row);
  if (p.temperature === 0) return kept[0]; // the maxima, ascending: the lowest id
  const xMax = Math.max(...kept.map((id) => values[id]));
  const zMax = f32(xMax / p.temperature);
  const weights = kept.map((id) => fixedWeight(f32(f32(values[id] / p.temperature) - zMax)));
  const total = weights.reduce((a, b) => a + b, 0n);
  const target = (drawBits(key) * total) >> 128n;
  let below = 0n;
  for (let i = 0; i < kept.length; i++) {
    below += weights[i];
    if (target < below) return kept[i];
  }
  throw new Error('the walk must land: target < total');
}

/** The truncated distribution of one row in float64: kept id -> exp(z - zMax) / sum over kept (z = x / T as f32). */
export function truncatedDistribution(values: ArrayLike<number>, p: RowParams, row = 0): Map<number, number> {
  const kept = keptIds(values, p, row);
  const z = kept.map((id) => f32(values[id] / p.temperature));
  const zMax = Math.max(...z);
  const mass = z.reduce((sum, zi) => sum + Math.exp(zi - zMax), 0);
  return new Map(kept.map((id, i) => [id, Math.exp(z[i] - zMax) / mass]));
}

/** log p(id) over every finite id of the row in float64 (z = x / T as f32). */
export function fullLogprob(values: ArrayLike<number>, temperature: number, id: number): number {
  const z = Array.from(values, (x) => f32(x / temperature));
  const zMax = Math.max(...z);
  const mass = z.reduce((sum, zi) => sum + Math.exp(zi - zMax), 0);
  return z[id] - zMax - Math.log(mass);
}
