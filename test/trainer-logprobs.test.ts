import { applyMask, mask as computeMask, maskedLogprobs, maskedLogprobsAsync, setThreads, backendInfo, type DType } from '../lib';
import {
  dtypes,
  entropyBound,
  logprobBound,
  maskOf,
  randomIds,
  randomLogits,
  rng,
  tensorOf,
  trainerShapes,
  type LogitsCase,
} from './helpers';
import { everyId, referenceRow, rowValues } from './trainer-reference';

interface Case {
  logits: LogitsCase;
  kept: number[][];
  targets: Int32Array;
  temperature: Float64Array;
}

/** Random rows, kept sets of every size class (1, < 16, 16, 17, 50, all) and targets mostly inside. */
function randomCase(next: () => number, rows: number, vocab: number, dtype: DType, opts = {}): Case {
  const logits = randomLogits(next, rows, vocab, dtype, opts);
  const sizes = [1, 3, 16, 17, 50, vocab, Math.ceil(vocab / 3)];
  const kept: number[][] = [];
  const targets = new Int32Array(rows);
  const temperature = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const ids = randomIds(next, vocab, Math.min(vocab, sizes[Math.floor(next() * sizes.length)]));
    kept.push(ids);
    targets[r] = next() < 0.9 ? ids[Math.floor(next() * ids.length)] : Math.floor(next() * vocab);
    temperature[r] = [1, 0.7, 1.3, 0.25, 2, 0.1, 7][Math.floor(next() * 7)];
  }
  return { logits, kept, targets, temperature };
}

/** A kept set with no finite logit is an error (tested elsewhere): such rows get a 0 logit at their first kept id. */
function withFiniteKept(c: Case): void {
  c.kept.forEach((ids, r) => {
    const row = rowValues(c.logits.data, c.logits.dtype, c.logits.vocab, r);
    if (!ids.some((id) => Number.isFinite(row[id]))) c.logits.data[r * c.logits.vocab + ids[0]] = 0;
  });
}

