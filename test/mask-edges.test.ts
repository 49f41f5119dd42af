// Edge cases of the rule built on purpose: ties exactly at the k-th value and
// at the top-p boundary, -inf entries, degenerate parameters, and ties that
// only appear after temperature scaling or 16-bit rounding. Each case checks
// native against the reference and, where it is simple, against the ids the
// rule obviously keeps.
import { mask, setThreads, type DType, type MaskOptions } from '../lib';
import { bitsToF32, encode, f32Bits, firstDifference, logitsRow, Rng, tensor } from './helpers';
import { nextDown, nextUp, ONE, smallestTotalKeepingSecond, valuesWeighing } from './boundary-rows';
import { fixedWeight, referenceMask } from './reference';

const f32 = Math.fround;

/** The kept ids of each row, after checking that native and reference agree. */
function keptRows(values: Float32Array, rows: number, options: MaskOptions, dtype: DType = 'float32'): number[][] {
  const vocab = values.length / rows;
  const data = encode(values, dtype);
  const expected = referenceMask(data, dtype, rows, vocab, options);
  expect(firstDifference(mask(tensor(data, rows, vocab, dtype), options), expected)).toBeNull();
  return expected;
}

function kept(values: readonly number[] | Float32Array, options: MaskOptions, dtype: DType = 'float32'): number[] {
  return keptRows(Float32Array.from(values), 1, options, dtype)[0];
}

const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

afterEach(() => setThreads(0));

