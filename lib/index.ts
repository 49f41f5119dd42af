export { mask, maskAsync, type MaskOptions, type PerRow } from './mask';
export { SamplingMask } from './sampling-mask';
export type { DType, Tensor, LogitsInput } from './tensor';
export { backendInfo, setThreads, type BackendInfo } from './backend';
