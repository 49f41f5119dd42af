// Backend selection, everywhere: on CI (CUDA compiled in, no GPU or driver)
// it proves that CUDA reports why it is unavailable and that asking for it
// is a clear error; on a GPU machine, that 'auto' picks it.
import { backendInfo, getBackend, mask, maskAsync, sample, setBackend, toDevice, type Tensor } from '../lib';
import { describeCuda, describeWithoutCuda, thrown } from './helpers';

const info = backendInfo();
const cudaRuns = info.cuda.available;

function tensor(): Tensor {
  return { data: Float32Array.from([1, 3, 2, 3, 0, -1, 5, 4]), shape: [2, 4], dtype: 'float32' };
}

afterEach(() => setBackend('auto'));

test('backendInfo says what is compiled in, what runs and why', () => {
  console.log(`backendInfo: ${JSON.stringify(info)}`);
  expect(info.compiled.cpu).toBe(true);
  if (process.env.SAMPLING_MASK_CUDA === 'on') expect(info.compiled.cuda).toBe(true);
  expect(info.default).toEqual({ backend: 'auto', device: 0 });
  if (cudaRuns) {
    expect(info.backend).toBe('cuda');
    expect(info.cuda.devices.length).toBeGreaterThan(0);
    expect(info.cuda.reason).toBeUndefined();
  } else {
    expect(info.backend).toBe('cpu');
    expect(info.cuda.reason).toMatch(info.compiled.cuda ? /driver|device|kernels/ : /not compiled in/);
  }
});

test("backend 'cpu' runs on the CPU", () => {
  const m = mask(tensor(), { topK: 2, backend: 'cpu', profile: true });
  expect(m.toLists()).toEqual([
    [1, 3],
    [2, 3],
  ]);
  expect(m.profile?.backend).toBe('cpu');
});

test("'auto' runs where backendInfo says, with the same mask", () => {
  const m = mask(tensor(), { topK: 2, profile: true });
  expect(m.profile?.backend).toBe(info.backend);
  expect(m.toLists()).toEqual([
    [1, 3],
    [2, 3],
  ]);
});

test('setBackend sets the default of calls that name none', () => {
  setBackend('cpu');
  expect(getBackend()).toEqual({ backend: 'cpu', device: 0 });
  expect(backendInfo().backend).toBe('cpu');
  expect(mask(tensor(), { topK: 1, profile: true }).profile?.backend).toBe('cpu');
  setBackend('auto');
  expect(backendInfo().backend).toBe(info.backend);
});

test('bad backend and device options are typed errors naming the option', () => {
  const bad = (options: object, type: typeof TypeError, argument: string) => {
    let thrown: unknown;
    try {
      mask(tensor(), options);
    } catch (e) {
      thrown = e;
    }
    // The addon throws these: its error classes belong to Node's main realm, not jest's.
    expect(thrown).toMatchObject({ name: type.name, argument });
  };
  bad({ backend: 'gpu' }, TypeError, 'backend');
  bad({ device: -1 }, RangeError, 'device');
  bad({ device: 1.5 }, RangeError, 'device');
  expect(() => setBackend('tpu' as 'cpu')).toThrow(expect.objectContaining({ name: 'TypeError', argument: 'backend' }) as unknown as Error);
});

test("sample() and filterOrder 'joint' run on the CPU under 'auto', with the CPU's results", () => {
  const sampled = sample(tensor(), { topK: 2, seed: 1, step: 0, profile: true });
  expect(sampled.profile?.backend).toBe('cpu');
  expect(sampled.mask.toLists()).toEqual(mask(tensor(), { topK: 2, backend: 'cpu' }).toLists());
  expect(mask(tensor(), { topK: 1, topP: 0.5, filterOrder: 'joint', profile: true }).profile?.backend).toBe('cpu');
});

test("backend 'cuda' refuses sample() and filterOrder 'joint' with ERR_SM_CUDA_UNAVAILABLE", () => {
  const refused = { name: 'RangeError', code: 'ERR_SM_CUDA_UNAVAILABLE' };
  expect(thrown(() => sample(tensor(), { seed: 1, step: 0, backend: 'cuda' }))).toMatchObject({ ...refused, argument: 'backend' });
  const joint = thrown(() => mask(tensor(), { filterOrder: 'joint', backend: 'cuda' }));
  expect(joint).toMatchObject(refused);
  // Where CUDA runs, the CUDA backend itself refuses and names the backend that does it.
  if (cudaRuns) expect(joint).toMatchObject({ argument: 'filterOrder', message: expect.stringContaining("'cpu'") });
});

describeCuda('sample() on a CUDA device', () => {
  test('a DeviceTensor is refused, saying the CPU samples', () => {
    const dt = toDevice(tensor());
    expect(thrown(() => sample(dt, { seed: 1, step: 0 }))).toMatchObject({
      name: 'RangeError',
      code: 'ERR_SM_CUDA_UNAVAILABLE',
      argument: 'backend',
      message: expect.stringContaining("'cpu'"),
    });
    dt.free();
  });
});

describeWithoutCuda('without a usable CUDA device', () => {
  test("'cuda' where CUDA cannot run is a clear error, never a CPU run", async () => {
    const unavailable = expect.objectContaining({
      code: 'ERR_SM_CUDA_UNAVAILABLE',
      argument: 'backend',
      message: expect.stringContaining(info.cuda.reason as string),
    });
    expect(() => mask(tensor(), { backend: 'cuda' })).toThrow(unavailable);
    await expect(maskAsync(tensor(), { backend: 'cuda' })).rejects.toEqual(unavailable);
    expect(() => toDevice(tensor())).toThrow(unavailable);
    expect(() => setBackend('cuda')).toThrow(unavailable);
    expect(getBackend().backend).toBe('auto');
    // The input is untouched by the refused call.
    const t = tensor();
    expect(() => mask(t, { backend: 'cuda', fillLogits: true, topK: 1 })).toThrow();
    expect(Array.from(t.data)).toEqual([1, 3, 2, 3, 0, -1, 5, 4]);
  });
});