describe('top-k', () => {
  test('keeps every id tied with the k-th value', () => {
    expect(kept([5, 1, 4, 4, 4, 3], { topK: 2 })).toEqual([0, 2, 3, 4]);
    expect(kept([5, 1, 4, 4, 4, 3], { topK: 4 })).toEqual([0, 2, 3, 4]);
    expect(kept([5, 1, 4, 4, 4, 3], { topK: 5 })).toEqual([0, 2, 3, 4, 5]);
  });

  // The k-th largest is a radix selection over order keys: digits start below the bits that all
  // candidates share and the last few keys are selected directly. These rows put the k-th value
  // where those steps meet: neighbours one ulp apart, both signs and both zeros, many candidates.
  test.each([1, 2])('the k-th value among neighbours one ulp apart, both signs (%i threads)', (threads) => {
    setThreads(threads);
    const rng = new Rng(4242 + threads);
    const ulps = (from: number, count: number) => range(count).map((i) => bitsToF32(f32Bits(from) + i));
    const shapes = [
      ulps(1.5, 600), // one exponent, keys differ in the low 10 bits only
      [...ulps(-2, 300), ...ulps(2, 300)], // both signs
      [...ulps(0, 200), ...ulps(-0, 200), 0, -0, -0, 0], // +0, -0 and the subnormals beside them
      [...ulps(1.99999988, 4), ...ulps(2, 4), ...range(500).map((i) => 1 + i / 4096)], // an exponent step
    ];
    for (const shape of shapes) {
      const values = Float32Array.from([...shape, ...range(4000).map(() => rng.normal() - 20)]);
      for (let i = values.length - 1; i > 0; i--) {
        const j = rng.int(0, i);
        [values[i], values[j]] = [values[j], values[i]];
      }
      for (const topK of [1, 7, 33, 50, 129, 300, 599]) {
        const ids = kept(values, { topK });
        const kth = Float32Array.from(values).sort().reverse()[topK - 1];
        expect(ids.length).toBe(values.filter((v) => v >= kth).length);
      }
    }
  });

  // A whole top-k row starts its running threshold where the previous such row on the same thread
  // suggests, placed at this row's mean; a row that holds fewer than k values above that start is
  // scanned again from -inf. These rows share a mean but not a shape, move as a whole, tie at the
  // k-th value, hold fewer than k finite values, or hide their start behind -inf, so that starts
  // land too high, too low and nowhere, in both dtypes and with min-p and a temperature.
  test.each([1, 2])('top-k rows that the previous row misleads (%i threads)', (threads) => {
    setThreads(threads);
    const rng = new Rng(31337 + threads);
    const vocab = 8192;
    const normal = (shift: number) => range(vocab).map(() => shift + 3 * rng.normal());
    const narrow = () => range(vocab).map(() => rng.next() - 0.5); // same mean, no upper tail
    const tied = () => range(vocab).map(() => Math.round(rng.normal() * 2) / 2);
    const sparse = () => range(vocab).map((i) => (i % 1000 === 7 ? rng.normal() : -Infinity)); // 9 finite values
    const hidden = () => range(vocab).map((i) => (i < 4096 ? -Infinity : 3 * rng.normal()));
    const shapes = [normal(0), narrow(), normal(0), normal(100), normal(-100), tied(), sparse(), hidden(), narrow()];
    const values = Float32Array.from(shapes.flat());
    for (const dtype of ['float32', 'bfloat16'] as const) {
      for (const topK of [1, 5, 20, 300]) {
        keptRows(values, shapes.length, { topK }, dtype);
        keptRows(values, shapes.length, { topK, minP: 0.001, temperature: 0.7 }, dtype);
      }
    }
  });

  test('k = 1 keeps the maximum and its ties only', () => {
    expect(kept([0, 2, 1, 2], { topK: 1 })).toEqual([1, 3]);
    expect(kept([7], { topK: 1 })).toEqual([0]);
  });

  test('k >= V, k >= survivors, 0 and -1 are off', () => {
    const row = [3, -1, -Infinity, 2, 0];
    for (const topK of [0, -1, 4, 5, 6, 1e9, 2 ** 40]) expect(kept(row, { topK })).toEqual([0, 1, 3, 4]);
    expect(kept(row, { topK: 3 })).toEqual([0, 3, 4]);
    // Not an integer: an error, not "off" (test/param-checks.test.ts).
    expect(() => kept(row, { topK: Infinity })).toThrow(/topK/);
  });

  test.each([1, 2, 8])('ties at the k-th value in long rows, across row segments (%i threads)', (threads) => {
    setThreads(threads);
    const rng = new Rng(77 + threads);
    const vocab = 65536;
    const values = logitsRow(rng, vocab, 'normal', 1);
    const sorted = Float32Array.from(values).sort().reverse();
    const kth = sorted[49];
    // 3000 ids spread over the whole row all take the 50th largest value: more than the candidate
    // filter's capacity, and in every segment.
    const tied = range(3000).map(() => rng.int(0, vocab - 1));
    for (const id of tied) values[id] = kth;
    const above = values.filter((v) => v > kth).length;
    const ids = kept(values, { topK: 50 });
    expect(ids.length).toBe(above + values.filter((v) => v === kth).length);
    expect(ids.length).toBeGreaterThan(2000);
    // and a huge tie at the very top
    values.fill(-3);
    for (const id of tied) values[id] = 9;
    expect(kept(values, { topK: 10 })).toEqual([...new Set(tied)].sort((a, b) => a - b));
  });

  test('large k on long rows: most of the row passes the candidate filter', () => {
    const rng = new Rng(404);
    const vocab = 20000;
    for (const dtype of ['float32', 'float16'] as const) {
      const data = encode(logitsRow(rng, vocab, 'quantized', 2), dtype);
      for (const topK of [vocab - 1, vocab / 2, 5000, 1023, 1025]) {
        const expected = referenceMask(data, dtype, 1, vocab, { topK, topP: 0.999 });
        for (const threads of [1, 8]) {
          setThreads(threads);
          expect(firstDifference(mask(tensor(data, 1, vocab, dtype), { topK, topP: 0.999 }), expected)).toBeNull();
        }
      }
    }
  });

  test('ties that exist only after dividing by the temperature are kept together', () => {
    // Distinct logits x < y whose quotients by T round to the same f32.
    const temperature = f32(1.7);
    const rng = new Rng(5);
    let x = 0;
    do x = f32(rng.normal() * 4);
    while (f32(x / temperature) !== f32(nextUp(x) / temperature));
    const y = nextUp(x);
    const row = [x + 3, x + 2, y, x, x - 1, x - 2];
    expect(kept(row, { temperature, topK: 3 })).toEqual([0, 1, 2, 3]);
    expect(kept(row, { temperature: 1, topK: 3 })).toEqual([0, 1, 2]);
  });
});

