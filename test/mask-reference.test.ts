// The native mask against the TypeScript reference on random batches: every
// shape, dtype and parameter mix must keep exactly the same ids. The first
// block checks the reference's own building blocks against first principles,
// so that agreement means something.
import { mask, setThreads, type DType, type MaskOptions, type PerRow } from '../lib';
import { dtypes, encode, f32ToBf16, f32ToF16, firstDifference, logitsBatch, logitsKinds, Rng, tensor } from './helpers';
import { decodeBf16, decodeF16, fixedWeight, keptIds, referenceMask, topPBudget } from './reference';

describe('the reference itself', () => {
  test('decodes every half and bf16 bit pattern to the value the encoders map back to it', () => {
    const mismatches: string[] = [];
    for (let bits = 0; bits < 0x10000; bits++) {
      const half = decodeF16(bits);
      const brain = decodeBf16(bits);
      if (!Number.isNaN(half) && f32ToF16(half) !== bits) mismatches.push(`f16 ${bits.toString(16)}`);
      if (!Number.isNaN(brain) && f32ToBf16(brain) !== bits) mismatches.push(`bf16 ${bits.toString(16)}`);
    }
    expect(mismatches).toEqual([]);
  });

  test('decodes half special values and subnormals', () => {
    expect(decodeF16(0x3c00)).toBe(1);
    expect(decodeF16(0x0001)).toBe(2 ** -24);
    expect(decodeF16(0x03ff)).toBe(1023 * 2 ** -24);
    expect(decodeF16(0x0400)).toBe(2 ** -14);
    expect(decodeF16(0x7bff)).toBe(65504);
    expect(decodeF16(0xc000)).toBe(-2);
    expect(decodeF16(0x7c00)).toBe(Infinity);
    expect(decodeF16(0xfc00)).toBe(-Infinity);
    expect(decodeF16(0x7e00)).toBeNaN();
    expect(Object.is(decodeF16(0x8000), -0)).toBe(true);
    expect(decodeBf16(0x3f80)).toBe(1);
    expect(decodeBf16(0xff80)).toBe(-Infinity);
  });

  test('encoders round to nearest even and overflow to inf', () => {
    expect(f32ToF16(65519)).toBe(0x7bff);
    expect(f32ToF16(65520)).toBe(0x7c00);
    expect(f32ToF16(2 ** -25)).toBe(0x0000); // halfway to the smallest subnormal: even is 0
    expect(f32ToF16(3 * 2 ** -25)).toBe(0x0002);
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // halfway between 1 and 1 + 2^-10
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(f32ToBf16(1 + 2 ** -8)).toBe(0x3f80);
    expect(f32ToBf16(1 + 3 * 2 ** -8)).toBe(0x3f82);
  });

  test('fixed-point weights are 2^40 exp(d) to f32 accuracy, truncated, and 0 below -28', () => {
    expect(fixedWeight(0)).toBe(2n ** 40n);
    let worst = 0;
    for (let d = -27.9; d < 0; d += 0.0137) {
      const exact = 2 ** 40 * Math.exp(Math.fround(d));
      const truncationError = 1;
      worst = Math.max(worst, (Math.abs(Number(fixedWeight(Math.fround(d))) - exact) - truncationError) / exact);
    }
    expect(worst).toBeLessThan(1e-6);
    expect(fixedWeight(-28.01)).toBe(0n);
    expect(fixedWeight(-Infinity)).toBe(0n);
  });

  test('the top-p budget is the exact ceiling of p * total', () => {
    expect(topPBudget(10n, 0.5)).toBe(5n);
    expect(topPBudget(11n, 0.5)).toBe(6n);
    expect(topPBudget(1n, Math.fround(1e-30))).toBe(1n);
    expect(topPBudget(2n ** 60n, 1)).toBe(2n ** 60n);
    const p = Math.fround(0.9); // 15099494 / 2^24
    expect(p).toBe(15099494 / 2 ** 24);
    expect(topPBudget(2n ** 24n + 1n, p)).toBe(15099495n);
  });

  test('keeps what the rule says on hand-computed rows', () => {
    const p = { temperature: 1, minP: 0, topK: -1, topP: 1 };
    expect(keptIds([1, 3, 2, 3], { ...p, topK: 1 }, 0)).toEqual([1, 3]); // the tie at the k-th value
    expect(keptIds([1, 3, 2, 3], { ...p, topK: 3 }, 0)).toEqual([1, 2, 3]);
    expect(keptIds([1, 3, 2, -Infinity], { ...p, temperature: 0 }, 0)).toEqual([1]);
    // weights 1, e^-1, e^-2 (total 1.503): the first id alone is 66.5% of the mass
    expect(keptIds([2, 1, 0], { ...p, topP: Math.fround(0.66) }, 0)).toEqual([0]);
    expect(keptIds([2, 1, 0], { ...p, topP: Math.fround(0.67) }, 0)).toEqual([0, 1]);
    expect(keptIds([2, 1, 0], { ...p, minP: Math.fround(0.3) }, 0)).toEqual([0, 1]); // e^-1 = 0.37 >= 0.3
    expect(keptIds([2, 1, 0], { ...p, minP: Math.fround(0.4) }, 0)).toEqual([0]);
    expect(keptIds([4, 2, 0], { ...p, temperature: 2, minP: Math.fround(0.3) }, 0)).toEqual([0, 1]);
    expect(keptIds([-Infinity, 0, -Infinity], p, 0)).toEqual([1]);
  });
});

