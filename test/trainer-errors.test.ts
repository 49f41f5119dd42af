import { applyMask, applyMaskAsync, maskedLogprobs, maskedLogprobsAsync, maskedLogprobsBackward, SamplingMask, type Tensor } from '../lib';
import { expectError, maskOf } from './helpers';

const V = 4;
const logits = () => new Float32Array([0, 1, 2, 3, 3, 2, 1, 0]);
const good = () =>
  maskOf(
    [
      [1, 2],
      [0, 3],
    ],
    V,
  );
const targets = () => new Int32Array([1, 3]);

/** A mask whose arrays were changed after construction (they are plain typed arrays). */
function tampered(change: (offsets: Int32Array, indices: Int32Array) => void): SamplingMask {
  const mask = good();
  change(mask.offsets, mask.indices);
  return mask;
}

/** Every trainer operation on the same inputs, so each bad input is checked by all three. */
const operations: [string, (l: Tensor | Float32Array, m: SamplingMask | null, t: unknown, o: Record<string, unknown>) => unknown][] = [
  ['maskedLogprobs', (l, m, t, o) => maskedLogprobs(l, m, t as Int32Array, { vocab: V, ...o })],
  [
    'maskedLogprobsBackward',
    (l, m, t, o) => maskedLogprobsBackward(l, m, t as Int32Array, (o.gradOutput as number) ?? 1, { vocab: V, ...o }),
  ],
];