describe('top-p', () => {
  // Top-p without top-k gathers "members" in its first read, down to a floor that the previous
  // top-p row on the same thread suggests, and weighs the values below them (the tail) only
  // approximately, which bounds the total and so the budget; where the cut differs between the
  // lowest and the highest budget of that bound, a second pass weighs the row exactly. Here the
  // maximum (weight 2^40) is the only value above the second largest, and topP is set within a few
  // ulps of 2^40 / total, so whether the second is kept turns on the tail's exact weight: 16382
  // distinct values near d = -10.5 that weigh about as much as the second. (A call whose thread
  // last masked this row weighs the tail; the floor lives per thread, across calls and tests.)
  test.each([1, 2])('a budget that the tail only bounds is settled by its exact weight (%i threads)', (threads) => {
    setThreads(threads);
    const vocab = 16384;
    const values = Float32Array.from(range(vocab), (i) => -10.5 - i * 1e-5);
    values[5000] = 0;
    values[9000] = -1;
    let total = 0n;
    for (const v of values) total += fixedWeight(v);
    const balance = f32(Number(ONE) / Number(total));
    const below = [nextDown(balance)];
    const above = [balance];
    for (let k = 0; k < 4; k++) below.unshift(nextDown(below[0]));
    for (let k = 0; k < 4; k++) above.push(nextUp(above[above.length - 1]));
    const counts = [...below, ...above].map((topP) => kept(values, { topP }).length);
    const flips = counts.filter((count, i) => i > 0 && count !== counts[i - 1]).length;
    expect(flips).toBe(1); // the second largest joins once topP passes the balance
  });

  // The first read weighs values against the largest value it has read so far and scales those
  // weights when a larger one comes: the subtraction z - z_max then rounds differently from the
  // rule's, by up to half an ulp of d, which the bound must allow for (kRescaleError). In this row
  // every value before the last chunk is exact relative to the running maximum (-8, then -1), while
  // the maximum, 2^-21 (1 + 2^-9), makes the rule round each tail value's d down by almost half an
  // ulp (2^-21 of d in [-16, -8]): the rule's tail weighs 4.8e-7 less than the scaled weights say,
  // more than the approximation's own bound (3.6e-7). The tail is 70% of the total here, so that
  // several of the topP values around the balance fall where that difference decides.
  test.each([1, 2])('weights scaled to a later maximum are bounded with the rounding they miss (%i threads)', (threads) => {
    setThreads(threads);
    const vocab = 16384;
    const values = Float32Array.from(range(vocab), (i) => -8.5 - i * 1e-5);
    values[0] = -8;
    values[9000] = -1;
    values[vocab - 1] = f32(2 ** -21 * (1 + 2 ** -9));
    let total = 0n;
    const zMax = values[vocab - 1];
    for (const v of values) total += fixedWeight(f32(v - zMax));
    const balance = f32(Number(ONE) / Number(total));
    const topPs = [balance];
    for (let k = 0; k < 4; k++) topPs.unshift(nextDown(topPs[0]));
    for (let k = 0; k < 4; k++) topPs.push(nextUp(topPs[topPs.length - 1]));
    // Highest first, after a call that sets the members' floor between the second value and the
    // tail, where the calls that keep the second leave it.
    kept(values, { topP: topPs[topPs.length - 1] });
    const counts = topPs.reverse().map((topP) => kept(values, { topP }).length);
    expect(counts.filter((count, i) => i > 0 && count !== counts[i - 1]).length).toBe(1);
  });

  // A top-p row gathers its members from the offset of the previous top-p row's boundary from that
  // row's location (the mean of every 4th of its first 4096 values), less a margin. These rows share
  // a location but not a shape, put their mass far below or far above where the last row had its
  // boundary, move as a whole, tie, hide their location behind -inf, or have a location (their first
  // 4096 values) unlike the rest, so that floors land too high (the members fall short and are
  // extended by further reads), too low and nowhere; the maximum comes first or last.
  test.each([1, 2])('top-p rows that the previous row misleads (%i threads)', (threads) => {
    setThreads(threads);
    const rng = new Rng(4242 + threads);
    const vocab = 12288;
    const normal = (shift: number, sigma = 3) => range(vocab).map(() => shift + sigma * rng.normal());
    const peaked = () => range(vocab).map((i) => (i === 777 ? 40 : rng.normal())); // boundary at the top
    const plateau = () => range(vocab).map(() => 0.01 * rng.normal()); // boundary near the bottom
    const tied = () => range(vocab).map(() => Math.round(rng.normal() * 2) / 2);
    const hidden = () => range(vocab).map((i) => (i < 4096 ? -Infinity : 3 * rng.normal()));
    const lowStart = () => range(vocab).map((i) => (i < 4096 ? -20 : 3 + rng.normal()));
    const highStart = () => range(vocab).map((i) => (i < 4096 ? 3 * rng.normal() : 20 + 0.1 * rng.normal()));
    const lastMax = () => range(vocab).map((i) => (i === vocab - 1 ? 15 : 3 * rng.normal()));
    const shapes = [
      normal(0),
      peaked(),
      plateau(),
      normal(0),
      normal(100),
      normal(-100, 0.5),
      tied(),
      hidden(),
      lowStart(),
      highStart(),
      lastMax(),
      normal(0),
    ];
    const values = Float32Array.from(shapes.flat());
    for (const dtype of ['float32', 'bfloat16'] as const) {
      for (const topP of [0.5, 0.95]) {
        keptRows(values, shapes.length, { topP }, dtype);
        keptRows(values, shapes.length, { topP, temperature: 0.7, minP: 0.001 }, dtype);
        keptRows(values, shapes.length, { topP, temperature: 1.3, minP: 0.01, filterOrder: 'joint' }, dtype);
      }
    }
  });

  test('p = 1 is off, tiny p keeps only the maximum and its ties', () => {
    const row = [1, 3, 3, 2, -Infinity, 0];
    expect(kept(row, { topP: 1 })).toEqual([0, 1, 2, 3, 5]);
    for (const topP of [1e-6, 1e-30, 1e-45]) expect(kept(row, { topP })).toEqual([1, 2]);
  });

  test('a tie group at the boundary is kept or dropped as a whole', () => {
    // Weights 1 (max), four ids at e^-1, one at e^-3: the max alone is 39.7% of the mass, the max and
    // the tie group 98.0%.
    const row = [0, -1, -1, -1, -1, -3];
    expect(kept(row, { topP: 0.39 })).toEqual([0]);
    expect(kept(row, { topP: 0.4 })).toEqual([0, 1, 2, 3, 4]);
    expect(kept(row, { topP: 0.98 })).toEqual([0, 1, 2, 3, 4]);
    expect(kept(row, { topP: 0.99 })).toEqual([0, 1, 2, 3, 4, 5]);
  });

  // Rows whose total weight is one fixed-point unit either side of where the
  // budget ceil(p * total) passes the weight above the second group: a weight
  // off by a single 2^-40 would flip the decision, so this checks that native
  // computes every weight and the budget bit for bit as the rule defines them.
  function boundaryRow(rng: Rng, keepSecond: boolean, vocab: number) {
    for (;;) {
      const topP = f32(0.3 + 0.6 * rng.next());
      const hi = smallestTotalKeepingSecond(topP);
      const total = keepSecond ? hi : hi - 1n;
      const tied = rng.int(1, 3);
      const second = f32(Math.log(((0.2 + 0.7 * rng.next()) * Number(total - ONE)) / tied / Number(ONE)));
      const secondWeight = fixedWeight(second);
      if (!(second < 0) || secondWeight >= ONE) continue;
      // The rest of the mass, from groups below the second, largest first.
      const rest = total - ONE - BigInt(tied) * secondWeight;
      if (rest < 0n) continue;
      const lower = valuesWeighing(second, rest);
      const used = 1 + tied + lower.length;
      if (used > vocab) continue;
      const padding = new Array(vocab - used).fill(-40); // survivors of weight 0
      const layout = [0, ...new Array(tied).fill(second), ...lower, ...padding];
      const order = range(vocab);
      for (let i = vocab - 1; i > 0; i--) {
        const j = rng.int(0, i);
        [order[i], order[j]] = [order[j], order[i]];
      }
      const values = new Float32Array(vocab);
      layout.forEach((v, i) => (values[order[i]] = v));
      const expected = order.slice(0, keepSecond ? 1 + tied : 1).sort((a, b) => a - b);
      return { values, expected, topP };
    }
  }

  test.each([
    [24, 600, 2],
    [1, 270000, 2],
    [3, 270000, 8],
  ])('decides the boundary to one fixed-point unit (B=%i, V=%i, %i threads)', (rows, vocab, threads) => {
    setThreads(threads);
    const rng = new Rng(2024 + rows);
    const values = new Float32Array(rows * vocab);
    const topP = new Float32Array(rows);
    const expected: number[][] = [];
    for (let r = 0; r < rows; r++) {
      const row = boundaryRow(rng, (r + rows) % 2 === 0, vocab);
      values.set(row.values, r * vocab);
      topP[r] = row.topP;
      expected.push(row.expected);
    }
    expect(keptRows(values, rows, { topP })).toEqual(expected);
    // The same rows under minP and topK that remove nothing of the mass: the same decisions.
    expect(keptRows(values, rows, { topP, minP: 1e-15, topK: vocab - 1 })).toEqual(expected);
  });
});

