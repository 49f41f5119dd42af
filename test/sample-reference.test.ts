// sample() against the TypeScript reference of the draw, bit for bit: the
// same mask and the same token in every row, for every dtype, parameter mix
// and filter order. The reference's Philox is checked against the published
// known-answer vectors first, so agreement means both follow the definition.
import { mask, sample, type DType, type FilterOrder } from '../lib';
import { decodeRow, keptIds, referenceMask, rowParams, type RowParams } from './reference';
import {
  dtypes,
  encode,
  expectTokensKept,
  firstDifference,
  type Keys,
  logitsBatch,
  logitsRow,
  randomKeys,
  Rng,
  tensor,
  thrown,
} from './helpers';
import { drawBits, philox4x32_10, referenceToken } from './sample-reference';

describe('the reference draw itself', () => {
  test("Philox-4x32-10 gives Random123's known answers", () => {
    const hex = (words: bigint[]) => words.map((w) => w.toString(16).padStart(8, '0')).join(' ');
    expect(hex(philox4x32_10([0n, 0n, 0n, 0n], [0n, 0n]))).toBe('6627e8d5 e169c58d bc57ac4c 9b00dbd8');
    const ones = 0xffffffffn;
    expect(hex(philox4x32_10([ones, ones, ones, ones], [ones, ones]))).toBe('408f276d 41c83b0e a20bc7c6 6d5451fd');
    expect(hex(philox4x32_10([0x243f6a88n, 0x85a308d3n, 0x13198a2en, 0x03707344n], [0xa4093822n, 0x299f31d0n]))).toBe(
      'd16cfe09 94fdcceb 5001e420 24126ea1',
    );
  });

  test('the draw bits put word 0 first and key the counter by (0, step, stream low, stream high)', () => {
    const key = { seed: 0x299f31d0a4093822n, stream: 0x0370734413198a2en, step: 0x85a308d3n };
    const words = philox4x32_10([0n, 0x85a308d3n, 0x13198a2en, 0x03707344n], [0xa4093822n, 0x299f31d0n]);
    expect(drawBits(key)).toBe((words[0] << 96n) | (words[1] << 64n) | (words[2] << 32n) | words[3]);
  });

  test('draws by hand: weights 1 : e^-1 split [0, total) at the right place', () => {
    const p: RowParams = { temperature: 1, minP: 0, topK: -1, topP: 1 };
    // Find keys whose target falls on each side of the first id's weight: both ids must be reachable.
    const seen = new Set<number>();
    for (let step = 0n; step < 64n && seen.size < 2; step++) seen.add(referenceToken([0, -1], p, { seed: 7n, stream: 0n, step }));
    expect(seen).toEqual(new Set([0, 1]));
    expect(referenceToken([3, 5, 5, -Infinity], { ...p, temperature: 0 }, { seed: 1n, stream: 2n, step: 3n })).toBe(1);
    expect(referenceToken([3, 5, 4], { ...p, topK: 1 }, { seed: 1n, stream: 2n, step: 3n })).toBe(1);
  });
});

/** Random per-row parameters over the ranges that matter to the rule and the draw. */
function randomParams(rng: Rng, rows: number, filterOrder: FilterOrder) {
  const pick = <T>(values: readonly T[]) => Array.from({ length: rows }, () => rng.pick(values));
  return {
    temperature: pick([0, 0.3, 0.7, 1, 1, 1.6]),
    minP: pick([0, 0, 0.02, 0.2]),
    topK: pick([-1, 0, 1, 5, 50]),
    topP: pick([1, 1, 0.5, 0.9, 0.99]),
    filterOrder,
  };
}

/** The reference tokens of a [rows, vocab] batch. */
function referenceTokens(
  data: Float32Array | Uint16Array,
  dtype: DType,
  rows: number,
  vocab: number,
  options: object,
  keys: Keys,
): number[] {
  const params = rowParams(options, rows);
  return params.map((p, r) =>
    referenceToken(decodeRow(data, dtype, r, vocab), p, { seed: keys.seed, stream: keys.stream[r], step: BigInt(keys.step[r]) }, r),
  );
}

