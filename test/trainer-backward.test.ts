import { maskedLogprobs, maskedLogprobsBackward, maskedLogprobsBackwardAsync, type Tensor } from '../lib';
import { dtypes, gradientBound, maskOf, randomIds, randomLogits, rng, trainerShapes } from './helpers';
import { everyId, referenceRow, rowValues } from './trainer-reference';

describe('maskedLogprobsBackward', () => {
  for (const dtype of dtypes) {
    test(`${dtype}: (onehot - q) / T * gradOutput on kept ids, within the stated bound`, () => {
      const next = rng(dtype.length * 104729);
      for (const [rows, vocab] of trainerShapes) {
        for (const scale of [0.3, 3, 40]) {
          const logits = randomLogits(next, rows, vocab, dtype, { scale });
          const kept = Array.from({ length: rows }, () => randomIds(next, vocab, [1, 5, 16, 33, vocab][Math.floor(next() * 5)]));
          const targets = Int32Array.from(
            kept.map((ids) => (next() < 0.85 ? ids[Math.floor(next() * ids.length)] : Math.floor(next() * vocab))),
          );
          const gradOutput = Float64Array.from({ length: rows }, () => (next() - 0.5) * 6);
          const temperature = Float32Array.from({ length: rows }, () => [1, 0.5, 1.7, 0.2][Math.floor(next() * 4)]);
          const tensor: Tensor = { data: logits.data, shape: [rows, vocab], dtype };
          const mask = maskOf(kept, vocab);
          const result = maskedLogprobsBackward(tensor, mask, targets, gradOutput, { temperature, dense: true });
          expect(result.values.length).toBe(mask.indices.length);
          expect(result.dense!.length).toBe(rows * vocab);
          let outside = 0;
          const beyondBound: string[] = [];
          const scattered = new Float32Array(rows * vocab);
          for (let r = 0; r < rows; r++) {
            const ref = referenceRow(rowValues(logits.data, dtype, vocab, r), kept[r], targets[r], temperature[r]);
            outside += ref.targetKept ? 0 : 1;
            for (let j = 0; j < kept[r].length; j++) {
              const value = result.values[mask.offsets[r] + j];
              scattered[r * vocab + kept[r][j]] = value;
              const error = Math.abs(value - ref.gradient[j] * gradOutput[r]);
              if (!(error <= gradientBound(gradOutput[r], temperature[r]))) beyondBound.push(`row ${r} id ${kept[r][j]}: error ${error}`);
            }
          }
          expect(beyondBound).toEqual([]);
          expect(result.dense).toEqual(scattered);
          expect(result.targetsOutsideMask).toBe(outside);
        }
      }
    });
  }

  test('matches central finite differences of the float64 log-prob', () => {
    const next = rng(77);
    const vocab = 40;
    const logits = randomLogits(next, 6, vocab, 'float32');
    const kept = Array.from({ length: 6 }, (_, r) => randomIds(next, vocab, [2, 7, 16, 17, 25, vocab][r]));
    const targets = Int32Array.from(kept.map((ids) => ids[ids.length - 1]));
    const temperature = 0.8;
    const result = maskedLogprobsBackward(logits.data as Float32Array, maskOf(kept, vocab), targets, 1, { vocab, temperature });
    const smooth = (x: number, t: number) => x / t; // the exact quotient: differentiable
    const h = 1e-4;
    let j = 0;
    for (let r = 0; r < 6; r++) {
      const row = rowValues(logits.data, 'float32', vocab, r);
      for (const id of kept[r]) {
        const up = row.slice();
        const down = row.slice();
        up[id] += h;
        down[id] -= h;
        const fd =
          (referenceRow(up, kept[r], targets[r], temperature, smooth).logprob -
            referenceRow(down, kept[r], targets[r], temperature, smooth).logprob) /
          (2 * h);
        expect(Math.abs(result.values[j++] - fd)).toBeLessThan(2e-6);
      }
    }
  });

  test('the gradient is zero on ids outside the mask: moving them leaves the masked log-prob unchanged', () => {
    const logits = new Float32Array([0.5, 2, -1, 3, 0]);
    const mask = maskOf([[1, 3]], 5);
    const base = maskedLogprobs(logits, mask, new Int32Array([3]), { vocab: 5 }).logprobs[0];
    const moved = logits.slice();
    moved[0] += 10;
    moved[4] -= 3;
    expect(maskedLogprobs(moved, mask, new Int32Array([3]), { vocab: 5 }).logprobs[0]).toBe(base);
    const dense = maskedLogprobsBackward(logits, mask, new Int32Array([3]), 1, { vocab: 5, dense: true }).dense!;
    expect([dense[0], dense[2], dense[4]]).toEqual([0, 0, 0]);
  });

  test('a target outside the mask: the one-hot term falls outside and is dropped; counted', () => {
    const logits = new Float32Array([1, 2, 3, 4]);
    const result = maskedLogprobsBackward(logits, maskOf([[0, 2]], 4), new Int32Array([1]), 2, { vocab: 4 });
    const ref = referenceRow([1, 2, 3, 4], [0, 2], 1, 1);
    expect(result.targetsOutsideMask).toBe(1);
    expect(Math.abs(result.values[0] - 2 * ref.gradient[0])).toBeLessThan(1e-6);
    expect(Math.abs(result.values[1] - 2 * ref.gradient[1])).toBeLessThan(1e-6);
    expect(result.values[0] + result.values[1]).toBeCloseTo(-2, 6);
  });

  test('mask null: values are the dense [N, V] gradient of the full log-softmax, and dense is that same array', () => {
    const next = rng(88);
    const vocab = 37;
    const logits = randomLogits(next, 3, vocab, 'bfloat16');
    const targets = new Int32Array([0, 36, 17]);
    const tensor: Tensor = { data: logits.data, shape: [3, vocab], dtype: 'bfloat16' };
    const result = maskedLogprobsBackward(tensor, null, targets, new Float32Array([1, -1, 0.5]), { temperature: 1.5, dense: true });
    expect(result.values.length).toBe(3 * vocab);
    expect(result.dense).toBe(result.values);
    const viaMask = maskedLogprobsBackward(
      tensor,
      maskOf(
        [0, 1, 2].map(() => everyId(vocab)),
        vocab,
      ),
      targets,
      new Float32Array([1, -1, 0.5]),
      {
        temperature: 1.5,
      },
    );
    expect(Array.from(result.values)).toEqual(Array.from(viaMask.values));
  });

  test('async equals sync, [B, T, V] shapes work', async () => {
    const next = rng(99);
    const logits = randomLogits(next, 12, 300, 'float16');
    const kept = Array.from({ length: 12 }, () => randomIds(next, 300, 20));
    const targets = Int32Array.from(kept.map((ids) => ids[2]));
    const tensor: Tensor = { data: logits.data, shape: [3, 4, 300], dtype: 'float16' };
    const sync = maskedLogprobsBackward(tensor, maskOf(kept, 300), { data: targets, shape: [3, 4] }, 1, { temperature: 0.9, dense: true });
    const async = await maskedLogprobsBackwardAsync(tensor, maskOf(kept, 300), targets, 1, { temperature: 0.9, dense: true });
    expect(async).toEqual(sync);
  });
});
