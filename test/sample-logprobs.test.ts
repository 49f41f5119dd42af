// sample()'s log-probs: against float64 within the trainer side's stated
// bound, and bit for bit what maskedLogprobs() computes from the same logits,
// mask and tokens (over every id for fullLogprobs), so that a trainer that
// recomputes them gets exactly the sampler's numbers.
import { maskedLogprobs, sample } from '../lib';
import { decodeRow } from './reference';
import { dtypes, encode, expectTokensKept, logitsBatch, logprobBound, randomKeys, Rng, tensor } from './helpers';
import { fullLogprob } from './sample-reference';
import { referenceRow } from './trainer-reference';

const bits = (values: Float32Array) => new Uint32Array(values.buffer, values.byteOffset, values.length);

describe('sample() log-probs', () => {
  for (const dtype of dtypes) {
    test(`${dtype}: within the float64 bound, and bit for bit maskedLogprobs()`, () => {
      const rng = new Rng(dtype.length);
      const rows = 40;
      const vocab = 2000;
      const data = encode(logitsBatch(rng, rows, vocab), dtype);
      const temperature = Array.from({ length: rows }, () => rng.pick([0.3, 0.7, 1, 1.8]));
      const options = { temperature, topK: Array.from({ length: rows }, () => rng.pick([-1, 3, 50])), topP: 0.9 };
      const logits = tensor(data, rows, vocab, dtype);
      const result = sample(logits, { ...options, ...randomKeys(rng, rows), fullLogprobs: true });
      expectTokensKept(result);

      const trainer = maskedLogprobs(logits, result.mask, result.tokens, { temperature });
      expect(bits(result.logprobs)).toEqual(bits(trainer.logprobs));
      expect(trainer.targetsOutsideMask).toBe(0);
      const full = maskedLogprobs(logits, null, result.tokens, { temperature });
      expect(bits(result.fullLogprobs as Float32Array)).toEqual(bits(full.logprobs));

      for (let r = 0; r < rows; r++) {
        const row = Array.from(decodeRow(data, dtype, r, vocab));
        const kept = Array.from(result.mask.row(r));
        const reference = referenceRow(row, kept, result.tokens[r], temperature[r]).logprob;
        expect(Math.abs(result.logprobs[r] - reference)).toBeLessThanOrEqual(logprobBound(reference, kept.length));
        const referenceFull = fullLogprob(row, Math.fround(temperature[r]), result.tokens[r]);
        expect(Math.abs((result.fullLogprobs as Float32Array)[r] - referenceFull)).toBeLessThanOrEqual(logprobBound(referenceFull, vocab));
        // Truncation only removes mass: the kept log-prob is never below the full one.
        expect(result.logprobs[r]).toBeGreaterThanOrEqual((result.fullLogprobs as Float32Array)[r]);
      }
    });
  }

  test('greedy rows: log-prob 0 over the kept ids and over every id (the draw is certain)', () => {
    const values = new Float32Array([1, 5, 5, 2, 0, 3, 3, -1]);
    const result = sample(values, { vocab: 4, temperature: [0, 0], seed: 1, step: 0, fullLogprobs: true });
    expect(Array.from(result.tokens)).toEqual([1, 1]);
    expect(Array.from(result.logprobs)).toEqual([0, 0]);
    expect(Array.from(result.fullLogprobs as Float32Array)).toEqual([0, 0]);
  });

  test('without fullLogprobs there is none, and mask: false leaves the mask out', () => {
    const values = logitsBatch(new Rng(2), 3, 100);
    const withMask = sample(values, { vocab: 100, topK: 5, seed: 9, step: 1 });
    expect(withMask.fullLogprobs).toBeUndefined();
    const without = sample(values, { vocab: 100, topK: 5, seed: 9, step: 1, mask: false });
    expect(without.mask).toBeUndefined();
    expect(without.tokens).toEqual(withMask.tokens);
    expect(bits(without.logprobs)).toEqual(bits(withMask.logprobs));
  });
});