describe('top-p over long rows that mislead their first read', () => {
  // Long rows are read once in chunks, weighing each against the largest value read so far; the
  // members are gathered from a floor placed at the row's location (the mean of every 4th of the
  // first 4096 values). Whatever the chunks and the location suggest, the kept set must not change.
  const vocab = 2 ** 18; // split across 2 and 8 threads

  test.each([0.5, 0.99])('mass hidden after the first values, or far below them; the maximum last (p = %p)', (topP) => {
    const rng = new Rng(31);
    const rows: Float32Array[] = [];
    // The location's values low, every other value high: the location sees none of the mass.
    rows.push(Float32Array.from({ length: vocab }, (_, i) => (i < 4096 ? -30 : rng.normal())));
    // The location's values near the maximum, the rest a little lower but 15 times as many.
    rows.push(Float32Array.from({ length: vocab }, (_, i) => (i < 4096 ? 5 + 0.01 * rng.normal() : 2 + rng.normal())));
    // One huge spike in the last chunk, a plateau everywhere else: every earlier weight is rescaled.
    rows.push(Float32Array.from({ length: vocab }, (_, i) => (i === vocab - 3 ? 12 : -2 + 0.001 * rng.normal())));
    // The running maximum rises in every chunk.
    rows.push(Float32Array.from({ length: vocab }, (_, i) => i / 4096 + rng.normal()));
    for (const row of rows) {
      for (const [dtype, options] of [
        ['float32', { topP }],
        ['bfloat16', { topP }],
        ['float32', { topP, temperature: 0.4, minP: 1e-6 }],
      ] as const) {
        const data = encode(row, dtype);
        const expected = referenceMask(data, dtype, 1, vocab, options);
        for (const threads of [1, 2, 8]) {
          setThreads(threads);
          // Twice: the second call's floor comes from the first's boundary on the same thread, if
          // that thread takes it (the floor lives per thread, across calls and tests).
          for (let time = 0; time < 2; time++) expect(firstDifference(mask(tensor(data, 1, vocab, dtype), options), expected)).toBeNull();
        }
      }
    }
  });
});

