// The addon's interface; load.ts finds the binary (a source build, or the prebuild flavour this host runs).
import { loadAddon, type LoadedBinary } from './load';

/** Raw 16-bit floats (bf16/f16) travel as Uint16Array, f32 as Float32Array. */
export type LogitsData = Float32Array | Uint16Array;
export type PerRowInput = number | Float64Array | Float32Array | Int32Array;

export interface NativeParams {
  temperature?: PerRowInput;
  minP?: PerRowInput;
  topK?: PerRowInput;
  topP?: PerRowInput;
}

/** Where an operation runs (see backend.ts); undefined fields take the addon's defaults. */
export interface NativeExec {
  backend?: 'auto' | 'cpu' | 'cuda';
  device?: number;
  profile?: boolean;
}

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
  /** What backend 'auto' runs on for the device asked about. */
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

/** Logits rows (host data or a DeviceTensor handle) and the ids each keeps (null offsets and indices: every id). */
export type KeptRowsArgs = [
  data: LogitsData | NativeDeviceTensor,
  dtype: string,
  rows: number,
  vocab: number,
  offsets: Int32Array | null,
  indices: Int32Array | null,
];
type LogprobsArgs = [...KeptRowsArgs, targets: Int32Array, temperature: PerRowInput, entropy: boolean, exec: NativeExec];
type BackwardArgs = [
  ...KeptRowsArgs,
  targets: Int32Array,
  gradOutput: PerRowInput,
  temperature: PerRowInput,
  dense: boolean,
  exec: NativeExec,
];

/** mask()'s arguments: host rows, or a DeviceTensor handle in place of data. */
export type NativeMaskArgs = [
  data: LogitsData | NativeDeviceTensor,
  dtype: string,
  rows: number,
  vocab: number,
  params: NativeParams,
  fill: boolean,
  exec?: NativeExec,
];

export type NativeUploadArgs = [data: LogitsData, dtype: string, rows: number, vocab: number, exec?: NativeExec];

export interface NativeAddon {
  applyMask(...args: [...KeptRowsArgs, inPlace: boolean, exec: NativeExec]): NativeApplied;
  applyMaskAsync(...args: [...KeptRowsArgs, inPlace: boolean, exec: NativeExec]): Promise<NativeApplied>;
  maskedLogprobs(...args: LogprobsArgs): NativeLogprobs;
  maskedLogprobsAsync(...args: LogprobsArgs): Promise<NativeLogprobs>;
  maskedLogprobsBackward(...args: BackwardArgs): NativeGradient;
  maskedLogprobsBackwardAsync(...args: BackwardArgs): Promise<NativeGradient>;
  mask(...args: NativeMaskArgs): NativeCsr;
  maskAsync(...args: NativeMaskArgs): Promise<NativeCsr>;
  backendInfo(device?: number): NativeBackendInfo;
  /** Reference points for `npm run bench`; not part of the package API. */
  baselines: {
    readOnce(data: LogitsData, dtype: string, rows: number, vocab: number): number;
    sortBasedMask(data: LogitsData, dtype: string, rows: number, vocab: number, params: NativeParams): number;
  };
  setThreads(threads: number): number;
  toDevice(...args: NativeUploadArgs): NativeDeviceTensor;
  toDeviceAsync(...args: NativeUploadArgs): Promise<NativeDeviceTensor>;
  deviceDownload(tensor: NativeDeviceTensor): LogitsData;
  deviceFree(tensor: NativeDeviceTensor): void;
  /** GB/s of a device-to-device copy of `bytes`, counting bytes read plus written. */
  cudaCopyBandwidth(bytes: number, device?: number): number;
  serializeMask(offsets: Int32Array, indices: Int32Array, vocab: number): Uint8Array;
  deserializeMask(bytes: Uint8Array): NativeCsr & { vocab: number };
  crc32c(bytes: Uint8Array, seed?: number): number;
  crc32cImpl(): string;
}

export const addon: NativeAddon = loadAddon();
