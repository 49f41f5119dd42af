// maskAsync(): off the event loop, in agreement with mask(), safe when the
// caller transfers the buffer away meanwhile, and usable from worker threads
// on shared memory.
import * as path from 'path';
import { setFlagsFromString } from 'v8';
import { runInNewContext } from 'vm';
import { Worker } from 'worker_threads';
import { mask, maskAsync, setThreads, type MaskOptions, type Tensor } from '../lib';
import { dtypes, encode, firstDifference, logitsBatch, rejected, Rng, tensor } from './helpers';
import { referenceMask } from './reference';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

test('concurrent calls from the event loop agree with mask() and the reference', async () => {
  const rng = new Rng(12);
  const jobs = Array.from({ length: 12 }, (_, i) => {
    const dtype = dtypes[i % 3];
    const rows = rng.int(1, 16);
    const vocab = rng.int(100, 6000);
    const data = encode(logitsBatch(rng, rows, vocab), dtype);
    const options: MaskOptions = {
      temperature: rng.pick([0, 0.6, 1]),
      topK: rng.pick([-1, 5, 64]),
      topP: rng.pick([1, 0.9, 0.5]),
      minP: rng.pick([0, 0.02]),
    };
    return { logits: tensor(data, rows, vocab, dtype), options, expected: referenceMask(data, dtype, rows, vocab, options) };
  });
  const results = await Promise.all(jobs.map((job) => maskAsync(job.logits, job.options)));
  results.forEach((result, i) => {
    expect(firstDifference(result, jobs[i].expected)).toBeNull();
    const sync = mask(jobs[i].logits, jobs[i].options);
    expect(Array.from(result.offsets)).toEqual(Array.from(sync.offsets));
    expect(Array.from(result.indices)).toEqual(Array.from(sync.indices));
  });
});

test('changing the thread count while calls are in flight changes no result', async () => {
  const rng = new Rng(13);
  const rows = 3;
  const vocab = 16384; // rows split across the pool's threads
  const data = logitsBatch(rng, rows, vocab);
  const options = { topP: 0.9, topK: 500 };
  const expected = mask(tensor(data, rows, vocab, 'float32'), options);
  const pending = [];
  for (const threads of [8, 1, 3, 0]) {
    pending.push(maskAsync(tensor(data, rows, vocab, 'float32'), options));
    setThreads(threads);
    pending.push(maskAsync(tensor(data, rows, vocab, 'float32'), options));
  }
  for (const result of await Promise.all(pending)) expect(Array.from(result.indices)).toEqual(Array.from(expected.indices));
  setThreads(0);
});

test('the call returns at once and the event loop keeps running while the batch is masked', async () => {
  const rows = 16;
  const vocab = 65536;
  const data = new Float32Array(rows * vocab);
  const rng = new Rng(3);
  for (let i = 0; i < data.length; i++) data[i] = rng.next() * 8;
  let immediateRan = false;
  setImmediate(() => (immediateRan = true));
  const result = await maskAsync(tensor(data, rows, vocab, 'float32'), { topP: 0.9 });
  expect(immediateRan).toBe(true);
  expect(result.rows).toBe(rows);
});

describe('an ordinary ArrayBuffer transferred away while maskAsync runs', () => {
  test.each(dtypes)('still gives the mask of the data as it was at the call (%s)', async (dtype) => {
    const rng = new Rng(5);
    const rows = 8;
    const vocab = 16384;
    const encoded = encode(logitsBatch(rng, rows, vocab, 'normal'), dtype);
    const options = { topK: 50, topP: 0.9 };
    const expected = mask(tensor(encoded, rows, vocab, dtype), options);
    for (let attempt = 0; attempt < 2; attempt++) {
      const data = encoded.slice();
      const pending = maskAsync(tensor(data, rows, vocab, dtype), options);
      // Transfer the memory away and let the collector free it while the job runs.
      structuredClone(data.buffer, { transfer: [data.buffer as ArrayBuffer] });
      expect(data.length).toBe(0);
      collectGarbage();
      const result = await pending;
      expect(Array.from(result.indices)).toEqual(Array.from(expected.indices));
      expect(Array.from(result.offsets)).toEqual(Array.from(expected.offsets));
    }
  });

  test('with fillLogits, rejects with ERR_SM_DETACHED since there is nothing left to write to', async () => {
    const data = logitsBatch(new Rng(6), 8, 20000);
    const pending = maskAsync(tensor(data, 8, 20000, 'float32'), { topK: 3, fillLogits: true });
    structuredClone(data.buffer, { transfer: [data.buffer as ArrayBuffer] });
    collectGarbage();
    expect(await rejected(pending)).toMatchObject({ name: 'TypeError', code: 'ERR_SM_DETACHED', argument: 'logits' });
  });
});

describe('worker threads on a SharedArrayBuffer', () => {
  function runInWorker(worker: Worker, logits: Tensor, options: MaskOptions, useAsync: boolean) {
    return new Promise<{ offsets?: number[]; indices?: number[]; error?: object }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.postMessage({ logits, options, useAsync });
    });
  }

  test('workers mask their own rows of shared logits, sync and async, and fill them in place', async () => {
    const rng = new Rng(17);
    const rows = 12;
    const vocab = 5000;
    const values = logitsBatch(rng, rows, vocab);
    const shared = new Float32Array(new SharedArrayBuffer(values.byteLength));
    shared.set(values);
    const options = { temperature: 0.7, topK: 40, topP: 0.95 };
    const expected = referenceMask(values, 'float32', rows, vocab, options);
    const script = path.join(__dirname, 'fixtures', 'mask-worker.js');
    const workers = [new Worker(script), new Worker(script)];
    try {
      // Each worker takes half the rows: a view at a non-zero byteOffset for the second.
      const half = rows / 2;
      const parts = workers.map((_, w) => shared.subarray(w * half * vocab, (w + 1) * half * vocab));
      for (const useAsync of [false, true]) {
        const results = await Promise.all(
          workers.map((worker, w) => runInWorker(worker, tensor(parts[w], half, vocab, 'float32'), options, useAsync)),
        );
        results.forEach((result, w) => {
          expect(result.error).toBeUndefined();
          const lists = expected.slice(w * half, (w + 1) * half);
          expect(result.offsets).toEqual([0, ...lists.map((_, r) => lists.slice(0, r + 1).flat().length)]);
          expect(result.indices).toEqual(lists.flat());
        });
      }
      // Errors cross the thread boundary with their fields.
      const bad = await runInWorker(workers[0], tensor(parts[0], half, vocab, 'float32'), { topP: 0 }, true);
      expect(bad.error).toMatchObject({ name: 'RangeError', code: 'ERR_SM_OUT_OF_RANGE', argument: 'topP' });
      // fillLogits writes the shared memory the main thread sees.
      await Promise.all(
        workers.map((worker, w) => runInWorker(worker, tensor(parts[w], half, vocab, 'float32'), { ...options, fillLogits: true }, true)),
      );
      const keptFlat = new Set(expected.flatMap((ids, r) => ids.map((id) => r * vocab + id)));
      const wrong = Array.from(shared).flatMap((v, i) => (Object.is(v, keptFlat.has(i) ? values[i] : -Infinity) ? [] : [i]));
      expect(wrong.slice(0, 10)).toEqual([]);
    } finally {
      await Promise.all(workers.map((worker) => worker.terminate()));
    }
  });
});
