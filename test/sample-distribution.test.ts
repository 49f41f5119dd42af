// The draws follow the truncated distribution: chi-square goodness-of-fit
// tests of many draws (one per decode step of one request) against the kept
// distribution the reference computes in float64.
//
// False-failure rate: each test rejects when the statistic exceeds the
// chi-square quantile at upper tail 1e-6 (Wilson-Hilferty approximation,
// accurate to a few percent of the quantile at these degrees of freedom), so
// a correct sampler fails a test with probability about 1e-6 over the choice
// of seed. The seeds are fixed, so each test's outcome is the same on every
// run: a failure means the draws changed, not bad luck.
import { sample, type SampleOptions } from '../lib';
import { expectTokensKept, logitsRow, Rng } from './helpers';
import { rowParams } from './reference';
import { truncatedDistribution } from './sample-reference';

const Z_ONE_IN_A_MILLION = 4.753424; // the standard normal's upper 1e-6 quantile

/** The chi-square distribution's upper-tail quantile (Wilson-Hilferty). */
function chiSquareCritical(degrees: number, z: number): number {
  const a = 2 / (9 * degrees);
  return degrees * (1 - a + z * Math.sqrt(a)) ** 3;
}

/**
 * Pearson's statistic of counts against expected probabilities, with ids
 * whose expected count is below 5 pooled (the usual validity condition).
 */
function chiSquare(counts: Map<number, number>, expected: Map<number, number>, draws: number): { statistic: number; degrees: number } {
  const bins: { observed: number; expected: number }[] = [];
  let pooled = { observed: 0, expected: 0 };
  for (const [id, probability] of [...expected].sort((a, b) => a[1] - b[1])) {
    const bin = { observed: counts.get(id) ?? 0, expected: probability * draws };
    if (bin.expected >= 5) {
      bins.push(bin);
      continue;
    }
    pooled = { observed: pooled.observed + bin.observed, expected: pooled.expected + bin.expected };
    if (pooled.expected >= 5) {
      bins.push(pooled);
      pooled = { observed: 0, expected: 0 };
    }
  }
  if (pooled.expected > 0) {
    const last = bins[bins.length - 1];
    last.observed += pooled.observed;
    last.expected += pooled.expected;
  }
  const statistic = bins.reduce((sum, b) => sum + (b.observed - b.expected) ** 2 / b.expected, 0);
  return { statistic, degrees: bins.length - 1 };
}

/** `draws` tokens of one request over as many decode steps (one row per step, in one batch). */
function drawMany(row: Float32Array, draws: number, options: Omit<SampleOptions, 'seed' | 'step' | 'mask'>, seed: number) {
  const vocab = row.length;
  const data = new Float32Array(draws * vocab);
  for (let r = 0; r < draws; r++) data.set(row, r * vocab);
  const step = Uint32Array.from({ length: draws }, (_, i) => i);
  const result = sample({ data, shape: [draws, vocab], dtype: 'float32' }, { ...options, seed, stream: 12345, step });
  expectTokensKept(result);
  return result;
}

function expectFits(row: Float32Array, draws: number, options: Omit<SampleOptions, 'seed' | 'step' | 'mask'>, seed: number) {
  const expected = truncatedDistribution(row, rowParams(options, 1)[0]);
  const counts = new Map<number, number>();
  for (const token of drawMany(row, draws, options, seed).tokens) counts.set(token, (counts.get(token) ?? 0) + 1);
  const { statistic, degrees } = chiSquare(counts, expected, draws);
  expect(degrees).toBeGreaterThanOrEqual(2);
  expect(statistic).toBeLessThan(chiSquareCritical(degrees, Z_ONE_IN_A_MILLION));
  return { statistic, degrees };
}

describe('draws against the truncated distribution (chi-square)', () => {
  test('a smooth row, topK = 20, topP = 0.9, T = 0.8', () => {
    expectFits(logitsRow(new Rng(1), 64, 'normal', 1.5), 20000, { temperature: 0.8, topK: 20, topP: 0.9 }, 11);
  });

  test("the joint order's kept distribution, topK = 12, topP = 0.7", () => {
    expectFits(logitsRow(new Rng(2), 64, 'normal', 1.5), 20000, { topK: 12, topP: 0.7, filterOrder: 'joint' }, 12);
  });

  test('a Zipf-like row with min-p = 0.02 and T = 1.5', () => {
    expectFits(logitsRow(new Rng(3), 200, 'zipf'), 20000, { temperature: 1.5, minP: 0.02 }, 13);
  });

  test('a tie-heavy row: equal logits are drawn equally often', () => {
    const row = new Float32Array(30).map((_, i) => [0, 1, 1.5][i % 3]);
    const { degrees } = expectFits(row, 20000, { topP: 0.95 }, 14);
    expect(degrees).toBe(29);
  });

  test('a row keeping thousands of ids (the block-total path)', () => {
    const row = logitsRow(new Rng(4), 5000, 'normal', 1);
    for (let i = 0; i < 20; i++) row[i * 97] = 4; // a heavy head over a wide kept tail
    const { degrees } = expectFits(row, 3000, {}, 15);
    expect(degrees).toBeGreaterThan(50);
  });

  test('rows with one kept id always draw it, with log-prob 0', () => {
    const row = logitsRow(new Rng(5), 100, 'normal', 2);
    const best = row.indexOf(Math.max(...row));
    for (const options of [{ topK: 1 }, { topP: 1e-6 }, { minP: 1 }, { temperature: 0 }]) {
      const result = drawMany(row, 500, options, 16);
      expect(new Set(result.tokens)).toEqual(new Set([best]));
      expect(new Set(result.logprobs)).toEqual(new Set([0]));
    }
  });
});
