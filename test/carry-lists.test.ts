import { maskedLogprobs, maskedLogprobsBackward, SamplingMask } from '../lib';
import { randomIds, rng, thrown } from './helpers';
import { referenceRow } from './trainer-reference';

describe('SamplingMask.fromLists', () => {
  test('builds the same CSR as the lists, from arrays or typed arrays', () => {
    const random = rng(1);
    const lists = Array.from({ length: 200 }, () => randomIds(random, 5000, Math.floor(random() * 80)));
    const mask = SamplingMask.fromLists(lists, 5000);
    expect(mask.rows).toBe(200);
    expect(mask.toLists()).toEqual(lists);
    // the constructor's full check agrees that the result is a valid mask
    expect(() => new SamplingMask(mask.offsets, mask.indices, mask.vocab)).not.toThrow();
    expect(
      SamplingMask.fromLists(
        lists.map((l) => Int32Array.from(l)),
        5000,
      ).toLists(),
    ).toEqual(lists);
    expect(SamplingMask.fromLists([], 10).rows).toBe(0);
    expect(SamplingMask.fromLists([[]], 10).toLists()).toEqual([[]]);
  });

  test("order 'sort' sorts rows and keeps repeated ids once; sorted rows are untouched", () => {
    const mask = SamplingMask.fromLists(
      [
        [5, 1, 3],
        [2, 2, 9, 2],
        [0, 4],
        [7, 7],
      ],
      10,
      { order: 'sort' },
    );
    expect(mask.toLists()).toEqual([[1, 3, 5], [2, 9], [0, 4], [7]]);
    const random = rng(2);
    for (let trial = 0; trial < 50; trial++) {
      const lists = Array.from({ length: 20 }, () => Array.from({ length: Math.floor(random() * 30) }, () => Math.floor(random() * 40)));
      const expected = lists.map((l) => [...new Set(l)].sort((a, b) => a - b));
      expect(SamplingMask.fromLists(lists, 40, { order: 'sort' }).toLists()).toEqual(expected);
    }
  });

  test('errors name the row and say what is wrong', () => {
    const cases: [unknown[][], RegExp][] = [
      [[[1], [3, 2]], /row 1 is not ascending \(id 2 after 3\)/],
      [[[1], [], [4, 4]], /row 2 repeats id 4/],
      [[[10]], /row 0 has 10 at position 0/],
      [[[0], [-1]], /row 1 has -1/],
      [[[0, 1.5]], /row 0 has 1.5 at position 1/],
      [[[NaN]], /row 0 has NaN/],
      [[['3']], /row 0 has '3'/],
      [[[2 ** 32 + 1]], /row 0 has 4294967297/],
    ];
    cases.forEach(([lists, message]) => {
      const e = thrown(() => SamplingMask.fromLists(lists as number[][], 10));
      expect(e.code).toBe('ERR_SM_INVALID_MASK');
      expect(e.argument).toBe('lists');
      expect(e.message).toMatch(message);
      expect(e.row).toBe(Number(/row (\d+)/.exec(e.message as string)?.[1]));
    });
    // out-of-range ids are errors even when sorting
    expect(thrown(() => SamplingMask.fromLists([[3, 10]], 10, { order: 'sort' })).row).toBe(0);
    expect(thrown(() => SamplingMask.fromLists([[1], 5 as unknown as number[]], 10)).code).toBe('ERR_SM_INVALID_ARG_TYPE');
    expect(thrown(() => SamplingMask.fromLists(null as unknown as number[][], 10)).argument).toBe('lists');
    expect(thrown(() => SamplingMask.fromLists([[1]], 0)).argument).toBe('vocab');
    expect(thrown(() => SamplingMask.fromLists([[1]], 2 ** 23 + 1)).argument).toBe('vocab');
    expect(thrown(() => SamplingMask.fromLists([[1]], 5, { order: 'shuffle' as 'sort' })).argument).toBe('options.order');
  });
});

