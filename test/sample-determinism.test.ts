// A row's token depends only on its logits, parameters, seed, stream and
// step: not on the thread count, the batch around it, its position, how the
// batch is split, or sync versus async.
import { sample, sampleAsync, setThreads, type SampleResult } from '../lib';
import { expectTokensKept, type Keys, logitsBatch, logitsRow, randomKeys, Rng, tensor } from './helpers';

const vocab = 3000;

interface Batch {
  values: Float32Array;
  rows: number;
  options: { temperature: number[]; topK: number[]; topP: number[]; minP: number[] };
  keys: Keys;
}

function randomBatch(rng: Rng, rows: number): Batch {
  const pick = (values: number[]) => Array.from({ length: rows }, () => rng.pick(values));
  return {
    values: logitsBatch(rng, rows, vocab),
    rows,
    options: { temperature: pick([0, 0.6, 1, 1.4]), topK: pick([-1, 5, 50]), topP: pick([1, 0.9, 0.5]), minP: pick([0, 0.05]) },
    keys: randomKeys(rng, rows),
  };
}

/** Rows `order[i]` of the batch, as a batch of their own (parameters and keys follow their rows). */
function pickRows(batch: Batch, order: number[]): Batch {
  const values = new Float32Array(order.length * vocab);
  order.forEach((r, i) => values.set(batch.values.subarray(r * vocab, (r + 1) * vocab), i * vocab));
  const take = <T>(list: T[]) => order.map((r) => list[r]);
  return {
    values,
    rows: order.length,
    options: {
      temperature: take(batch.options.temperature),
      topK: take(batch.options.topK),
      topP: take(batch.options.topP),
      minP: take(batch.options.minP),
    },
    keys: { seed: batch.keys.seed, stream: take(batch.keys.stream), step: take(batch.keys.step) },
  };
}

function run(batch: Batch): SampleResult {
  const result = sample(tensor(batch.values, batch.rows, vocab, 'float32'), { ...batch.options, ...batch.keys });
  expectTokensKept(result);
  return result;
}

describe('sample() reproducibility', () => {
  const rng = new Rng(42);
  const batch = randomBatch(rng, 48);
  const expected = run(batch);

  afterAll(() => setThreads(0));

  test('the same tokens, masks and log-probs at any thread count', () => {
    for (const threads of [1, 2, 3, 8]) {
      setThreads(threads);
      const again = run(batch);
      expect(again.tokens).toEqual(expected.tokens);
      expect(again.mask.indices).toEqual(expected.mask.indices);
      expect(new Uint32Array(again.logprobs.buffer)).toEqual(new Uint32Array(expected.logprobs.buffer));
    }
    setThreads(0);
  });

  test('shuffled rows draw the same tokens, moved with their rows', () => {
    for (let trial = 0; trial < 3; trial++) {
      const order = Array.from({ length: batch.rows }, (_, i) => i);
      for (let i = order.length - 1; i > 0; i--) {
        const j = rng.int(0, i);
        [order[i], order[j]] = [order[j], order[i]];
      }
      expect(Array.from(run(pickRows(batch, order)).tokens)).toEqual(order.map((r) => expected.tokens[r]));
    }
  });

  test('split batches draw the same tokens', () => {
    for (const cut of [1, 17, 47]) {
      const head = run(
        pickRows(
          batch,
          Array.from({ length: cut }, (_, i) => i),
        ),
      );
      const tail = run(
        pickRows(
          batch,
          Array.from({ length: batch.rows - cut }, (_, i) => cut + i),
        ),
      );
      expect([...head.tokens, ...tail.tokens]).toEqual(Array.from(expected.tokens));
    }
  });

  test('a request draws the same token alone as in a batch of 256', () => {
    const crowd = randomBatch(new Rng(7), 256);
    for (const r of [0, 5, 31]) {
      const alone = run(pickRows(batch, [r]));
      // The request sits at position 100 + r among 255 other requests with their own logits, parameters and keys.
      const order = Array.from({ length: 256 }, (_, i) => i);
      const merged = pickRows(crowd, order);
      merged.values.set(batch.values.subarray(r * vocab, (r + 1) * vocab), (100 + r) * vocab);
      for (const key of ['temperature', 'topK', 'topP', 'minP'] as const) merged.options[key][100 + r] = batch.options[key][r];
      merged.keys = { ...crowd.keys, seed: batch.keys.seed };
      merged.keys.stream[100 + r] = batch.keys.stream[r];
      merged.keys.step[100 + r] = batch.keys.step[r];
      expect(alone.tokens[0]).toBe(expected.tokens[r]);
      expect(run(merged).tokens[100 + r]).toBe(expected.tokens[r]);
    }
  });

  test('a single long row split over the threads draws as it does in a batch', () => {
    const row = logitsRow(new Rng(9), 270000, 'zipf');
    const keys = { seed: 3n, stream: 77, step: 5 };
    const options = { topP: 0.95, temperature: 1.2 };
    // Alone, the row is split over the threads (fewer rows than threads); in a batch of 4 it is one task.
    const batched = logitsBatch(new Rng(10), 4, 270000);
    batched.set(row, 2 * 270000);
    setThreads(2);
    const alone = sample(row, { ...options, ...keys, vocab: 270000 });
    const inBatch = sample(batched, { ...options, ...keys, vocab: 270000 });
    setThreads(0);
    expect(inBatch.tokens[2]).toBe(alone.tokens[0]);
    expect(inBatch.mask.row(2)).toEqual(alone.mask.row(0));
  });

  test('sampleAsync draws what sample() draws, also from a SharedArrayBuffer', async () => {
    const async = await sampleAsync(tensor(batch.values, batch.rows, vocab, 'float32'), { ...batch.options, ...batch.keys });
    expect(async.tokens).toEqual(expected.tokens);
    expect(async.mask.indices).toEqual(expected.mask.indices);
    const shared = new Float32Array(new SharedArrayBuffer(batch.values.byteLength));
    shared.set(batch.values);
    const fromShared = await sampleAsync(tensor(shared, batch.rows, vocab, 'float32'), { ...batch.options, ...batch.keys });
    expect(fromShared.tokens).toEqual(expected.tokens);
  });

  test('different steps, streams and seeds draw differently', () => {
    const row = logitsRow(new Rng(3), 1000, 'normal', 0.5);
    const tokens = (keys: object) => sample(row, { vocab: 1000, ...keys } as never).tokens[0];
    const bySteps = new Set(Array.from({ length: 40 }, (_, step) => tokens({ seed: 1, step })));
    const byStreams = new Set(Array.from({ length: 40 }, (_, stream) => tokens({ seed: 1, step: 0, stream })));
    const bySeeds = new Set(Array.from({ length: 40 }, (_, seed) => tokens({ seed, step: 0 })));
    for (const drawn of [bySteps, byStreams, bySeeds]) expect(drawn.size).toBeGreaterThan(30);
    // Numbers and bigints name the same key.
    expect(tokens({ seed: 5n, step: 9, stream: 2n ** 40n })).toBe(tokens({ seed: 5, step: 9n, stream: 2 ** 40 }));
  });
});
