// A row's kept set is a pure function of the row and its parameters: the same
// at any thread count, alone or anywhere inside a larger batch, whichever
// path (row-parallel or row split across threads) the batch takes.
import { mask, setThreads, type DType } from '../lib';
import { dtypes, encode, logitsBatch, logitsRow, Rng, tensor } from './helpers';
import { referenceMask } from './reference';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- the bench's generator, whose 2^21 row needs the exact pass
const { normalLogits } = require('../scripts/bench/mask') as {
  normalLogits: (rows: number, vocab: number, sigma: number, seed: number) => Float32Array;
};

interface Probe {
  data: Float32Array | Uint16Array; // one row in the storage format of the dtype
  temperature: number;
  minP: number;
  topK: number;
  topP: number;
}

const vocab = 9000;

function probes(rng: Rng, dtype: DType): Probe[] {
  const settings = [
    { temperature: 1, minP: 0, topK: -1, topP: 0.9 }, // top-p over the whole row
    { temperature: 0.3, minP: 0, topK: 50, topP: 0.95 },
    { temperature: 1.7, minP: 0.05, topK: 0, topP: 1 },
    { temperature: 1, minP: 0, topK: 20, topP: 1 },
    { temperature: 0, minP: 0, topK: -1, topP: 1 },
    { temperature: 1, minP: 0.01, topK: 400, topP: 0.5 },
  ];
  const kinds = ['normal', 'zipf', 'ties', 'quantized'] as const;
  return settings.flatMap((s, i) => [
    { ...s, data: encode(logitsRow(rng, vocab, kinds[i % kinds.length], 3), dtype) },
    { ...s, data: encode(logitsRow(rng, vocab, kinds[(i + 1) % kinds.length], 1), dtype) },
  ]);
}

/** Masks probes placed at the given positions of a batch of filler rows (all already encoded). */
function maskInBatch(dtype: DType, filler: Float32Array | Uint16Array, batch: number, placed: Map<number, Probe>) {
  const encoded = dtype === 'float32' ? new Float32Array(batch * vocab) : new Uint16Array(batch * vocab);
  const temperature = new Float32Array(batch).fill(1);
  const minP = new Float64Array(batch);
  const topK = new Int32Array(batch).fill(-1);
  const topP = new Float32Array(batch).fill(0.8);
  for (let r = 0; r < batch; r++) {
    const probe = placed.get(r);
    encoded.set(probe ? probe.data : filler.subarray(r * vocab, (r + 1) * vocab), r * vocab);
    if (!probe) continue;
    temperature[r] = probe.temperature;
    minP[r] = probe.minP;
    topK[r] = probe.topK;
    topP[r] = probe.topP;
  }
  const result = mask(tensor(encoded, batch, vocab, dtype), { temperature, minP, topK, topP });
  return [...placed.keys()].map((r) => result.row(r));
}

function maskAlone(dtype: DType, probe: Probe): Int32Array {
  const { data, ...options } = probe;
  return mask(tensor(data, 1, vocab, dtype), options).row(0);
}

afterAll(() => setThreads(0));

test.each(dtypes)('the same kept sets at 1, 2, 3 and 8 threads, alone and at any batch position (%s)', (dtype) => {
  const rng = new Rng(dtype.length * 31);
  const rows = probes(rng, dtype);
  const largest = 24;
  const filler = encode(logitsBatch(rng, largest, vocab), dtype);
  // What every configuration must reproduce, checked once against the reference.
  setThreads(1);
  const expected = rows.map((probe) => Array.from(maskAlone(dtype, probe)));
  rows.forEach((probe, i) => {
    const { data, ...options } = probe;
    expect(expected[i]).toEqual(referenceMask(data, dtype, 1, vocab, options)[0]);
  });

  for (const threads of [1, 2, 3, 8]) {
    expect(setThreads(threads)).toBe(threads);
    rows.forEach((probe, i) => expect(Array.from(maskAlone(dtype, probe))).toEqual(expected[i]));
    // Batches smaller than the thread count (a row per task still, at this
    // length: see the next test for split rows) and larger.
    for (const batch of [2, threads + 5, largest]) {
      const positions = new Map<number, Probe>();
      const order = rows.map((_, i) => i).sort(() => rng.next() - 0.5);
      for (const i of order.slice(0, Math.min(batch === 2 ? 1 : batch, rows.length))) {
        let position: number;
        do position = rng.int(0, batch - 1);
        while (positions.has(position));
        positions.set(position, rows[i]);
      }
      const got = maskInBatch(dtype, filler, batch, positions);
      [...positions.values()].forEach((probe, j) => {
        expect({ threads, batch, ids: Array.from(got[j]) }).toEqual({ threads, batch, ids: expected[rows.indexOf(probe)] });
      });
    }
  }
});

test('repeated calls give identical CSR arrays', () => {
  const rng = new Rng(9);
  const values = new Float32Array(64 * 1000);
  for (let r = 0; r < 64; r++) values.set(logitsRow(rng, 1000, 'zipf'), r * 1000);
  const options = { temperature: 0.7, topK: 100, topP: 0.9, minP: 0.001 };
  const first = mask(tensor(values, 64, 1000, 'float32'), options);
  for (const threads of [1, 3]) {
    setThreads(threads);
    const again = mask(tensor(values, 64, 1000, 'float32'), options);
    expect(Array.from(again.offsets)).toEqual(Array.from(first.offsets));
    expect(Array.from(again.indices)).toEqual(Array.from(first.indices));
  }
});

// A batch smaller than the thread count whose top-p weighs a whole row of 2^18
// logits or more is split: each row is read first on one thread, and the
// passes over the whole row that may follow run in segments over the threads.
test.each(dtypes)('a split row keeps what it keeps in a batch, at 1, 2 and 8 threads (%s)', (dtype) => {
  const rng = new Rng(dtype.length * 17);
  const long = 2 ** 18 + 1000;
  const rows = encode(logitsBatch(rng, 3, long), dtype);
  const options = { topP: 0.9, temperature: 0.8 };
  setThreads(1);
  const inBatch = mask(tensor(rows, 3, long, dtype), options);
  for (const threads of [1, 2, 8]) {
    setThreads(threads);
    for (let r = 0; r < 3; r++) {
      const alone = mask(tensor(rows.subarray(r * long, (r + 1) * long), 1, long, dtype), options);
      expect(Array.from(alone.row(0))).toEqual(Array.from(inBatch.row(r)));
    }
  }
});

// Rows whose later passes do run split: the bench's 2^21 N(0,3) row needs
// top-p's exact weighing; the joint order weighs the whole row after top-k;
// a row of 2^22 read only for min-p reads in segments.
test('split passes keep what one thread keeps: exact weighing, joint order, a min-p row read in segments', () => {
  const cases = [
    { vocab: 2 ** 21, options: { topP: 0.9 } },
    { vocab: 2 ** 18 + 1000, options: { topK: 1000, topP: 0.9, filterOrder: 'joint' as const } },
    { vocab: 2 ** 22, options: { minP: 0.1 } },
  ];
  for (const { vocab: long, options } of cases) {
    const row = normalLogits(1, long, 3, 3);
    setThreads(1);
    const one = mask(tensor(row, 1, long, 'float32'), options);
    for (const threads of [2, 8]) {
      setThreads(threads);
      const split = mask(tensor(row, 1, long, 'float32'), options);
      expect({ long, threads, ids: Array.from(split.row(0)) }).toEqual({ long, threads, ids: Array.from(one.row(0)) });
    }
  }
});
