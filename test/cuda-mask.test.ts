// mask() on CUDA against the CPU backend (the bit-exact reference): kept
// sets, filled logits and errors must be identical on every row, for random
// and adversarial inputs, host tensors and device tensors. Runs only where
// CUDA can run; elsewhere it skips and says why.
import { mask, maskAsync, toDevice, type MaskOptions, type SamplingMask } from '../lib';
import { addon } from '../lib/native';
import * as cases from '../scripts/parity-cases';
import { describeCuda, errorFields } from './helpers';

function mismatches(a: SamplingMask, b: SamplingMask) {
  return cases.compareMasks(a, b);
}

function outcome(fn: () => SamplingMask): { mask?: SamplingMask; error?: unknown } {
  try {
    return { mask: fn() };
  } catch (error) {
    return { error: errorFields(error) };
  }
}

describeCuda('CUDA mask = CPU mask', () => {
  for (const c of cases.parityCases('quick')) {
    test(c.name, () => {
      for (const seed of [1, 2, 3]) {
        const { logits, params } = cases.materialize(c, seed);
        const onCpu = cases.copyTensor(logits);
        const onCuda = cases.copyTensor(logits);
        const options: MaskOptions = { ...params, fillLogits: c.fill === true };
        const cpu = outcome(() => mask(onCpu, { ...options, backend: 'cpu' }));
        const gpu = outcome(() => mask(onCuda, { ...options, backend: 'cuda' }));
        expect(gpu.error).toEqual(cpu.error);
        expect(Boolean(cpu.error)).toBe(c.error === true);
        if (cpu.mask && gpu.mask) expect(mismatches(cpu.mask, gpu.mask).first).toEqual([]);
        expect(cases.firstDifference(onCuda.data, onCpu.data)).toBe(-1); // fill, or untouched on error
      }
    });
  }
});

describeCuda('device tensors', () => {
  const c = { B: 16, V: 30000, dtype: 'bfloat16', gen: cases.rows.peaked };
  const params = { topK: 40, topP: 0.8, temperature: 0.9 };

  test('several operations on one upload; fill writes into the device copy', () => {
    const { logits } = cases.materialize(c, 3);
    const reference = mask(cases.copyTensor(logits), { ...params, backend: 'cpu' });
    const filled = cases.copyTensor(logits);
    mask(filled, { ...params, backend: 'cpu', fillLogits: true });
    const dt = toDevice(logits);
    expect(dt.shape).toEqual([16, 30000]);
    expect(mismatches(reference, mask(dt, params)).mismatched).toBe(0);
    const again = mask(dt, { ...params, profile: true });
    expect(mismatches(reference, again).mismatched).toBe(0);
    expect(again.profile?.uploadMs).toBe(0);
    expect(cases.firstDifference(dt.download().data, logits.data)).toBe(-1);
    mask(dt, { ...params, fillLogits: true });
    expect(cases.firstDifference(dt.download().data, filled.data)).toBe(-1);
    expect(cases.firstDifference(logits.data, cases.materialize(c, 3).logits.data)).toBe(-1); // host copy untouched
    dt.free();
    expect(dt.freed).toBe(true);
    expect(() => mask(dt, params)).toThrow(TypeError);
  });

  test("a DeviceTensor refuses backend 'cpu' and another device", () => {
    const dt = toDevice(cases.materialize(c, 4).logits);
    expect(() => mask(dt, { backend: 'cpu' })).toThrow(expect.objectContaining({ argument: 'backend' }));
    expect(() => mask(dt, { device: dt.device + 1 })).toThrow(RangeError);
    dt.free();
  });
});

describeCuda('CUDA errors leave the process and the device usable', () => {
  test('out of device memory is a JS error, and the next call works', () => {
    const { logits } = cases.materialize({ B: 4, V: 5000, dtype: 'float32', gen: cases.rows.normal(3) }, 5);
    expect(() => toDevice({ data: new Float32Array(16), shape: [1, 16], dtype: 'float32' }, { device: 999 })).toThrow(
      expect.objectContaining({ code: 'ERR_SM_CUDA_UNAVAILABLE' }),
    );
    expect(() => addon.cudaCopyBandwidth({ bytes: 2 ** 38, options: { device: 0 } })).toThrow(
      expect.objectContaining({ code: 'ERR_SM_CUDA_OUT_OF_MEMORY' }),
    );
    const cpu = mask(cases.copyTensor(logits), { topK: 5, backend: 'cpu' });
    expect(mismatches(cpu, mask(cases.copyTensor(logits), { topK: 5, backend: 'cuda' })).mismatched).toBe(0);
  });

  test('maskAsync on CUDA, concurrently, on a SharedArrayBuffer too', async () => {
    const { logits } = cases.materialize({ B: 8, V: 20000, dtype: 'float32', gen: cases.rows.normal(3) }, 6);
    const shared = new Float32Array(new SharedArrayBuffer(logits.data.byteLength));
    shared.set(logits.data);
    const reference = mask(logits, { topP: 0.9, backend: 'cpu' });
    const results = await Promise.all([
      maskAsync({ data: shared, shape: logits.shape, dtype: 'float32' }, { topP: 0.9, backend: 'cuda' }),
      maskAsync(cases.copyTensor(logits), { topP: 0.9, backend: 'cuda' }),
    ]);
    for (const m of results) expect(mismatches(reference, m).mismatched).toBe(0);
  });
});
