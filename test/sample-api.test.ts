// sample()'s arguments: every bad key, option or logit is a clear typed
// error naming the argument (and the row); MaskRecorder takes its result.
import { backendInfo, MaskRecorder, sample, sampleAsync, type SampleOptions } from '../lib';
import { logitsBatch, rejected, Rng, tensor, thrown } from './helpers';

const rows = 3;
const vocab = 50;
const values = logitsBatch(new Rng(1), rows, vocab);
const logits = tensor(values, rows, vocab, 'float32');
const valid = { seed: 1, step: 0, topK: 10 } satisfies SampleOptions;

function errorOf(options: object) {
  return thrown(() => sample(logits, { ...valid, ...options } as SampleOptions));
}

describe('sample() argument errors', () => {
  test('seed: required, an integer in [0, 2^64), number or bigint', () => {
    expect(thrown(() => sample(logits, { step: 0 } as SampleOptions))).toMatchObject({
      name: 'TypeError',
      code: 'ERR_SM_INVALID_ARG_TYPE',
      argument: 'seed',
    });
    for (const seed of [1.5, -1, NaN, Infinity, -1n, 2n ** 64n]) {
      expect(errorOf({ seed })).toMatchObject({ name: 'RangeError', code: 'ERR_SM_OUT_OF_RANGE', argument: 'seed' });
    }
    expect(errorOf({ seed: 2 ** 60 })).toMatchObject({ name: 'RangeError', argument: 'seed' }); // beyond 2^53: use a bigint
    expect(errorOf({ seed: 2 ** 60 }).message).toMatch(/bigint/);
    for (const seed of ['1', null, [1], {}]) {
      expect(errorOf({ seed })).toMatchObject({ name: 'TypeError', code: 'ERR_SM_INVALID_ARG_TYPE', argument: 'seed' });
    }
    expect(() => sample(logits, { ...valid, seed: 2n ** 64n - 1n })).not.toThrow();
  });

  test('step: required, integers in [0, 2^32), one or one per row', () => {
    expect(thrown(() => sample(logits, { seed: 1 } as SampleOptions))).toMatchObject({ name: 'TypeError', argument: 'step' });
    expect(errorOf({ step: -1 })).toMatchObject({ name: 'RangeError', code: 'ERR_SM_OUT_OF_RANGE', argument: 'step' });
    expect(errorOf({ step: 2 ** 32 })).toMatchObject({ name: 'RangeError', argument: 'step' });
    expect(errorOf({ step: 0.5 })).toMatchObject({ name: 'RangeError', argument: 'step' });
    expect(errorOf({ step: [0, 1] })).toMatchObject({ name: 'RangeError', argument: 'step' });
    expect(errorOf({ step: [0, 1, -2] })).toMatchObject({ name: 'RangeError', argument: 'step', row: 2 });
    expect(errorOf({ step: [0, 1.25, 2] })).toMatchObject({ name: 'RangeError', argument: 'step', row: 1 });
    expect(errorOf({ step: [0, '1', 2] })).toMatchObject({ name: 'TypeError', argument: 'step', row: 1 });
    expect(errorOf({ step: new Float32Array(3) })).toMatchObject({ name: 'TypeError', argument: 'step' });
    expect(() => sample(logits, { ...valid, step: new Uint32Array([0, 2 ** 32 - 1, 7]) })).not.toThrow();
  });

  test('stream: integers in [0, 2^64), one or one per row', () => {
    expect(errorOf({ stream: -3 })).toMatchObject({ name: 'RangeError', argument: 'stream' });
    expect(errorOf({ stream: [1n, 2n] })).toMatchObject({ name: 'RangeError', argument: 'stream' });
    expect(errorOf({ stream: new BigInt64Array([1n, -1n, 2n]) })).toMatchObject({ name: 'RangeError', argument: 'stream', row: 1 });
    expect(errorOf({ stream: new Float64Array([1, 2, NaN]) })).toMatchObject({ name: 'RangeError', argument: 'stream', row: 2 });
    expect(errorOf({ stream: 'request-7' })).toMatchObject({ name: 'TypeError', argument: 'stream' });
    expect(() => sample(logits, { ...valid, stream: new BigUint64Array([0n, 2n ** 64n - 1n, 5n]) })).not.toThrow();
  });

  test('mask, fullLogprobs, fillLogits and the rule parameters are checked', () => {
    expect(errorOf({ mask: 'yes' })).toMatchObject({ name: 'TypeError', argument: 'mask' });
    expect(errorOf({ fullLogprobs: 1 })).toMatchObject({ name: 'TypeError', argument: 'fullLogprobs' });
    expect(errorOf({ fillLogits: true })).toMatchObject({ name: 'TypeError', argument: 'fillLogits' });
    expect(errorOf({ fillLogits: true }).message).toMatch(/applyMask/);
    expect(errorOf({ onInvalidRow: 'skip' })).toMatchObject({ name: 'TypeError', argument: 'onInvalidRow' });
    expect(errorOf({ topP: 0 })).toMatchObject({ name: 'RangeError', argument: 'topP' });
    expect(errorOf({ temperature: [1, -1, 1] })).toMatchObject({ name: 'RangeError', argument: 'temperature', row: 1 });
    expect(errorOf({ filterOrder: 'first' })).toMatchObject({ name: 'TypeError', argument: 'filterOrder' });
  });

  test('bad logits fail as in mask(), naming the row and column; sampleAsync rejects the same way', async () => {
    const bad = values.slice();
    bad[vocab + 7] = NaN;
    const expected = { name: 'RangeError', code: 'ERR_SM_INVALID_LOGITS', argument: 'logits', row: 1, column: 7 };
    expect(thrown(() => sample(tensor(bad, rows, vocab, 'float32'), valid))).toMatchObject(expected);
    expect(await rejected(sampleAsync(tensor(bad, rows, vocab, 'float32'), valid))).toMatchObject(expected);
    expect(await rejected(sampleAsync(logits, { ...valid, seed: -1 }))).toMatchObject({ argument: 'seed' });
  });

  test("backend 'cuda' is refused with ERR_SM_CUDA_UNAVAILABLE: sampling runs on the CPU for now", () => {
    const error = errorOf({ backend: 'cuda' });
    expect(error).toMatchObject({ name: 'RangeError', code: 'ERR_SM_CUDA_UNAVAILABLE', argument: 'backend' });
    // Where CUDA runs, it is the CUDA backend that refuses, and says the CPU samples.
    if (backendInfo().cuda.available) expect(error.message).toMatch(/'cpu'/);
    expect(() => sample(logits, { ...valid, backend: 'auto' })).not.toThrow();
  });
});

describe('MaskRecorder takes sample() results', () => {
  test('record(ids, sampled) stores the step with its tokens', () => {
    const recorder = new MaskRecorder({ vocab });
    const steps = [0, 1, 2].map((step) => sample(logits, { ...valid, stream: [10, 11, 12], step }));
    for (const sampled of steps) recorder.record(['a', 'b', 'c'], sampled);
    const b = recorder.take('b');
    expect(Array.from(b.tokens as Int32Array)).toEqual(steps.map((s) => s.tokens[1]));
    expect(b.mask.toLists()).toEqual(steps.map((s) => Array.from(s.mask.row(1))));
    expect(b.outsideSteps).toEqual([]);
  });

  test('a result without its mask, or with tokens passed again, is refused', () => {
    const recorder = new MaskRecorder({ vocab });
    const sampled = sample(logits, valid);
    expect(thrown(() => recorder.record([1, 2, 3], sample(logits, { ...valid, mask: false }) as never))).toMatchObject({
      name: 'TypeError',
      argument: 'mask',
    });
    expect(thrown(() => recorder.record([1, 2, 3], sampled, sampled.tokens))).toMatchObject({ name: 'TypeError', argument: 'tokens' });
    expect(recorder.ids()).toEqual([]);
  });
});
