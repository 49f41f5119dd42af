export { mask, maskAsync, type MaskInput, type MaskOptions, type PerRow } from './mask';
export { SamplingMask } from './sampling-mask';
export type { DType, Tensor, LogitsInput } from './tensor';
export {
  backendInfo,
  getBackend,
  setBackend,
  setThreads,
  type BackendInfo,
  type BackendName,
  type ExecOptions,
} from './backend';
export { DeviceTensor, toDevice, toDeviceAsync, type ToDeviceOptions } from './device';
export type { NativeProfile as MaskProfile } from './native';
