import { MaskRecorder, SamplingMask, mask, maskAsync, type RequestId } from '../lib';
import { ReferenceRecorder } from './carry-reference';
import { randomIds, rng, thrown } from './helpers';

function expectSame(recorder: MaskRecorder, reference: ReferenceRecorder, id: RequestId, withTokens: boolean): void {
  const expected = reference.requests.get(id)!;
  const got = recorder.peek(id);
  expect(got.mask.toLists()).toEqual(expected.rows);
  expect(recorder.steps(id)).toBe(expected.rows.length);
  if (withTokens) expect(Array.from(got.tokens!)).toEqual(expected.tokens);
  else expect(got.tokens).toBeUndefined();
}

// One rollout under continuous batching: requests join at random steps,
// are preempted and resume later, restart from scratch, and finish in any
// order; finished requests are taken at random later times. The batch order
// is shuffled every step, so only the request id ties rows together.
function simulate(seed: number, withTokens: boolean): void {
  const random = rng(seed);
  const vocab = [37, 1000, 151936][seed % 3];
  const recorder = new MaskRecorder();
  const reference = new ReferenceRecorder();
  const running: RequestId[] = [];
  const preempted = new Map<RequestId, number>(); // id -> step it resumes
  const finished: RequestId[] = [];
  let nextId = 0;
  const newId = (): RequestId => {
    const n = nextId++;
    // strings and numbers, including the same digits as both
    return n % 3 === 0 ? n : n % 3 === 1 ? `req-${n}` : String(n - 2);
  };
  for (let step = 0; step < 120; step++) {
    for (let joins = Math.floor(random() * 4); joins > 0; joins--) running.push(newId());
    for (const [id, resume] of [...preempted]) {
      if (resume <= step) {
        preempted.delete(id);
        running.push(id);
      }
    }
    for (let i = running.length - 1; i >= 0; i--) {
      const u = random();
      if (u < 0.05) {
        preempted.set(running[i], step + 1 + Math.floor(random() * 10));
        running.splice(i, 1);
      } else if (u < 0.12 && recorder.steps(running[i]) > 0) {
        finished.push(running[i]);
        running.splice(i, 1);
      } else if (u < 0.125) {
        // aborted and restarted from scratch: its rows so far are dropped
        const had = recorder.has(running[i]);
        expect(recorder.discard(running[i])).toBe(had);
        reference.take(running[i]);
      }
    }
    const batch = running.slice().sort(() => random() - 0.5);
    if (batch.length > 0) {
      const lists = batch.map(() => {
        const u = random();
        const count =
          u < 0.05 && !withTokens ? 0 : u < 0.1 ? Math.floor(random() * Math.min(vocab, 3000)) + 1 : 1 + Math.floor(random() * 60);
        return randomIds(random, vocab, count);
      });
      const tokens = withTokens ? lists.map((row) => row[Math.floor(random() * row.length)]) : undefined;
      recorder.record(batch, SamplingMask.fromLists(lists, vocab), tokens);
      reference.record(batch, lists, tokens);
    }
    // finished requests are collected out of order, some only later
    finished.sort(() => random() - 0.5);
    for (let i = finished.length - 1; i >= 0; i--) {
      if (random() < 0.5) continue;
      const id = finished.splice(i, 1)[0];
      const expected = reference.take(id)!;
      const got = recorder.take(id);
      expect(got.mask.toLists()).toEqual(expected.rows);
      expect(got.mask.vocab).toBe(vocab);
      if (withTokens) expect(Array.from(got.tokens!)).toEqual(expected.tokens);
      expect(got.outsideSteps).toEqual([]);
      expect(recorder.has(id)).toBe(false);
    }
    if (step % 17 === 0) {
      expect(recorder.ids()).toEqual([...reference.requests.keys()]);
      for (const id of recorder.ids()) expectSame(recorder, reference, id, withTokens);
    }
  }
  expect(recorder.ids()).toEqual([...reference.requests.keys()]);
  for (const id of recorder.ids()) {
    const expected = reference.take(id)!;
    expect(recorder.take(id).mask.toLists()).toEqual(expected.rows);
  }
  expect(recorder.ids()).toEqual([]);
  expect(recorder.bytes()).toBe(0);
}

describe('MaskRecorder under continuous batching', () => {
  test.each([1, 2, 3, 4, 5, 6])('random rollout %i matches the per-request reference', (seed) => {
    simulate(seed, seed % 2 === 0);
  });
});

