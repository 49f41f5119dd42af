import {
  MaskRecorder,
  SamplingMask,
  maskFromServer,
  maskedLogprobs,
  readRolloutsParquet,
  trainerBatch,
  writeRolloutsParquet,
  type ServerMask,
} from '../lib';
import { randomIds, rng } from './helpers';
import { thrown } from './helpers';
import { referenceRow } from './trainer-reference';

const V = 500;

// The rows of a response, and each server form of them, built from the
// description of the form (not with the package's own converters).
function forms(rows: number[][]): Record<string, ServerMask> {
  const width = Math.max(1, ...rows.map((r) => r.length));
  const padded = new Int32Array(rows.length * width).fill(-1);
  // SkyRL pads rows captured in logprob order: unsorted, then -1s.
  rows.forEach((r, i) => padded.set(r.slice().reverse(), i * width));
  const bitmask = new Uint8Array(rows.length * Math.ceil(V / 8));
  rows.forEach((r, i) => r.forEach((id) => (bitmask[i * Math.ceil(V / 8) + (id >> 3)] |= 1 << (id & 7))));
  const offsets = [0];
  rows.forEach((r) => offsets.push(offsets[offsets.length - 1] + r.length));
  return {
    'vLLM sampling_mask (lists)': rows.map((r) => r.slice()),
    'vLLM CSR { token_ids, offsets }': { token_ids: rows.flat(), offsets },
    'vLLM CSR as typed arrays, a slice (offsets from 3)': {
      token_ids: Int32Array.from([9, 9, 9, ...rows.flat()]),
      offsets: Int32Array.from(offsets, (o) => o + 3),
    },
    'SkyRL [tokens, top_k] padded with -1': { ids: padded, rows: rows.length, width },
    'bitmask [tokens, ceil(V/8)]': { bitmask, rows: rows.length },
  };
}

const random = rng(41);
const response = Array.from({ length: 9 }, (_, i) => randomIds(random, V, i === 4 ? 0 : 1 + Math.floor(random() * (i % 3 === 0 ? 1 : 30))));

describe('every server form in', () => {
  test.each(Object.entries(forms(response)))('%s', (_, form) => {
    expect(maskFromServer(form, V).toLists()).toEqual(response);
  });

  test('SGLang lists in weight order, repeating the sampled token: rejected by default, sorted with order "sort"', () => {
    const sglang = response.map((r) => (r.length > 1 ? [r[r.length - 1], ...r.slice(0, -1).reverse(), r[r.length - 1]] : r));
    expect(thrown(() => maskFromServer(sglang, V))).toMatchObject({ code: 'ERR_SM_INVALID_MASK' });
    expect(maskFromServer(sglang, V, { order: 'sort' }).toLists()).toEqual(response);
    const recorder = new MaskRecorder({ vocab: V, order: 'sort' }); // one recorder per SGLang server
    recorder.recordResponse('s', sglang);
    expect(recorder.take('s').mask.toLists()).toEqual(response);
  });

  test('streaming: one chunk per SSE event, in any form, appends to the request', () => {
    const recorder = new MaskRecorder({ vocab: V });
    const chunks = [
      [0, 2],
      [2, 3],
      [3, 5],
      [5, 7],
      [7, 9],
    ];
    const kinds = Object.keys(forms(response));
    chunks.forEach(([a, b], k) => recorder.recordResponse('r', forms(response.slice(a, b))[kinds[k % kinds.length]]));
    expect(recorder.take('r').mask.toLists()).toEqual(response);
  });

  test('a SamplingMask is taken as it is; bad forms are errors naming the row', () => {
    const m = SamplingMask.fromLists(response, V);
    expect(maskFromServer(m, V)).toBe(m);
    expect(thrown(() => maskFromServer(m, V + 1))).toMatchObject({ code: 'ERR_SM_OUT_OF_RANGE' });
    expect(thrown(() => maskFromServer({ token_ids: [1, 2], offsets: [0, 3] }, V))).toMatchObject({
      code: 'ERR_SM_INVALID_MASK',
      row: 0,
      argument: 'masks.offsets',
    });
    expect(thrown(() => maskFromServer({ token_ids: [1, 2], offsets: [0, 2, 1] }, V))).toMatchObject({ row: 1 });
    expect(thrown(() => maskFromServer({ token_ids: [1, V], offsets: [0, 1, 2] }, V))).toMatchObject({
      code: 'ERR_SM_INVALID_MASK',
      row: 1,
    });
    expect(thrown(() => maskFromServer({ ids: Int32Array.of(1, -1, 2), rows: 1, width: 3 }, V))).toMatchObject({
      code: 'ERR_SM_INVALID_MASK',
      row: 0,
    });
    expect(thrown(() => maskFromServer({ bitmask: new Uint8Array(3), rows: 1 }, V)).code).toBe('ERR_SM_OUT_OF_RANGE');
    expect(thrown(() => maskFromServer({ bitmask: [0] as unknown as Uint8Array, rows: 1 }, V)).code).toBe('ERR_SM_INVALID_ARG_TYPE');
    expect(thrown(() => maskFromServer({ rows: 1 } as unknown as ServerMask, V))).toMatchObject({
      code: 'ERR_SM_INVALID_ARG_TYPE',
      argument: 'masks',
    });
    expect(thrown(() => maskFromServer(7 as unknown as ServerMask, V)).argument).toBe('masks');
    expect(thrown(() => new MaskRecorder().recordResponse('x', { token_ids: [1], offsets: [0, 1] })).argument).toBe('options.vocab');
    expect(thrown(() => new MaskRecorder({ order: 'shuffle' as 'sort' })).argument).toBe('options.order');
  });

  test('the recorder emits its requests as records, straight into a file', () => {
    const recorder = new MaskRecorder({ vocab: V });
    recorder.recordResponse(
      'a',
      forms(response.slice(0, 3))['vLLM sampling_mask (lists)'],
      response.slice(0, 3).map((r) => r[0]),
    );
    recorder.recordResponse(7, forms(response.slice(5))['SkyRL [tokens, top_k] padded with -1']);
    expect(thrown(() => recorder.takeRecords(['a', 'missing'])).code).toBe('ERR_SM_UNKNOWN_REQUEST');
    expect(recorder.ids()).toEqual(['a', 7]); // nothing was taken
    const [a] = recorder.takeRecords(['a']);
    expect(a.mask.toLists()).toEqual(response.slice(0, 3));
    const file = readRolloutsParquet(writeRolloutsParquet([{ ...a, columns: { reward: 1 } }]));
    expect(file.records[0].mask.toLists()).toEqual(response.slice(0, 3));
    expect(Array.from(file.records[0].tokens!)).toEqual(response.slice(0, 3).map((r) => r[0]));
    expect(recorder.takeRecords().map((r) => r.id)).toEqual([7]);
    expect(recorder.ids()).toEqual([]);
  });
});