// A random parameter: absent, one number for all rows, or one per row in one of the accepted containers.
function randomParam(rng: Rng, rows: number, values: readonly number[], integer = false): PerRow | undefined {
  switch (rng.int(0, 3)) {
    case 0:
      return undefined;
    case 1:
      return rng.pick(values);
    case 2: {
      const list = Array.from({ length: rows }, () => rng.pick(values));
      return integer ? Int32Array.from(list) : Float32Array.from(list);
    }
    default:
      return Array.from({ length: rows }, () => rng.pick(values));
  }
}

function randomOptions(rng: Rng, rows: number, vocab: number): MaskOptions {
  return {
    temperature: randomParam(rng, rows, [0, 0.3, 1, 1, 1.7]),
    minP: randomParam(rng, rows, [0, 0, 0.01, 0.05, 0.1, 0.5, 1]),
    topK: randomParam(rng, rows, [-1, 0, 1, 2, 5, 20, 50, 300, vocab - 1, vocab, vocab + 7], true),
    topP: randomParam(rng, rows, [1, 1, 0.9, 0.5, 0.95, 0.99, 0.3, 1e-6]),
  };
}

function describeCase(rows: number, vocab: number, dtype: DType, options: MaskOptions): string {
  const show = (v: PerRow | undefined) => (v === undefined || typeof v === 'number' ? String(v) : `[${Array.from(v).slice(0, 6)}...]`);
  return `B=${rows} V=${vocab} ${dtype} T=${show(options.temperature)} minP=${show(options.minP)} topK=${show(options.topK)} topP=${show(options.topP)}`;
}

function compareRandomBatch(rng: Rng, rows: number, vocab: number, dtype: DType): void {
  const values = logitsBatch(rng, rows, vocab);
  // A few -inf entries ("already excluded"), never a whole row.
  if (rng.next() < 0.3) for (let i = 0; i < values.length; i += rng.int(1, 3 * vocab)) if (i % vocab !== 0) values[i] = -Infinity;
  const data = encode(values, dtype);
  const options = randomOptions(rng, rows, vocab);
  const expected = referenceMask(data, dtype, rows, vocab, options);
  const actual = mask(tensor(data, rows, vocab, dtype), options);
  expect({ case: describeCase(rows, vocab, dtype, options), difference: firstDifference(actual, expected) }).toEqual({
    case: describeCase(rows, vocab, dtype, options),
    difference: null,
  });
}

describe('native and reference keep the same ids', () => {
  afterAll(() => setThreads(0));

  test.each(dtypes)('small rows, many shapes (%s)', (dtype) => {
    const rng = new Rng(0x5eed + dtype.length);
    for (let c = 0; c < 80; c++) compareRandomBatch(rng, rng.int(1, 40), rng.int(1, 300), dtype);
  });

  test.each(dtypes)('many rows: the row-parallel path (%s)', (dtype) => {
    const rng = new Rng(0xba7c4 + dtype.length);
    for (let c = 0; c < 3; c++) compareRandomBatch(rng, rng.int(100, 300), rng.int(16, 600), dtype);
  });

  test.each(dtypes)('long rows: candidate filters and top-p histograms (%s)', (dtype) => {
    const rng = new Rng(0x10c4 + dtype.length);
    for (let c = 0; c < 4; c++) compareRandomBatch(rng, rng.int(2, 4), rng.int(2000, 70000), dtype);
  });

  test.each([1, 2, 8])('rows split across %i threads (V >= 2^18, B < threads)', (threads) => {
    setThreads(threads);
    const rng = new Rng(0x5e117 + threads);
    for (let c = 0; c < 3; c++) {
      compareRandomBatch(rng, rng.int(1, Math.min(3, Math.max(1, threads - 1))), rng.int(2 ** 18, 300000), rng.pick(dtypes));
    }
  });

  test('a row of 2^20 logits, top-p over all of it', () => {
    const vocab = 2 ** 20;
    const values = logitsBatch(new Rng(0x100000), 1, vocab, 'normal');
    const options = { topP: 0.9, temperature: 0.8 };
    expect(
      firstDifference(mask(tensor(values, 1, vocab, 'float32'), options), referenceMask(values, 'float32', 1, vocab, options)),
    ).toBeNull();
  });

  test.each(logitsKinds)('every parameter on at once on %s rows', (kind) => {
    const rng = new Rng(0xa11 + kind.length);
    for (const dtype of dtypes) {
      for (const temperature of [0.3, 1.7]) {
        for (const vocab of [100, 5000]) {
          const values = logitsBatch(rng, 4, vocab, kind);
          const data = encode(values, dtype);
          const options = { temperature, minP: 0.02, topK: 40, topP: 0.9 };
          const expected = referenceMask(data, dtype, 4, vocab, options);
          expect(firstDifference(mask(tensor(data, 4, vocab, dtype), options), expected)).toBeNull();
        }
      }
    }
  });
});