describe('maskedLogprobs against the float64 reference', () => {
  for (const dtype of dtypes) {
    test(`${dtype}: random rows, masks and temperatures, within the stated bound`, () => {
      const next = rng(dtype.length * 7919);
      for (const [rows, vocab] of trainerShapes) {
        for (const opts of [{}, { zipf: true }, { negInfRate: 0.2 }, { scale: 30 }, { scale: 100 }, { scale: 0.3 }]) {
          const c = randomCase(next, rows, vocab, dtype, opts);
          withFiniteKept(c);
          const keep = c.kept;
          const result = maskedLogprobs(tensorOf(c.logits), maskOf(keep, vocab), c.targets, {
            temperature: c.temperature,
            entropy: true,
          });
          let outside = 0;
          for (let r = 0; r < rows; r++) {
            const ref = referenceRow(rowValues(c.logits.data, dtype, vocab, r), keep[r], c.targets[r], c.temperature[r]);
            outside += ref.targetKept ? 0 : 1;
            if (ref.logprob === -Infinity) {
              expect(result.logprobs[r]).toBe(-Infinity);
            } else {
              expect(Math.abs(result.logprobs[r] - ref.logprob)).toBeLessThanOrEqual(logprobBound(ref.logprob, keep[r].length));
            }
            expect(Math.abs(result.entropy![r] - ref.entropy)).toBeLessThanOrEqual(entropyBound(ref.entropy));
          }
          expect(result.targetsOutsideMask).toBe(outside);
        }
      }
    });
  }

  test('mask null is the log-softmax over every id, bit for bit the same as a mask that keeps every id', () => {
    const next = rng(11);
    for (const dtype of dtypes) {
      for (const vocab of [1, 15, 16, 17, 333, 4099]) {
        const logits = randomLogits(next, 4, vocab, dtype);
        const targets = Int32Array.from({ length: 4 }, () => Math.floor(next() * vocab));
        const dense = maskedLogprobs(tensorOf(logits), null, targets, { temperature: 0.8, entropy: true });
        const full = maskedLogprobs(
          tensorOf(logits),
          maskOf(
            [0, 1, 2, 3].map(() => everyId(vocab)),
            vocab,
          ),
          targets,
          {
            temperature: 0.8,
            entropy: true,
          },
        );
        expect(Array.from(dense.logprobs)).toEqual(Array.from(full.logprobs));
        expect(Array.from(dense.entropy!)).toEqual(Array.from(full.entropy!));
        expect(dense.targetsOutsideMask).toBe(0);
        for (let r = 0; r < 4; r++) {
          const ref = referenceRow(rowValues(logits.data, dtype, vocab, r), everyId(vocab), targets[r], 0.8);
          expect(Math.abs(dense.logprobs[r] - ref.logprob)).toBeLessThanOrEqual(logprobBound(ref.logprob, vocab));
        }
      }
    }
  });

  test('reads only the kept entries and the target: NaN everywhere else changes nothing', () => {
    const next = rng(5);
    const vocab = 500;
    const logits = randomLogits(next, 3, vocab, 'float32');
    const kept = [randomIds(next, vocab, 50), randomIds(next, vocab, 1), randomIds(next, vocab, 200)];
    const targets = Int32Array.from(kept.map((ids) => ids[ids.length >> 1]));
    const before = maskedLogprobs(logits.data as Float32Array, maskOf(kept, vocab), targets, { vocab, entropy: true });
    const poisoned = (logits.data as Float32Array).slice();
    for (let r = 0; r < 3; r++) {
      const keep = new Set(kept[r]);
      for (let i = 0; i < vocab; i++) if (!keep.has(i)) poisoned[r * vocab + i] = NaN;
    }
    const after = maskedLogprobs(poisoned, maskOf(kept, vocab), targets, { vocab, entropy: true });
    expect(after).toEqual(before);
  });

  test('a target outside the kept set gives -inf and is counted, not hidden', () => {
    const logits = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]);
    const result = maskedLogprobs(
      logits,
      maskOf(
        [
          [1, 2],
          [0, 3],
        ],
        4,
      ),
      new Int32Array([3, 3]),
      { vocab: 4, entropy: true },
    );
    expect(result.logprobs[0]).toBe(-Infinity);
    expect(Number.isFinite(result.logprobs[1])).toBe(true);
    expect(result.targetsOutsideMask).toBe(1);
    // The entropy of the kept distribution does not depend on the target.
    const ref = referenceRow([1, 2, 3, 4], [1, 2], 3, 1);
    expect(Math.abs(result.entropy![0] - ref.entropy)).toBeLessThanOrEqual(entropyBound(ref.entropy));
  });

  test('a kept id whose logit is -inf has log-prob -inf as a target and adds no mass', () => {
    const logits = new Float32Array([-Infinity, 0, 0, 5]);
    const result = maskedLogprobs(logits, maskOf([[0, 1, 2]], 4), new Int32Array([0]), { vocab: 4, entropy: true });
    expect(result.logprobs[0]).toBe(-Infinity);
    expect(result.targetsOutsideMask).toBe(0);
    expect(result.entropy![0]).toBeCloseTo(Math.log(2), 6);
    expect(maskedLogprobs(logits, maskOf([[0, 1, 2]], 4), new Int32Array([1]), { vocab: 4 }).logprobs[0]).toBeCloseTo(-Math.log(2), 6);
  });

  test('scalar and per-row temperature agree', () => {
    const next = rng(9);
    const logits = randomLogits(next, 8, 300, 'float32');
    const kept = Array.from({ length: 8 }, () => randomIds(next, 300, 40));
    const targets = Int32Array.from(kept.map((ids) => ids[0]));
    const scalar = maskedLogprobs(tensorOf(logits), maskOf(kept, 300), targets, { temperature: 0.6 });
    for (const perRow of [new Float32Array(8).fill(0.6), new Float64Array(8).fill(0.6), Array(8).fill(0.6)]) {
      expect(maskedLogprobs(tensorOf(logits), maskOf(kept, 300), targets, { temperature: perRow })).toEqual(scalar);
    }
  });
});

