// Loads the compiled addon: a prebuild for this platform when one ships,
// else what `npm install` built (node-gyp-build looks in both).
import * as path from 'path';

/** Raw 16-bit floats (bf16/f16) travel as Uint16Array, f32 as Float32Array. */
export type LogitsData = Float32Array | Uint16Array;
export type PerRowInput = number | Float64Array | Float32Array | Int32Array;

export interface NativeParams {
  temperature?: PerRowInput;
  minP?: PerRowInput;
  topK?: PerRowInput;
  topP?: PerRowInput;
}

export interface NativeCsr {
  offsets: Int32Array;
  indices: Int32Array;
}

export interface NativeBackendInfo {
  backend: string;
  threads: number;
  cpuIsa: string;
  compiled: { cpu: boolean; cuda: boolean };
}

export interface NativeLogprobs {
  logprobs: Float32Array;
  entropy?: Float32Array;
  targetsOutsideMask: number;
}

export interface NativeGradient {
  values: Float32Array;
  dense?: Float32Array;
  targetsOutsideMask: number;
}

/** Logits rows and the ids each keeps (null offsets and indices: every id). */
type KeptRowsArgs = [
  data: LogitsData,
  dtype: string,
  rows: number,
  vocab: number,
  offsets: Int32Array | null,
  indices: Int32Array | null,
];
type LogprobsArgs = [...KeptRowsArgs, targets: Int32Array, temperature: PerRowInput, entropy: boolean];
type BackwardArgs = [
  ...KeptRowsArgs,
  targets: Int32Array,
  gradOutput: PerRowInput,
  temperature: PerRowInput,
  dense: boolean,
];

export interface NativeAddon {
  applyMask(...args: [...KeptRowsArgs, inPlace: boolean]): LogitsData;
  applyMaskAsync(...args: [...KeptRowsArgs, inPlace: boolean]): Promise<LogitsData>;
  maskedLogprobs(...args: LogprobsArgs): NativeLogprobs;
  maskedLogprobsAsync(...args: LogprobsArgs): Promise<NativeLogprobs>;
  maskedLogprobsBackward(...args: BackwardArgs): NativeGradient;
  maskedLogprobsBackwardAsync(...args: BackwardArgs): Promise<NativeGradient>;
  mask(data: LogitsData, dtype: string, rows: number, vocab: number, params: NativeParams, fill: boolean): NativeCsr;
  maskAsync(
    data: LogitsData,
    dtype: string,
    rows: number,
    vocab: number,
    params: NativeParams,
    fill: boolean,
  ): Promise<NativeCsr>;
  backendInfo(): NativeBackendInfo;
  setThreads(threads: number): number;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = require('node-gyp-build') as (dir: string) => NativeAddon;

export const addon: NativeAddon = load(path.join(__dirname, '..'));
