// Top-p over a long row weighs the values below its members with an
// approximate exp and bounds the total with it (native/cpu/mask_cpu.cpp,
// budget_bounds): the bound holds only if every approximate weight is within
// kApproximateWeightError (native/cpu/row_kernels.h, 2^-22) of the rule's
// weight before truncation. This measures the row passes this machine runs
// over every f32 d in [-28, 0] (about 1.1e9 values).
import { addon } from '../lib/native';

test('the approximate top-p weight is within 2^-22 of the rule, at every f32 d in [-28, 0]', () => {
  const error = addon.baselines.approximateWeightError();
  expect(error).toBeGreaterThanOrEqual(0);
  expect(error).toBeLessThanOrEqual(2 ** -22);
});