describe('maskedLogprobs shapes, determinism and async', () => {
  test('[B, T, V] logits with [B, T] targets are N = B * T rows', () => {
    const next = rng(21);
    const [B, T, V] = [3, 5, 64];
    const logits = randomLogits(next, B * T, V, 'bfloat16');
    const kept = Array.from({ length: B * T }, () => randomIds(next, V, 10));
    const targets = Int32Array.from(kept.map((ids) => ids[3]));
    const flat = maskedLogprobs(tensorOf(logits), maskOf(kept, V), targets);
    const cube = maskedLogprobs({ data: logits.data, shape: [B, T, V], dtype: 'bfloat16' }, maskOf(kept, V), {
      data: targets,
      shape: [B, T],
    });
    expect(cube).toEqual(flat);
  });

  test('results are bit-identical at any thread count, alone or at any position in a batch', () => {
    const next = rng(33);
    const logits = randomLogits(next, 300, 2000, 'float32');
    const kept = Array.from({ length: 300 }, () => randomIds(next, 2000, 1 + Math.floor(next() * 120)));
    const targets = Int32Array.from(kept.map((ids) => ids[0]));
    const threads = backendInfo().threads;
    try {
      setThreads(1);
      const one = maskedLogprobs(tensorOf(logits), maskOf(kept, 2000), targets, { entropy: true });
      setThreads(4);
      const four = maskedLogprobs(tensorOf(logits), maskOf(kept, 2000), targets, { entropy: true });
      expect(four).toEqual(one);
      for (const r of [0, 151, 299]) {
        const row = (logits.data as Float32Array).slice(r * 2000, (r + 1) * 2000);
        const alone = maskedLogprobs(row, maskOf([kept[r]], 2000), targets.subarray(r, r + 1), { vocab: 2000, entropy: true });
        expect(alone.logprobs[0]).toBe(one.logprobs[r]);
        expect(alone.entropy![0]).toBe(one.entropy![r]);
      }
    } finally {
      setThreads(threads);
    }
  });

  test('masks from mask() round-trip: log-probs over the mask equal those over -inf-filled logits, and sum to 1', () => {
    const next = rng(44);
    const vocab = 3000;
    for (const dtype of dtypes) {
      const logits = randomLogits(next, 16, vocab, dtype, { zipf: dtype === 'float16' ? false : true });
      const tensor = tensorOf(logits);
      const options = { temperature: 0.9, topK: 40, topP: 0.9, minP: 0.01 };
      const recorded = computeMask(tensor, options);
      const targets = Int32Array.from({ length: 16 }, (_, r) => recorded.row(r)[Math.floor(next() * recorded.count(r))]);
      const masked = maskedLogprobs(tensor, recorded, targets, { temperature: 0.9 });
      expect(masked.targetsOutsideMask).toBe(0);
      const filled = maskedLogprobs(applyMask(tensor, recorded), null, targets, { temperature: 0.9 });
      for (let r = 0; r < 16; r++) {
        expect(Math.abs(masked.logprobs[r] - filled.logprobs[r])).toBeLessThanOrEqual(2 * logprobBound(masked.logprobs[r], vocab));
        // Every kept id as the target, one copy of the row each: the probabilities sum to 1.
        const ids = Array.from(recorded.row(r));
        const copies = new (logits.data.constructor as Float32ArrayConstructor)(ids.length * vocab);
        ids.forEach((_, k) => copies.set(logits.data.subarray(r * vocab, (r + 1) * vocab) as Float32Array, k * vocab));
        const each = maskedLogprobs(
          { data: copies, shape: [ids.length, vocab], dtype },
          maskOf(
            ids.map(() => ids),
            vocab,
          ),
          Int32Array.from(ids),
          {
            temperature: 0.9,
          },
        );
        const total = Array.from(each.logprobs).reduce((sum, lp) => sum + Math.exp(lp), 0);
        expect(Math.abs(total - 1)).toBeLessThan(1e-5);
      }
    }
  });

  test('maskedLogprobsAsync equals the sync result, on ArrayBuffer and SharedArrayBuffer logits', async () => {
    const next = rng(55);
    const logits = randomLogits(next, 20, 700, 'float32');
    const kept = Array.from({ length: 20 }, () => randomIds(next, 700, 30));
    const targets = Int32Array.from(kept.map((ids) => ids[1]));
    const sync = maskedLogprobs(tensorOf(logits), maskOf(kept, 700), targets, { entropy: true });
    expect(await maskedLogprobsAsync(tensorOf(logits), maskOf(kept, 700), targets, { entropy: true })).toEqual(sync);
    const shared = new Float32Array(new SharedArrayBuffer(logits.data.byteLength));
    shared.set(logits.data as Float32Array);
    expect(await maskedLogprobsAsync(shared, maskOf(kept, 700), targets, { vocab: 700, entropy: true })).toEqual(sync);
  });

  test('maskedLogprobsAsync is safe when the caller detaches the buffers meanwhile', async () => {
    const next = rng(66);
    const logits = randomLogits(next, 10, 500, 'float32');
    const kept = Array.from({ length: 10 }, () => randomIds(next, 500, 20));
    const targets = Int32Array.from(kept.map((ids) => ids[0]));
    const expected = maskedLogprobs(tensorOf(logits), maskOf(kept, 500), targets);
    const mask = maskOf(kept, 500);
    const pending = maskedLogprobsAsync(tensorOf(logits), mask, targets);
    structuredClone(logits.data.buffer, { transfer: [logits.data.buffer as ArrayBuffer] });
    structuredClone(mask.indices.buffer, { transfer: [mask.indices.buffer as ArrayBuffer] });
    structuredClone(targets.buffer, { transfer: [targets.buffer as ArrayBuffer] });
    expect(await pending).toEqual(expected);
  });
});