describe('min-p', () => {
  test('minP = 1 keeps the maximum and its ties; 0 is off', () => {
    const row = [2, 5, 5, -Infinity, 4.9999];
    expect(kept(row, { minP: 1 })).toEqual([1, 2]);
    expect(kept(row, { minP: 0 })).toEqual([0, 1, 2, 4]);
    expect(kept(row, { minP: 1e-45 })).toEqual([0, 1, 2, 4]); // ln = -103
  });

  test('keeps z - z_max >= ln(minP) exactly at f32 neighbours of the boundary', () => {
    for (const minP of [0.05, 0.1, 0.3, 0.5, 0.9].map(f32)) {
      for (const zMax of [0, 3.7, -12.25, 1000].map(f32)) {
        const boundary = f32(zMax + Math.log(minP));
        let below = boundary;
        for (let i = 0; i < 3; i++) below = bitsToF32(below >= 0 ? f32Bits(below) - 1 : f32Bits(below) + 1);
        const near = [below];
        for (let i = 0; i < 6; i++) near.push(nextUp(near[near.length - 1]));
        const row = [zMax, ...near];
        const ids = kept(row, { minP });
        expect(ids).toEqual(row.flatMap((z, id) => (z - zMax >= Math.log(minP) ? [id] : [])));
        expect(ids.length).toBeGreaterThan(1);
        expect(ids.length).toBeLessThan(row.length);
      }
    }
  });

  test('the boundary in z maps to the right cut on x when T != 1', () => {
    for (const temperature of [0.3, 1.7, 0.0123].map(f32)) {
      for (const minP of [0.05, 0.5].map(f32)) {
        const xMax = f32(2.5);
        const zBoundary = f32(xMax / temperature) + Math.log(minP);
        // 40 consecutive floats of x around where x / T crosses the boundary.
        const near = [f32(zBoundary * temperature)];
        for (let i = 0; i < 20; i++) near.unshift(bitsToF32(f32Bits(near[0]) + (near[0] > 0 ? -1 : 1)));
        for (let i = 0; i < 19; i++) near.push(nextUp(near[near.length - 1]));
        const ids = kept([xMax, ...near], { temperature, minP });
        expect(ids.length).toBeGreaterThan(1);
        expect(ids.length).toBeLessThan(near.length + 1);
      }
    }
  });
});

