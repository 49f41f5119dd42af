// Per-row parameters are checked, never coerced: a null, a string, a nested
// array or a BigInt in a per-row array is a TypeError naming the row; values
// that f32 or the rule cannot represent (a temperature that rounds to 0,
// topK: Infinity) are RangeErrors, not a different parameter in disguise.
import { mask, maskedLogprobs, type MaskOptions } from '../lib';
import { logitsBatch, Rng, tensor, thrown } from './helpers';

const logits = () => tensor(logitsBatch(new Rng(5), 2, 64, 'normal'), 2, 64, 'float32');

test.each([
  ['temperature', [null, 1], 0],
  ['minP', [0.1, null], 1],
  ['topK', [2, '3'], 1],
  ['topP', [[0.5], [0.5]], 0],
  ['topK', [1n, 2], 0],
  ['temperature', [undefined, 1], 0],
])('%s: %j is a TypeError naming the row', (name, value, row) => {
  const options = { [name]: value } as unknown as MaskOptions;
  expect(thrown(() => mask(logits(), options))).toMatchObject({ name: 'TypeError', code: 'ERR_SM_INVALID_ARG_TYPE', argument: name, row });
});

test('arrays of numbers are read like typed arrays', () => {
  const asArray = mask(logits(), { temperature: [0.7, 1.3], topK: [3, 9], topP: [0.9, 0.5], minP: [0, 0.05] });
  const asTyped = mask(logits(), {
    temperature: Float64Array.of(0.7, 1.3),
    topK: Int32Array.of(3, 9),
    topP: Float32Array.of(0.9, 0.5),
    minP: Float64Array.of(0, 0.05),
  });
  expect(Array.from(asArray.indices)).toEqual(Array.from(asTyped.indices));
  expect(Array.from(asArray.offsets)).toEqual(Array.from(asTyped.offsets));
});

test.each([
  [{ temperature: 1e-50 }, 'temperature'],
  [{ temperature: [1, 1e-50] }, 'temperature'],
  [{ minP: 1e-60 }, 'minP'],
  [{ topK: Infinity }, 'topK'],
  [{ topK: [1, -Infinity] }, 'topK'],
  [{ topP: NaN }, 'topP'],
])('%j is a RangeError naming %s', (options, argument) => {
  expect(thrown(() => mask(logits(), options as MaskOptions))).toMatchObject({ name: 'RangeError', code: 'ERR_SM_OUT_OF_RANGE', argument });
});

test('the trainer temperature is checked the same way', () => {
  const targets = Int32Array.of(0, 1);
  expect(thrown(() => maskedLogprobs(logits(), null, targets, { temperature: 1e-50 }))).toMatchObject({
    code: 'ERR_SM_OUT_OF_RANGE',
    argument: 'temperature',
  });
  expect(thrown(() => maskedLogprobs(logits(), null, targets, { temperature: [1, null] as unknown as number[] }))).toMatchObject({
    code: 'ERR_SM_INVALID_ARG_TYPE',
    argument: 'temperature',
    row: 1,
  });
});

test('flags are booleans and options an object', () => {
  expect(thrown(() => mask(logits(), { fillLogits: 1 as unknown as boolean }))).toMatchObject({
    code: 'ERR_SM_INVALID_ARG_TYPE',
    argument: 'fillLogits',
  });
  expect(thrown(() => mask(logits(), null as unknown as MaskOptions))).toMatchObject({
    code: 'ERR_SM_INVALID_ARG_TYPE',
    argument: 'options',
  });
  expect(thrown(() => mask(logits(), 'fast' as unknown as MaskOptions))).toMatchObject({
    code: 'ERR_SM_INVALID_ARG_TYPE',
    argument: 'options',
  });
});
