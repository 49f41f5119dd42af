// The addon's interface; load.ts finds the binary (a source build, or the prebuild flavour this host runs).
import type { SamplingMaskError } from './errors';
import { loadAddon, type LoadedBinary } from './load';

/** Raw 16-bit floats (bf16/f16) travel as Uint16Array, f32 as Float32Array. */
export type LogitsData = Float32Array | Uint16Array;
/** A value for every row, or one per row. */
export type PerRowInput = number | Float64Array | Float32Array | Int32Array | readonly number[];

/** Milliseconds of one call, with `profile: true`. */
export interface NativeProfile {
  backend: 'cpu' | 'cuda';
  /** CUDA: the kernels alone (CUDA events); CPU: the whole computation. */
  kernelMs: number;
  /** Host to device copy of the logits (CUDA, host tensors). */
  uploadMs: number;
  /** Device to host copies of the result (and of filled logits). */
  downloadMs: number;
}

export interface NativeCsr {
  offsets: Int32Array;
  indices: Int32Array;
  profile?: NativeProfile;
  /** With onInvalidRow: 'skip': 1 for each row masked, 0 for each row skipped. */
  valid?: Uint8Array;
  /** With onInvalidRow: 'skip': each skipped row's error (with its `row`), ascending. */
  errors?: SamplingMaskError[];
}

/** sample()'s result: the CSR unless options.mask is false. */
export interface NativeSampled extends Partial<NativeCsr> {
  tokens: Int32Array;
  logprobs: Float32Array;
  fullLogprobs?: Float32Array;
}

/** Opaque handle of device-resident logits. */
export type NativeDeviceTensor = object & { readonly __deviceTensor: unique symbol };

export interface NativeCudaDevice {
  ordinal: number;
  name: string;
  computeCapability: string;
  multiprocessors: number;
  memoryBytes: number;
}

export interface NativeBackendInfo extends LoadedBinary {
  /** What calls with default options run on. */
  backend: 'cpu' | 'cuda';
  threads: number;
  cpuIsa: string;
  compiled: { cpu: boolean; cuda: boolean };
  cuda: {
    /** CUDA runs on the device asked about. */
    available: boolean;
    /** Why not: not compiled in, no driver, driver too old, no device, no kernel image. */
    reason?: string;
    driverVersion: number;
    runtimeVersion: number;
    devices: NativeCudaDevice[];
  };
}

export interface NativeLogprobs {
  logprobs: Float32Array;
  entropy?: Float32Array;
  targetsOutsideMask: number;
  profile?: NativeProfile;
}

export interface NativeGradient {
  values: Float32Array;
  dense?: Float32Array;
  targetsOutsideMask: number;
  profile?: NativeProfile;
}

/** applyMask's result: the masked data (none for a DeviceTensor, masked in place). */
export interface NativeApplied {
  data?: LogitsData;
  profile?: NativeProfile;
}

/**
 * The addon's calling convention (sharp's "baton"): every function that
 * takes several arguments takes one object. Its own fields carry what the
 * facade derived from the call's positional arguments (data and shape, the
 * mask's CSR, targets); `options` is the caller's options object, passed
 * untouched and read natively, field by field, where every check lives.
 */
export interface NativeLogits {
  /** Host rows, or a DeviceTensor handle (then dtype, rows and vocab come from the handle). */
  data: LogitsData | NativeDeviceTensor;
  dtype?: string;
  rows?: number;
  vocab?: number;
}

/** Logits rows and the ids each keeps (null offsets and indices: every id). */
export interface NativeKeptRows extends NativeLogits {
  offsets: Int32Array | null;
  indices: Int32Array | null;
}

export interface NativeMaskCall extends NativeLogits {
  options?: unknown;
}
export interface NativeApplyMaskCall extends NativeKeptRows {
  options?: unknown;
}
export interface NativeLogprobsCall extends NativeKeptRows {
  targets: Int32Array;
  options?: unknown;
}
export interface NativeBackwardCall extends NativeLogprobsCall {
  gradOutput: unknown;
}
export interface NativeUploadCall extends NativeLogits {
  options?: unknown;
}

export interface NativeBackendDefaults {
  backend: 'auto' | 'cpu' | 'cuda';
  device: number;
}

export interface NativeAddon {
  /** Every error code the addon can throw (the test suite checks them against SamplingMaskErrorCode). */
  errorCodes: string[];
  applyMask(call: NativeApplyMaskCall): NativeApplied;
  applyMaskAsync(call: NativeApplyMaskCall): Promise<NativeApplied>;
  maskedLogprobs(call: NativeLogprobsCall): NativeLogprobs;
  maskedLogprobsAsync(call: NativeLogprobsCall): Promise<NativeLogprobs>;
  maskedLogprobsBackward(call: NativeBackwardCall): NativeGradient;
  maskedLogprobsBackwardAsync(call: NativeBackwardCall): Promise<NativeGradient>;
  mask(call: NativeMaskCall): NativeCsr;
  maskAsync(call: NativeMaskCall): Promise<NativeCsr>;
  sample(call: NativeMaskCall): NativeSampled;
  sampleAsync(call: NativeMaskCall): Promise<NativeSampled>;
  backendInfo(): NativeBackendInfo & { default: NativeBackendDefaults };
  setBackend(call: { backend: unknown; options?: unknown }): void;
  getBackend(): NativeBackendDefaults;
  /** Reference points for `npm run bench` and checks for the tests; not part of the package API. */
  baselines: {
    readOnce(call: NativeLogits): number;
    weighOnce(call: NativeLogits): number;
    sortBasedMask(call: NativeLogits & { options: unknown }): number;
    /** The largest relative error of the CPU's approximate top-p weight over every f32 d in [-28, 0]. */
    approximateWeightError(): number;
  };
  setThreads(threads: number): number;
  toDevice(call: NativeUploadCall): NativeDeviceTensor;
  toDeviceAsync(call: NativeUploadCall): Promise<NativeDeviceTensor>;
  deviceDownload(call: { tensor: NativeDeviceTensor }): LogitsData;
  deviceFree(tensor: NativeDeviceTensor): void;
  /** GB/s of a device-to-device copy of `bytes`, counting bytes read plus written. */
  cudaCopyBandwidth(call: { bytes: number; options?: { device?: number } }): number;
  serializeMask(call: { offsets: Int32Array; indices: Int32Array; vocab: number }): Uint8Array;
  deserializeMask(bytes: Uint8Array): NativeCsr & { vocab: number };
  crc32c(call: { bytes: Uint8Array; seed?: number }): number;
  crc32cImpl(): string;
}

export const addon: NativeAddon = loadAddon();
