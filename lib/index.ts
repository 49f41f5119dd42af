export { mask, maskAsync, type MaskOptions, type PerRow } from './mask';
export { SamplingMask } from './sampling-mask';
export type { DType, Tensor, LogitsInput } from './tensor';
export { backendInfo, setThreads, type BackendInfo } from './backend';
export { type FromListsOptions, type ConcatOptions, type ListOrder } from './lists';
export { serialize, deserialize, crc32c } from './codec';
export { MaskRecorder, type RecorderOptions, type RecordedRequest, type RequestId } from './recorder';
export {
  MaskRecordReader,
  MaskRecordWriter,
  encodeRecord,
  decodeRecords,
  type MaskRecord,
  type ReadRecordsOptions,
  type SkippedBytes,
} from './records';