describe('SamplingMask.concat', () => {
  const a = SamplingMask.fromLists([[1, 2], [5]], 8);
  const b = SamplingMask.fromLists([[], [0, 7], [3]], 8);

  test('joins rows in order', () => {
    expect(SamplingMask.concat([a, b]).toLists()).toEqual([[1, 2], [5], [], [0, 7], [3]]);
    expect(SamplingMask.concat([b]).toLists()).toEqual(b.toLists());
  });

  test('pads each mask to a [B, T] batch with rows keeping only padId, right or left', () => {
    // One line per mask of the batch.
    // prettier-ignore
    expect(SamplingMask.concat([a, b], { padTo: 4, padId: 6 }).toLists()).toEqual([
      [1, 2], [5], [6], [6],
      [], [0, 7], [3], [6],
    ]);
    // prettier-ignore
    expect(SamplingMask.concat([a, b], { padTo: 3, padSide: 'left' }).toLists()).toEqual([
      [0], [1, 2], [5],
      [], [0, 7], [3],
    ]);
  });

  test('padding rows give log-prob exactly 0 (gradient 0) at a padId target, and -inf elsewhere', () => {
    const random = rng(3);
    const vocab = 50;
    const padId = 0;
    const masks = [4, 1, 6].map((steps) =>
      SamplingMask.fromLists(
        Array.from({ length: steps }, () => randomIds(random, vocab, 5)),
        vocab,
      ),
    );
    const T = 6;
    const batch = SamplingMask.concat(masks, { padTo: T, padId });
    const targets = new Int32Array(masks.length * T).fill(padId);
    masks.forEach((m, b) => {
      for (let t = 0; t < m.rows; t++) targets[b * T + t] = m.row(t)[Math.floor(random() * m.count(t))];
    });
    for (let row = 0; row < batch.rows; row++) {
      const logits = Array.from({ length: vocab }, () => random() * 20 - 10);
      const kept = Array.from(batch.row(row));
      const lp = referenceRow(logits, kept, targets[row], 0.7).logprob;
      const isPad = row % T >= masks[Math.floor(row / T)].rows;
      if (isPad) {
        expect(lp).toBe(0);
        // softmax over one kept id is 1: the gradient (onehot - softmax) / T is 0
        expect(batch.row(row)).toEqual(Int32Array.of(padId));
        expect(referenceRow(logits, kept, 1, 1).logprob).toBe(-Infinity);
      } else {
        expect(lp).toBeLessThanOrEqual(0);
        expect(Number.isFinite(lp)).toBe(true);
      }
    }
  });

  test('maskedLogprobs and its backward give exactly 0 at padding rows', () => {
    const vocab = 16;
    const T = 4;
    const padId = 5;
    const batch = SamplingMask.concat(
      [
        SamplingMask.fromLists(
          [
            [1, 2, 3],
            [0, 9],
          ],
          vocab,
        ),
        SamplingMask.fromLists([[4, 7, 8]], vocab),
      ],
      { padTo: T, padId },
    );
    const logits = Float32Array.from({ length: batch.rows * vocab }, (_, i) => 3 * Math.sin(i));
    const targets = Int32Array.of(2, 9, padId, padId, 7, padId, padId, padId);
    const pad = [2, 3, 5, 6, 7];
    const options = { vocab, temperature: 0.7, entropy: true };
    const out = maskedLogprobs(logits, batch, targets, options);
    expect(out.targetsOutsideMask).toBe(0);
    for (let r = 0; r < batch.rows; r++) {
      if (pad.includes(r)) {
        expect(out.logprobs[r]).toBe(0);
        expect(out.entropy?.[r]).toBe(0);
      } else {
        expect(out.logprobs[r]).toBeLessThan(0);
      }
    }
    const gradOutput = Float32Array.from({ length: batch.rows }, () => 1);
    const grad = maskedLogprobsBackward(logits, batch, targets, gradOutput, options);
    for (const r of pad) expect(grad.values[batch.offsets[r]]).toBe(0);
  });

  test('errors', () => {
    expect(thrown(() => SamplingMask.concat([])).argument).toBe('masks');
    expect(thrown(() => SamplingMask.concat([a, SamplingMask.fromLists([[1]], 9)])).argument).toBe('masks[1]');
    expect(thrown(() => SamplingMask.concat([a, {} as SamplingMask])).code).toBe('ERR_SM_INVALID_ARG_TYPE');
    expect(thrown(() => SamplingMask.concat([a, b], { padTo: 2 })).argument).toBe('options.padTo');
    expect(thrown(() => SamplingMask.concat([a], { padTo: 2, padId: 8 })).argument).toBe('options.padId');
    expect(thrown(() => SamplingMask.concat([a], { padTo: 2, padSide: 'up' as 'left' })).argument).toBe('options.padSide');
  });
});

describe('SamplingMask.slice', () => {
  test('rows [start, end) with their ids as a view; concat of the slices gives the mask back', () => {
    const random = rng(61);
    const lists = Array.from({ length: 30 }, () => randomIds(random, 300, Math.floor(random() * 12)));
    const mask = SamplingMask.fromLists(lists, 300);
    const cuts = [0, 4, 4, 17, 30];
    const parts = cuts.slice(1).map((end, i) => mask.slice(cuts[i], end));
    parts.forEach((part, i) => {
      expect(part.toLists()).toEqual(lists.slice(cuts[i], cuts[i + 1]));
      expect(part.indices.buffer).toBe(mask.indices.buffer);
      expect(part.offsets[0]).toBe(0);
    });
    expect(SamplingMask.concat(parts).toLists()).toEqual(lists);
    expect(mask.slice().toLists()).toEqual(lists);
    expect(mask.slice(30).rows).toBe(0);
    for (const [start, end] of [
      [-1, 2],
      [3, 2],
      [0, 31],
      [0.5, 2],
    ]) {
      expect(thrown(() => mask.slice(start, end))).toMatchObject({ name: 'RangeError', code: 'ERR_SM_OUT_OF_RANGE' });
    }
  });
});