describe('sample() against the reference', () => {
  for (const dtype of dtypes) {
    for (const filterOrder of ['sequential', 'joint'] as const) {
      test(`${dtype}, ${filterOrder}: the same mask and token in every row`, () => {
        const rng = new Rng(dtype.length * 131 + filterOrder.length);
        for (const [rows, vocab] of [
          [3, 1],
          [8, 7],
          [16, 100],
          [12, 1000],
          [4, 5000],
        ]) {
          const values = logitsBatch(rng, rows, vocab);
          for (let i = 0; i < values.length; i++) if (rng.next() < 0.02) values[i] = -Infinity;
          for (let r = 0; r < rows; r++) values[r * vocab + rng.int(0, vocab - 1)] = rng.normal(); // a finite value in every row
          const data = encode(values, dtype);
          const options = randomParams(rng, rows, filterOrder);
          const keys = randomKeys(rng, rows);
          const result = sample(tensor(data, rows, vocab, dtype), { ...options, ...keys });
          expect(firstDifference(result.mask, referenceMask(data, dtype, rows, vocab, options))).toBeNull();
          expectTokensKept(result);
          expect(Array.from(result.tokens)).toEqual(referenceTokens(data, dtype, rows, vocab, options, keys));
        }
      });
    }
  }

  test('rows keeping thousands of ids (drawn through block totals) match too', () => {
    const rng = new Rng(99);
    const rows = 6;
    const vocab = 10000;
    const values = new Float32Array(rows * vocab);
    for (let r = 0; r < rows; r++) values.set(logitsRow(rng, vocab, 'normal', 1), r * vocab);
    const options = { temperature: [1, 2, 0.9, 1, 3, 1], topP: [1, 1, 0.999, 1, 0.99, 1], minP: [0, 0, 0, 0.001, 0, 0] };
    const keys = randomKeys(rng, rows);
    const result = sample(tensor(values, rows, vocab, 'float32'), { ...options, ...keys });
    expect(Math.min(...Array.from({ length: rows }, (_, r) => result.mask.count(r)))).toBeGreaterThan(2048);
    expectTokensKept(result);
    expect(Array.from(result.tokens)).toEqual(referenceTokens(values, 'float32', rows, vocab, options, keys));
  });

  test('greedy rows draw the lowest id among the maxima, whatever the key', () => {
    const values = new Float32Array([1, 4, 2, 4, 4, -Infinity, 0, 4]);
    for (let step = 0; step < 20; step++) {
      const result = sample(values, { vocab: 8, temperature: 0, seed: step * 7919, step });
      expect(Array.from(result.mask.row(0))).toEqual([1, 3, 4, 7]);
      expect(result.tokens[0]).toBe(1);
    }
  });

  test('a sample() mask is exactly the mask() mask, in both orders', () => {
    const rng = new Rng(5);
    const values = logitsBatch(rng, 32, 3000);
    for (const filterOrder of ['sequential', 'joint'] as const) {
      const options = randomParams(rng, 32, filterOrder);
      const masked = mask(tensor(values, 32, 3000, 'float32'), options);
      const sampled = sample(tensor(values, 32, 3000, 'float32'), { ...options, seed: 1, step: 0 });
      expect(sampled.mask.offsets).toEqual(masked.offsets);
      expect(sampled.mask.indices).toEqual(masked.indices);
    }
  });
});

