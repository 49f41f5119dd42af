export { mask, maskAsync, type FilterOrder, type MaskInput, type MaskOptions, type PerRow } from './mask';
export { sample, sampleAsync, type PerRowKey, type SampleOptions, type SampleResult, type SampleResultWithoutMask } from './sample';
export { SamplingMask } from './sampling-mask';
export type { DType, Tensor, LogitsInput, OrtLikeTensor } from './tensor';
export { backendInfo, getBackend, setBackend, setThreads, type BackendInfo, type BackendName, type ExecOptions } from './backend';
export { DeviceTensor, toDevice, toDeviceAsync, type ToDeviceOptions } from './device';
export type { NativeProfile as MaskProfile } from './native';
export {
  trainerBatch,
  type FromListsOptions,
  type ConcatOptions,
  type ListOrder,
  type TrainerBatch,
  type TrainerBatchRequest,
} from './lists';
export { serialize, deserialize, crc32c } from './codec';
export { MaskRecorder, type RecorderOptions, type RecordedRequest, type RequestId, type SampledStep } from './recorder';
export {
  MaskRecordReader,
  MaskRecordWriter,
  encodeRecord,
  decodeRecords,
  type MaskRecord,
  type ReadRecordsOptions,
  type SkippedBytes,
} from './records';
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
  type TrainerExecOptions,
  type TrainerInput,
  type Profiled,
} from './trainer';
export type { PaddedIds } from './mask-formats';
export { ERROR_CODES, type SamplingMaskErrorCode, type SamplingMaskError, type SamplingMaskErrorFields } from './errors';
export { maskFromServer, type ServerMask, type CsrLists, type PackedBits } from './server-forms';
export type { RolloutRecord, RolloutFile, RolloutScalar, RolloutReadOptions, RolloutWriteOptions } from './rollouts';
export {
  maskToArrow,
  maskFromArrow,
  rolloutTable,
  rolloutsFromTable,
  writeRolloutsArrow,
  readRolloutsArrow,
  type MaskVector,
  type ArrowWriteOptions,
} from './arrow';
export { writeRolloutsParquet, readRolloutsParquet, type ParquetWriteOptions } from './parquet';
export {
  encodeSafetensors,
  decodeSafetensors,
  maskToSafetensors,
  maskFromSafetensors,
  writeRolloutsSafetensors,
  readRolloutsSafetensors,
  type SafetensorsDType,
  type SafetensorsInput,
  type SafetensorsTensor,
  type SafetensorsContent,
  type MaskSafetensorsOptions,
} from './safetensors';