describe('MaskRecorder', () => {
  const vocab = 20;
  const step = (lists: number[][]) => SamplingMask.fromLists(lists, vocab);

  test('a bad step is rejected whole: nothing of it is stored', () => {
    const recorder = new MaskRecorder();
    recorder.record(['a', 'b'], step([[1, 2], [3]]), [1, 3]);
    const before = () => ({ a: recorder.steps('a'), b: recorder.steps('b'), c: recorder.steps('c'), ids: recorder.ids() });
    const snapshot = before();
    let e = thrown(() => recorder.record(['c', 'a', 'c'], step([[1], [2], [3]]), [1, 2, 3]));
    expect(e.code).toBe('ERR_SM_DUPLICATE_REQUEST');
    expect(e.row).toBe(2);
    expect(e.requestId).toBe('c');
    e = thrown(() => recorder.record(['c', 'a', 'b'], step([[1], [2], [3, 4]]), [1, 2, 5]));
    expect(e.code).toBe('ERR_SM_TOKEN_OUTSIDE_MASK');
    expect(e.row).toBe(2);
    expect(e.requestId).toBe('b');
    expect(e.message).toMatch(/token 5/);
    expect(thrown(() => recorder.record(['c', 'a'], step([[1], [2]]))).code).toBe('ERR_SM_TOKENS_MISMATCH');
    expect(thrown(() => recorder.record(['c', 'a'], step([[1], [2]]), [1])).argument).toBe('tokens');
    expect(thrown(() => recorder.record(['c', 'a'], step([[1], [2]]), [1, 20])).code).toBe('ERR_SM_OUT_OF_RANGE');
    expect(thrown(() => recorder.record(['c'], step([[1], [2]]))).argument).toBe('requestIds');
    expect(thrown(() => recorder.record(['c', 1.5], step([[1], [2]]))).row).toBe(1);
    expect(thrown(() => recorder.record(['c', {} as string], step([[1], [2]]))).code).toBe('ERR_SM_INVALID_ARG_TYPE');
    expect(thrown(() => recorder.record(['c'], SamplingMask.fromLists([[1]], 21), [1])).code).toBe('ERR_SM_OUT_OF_RANGE');
    expect(thrown(() => recorder.record(['c'], { rows: 1 } as SamplingMask)).argument).toBe('mask');
    expect(before()).toEqual(snapshot);
    expect(recorder.take('a').mask.toLists()).toEqual([[1, 2]]);
  });

  test("'count' mode stores the step and lists where the token was outside", () => {
    const recorder = new MaskRecorder({ onTokenOutsideMask: 'count' });
    recorder.record([1, 2], step([[1, 2], [3]]), [1, 4]);
    recorder.record([2, 1], step([[5], [7]]), [6, 7]);
    expect(recorder.peek(2).outsideSteps).toEqual([0, 1]);
    expect(recorder.peek(1).outsideSteps).toEqual([]);
    expect(Array.from(recorder.take(2).tokens!)).toEqual([4, 6]);
  });

  test('7 and "7" are different requests', () => {
    const recorder = new MaskRecorder();
    recorder.record([7, '7'], step([[1], [2]]));
    expect(recorder.take(7).mask.toLists()).toEqual([[1]]);
    expect(recorder.take('7').mask.toLists()).toEqual([[2]]);
  });

  test('take, peek, discard, ids, steps, bytes', () => {
    const recorder = new MaskRecorder({ vocab });
    expect(recorder.vocab).toBe(vocab);
    expect(thrown(() => recorder.take('x')).code).toBe('ERR_SM_UNKNOWN_REQUEST');
    expect(recorder.steps('x')).toBe(0);
    recorder.record(['x', 'y'], step([[1], [2, 3]]));
    recorder.record(['y'], step([[4]]));
    expect(recorder.ids()).toEqual(['x', 'y']);
    expect(recorder.steps('y')).toBe(2);
    expect(recorder.bytes()).toBeGreaterThan(0);
    expect(recorder.peek('y').mask.toLists()).toEqual([[2, 3], [4]]);
    expect(recorder.peek('y').mask.toLists()).toEqual([[2, 3], [4]]);
    expect(recorder.discard('x')).toBe(true);
    expect(recorder.discard('x')).toBe(false);
    expect(recorder.take('y').mask.toLists()).toEqual([[2, 3], [4]]);
    expect(recorder.bytes()).toBe(0);
    expect(thrown(() => new MaskRecorder({ vocab: 0 })).argument).toBe('options.vocab');
    expect(thrown(() => new MaskRecorder({ onTokenOutsideMask: 'warn' as 'count' })).argument).toBe('options.onTokenOutsideMask');
  });

  test('storage grows in chunks: bounded slack over many steps, all returned on take', () => {
    const recorder = new MaskRecorder();
    const random = rng(4);
    const lists: number[][] = [];
    for (let s = 0; s < 5000; s++) {
      const row = randomIds(random, 151936, 1 + Math.floor(random() * 100));
      lists.push(row);
      recorder.record(['long'], SamplingMask.fromLists([row], 151936), [row[0]]);
    }
    const ids = lists.reduce((n, l) => n + l.length, 0);
    const payload = 4 * (ids + 2 * lists.length);
    expect(recorder.bytes()).toBeGreaterThanOrEqual(payload);
    expect(recorder.bytes()).toBeLessThanOrEqual(2 * payload + 3 * 4 * 64);
    const taken = recorder.take('long');
    expect(taken.mask.toLists()).toEqual(lists);
    expect(taken.mask.indices.buffer.byteLength).toBe(4 * ids);
    expect(recorder.bytes()).toBe(0);
  });

  test('recordResponse: a whole server response (id lists and generated tokens), in streamed chunks', () => {
    // as vLLM's `sampling_mask` / SGLang's `output_token_sampling_mask` arrive in JSON
    const response = JSON.parse('{"output_ids":[3,9,0],"sampling_mask":[[1,3,5],[9],[0,2]]}');
    const recorder = new MaskRecorder({ vocab });
    recorder.recordResponse('r1', response.sampling_mask.slice(0, 2), response.output_ids.slice(0, 2));
    recorder.recordResponse('r1', response.sampling_mask.slice(2), response.output_ids.slice(2));
    const taken = recorder.take('r1');
    expect(taken.mask.toLists()).toEqual(response.sampling_mask);
    expect(Array.from(taken.tokens!)).toEqual([3, 9, 0]);
    expect(thrown(() => recorder.recordResponse('r2', [[1, 3], [9]], [1, 8])).code).toBe('ERR_SM_TOKEN_OUTSIDE_MASK');
    expect(thrown(() => recorder.recordResponse('r2', [[3, 1]], [1])).code).toBe('ERR_SM_INVALID_MASK');
    recorder.recordResponse('r2', [[3, 1]], [1], { order: 'sort' });
    recorder.recordResponse('r3', step([[4]]));
    expect(recorder.take('r2').mask.toLists()).toEqual([[1, 3]]);
    expect(recorder.ids()).toEqual(['r3']);
    expect(thrown(() => new MaskRecorder().recordResponse('r', [[1]])).argument).toBe('options.vocab');
    expect(thrown(() => recorder.recordResponse(null as unknown as string, [[1]])).argument).toBe('requestId');
  });

  test('recording from the event loop while maskAsync calls are in flight', async () => {
    const random = rng(5);
    const V = 4096;
    const requests = ['a', 'b', 'c', 'd', 'e'];
    const steps = 12;
    const logits = Array.from({ length: steps }, () => {
      const data = new Float32Array(requests.length * V);
      for (let i = 0; i < data.length; i++) data[i] = (random() - 0.5) * 12;
      return data;
    });
    const options = { topK: 40, topP: 0.9, temperature: 0.8 };
    // each step's batch is in a different order
    const orders = logits.map(() => requests.slice().sort(() => random() - 0.5));
    const recorder = new MaskRecorder();
    const reference = new ReferenceRecorder();
    const inFlight = logits.map((data) => maskAsync({ data, shape: [requests.length, V], dtype: 'float32' }, options));
    for (let s = 0; s < steps; s++) {
      // the sync masks of the same rows, recorded while the async calls run
      const sync = mask({ data: logits[s], shape: [requests.length, V], dtype: 'float32' }, options);
      reference.record(orders[s], sync.toLists());
      const async = await inFlight[s];
      recorder.record(
        orders[s],
        async,
        Array.from({ length: async.rows }, (_, i) => async.row(i)[0]),
      );
      expect(async.toLists()).toEqual(sync.toLists());
    }
    for (const id of requests) expect(recorder.take(id).mask.toLists()).toEqual(reference.take(id)!.rows);
  });
});
