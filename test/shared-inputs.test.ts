// Inputs that other threads (or the caller, after an async call returned)
// may change while the addon works on them: ids and offsets are checked on a
// private snapshot, and a buffer resized under an async call is refused, so
// neither can turn into an out-of-bounds access.
import { mask, maskAsync, maskedLogprobs, maskedLogprobsAsync, SamplingMask } from '../lib';

function sharedInt32(values: number[]): Int32Array {
  const out = new Int32Array(new SharedArrayBuffer(4 * values.length));
  out.set(values);
  return out;
}

describe('inputs changed while a call runs', () => {
  const rows = 2000;
  const vocab = 64;
  const logits = { data: new Float32Array(rows * vocab).map((_, i) => Math.sin(i)), shape: [rows, vocab], dtype: 'float32' } as const;

  test('shared targets rewritten after maskedLogprobsAsync started: the checked ids are used', async () => {
    const targets = sharedInt32(Array.from({ length: rows }, (_, r) => r % vocab));
    const expected = maskedLogprobs(logits, null, targets.slice()).logprobs;
    const pending = maskedLogprobsAsync(logits, null, targets);
    targets.fill(0x7fffffff);
    expect(Array.from((await pending).logprobs)).toEqual(Array.from(expected));
  });

  test('shared mask offsets and ids rewritten after the call started: the checked ones are used', async () => {
    const m = mask(logits, { topK: 5 });
    const offsets = sharedInt32(Array.from(m.offsets));
    const indices = sharedInt32(Array.from(m.indices));
    const shared = new SamplingMask(offsets, indices, vocab);
    const targets = new Int32Array(rows).map((_, r) => m.row(r)[0]);
    const expected = maskedLogprobs(logits, m, targets).logprobs;
    const pending = maskedLogprobsAsync(logits, shared, targets);
    offsets.fill(0x7fffffff);
    indices.fill(-5);
    expect(Array.from((await pending).logprobs)).toEqual(Array.from(expected));
  });

  test('a resizable ArrayBuffer shrunk while maskAsync fills it is refused, not overrun', async () => {
    const bytes = 4 * rows * vocab;
    const buffer = new (
      ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void }
    )(bytes, { maxByteLength: bytes });
    const data = new Float32Array(buffer);
    data.set(logits.data);
    const pending = maskAsync({ data, shape: [rows, vocab], dtype: 'float32' }, { topK: 5, fillLogits: true });
    buffer.resize(64);
    await expect(pending).rejects.toMatchObject({ code: 'ERR_SM_DETACHED', argument: 'logits' });
  });
});
