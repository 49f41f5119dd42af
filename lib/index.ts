export { mask, maskAsync, type MaskOptions, type PerRow } from './mask';
export { SamplingMask } from './sampling-mask';
export type { DType, Tensor, LogitsInput } from './tensor';
export { backendInfo, setThreads, type BackendInfo } from './backend';
export {
  applyMask,
  applyMaskAsync,
  maskedLogprobs,
  maskedLogprobsAsync,
  maskedLogprobsBackward,
  maskedLogprobsBackwardAsync,
  type ApplyMaskOptions,
  type TrainerOptions,
  type LogprobsOptions,
  type BackwardOptions,
  type MaskedLogprobs,
  type MaskedLogprobsGradient,
  type Targets,
} from './trainer';
export type { PaddedIds } from './mask-formats';