describe('greedy and degenerate rows', () => {
  test('T = 0 keeps every id equal to the maximum, whatever the other parameters', () => {
    const row = [1, 4, -Infinity, 4, 3.9999998];
    for (const options of [{}, { topK: 1 }, { topP: 1e-6 }, { minP: 1 }, { topK: 3, topP: 0.5, minP: 0.1 }]) {
      expect(kept(row, { ...options, temperature: 0 })).toEqual([1, 3]);
    }
    expect(kept([-Infinity, -5, -Infinity], { temperature: 0 })).toEqual([1]);
  });

  test('all-equal rows keep every id under any parameters', () => {
    const row = new Array(257).fill(0.25);
    for (const options of [{}, { topK: 1 }, { topP: 1e-6 }, { minP: 1 }, { temperature: 0 }, { topK: 5, topP: 0.1, minP: 0.9 }]) {
      expect(kept(row, options)).toEqual(range(257));
    }
  });

  test('-inf entries are never kept and never count as survivors', () => {
    const row = [-Infinity, 1, -Infinity, 0, -Infinity, -Infinity, 2];
    expect(kept(row, {})).toEqual([1, 3, 6]);
    expect(kept(row, { topK: 3 })).toEqual([1, 3, 6]);
    expect(kept(row, { topK: 2 })).toEqual([1, 6]);
    expect(kept(row, { topP: 0.999999 })).toEqual([1, 3, 6]);
    const single = [-Infinity, -Infinity, -1e30, -Infinity];
    for (const options of [{}, { topK: 1 }, { topP: 0.1 }, { minP: 1 }, { temperature: 0.3 }]) expect(kept(single, options)).toEqual([2]);
  });

  test('V = 1', () => {
    expect(kept([3], { topK: 1, topP: 0.1, minP: 1 })).toEqual([0]);
    expect(keptRows(new Float32Array([1, -5, 2]), 3, { topP: 0.5, topK: 1, temperature: [0, 1, 0.3] })).toEqual([[0], [0], [0]]);
  });

  test('extreme logits: x / T overflowing to -inf for finite x, huge maxima at T = 1', () => {
    const max = f32(3.4e38);
    const row = [-max, 1, -max, 0];
    expect(kept(row, { temperature: 0.5 })).toEqual([0, 1, 2, 3]); // z = -inf, but x is finite
    expect(kept(row, { temperature: 0.5, topK: 3 })).toEqual([0, 1, 2, 3]); // the 3rd largest z is -inf
    expect(kept(row, { temperature: 0.5, topK: 2 })).toEqual([1, 3]);
    expect(kept(row, { temperature: 0.5, topP: 0.9 })).toEqual([1, 3]);
    expect(kept(row, { temperature: 0.5, minP: 1e-45 })).toEqual([1, 3]);
    expect(kept([max, -max, max, 0], { topP: 0.5, topK: 3 })).toEqual([0, 2]);
    expect(kept([2e-45, 0, -2e-45, 1e-45], { temperature: 1e-30, topK: 2 })).toEqual([0, 3]);
  });
});

