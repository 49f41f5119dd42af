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

export interface NativeAddon {
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
  /** Reference points for `npm run bench`; not part of the package API. */
  baselines: {
    readOnce(data: LogitsData, dtype: string, rows: number, vocab: number): number;
    sortBasedMask(data: LogitsData, dtype: string, rows: number, vocab: number, params: NativeParams): number;
  };
  setThreads(threads: number): number;
  serializeMask(offsets: Int32Array, indices: Int32Array, vocab: number): Uint8Array;
  deserializeMask(bytes: Uint8Array): NativeCsr & { vocab: number };
  crc32c(bytes: Uint8Array, seed?: number): number;
  crc32cImpl(): string;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = require('node-gyp-build') as (dir: string) => NativeAddon;

export const addon: NativeAddon = load(path.join(__dirname, '..'));
