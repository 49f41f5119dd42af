// Logits resident on a CUDA device: upload once, run several operations on
// them without copying them again, download() when needed. The memory goes
// with free() or, at the latest, when the DeviceTensor is garbage collected.
import { addon, type NativeDeviceTensor, type NativeLogits } from './native';
import { readOptions } from './args';
import { nativeLogits, type DType, type LogitsInput, type Tensor } from './tensor';

export interface ToDeviceOptions {
  /** CUDA device ordinal; default: the one set by setBackend() (0). */
  device?: number;
  /** Row length, required when logits is a plain Float32Array. */
  vocab?: number;
}

export class DeviceTensor {
  readonly rows: number;
  readonly vocab: number;
  readonly dtype: DType;
  readonly device: number;
  readonly #handle: NativeDeviceTensor;
  #freed = false;

  /** Use toDevice(). */
  constructor(handle: NativeDeviceTensor, rows: number, vocab: number, dtype: DType, device: number) {
    this.#handle = handle;
    this.rows = rows;
    this.vocab = vocab;
    this.dtype = dtype;
    this.device = device;
    // mask() trusts rows and vocab of the handle it describes: they cannot change.
    Object.freeze(this);
  }

  /**
   * Whether value is a DeviceTensor made by this package: a brand check on
   * its private handle, so a proxy of one or an object that merely inherits
   * from DeviceTensor.prototype is not taken for one.
   */
  static isDeviceTensor(value: unknown): value is DeviceTensor {
    return value !== null && typeof value === 'object' && #handle in value;
  }

  get shape(): [number, number] {
    return [this.rows, this.vocab];
  }

  get byteLength(): number {
    return this.rows * this.vocab * (this.dtype === 'float32' ? 4 : 2);
  }

  get freed(): boolean {
    return this.#freed;
  }

  /** The logits fields of a native call on this tensor: the handle in place of host data. @internal */
  native(): NativeLogits {
    return { data: this.#handle };
  }

  /** A host copy: Float32Array for float32, raw Uint16Array for bfloat16 / float16. */
  download(): Tensor {
    return { data: addon.deviceDownload({ tensor: this.#handle }), shape: [this.rows, this.vocab], dtype: this.dtype };
  }

  /** Frees the device memory now (after any operation still running on it); later use throws. */
  free(): void {
    addon.deviceFree(this.#handle);
    this.#freed = true;
  }
}

// The fields an upload reads (device, vocab), each read once: the addon
// checks and uses this copy, so the DeviceTensor's device is the one
// uploaded to even if a getter answers differently later. Anything that is
// not an object goes to the addon as it is, which refuses it.
function uploadOptions(options: ToDeviceOptions | undefined): ToDeviceOptions | undefined {
  if (options === null || typeof options !== 'object') return options;
  return readOptions(options, ['device', 'vocab']) as ToDeviceOptions;
}

function deviceOf(options: ToDeviceOptions | undefined): number {
  return typeof options?.device === 'number' ? options.device : addon.getBackend().device;
}

/** Uploads logits to a CUDA device (ERR_SM_CUDA_UNAVAILABLE where CUDA cannot run). */
export function toDevice(logits: LogitsInput, options?: ToDeviceOptions): DeviceTensor {
  const snapshot = uploadOptions(options);
  const rows = nativeLogits(logits, snapshot);
  const device = deviceOf(snapshot);
  const handle = addon.toDevice({ ...rows, options: snapshot });
  return new DeviceTensor(handle, rows.rows, rows.vocab, rows.dtype, device);
}

/** Like toDevice(), off the event loop (ordinary ArrayBuffers are copied first, so detaching them meanwhile is safe). */
export async function toDeviceAsync(logits: LogitsInput, options?: ToDeviceOptions): Promise<DeviceTensor> {
  const snapshot = uploadOptions(options);
  const rows = nativeLogits(logits, snapshot);
  const device = deviceOf(snapshot);
  const handle = await addon.toDeviceAsync({ ...rows, options: snapshot });
  return new DeviceTensor(handle, rows.rows, rows.vocab, rows.dtype, device);
}