describe('trainer batches: masks, targets and loss mask together', () => {
  const requests = [
    { mask: SamplingMask.fromLists([[1, 2], [3]], 10), tokens: Int32Array.of(2, 3) },
    { mask: SamplingMask.fromLists([[4], [5, 6], [0, 9]], 10), tokens: Int32Array.of(4, 6, 9) },
  ];

  test.each(['right', 'left'] as const)('padSide %s: aligned [B, T], padded positions give log-prob 0 and loss weight 0', (padSide) => {
    const batch = trainerBatch(requests, { padTo: 4, padId: 7, padSide });
    expect(batch.targets.shape).toEqual([2, 4]);
    const rows =
      padSide === 'right' ? [[1, 2], [3], [7], [7], [4], [5, 6], [0, 9], [7]] : [[7], [7], [1, 2], [3], [7], [4], [5, 6], [0, 9]];
    const targets = padSide === 'right' ? [2, 3, 7, 7, 4, 6, 9, 7] : [7, 7, 2, 3, 7, 4, 6, 9];
    expect(batch.mask.toLists()).toEqual(rows);
    expect(Array.from(batch.targets.data)).toEqual(targets);
    expect(Array.from(batch.lossMask)).toEqual(targets.map((_, i) => (rows[i].length === 1 && rows[i][0] === 7 ? 0 : 1)));
    const logits = Float32Array.from({ length: 8 * 10 }, (_, i) => Math.sin(i * 1.7) * 3);
    const { logprobs, targetsOutsideMask } = maskedLogprobs(
      { data: logits, shape: [2, 4, 10], dtype: 'float32' },
      batch.mask,
      batch.targets,
    );
    expect(targetsOutsideMask).toBe(0);
    rows.forEach((kept, i) => {
      const expected = referenceRow(Array.from(logits.subarray(i * 10, i * 10 + 10)), kept, targets[i], 1).logprob;
      expect(Math.abs(logprobs[i] - expected)).toBeLessThan(1e-6);
      if (batch.lossMask[i] === 0) expect(logprobs[i]).toBe(0);
    });
    const loss = Array.from(logprobs).reduce((sum, lp, i) => sum + lp * batch.lossMask[i], 0);
    expect(Number.isFinite(loss)).toBe(true);
  });

  test('padTo defaults to the longest request; bad tokens are errors naming the request', () => {
    expect(trainerBatch(requests).targets.shape).toEqual([2, 3]);
    expect(thrown(() => trainerBatch([{ mask: requests[0].mask, tokens: Int32Array.of(2) }]))).toMatchObject({
      argument: 'requests[0].tokens',
    });
    expect(thrown(() => trainerBatch([{ mask: requests[0].mask, tokens: Int32Array.of(2, 10) }]))).toMatchObject({
      code: 'ERR_SM_OUT_OF_RANGE',
      argument: 'requests[0].tokens',
    });
    expect(thrown(() => trainerBatch([{ mask: requests[0].mask }]))).toMatchObject({ code: 'ERR_SM_INVALID_ARG_TYPE' });
    expect(thrown(() => trainerBatch(requests, { padTo: 2 }))).toMatchObject({ argument: 'options.padTo' });
    expect(thrown(() => trainerBatch([])).argument).toBe('requests');
  });
});
