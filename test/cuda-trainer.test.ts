// The trainer operations on CUDA against the CPU backend: the kernels follow
// the CPU's lane order, so log-probs, entropies, gradients and masked logits
// must be identical bit for bit, on host tensors and DeviceTensors, and
// errors must name the same row and column. Runs only where CUDA can run;
// elsewhere it skips and says why, and checks that asking for CUDA is a
// clear error.
import {
  applyMask,
  applyMaskAsync,
  maskedLogprobs,
  maskedLogprobsAsync,
  maskedLogprobsBackward,
  toDevice,
  type DType,
  type SamplingMask,
} from '../lib';
import {
  describeCuda,
  describeWithoutCuda,
  expectError,
  maskOf,
  randomIds,
  randomLogits,
  rng,
  tensorOf,
  thrown,
  type LogitsCase,
} from './helpers';

/** The first index where two arrays differ in their bits, or -1 (jest's toEqual is far too slow for millions of values). */
function firstBitDifference(a: Float32Array | Uint16Array | undefined, b: Float32Array | Uint16Array | undefined): number {
  if (!a || !b || a.length !== b.length) return 0;
  // BYTES_PER_ELEMENT, not instanceof: the addon's arrays come from another realm than jest's.
  const x = a.BYTES_PER_ELEMENT === 4 ? new Uint32Array(a.buffer, a.byteOffset, a.length) : a;
  const y = b.BYTES_PER_ELEMENT === 4 ? new Uint32Array(b.buffer, b.byteOffset, b.length) : b;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

/** A tensor over a copy of the logits, so that calls writing into one leave the others' inputs as they were. */
function copyOf(logits: LogitsCase) {
  return tensorOf({ ...logits, data: logits.data.slice() });
}

/** A random batch: logits, a mask of 0..maxIds ids per row and targets, some outside their row. */
function batch(seed: number, rows: number, vocab: number, dtype: DType, maxIds: number) {
  const next = rng(seed);
  const logits = randomLogits(next, rows, vocab, dtype, { negInfRate: 0.01 });
  const lists = Array.from({ length: rows }, () => randomIds(next, vocab, 1 + Math.floor(next() * maxIds)));
  const targets = Int32Array.from(lists, (ids) => (next() < 0.2 ? Math.floor(next() * vocab) : ids[Math.floor(next() * ids.length)]));
  // -inf everywhere but kept ids would fail a row; keep each row's first id finite.
  lists.forEach((ids, r) => {
    if (dtype === 'float32') (logits.data as Float32Array)[r * vocab + ids[0]] = 1;
    else (logits.data as Uint16Array)[r * vocab + ids[0]] = dtype === 'bfloat16' ? 0x3f80 : 0x3c00;
  });
  const gradOutput = Float32Array.from({ length: rows }, () => next() - 0.5);
  const temperature = Float32Array.from({ length: rows }, () => 0.5 + next());
  return { logits, mask: maskOf(lists, vocab), targets, gradOutput, temperature };
}

describeCuda('CUDA trainer ops = CPU, bit for bit', () => {
  const shapes: [DType, number, number, number][] = [
    ['float32', 64, 32000, 60],
    ['bfloat16', 17, 65536, 200],
    ['float16', 17, 4099, 4099],
  ];
  for (const [dtype, rows, vocab, maxIds] of shapes) {
    test(`${dtype} ${rows}x${vocab}, up to ${maxIds} ids per row`, () => {
      for (const seed of [1, 2]) {
        const { logits, mask, targets, gradOutput, temperature } = batch(seed, rows, vocab, dtype, maxIds);
        const t = copyOf(logits);
        for (const m of [mask, null] as (SamplingMask | null)[]) {
          const options = { temperature, entropy: true };
          const cpu = maskedLogprobs(t, m, targets, { ...options, backend: 'cpu' });
          const gpu = maskedLogprobs(t, m, targets, { ...options, backend: 'cuda', profile: true });
          expect(gpu.profile?.backend).toBe('cuda');
          expect(firstBitDifference(gpu.logprobs, cpu.logprobs)).toBe(-1);
          expect(firstBitDifference(gpu.entropy, cpu.entropy)).toBe(-1);
          expect(gpu.targetsOutsideMask).toBe(cpu.targetsOutsideMask);
          const backward = { temperature, dense: m !== null };
          const cpuGrad = maskedLogprobsBackward(t, m, targets, gradOutput, { ...backward, backend: 'cpu' });
          const gpuGrad = maskedLogprobsBackward(t, m, targets, gradOutput, { ...backward, backend: 'cuda' });
          expect(firstBitDifference(gpuGrad.values, cpuGrad.values)).toBe(-1);
          if (m) expect(firstBitDifference(gpuGrad.dense, cpuGrad.dense)).toBe(-1);
        }
        const cpuOut = applyMask(t, mask, { backend: 'cpu' });
        expect(firstBitDifference(applyMask(t, mask, { backend: 'cuda' }).data, cpuOut.data)).toBe(-1);
        const inPlace = copyOf(logits);
        applyMask(inPlace, mask, { backend: 'cuda', inPlace: true });
        expect(firstBitDifference(inPlace.data, cpuOut.data)).toBe(-1);
      }
    });
  }

  test('3-D [B, T, V] logits with [B, T] targets', () => {
    const { logits, mask, targets } = batch(3, 24, 5000, 'float32', 50);
    const t = { data: logits.data, shape: [4, 6, 5000], dtype: 'float32' as const };
    const target = { data: targets, shape: [4, 6] };
    const cpu = maskedLogprobs(t, mask, target, { backend: 'cpu' });
    expect(firstBitDifference(maskedLogprobs(t, mask, target, { backend: 'cuda' }).logprobs, cpu.logprobs)).toBe(-1);
  });

  test('async calls on CUDA', async () => {
    const { logits, mask, targets } = batch(4, 32, 20000, 'bfloat16', 80);
    const t = copyOf(logits);
    const cpu = maskedLogprobs(t, mask, targets, { backend: 'cpu' });
    const [a, b] = await Promise.all([
      maskedLogprobsAsync(t, mask, targets, { backend: 'cuda' }),
      maskedLogprobsAsync(copyOf(logits), mask, targets, { backend: 'cuda' }),
    ]);
    expect(firstBitDifference(a.logprobs, cpu.logprobs)).toBe(-1);
    expect(firstBitDifference(b.logprobs, cpu.logprobs)).toBe(-1);
    const applied = await applyMaskAsync(copyOf(logits), mask, { backend: 'cuda' });
    expect(firstBitDifference(applied.data, applyMask(t, mask, { backend: 'cpu' }).data)).toBe(-1);
  });

  test('a DeviceTensor: log-probs, then the backward on the same upload, then applyMask in place', () => {
    const { logits, mask, targets, gradOutput } = batch(5, 40, 30000, 'float32', 100);
    const t = copyOf(logits);
    const dt = toDevice(t);
    try {
      const lp = maskedLogprobs(dt, mask, targets, { entropy: true });
      expect(firstBitDifference(lp.logprobs, maskedLogprobs(t, mask, targets, { backend: 'cpu' }).logprobs)).toBe(-1);
      const grad = maskedLogprobsBackward(dt, mask, targets, gradOutput);
      expect(firstBitDifference(grad.values, maskedLogprobsBackward(t, mask, targets, gradOutput, { backend: 'cpu' }).values)).toBe(-1);
      expect(applyMask(dt, mask, { inPlace: true })).toBe(dt);
      expect(firstBitDifference(dt.download().data, applyMask(t, mask, { backend: 'cpu' }).data)).toBe(-1);
      expectError(() => applyMask(dt, mask), { name: 'TypeError', argument: 'inPlace' });
      expectError(() => maskedLogprobs(dt, mask, targets, { backend: 'cpu' }), { argument: 'backend' });
    } finally {
      dt.free();
    }
  });

  test('errors name the same row and column as on the CPU; the lowest failing row wins', () => {
    const { logits, mask, targets } = batch(6, 8, 4099, 'float32', 20);
    const data = logits.data as Float32Array;
    const nanAt = (row: number) => mask.indices[mask.offsets[row] + mask.offsets[row + 1] - mask.offsets[row] - 1];
    data[5 * 4099 + nanAt(5)] = NaN;
    // Row 2 names an id past the vocabulary (changed after the mask was built and checked).
    const tampered = maskOf(mask.toLists(), 4099);
    tampered.indices[tampered.offsets[2]] = 4099;
    const t = copyOf(logits);
    for (const m of [mask, tampered]) {
      const { name, code, argument, row, column } = thrown(() => maskedLogprobs(t, m, targets, { backend: 'cpu' }));
      const cpu = { name, code, argument, row, column };
      expect(thrown(() => maskedLogprobs(t, m, targets, { backend: 'cuda' }))).toMatchObject(cpu);
      expect(thrown(() => maskedLogprobsBackward(t, m, targets, 1, { backend: 'cuda' }))).toMatchObject(cpu);
    }
  });
});

describeWithoutCuda('trainer ops without a usable GPU', () => {
  const { logits, mask, targets } = batch(7, 4, 100, 'float32', 10);
  const t = copyOf(logits);
  test("backend 'cuda' is a clear error, never a silent CPU run", () => {
    const unavailable = { code: 'ERR_SM_CUDA_UNAVAILABLE', argument: 'backend' };
    expectError(() => maskedLogprobs(t, mask, targets, { backend: 'cuda' }), unavailable);
    expectError(() => maskedLogprobsBackward(t, mask, targets, 1, { backend: 'cuda' }), unavailable);
    expectError(() => applyMask(t, mask, { backend: 'cuda' }), unavailable);
  });

  test("'auto' runs host logits on the CPU, and profile says so", () => {
    expect(maskedLogprobs(t, mask, targets, { profile: true }).profile?.backend).toBe('cpu');
    expect(applyMask(t, mask, { profile: true }).profile?.backend).toBe('cpu');
  });
});

test("'auto' keeps host logits on the CPU even where CUDA runs (CUDA would upload every logit)", () => {
  const { logits, mask, targets } = batch(8, 4, 100, 'float32', 10);
  const result = maskedLogprobsBackward(copyOf(logits), mask, targets, 1, { backend: 'auto', profile: true });
  expect(result.profile?.backend).toBe('cpu');
});