describe('bad input to the trainer operations gives typed errors naming the argument', () => {
  for (const [name, run] of operations) {
    describe(name, () => {
      test('logits: wrong type, wrong dtype for the data, length not rows x vocab', () => {
        expectError(() => run([1, 2] as unknown as Float32Array, good(), targets(), {}), { name: 'TypeError', argument: 'logits' });
        expectError(() => run({ data: logits(), shape: [2, V], dtype: 'bfloat16' }, good(), targets(), {}), {
          name: 'TypeError',
          argument: 'logits.data',
        });
        expectError(() => run(new Float32Array(7), good(), targets(), {}), { name: 'RangeError', argument: 'logits.shape[0]' });
        expectError(() => run({ data: new Float32Array(7), shape: [2, V], dtype: 'float32' }, good(), targets(), {}), {
          name: 'RangeError',
          argument: 'logits.data',
        });
        expectError(() => run({ data: logits(), shape: [2, 3], dtype: 'float32' }, good(), targets(), {}), {
          name: 'TypeError',
          argument: 'logits',
        });
      });

      test('mask: not a SamplingMask, other vocab, other row count, tampered arrays', () => {
        expectError(
          () => run(logits(), { offsets: new Int32Array(3), indices: new Int32Array(0) } as unknown as SamplingMask, targets(), {}),
          {
            name: 'TypeError',
            argument: 'mask',
          },
        );
        expectError(() => run(logits(), maskOf([[1], [2]], 5), targets(), {}), {
          name: 'RangeError',
          code: 'ERR_SM_INVALID_MASK',
          argument: 'mask',
        });
        expectError(() => run(logits(), maskOf([[1]], V), targets(), {}), { code: 'ERR_SM_INVALID_MASK', argument: 'mask' });
        // Offsets [0, 2, 4] made to start at 1, to run past the ids, or to end before them.
        const badOffsets: [(offsets: Int32Array) => void, { row?: number }][] = [
          [(o) => (o[0] = 1), {}],
          [(o) => (o[1] = 5), { row: 1 }],
          [(o) => (o[2] = 3), {}],
        ];
        for (const [change, fields] of badOffsets) {
          expectError(() => run(logits(), tampered(change), targets(), {}), {
            code: 'ERR_SM_INVALID_MASK',
            argument: 'mask.offsets',
            ...fields,
          });
        }
        for (const [position, id, row] of [
          [1, 1, 0], // repeated id
          [1, 0, 0], // descending
          [3, 4, 1], // = vocab
          [2, -1, 1], // negative
          [3, 2 ** 31 - 1, 1],
        ]) {
          expectError(
            () =>
              run(
                logits(),
                tampered((_, ids) => (ids[position] = id)),
                targets(),
                {},
              ),
            {
              name: 'RangeError',
              code: 'ERR_SM_INVALID_MASK',
              argument: 'mask',
              row,
            },
          );
        }
      });

      test('targets: wrong type, wrong length, out of [0, vocab), shape not the leading dims', () => {
        expectError(() => run(logits(), good(), [1, 3], {}), { name: 'TypeError', argument: 'targets' });
        expectError(() => run(logits(), good(), new Float32Array([1, 3]), {}), { name: 'TypeError', argument: 'targets' });
        expectError(() => run(logits(), good(), new Int32Array([1]), {}), { name: 'RangeError', argument: 'targets' });
        expectError(() => run(logits(), good(), new Int32Array([1, 4]), {}), { name: 'RangeError', argument: 'targets', row: 1 });
        expectError(() => run(logits(), good(), new Int32Array([-1, 3]), {}), { name: 'RangeError', argument: 'targets', row: 0 });
        expectError(() => run({ data: logits(), shape: [1, 2, V], dtype: 'float32' }, good(), { data: targets(), shape: [2, 1] }, {}), {
          name: 'RangeError',
          argument: 'targets',
        });
      });

      test('temperature: not > 0, not finite, NaN, wrong per-row length', () => {
        for (const temperature of [0, -1, Infinity, NaN, 1e39]) {
          expectError(() => run(logits(), good(), targets(), { temperature }), { name: 'RangeError', argument: 'temperature' });
        }
        expectError(() => run(logits(), good(), targets(), { temperature: new Float32Array([1, 0]) }), { argument: 'temperature', row: 1 });
        expectError(() => run(logits(), good(), targets(), { temperature: new Float32Array(3).fill(1) }), {
          name: 'RangeError',
          argument: 'temperature',
        });
        expectError(() => run(logits(), good(), targets(), { temperature: 'hot' }), { name: 'TypeError', argument: 'temperature' });
      });

      test('logits the mask reads: NaN or +inf (row and column named), no finite kept value, overflow of x / T', () => {
        const nan = logits();
        nan[4 + 3] = NaN;
        expectError(() => run(nan, good(), targets(), {}), {
          name: 'RangeError',
          code: 'ERR_SM_INVALID_LOGITS',
          argument: 'logits',
          row: 1,
          column: 3,
        });
        const inf = logits();
        inf[2] = Infinity;
        expectError(() => run(inf, good(), targets(), {}), { code: 'ERR_SM_INVALID_LOGITS', row: 0, column: 2 });
        const excluded = logits();
        excluded[4] = -Infinity;
        excluded[7] = -Infinity;
        expectError(() => run(excluded, good(), targets(), {}), { code: 'ERR_SM_INVALID_LOGITS', argument: 'logits', row: 1 });
        expectError(() => run(logits(), maskOf([[1], []], V), targets(), {}), { code: 'ERR_SM_INVALID_LOGITS', row: 1 });
        const huge = new Float32Array([3e38, 1, 0, 0, 0, 0, 0, 0]);
        expectError(() => run(huge, maskOf([[0, 1], [0]], V), new Int32Array([1, 0]), { temperature: 0.5 }), {
          name: 'RangeError',
          code: 'ERR_SM_OUT_OF_RANGE',
          argument: 'temperature',
          row: 0,
        });
        // The same row is fine where the mask does not keep the huge logit.
        expect(() => run(huge, good(), new Int32Array([1, 0]), { temperature: 0.5 })).not.toThrow();
      });
    });
  }

  test('maskedLogprobsBackward: gradOutput not finite, wrong length or type', () => {
    for (const gradOutput of [NaN, Infinity, new Float32Array([1, NaN])]) {
      expectError(() => maskedLogprobsBackward(logits(), good(), targets(), gradOutput, { vocab: V }), {
        name: 'RangeError',
        argument: 'gradOutput',
      });
    }
    expectError(() => maskedLogprobsBackward(logits(), good(), targets(), new Float32Array(3), { vocab: V }), {
      name: 'RangeError',
      argument: 'gradOutput',
    });
    expectError(() => maskedLogprobsBackward(logits(), good(), targets(), 'x' as unknown as number, { vocab: V }), {
      name: 'TypeError',
      argument: 'gradOutput',
    });
    expectError(() => maskedLogprobsBackward(logits(), good(), targets(), undefined as unknown as number, { vocab: V }), {
      name: 'TypeError',
      argument: 'gradOutput',
    });
  });

  test('applyMask: mask required, checked like the others; the async variants reject the same way', async () => {
    expectError(() => applyMask(logits(), null as unknown as SamplingMask, { vocab: V }), { name: 'TypeError', argument: 'mask' });
    expectError(() => applyMask(logits(), maskOf([[1]], V), { vocab: V }), { code: 'ERR_SM_INVALID_MASK', argument: 'mask' });
    expectError(
      () =>
        applyMask(
          logits(),
          tampered((_, ids) => (ids[3] = 9)),
          { vocab: V },
        ),
      { code: 'ERR_SM_INVALID_MASK', row: 1, column: 9 },
    );
    await expect(
      applyMaskAsync(
        logits(),
        tampered((_, ids) => (ids[0] = 3)),
        { vocab: V },
      ),
    ).rejects.toMatchObject({ code: 'ERR_SM_INVALID_MASK', row: 0 });
    const nan = logits();
    nan[1] = NaN;
    await expect(maskedLogprobsAsync(nan, good(), targets(), { vocab: V })).rejects.toMatchObject({
      code: 'ERR_SM_INVALID_LOGITS',
      row: 0,
      column: 1,
    });
    // Argument errors of the async variants reject too.
    await expect(maskedLogprobsAsync(logits(), good(), new Int32Array([9, 9]), { vocab: V })).rejects.toMatchObject({
      argument: 'targets',
    });
  });
});