describe("filterOrder 'joint' (SGLang, FlashInfer's filter_apply_order='joint')", () => {
  const example = new Float32Array([0.4, 0.2, 0.2, 0.1, 0.1].map(Math.log));

  test("the issue's example: [.4, .2, .2, .1, .1], k = 2, p = 0.45", () => {
    const params = { vocab: 5, topK: 2, topP: 0.45 };
    expect(Array.from(mask(example, { ...params, filterOrder: 'joint' }).row(0))).toEqual([0, 1, 2]);
    expect(Array.from(mask(example, { ...params, filterOrder: 'sequential' }).row(0))).toEqual([0]);
    expect(Array.from(mask(example, params).row(0))).toEqual([0]); // sequential is the default
    const p: RowParams = { temperature: 1, minP: 0, topK: 2, topP: Math.fround(0.45) };
    expect(keptIds(example, { ...p, filterOrder: 'joint' }, 0)).toEqual([0, 1, 2]);
    expect(keptIds(example, p, 0)).toEqual([0]);
  });

  test('min-p and top-k are the same in both orders; top-p alone too when nothing else filters', () => {
    const rng = new Rng(17);
    const values = logitsBatch(rng, 40, 500);
    const t = tensor(values, 40, 500, 'float32');
    for (const options of [{ minP: 0.1 }, { topK: 7 }, { minP: 0.05, topK: 20 }, { topP: 0.8 }, { topP: 0.8, temperature: 0.5 }]) {
      const joint = mask(t, { ...options, filterOrder: 'joint' });
      const sequential = mask(t, options);
      expect(joint.indices).toEqual(sequential.indices);
    }
  });

  // sgl-kernel's tests/test_sampling.py (adapted from FlashInfer's tests/test_sampling.py),
  // test_top_k_top_p_joint_sampling_from_probs: probabilities torch.rand normalized, k = V/2 for p = 0.1 and
  // k = V/10 for p = 0.5; the top-p mask keeps ids whose ascending cumulative sum exceeds 1 - p (minus eps = 1e-4),
  // the top-k mask keeps probabilities >= the k-th largest, and every sample must lie in their intersection.
  function sglangJointMask(probs: number[], k: number, p: number, eps: number): Set<number> {
    const ascending = probs.map((q, id) => ({ q, id })).sort((a, b) => a.q - b.q);
    const topP = new Set<number>();
    let cdf = 0;
    for (const { q, id } of ascending) {
      cdf += q;
      if (cdf > 1 - p - eps) topP.add(id);
    }
    const pivot = [...probs].sort((a, b) => b - a)[k - 1];
    return new Set(probs.map((_, id) => id).filter((id) => topP.has(id) && probs[id] >= pivot));
  }

  for (const vocab of [111, 500]) {
    for (const p of [0.1, 0.5]) {
      test(`SGLang's published joint test, V = ${vocab}, p = ${p}: samples lie in its mask, and the masks agree`, () => {
        const rng = new Rng(vocab + p * 1000);
        const k = Math.trunc(vocab * (p === 0.1 ? 0.5 : 0.1));
        const rows = 24;
        const probs = Array.from({ length: rows }, () => {
          const raw = Array.from({ length: vocab }, () => rng.next());
          const total = raw.reduce((a, b) => a + b, 0);
          return raw.map((v) => v / total);
        });
        const logits = new Float32Array(rows * vocab);
        probs.forEach((row, r) => row.forEach((q, id) => (logits[r * vocab + id] = Math.log(q))));
        const options = { topK: k, topP: p, filterOrder: 'joint' as const };
        let compared = 0;
        const sglangMasks = probs.map((row) => sglangJointMask(row, k, p, 1e-4));
        for (let step = 0; step < 50; step++) {
          const result = sample(tensor(logits, rows, vocab, 'float32'), { ...options, seed: 2024, step });
          expectTokensKept(result);
          for (let r = 0; r < rows; r++) expect(sglangMasks[r].has(result.tokens[r])).toBe(true);
          if (step > 0) continue;
          // Without eps, SGLang's top-p keeps exactly the ids whose mass strictly above is < p: the rule's test.
          // Rows where some id's mass above lies within 1e-5 of p are left out (there float rounding decides).
          for (let r = 0; r < rows; r++) {
            const sorted = [...probs[r]].sort((a, b) => b - a);
            let above = 0;
            let nearBoundary = false;
            for (const q of sorted) {
              nearBoundary ||= Math.abs(above - p) < 1e-5;
              above += q;
            }
            if (nearBoundary) continue;
            compared++;
            expect(Array.from(result.mask.row(r))).toEqual([...sglangJointMask(probs[r], k, p, 0)].sort((a, b) => a - b));
          }
        }
        expect(compared).toBeGreaterThan(rows / 2);
      });
    }
  }

  test('filterOrder is checked', () => {
    expect(thrown(() => mask(example, { vocab: 5, filterOrder: 'topKFirst' as FilterOrder }))).toMatchObject({
      name: 'TypeError',
      code: 'ERR_SM_INVALID_ARG_TYPE',
      argument: 'filterOrder',
    });
  });
});
