// Logits as onnxruntime-node and transformers.js hand them out: { data, dims,
// type } (transformers.js's Tensor reads them through getters from a wrapped
// onnxruntime tensor). Neither package is a dependency, so both shapes are
// built here the way those packages build them.
import { applyMask, mask, maskedLogprobs, type OrtLikeTensor, type Tensor } from '../lib';
import { encode, logitsBatch, Rng } from './helpers';
import { referenceMask, type ReferenceDType } from './reference';

/** onnxruntime-node's Tensor, as far as its public fields go. */
function ortTensor(type: string, data: unknown, dims: number[], location = 'cpu'): OrtLikeTensor {
  return { type, data, dims, location, size: dims.reduce((a, b) => a * b, 1) } as OrtLikeTensor;
}

/** transformers.js's Tensor: the fields are getters over a wrapped onnxruntime tensor. */
class TransformersTensor {
  constructor(private readonly ortTensor: OrtLikeTensor) {}
  get data() {
    return this.ortTensor.data;
  }
  get dims() {
    return this.ortTensor.dims;
  }
  get type() {
    return this.ortTensor.type;
  }
  get location() {
    return this.ortTensor.location;
  }
}

const options = { temperature: 0.8, topK: 40, topP: 0.9, minP: 0.01 };

describe.each<ReferenceDType>(['float32', 'float16', 'bfloat16'])('%s logits from the Node ML ecosystem', (dtype) => {
  const rng = new Rng(dtype.length * 7919);
  const rows = 6;
  const vocab = 257;
  const data = encode(logitsBatch(rng, rows, vocab), dtype);
  const expected = referenceMask(data, dtype, rows, vocab, options);

  test('an onnxruntime tensor masks as the reference rule says', () => {
    expect(mask(ortTensor(dtype, data, [rows, vocab]), options).toLists()).toEqual(expected);
  });

  test('a transformers.js tensor [B, T, V] masks as the reference rule says', () => {
    const logits = new TransformersTensor(ortTensor(dtype, data, [2, rows / 2, vocab]));
    expect(mask(logits, options).toLists()).toEqual(expected);
  });

  test('trainer operations give the same bits as on the { data, shape, dtype } tensor', () => {
    const plain: Tensor = { data, shape: [2, rows / 2, vocab], dtype };
    const recorded = mask(plain, options);
    const targets = { data: Int32Array.from({ length: rows }, (_, r) => recorded.row(r)[0]), shape: [2, rows / 2] };
    const viaOrt = maskedLogprobs(ortTensor(dtype, data, [2, rows / 2, vocab]), recorded, targets, { temperature: 0.8, entropy: true });
    const viaPlain = maskedLogprobs(plain, recorded, targets, { temperature: 0.8, entropy: true });
    expect(viaOrt.targetsOutsideMask).toBe(0);
    expect(viaOrt.logprobs).toEqual(viaPlain.logprobs);
    expect(viaOrt.entropy).toEqual(viaPlain.entropy);
    const masked = applyMask(new TransformersTensor(ortTensor(dtype, data, [2, rows / 2, vocab])), recorded);
    // A new tensor of the input's kind as far as this package can make one: { data, dims, type } on the CPU.
    expect(masked).toEqual({ data: applyMask(plain, recorded).data, dims: [2, rows / 2, vocab], type: dtype, location: 'cpu' });
  });

  test('the tensor is read in place: fillLogits writes into its own data', () => {
    const own = data.slice();
    const kept = mask(ortTensor(dtype, own, [rows, vocab]), { ...options, fillLogits: true });
    const negInf = dtype === 'float32' ? -Infinity : dtype === 'bfloat16' ? 0xff80 : 0xfc00;
    for (let r = 0; r < rows; r++) {
      const keptIds = new Set(kept.row(r));
      for (let id = 0; id < vocab; id++) {
        expect(own[r * vocab + id]).toBe(keptIds.has(id) ? data[r * vocab + id] : negInf);
      }
    }
  });
});

describe('onnxruntime-style tensors that are not logits', () => {
  const data = new Float32Array(2 * 5).fill(1);

  test.each<[string, OrtLikeTensor, RegExp]>([
    ['an integer type', ortTensor('int32', new Int32Array(10), [2, 5]), /type 'int32' is not a logits type/],
    ['f16 bits in a Float32Array', ortTensor('float16', data, [2, 5]), /'float16' tensor must hold its data in a Uint16Array/],
    ['f32 in a Uint16Array', ortTensor('float32', new Uint16Array(10), [2, 5]), /'float32' tensor must hold its data in a Float32Array/],
    ['data on the GPU', ortTensor('float32', data, [2, 5], 'gpu-buffer'), /lives on 'gpu-buffer': download it first/],
    ['one dimension', ortTensor('float32', data, [10]), /shape must be \[B, V\] or \[B, T, V\]/],
  ])('%s is a TypeError naming logits', (_, logits, message) => {
    let caught: unknown;
    try {
      mask(logits);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(TypeError);
    expect(caught).toMatchObject({ code: 'ERR_SM_INVALID_ARG_TYPE', argument: 'logits' });
    expect((caught as Error).message).toMatch(message);
  });

  test('dims that disagree with the data are refused by the addon, as for any tensor', () => {
    // The addon's errors come from Node's main realm, so match by shape rather than instanceof under jest.
    expect(() => mask(ortTensor('float32', data, [3, 5]))).toThrow(
      expect.objectContaining({ name: 'RangeError', argument: 'logits.data' }),
    );
  });

  test('targets shaped unlike the logits dims are refused', () => {
    const logits = ortTensor('float32', data, [2, 5]);
    expect(() => maskedLogprobs(logits, null, { data: new Int32Array(2), shape: [1, 2] })).toThrow(
      /must be the logits' leading dims \[2\]/,
    );
  });
});