describe('16-bit inputs', () => {
  test('values that bf16 or f16 round together become ties', () => {
    const row = [1, 1.001, 1.002, 0.5, 1.0009765625];
    // bf16 keeps 8 significant bits: the first three and the last are all 1.0.
    expect(kept(row, { topK: 1 }, 'bfloat16')).toEqual([0, 1, 2, 4]);
    // f16 keeps 11: 1.001 and 1.0009765625 round to 1 + 2^-10, 1.002 to 1 + 2^-9.
    expect(kept(row, { topK: 1 }, 'float16')).toEqual([2]);
    expect(kept(row, { topK: 2 }, 'float16')).toEqual([1, 2, 4]);
    expect(kept(row, { topK: 1 }, 'float32')).toEqual([2]);
  });

  test('f16 subnormals, the largest finite half and -inf', () => {
    const row = [2 ** -24, 3 * 2 ** -24, 0, -(2 ** -24), -Infinity, 65504, -65504];
    expect(kept(row, { temperature: 0 }, 'float16')).toEqual([5]);
    expect(kept(row.slice(0, 5), { topK: 1 }, 'float16')).toEqual([1]);
    expect(kept(row.slice(0, 5), { topK: 3 }, 'float16')).toEqual([0, 1, 2]);
    expect(kept(row.slice(0, 5), { temperature: 2 ** -24, topP: 0.5 }, 'float16')).toEqual([1]);
    expect(kept(row, { temperature: 1e5, topP: 0.9 }, 'float16')).toEqual([0, 1, 2, 3, 5]);
    expect(kept(row, { temperature: 1e5, topP: 0.95 }, 'float16')).toEqual([0, 1, 2, 3, 5, 6]);
  });

  test('-0 and +0 are the same value', () => {
    expect(kept([-0, 0, -1], { topK: 1 })).toEqual([0, 1]);
    expect(kept([-0, 0, -1], { temperature: 0 }, 'float16')).toEqual([0, 1]);
    expect(kept([-0, 0, -1], { topP: 0.1 }, 'bfloat16')).toEqual([0, 1]);
  });
});
