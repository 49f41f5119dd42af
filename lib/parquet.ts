// Rollout tables (lib/arrow.ts) as Parquet, through parquet-wasm (an
// optional peer dependency): the Rust Parquet implementation of the Arrow
// project compiled to WebAssembly. Chosen over hyparquet-writer by
// measurement (README "Arrow, Parquet and safetensors"): it writes and reads
// the nested list<list<int32>> mask column an order of magnitude faster,
// compresses with zstd, and loads with require().
// The API's types (the node build's functions are the same as the root's).
import type * as ParquetWasm from 'parquet-wasm';
import { describe, readOptions } from './args';
import { arrowModule, asFileError, rolloutsFromTable, tableFromArrowBytes, tableOf } from './arrow';
import { fileError, typeError } from './errors';
import { requireOptional } from './optional';
import { checkRollouts, type RolloutFile, type RolloutReadOptions, type RolloutRecord, type RolloutWriteOptions } from './rollouts';
import { isTypedArrayOf } from './tensor';

type Parquet = typeof ParquetWasm;

export interface ParquetWriteOptions extends RolloutWriteOptions {
  /** 'zstd' (default), 'snappy' or 'none'. */
  compression?: 'zstd' | 'snappy' | 'none';
}

function parquetModule(): Parquet {
  return requireOptional<Parquet>('parquet-wasm/node', 'Parquet support');
}

/**
 * The records as Parquet bytes: the rollout table of rolloutTable(), every
 * record checked first. Dictionary encoding is off (token ids are too many
 * and too spread for it to pay: it made files larger and writes slower); the
 * vocab is in the Arrow schema and in the file's key-value metadata.
 */
export function writeRolloutsParquet(records: readonly RolloutRecord[], options?: ParquetWriteOptions): Uint8Array {
  const { compression = 'zstd' } = readOptions(options, ['compression']);
  if (compression !== 'zstd' && compression !== 'snappy' && compression !== 'none') {
    throw typeError('options.compression', `expected 'zstd', 'snappy' or 'none', got ${describe(compression)}`);
  }
  const layout = checkRollouts(records, options);
  const table = tableOf(layout);
  const ipc = arrowModule().tableToIPC(table, 'stream');
  const P = parquetModule();
  const codec = { zstd: P.Compression.ZSTD, snappy: P.Compression.SNAPPY, none: P.Compression.UNCOMPRESSED }[compression];
  const properties = new P.WriterPropertiesBuilder()
    .setCompression(codec)
    .setDictionaryEnabled(false)
    .setStatisticsEnabled(P.EnabledStatistics.None)
    .setKeyValueMetadata(table.schema.metadata) // the vocab and the caller's metadata, as the Arrow table holds them
    .setCreatedBy('sampling-mask')
    .build();
  return P.writeParquet(P.Table.fromIPCStream(ipc), properties);
}

const kMagic = [0x50, 0x41, 0x52, 0x31]; // "PAR1"

/**
 * The records of Parquet bytes, every mask checked (as rolloutsFromTable
 * does). The framing is checked before the bytes reach the Parquet reader: a
 * file cut short (no closing magic) is ERR_SM_TRUNCATED, a footer length
 * beyond the file ERR_SM_CORRUPT_FILE, as is anything the reader rejects.
 */
export function readRolloutsParquet(bytes: Uint8Array, options: RolloutReadOptions = {}): RolloutFile {
  if (!isTypedArrayOf(bytes, 'Uint8Array')) throw typeError('bytes', 'expected a Uint8Array (or Buffer) of Parquet bytes');
  if (bytes.length >= kMagic.length && !kMagic.every((b, i) => bytes[i] === b))
    throw fileError('ERR_SM_CORRUPT_FILE', 'bytes', 'not a Parquet file (no PAR1 magic)');
  if (bytes.length < 12 || !kMagic.every((b, i) => bytes[bytes.length - kMagic.length + i] === b)) {
    throw fileError('ERR_SM_TRUNCATED', 'bytes', 'Parquet file without its closing PAR1 magic: cut short');
  }
  const footer = new DataView(bytes.buffer, bytes.byteOffset + bytes.length - 8, 4).getUint32(0, true);
  if (footer + 12 > bytes.length)
    throw fileError('ERR_SM_CORRUPT_FILE', 'bytes', `footer of ${footer} bytes claimed in a file of ${bytes.length}`);
  const P = parquetModule();
  let ipc: Uint8Array;
  try {
    ipc = P.readParquet(bytes).intoIPCStream();
  } catch (e) {
    throw fileError('ERR_SM_CORRUPT_FILE', 'bytes', `not a readable Parquet file: ${(e as Error).message ?? String(e)}`, e);
  }
  const table = tableFromArrowBytes(ipc);
  return asFileError('bytes', () => rolloutsFromTable(table, options));
}
