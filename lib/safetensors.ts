// safetensors, Hugging Face's tensor container, written and read to its
// specification (no maintained JavaScript library exists):
//   u64 little-endian N, the header length
//   N bytes of UTF-8 JSON: { "__metadata__"?: { string: string },
//                            name: { "dtype", "shape", "data_offsets": [begin, end] }, ... }
//     padded with spaces so that the data starts 8-byte aligned
//   the tensors' little-endian bytes, back to back: offsets relative to the
//   data start, contiguous from 0, covering the data exactly (no holes).
// The reader makes every check the reference implementation makes (header at
// most 100 MB and inside the file, valid UTF-8 JSON starting with '{', known
// dtypes, offsets contiguous and in bounds, each tensor's byte length equal to
// its shape times its dtype size, the last tensor ending the file) and
// rejects duplicate keys, which the specification disallows.
//
// A mask set (SamplingMask.toSafetensors, writeRolloutsSafetensors):
//   offsets  I32 [rows + 1]   indices  I32 [kept ids]   ids  I32 [rows, K] (-1 padding; on request)
//   request_offsets I32 [requests + 1]   (rollouts: request r owns rows request_offsets[r] .. [r + 1])
//   tokens I32 [rows], logprobs F32 [rows], prompt_offsets I32 [requests + 1] + prompt_ids I32 (when recorded)
//   __metadata__: sampling_mask.vocab, sampling_mask.rows, sampling_mask.request_ids (a JSON array), user keys
import { endianness } from 'os';
import { describe, readOptions } from './args';
import { fileError, rangeError, typeError } from './errors';
import type { RequestId } from './recorder';
import {
  checkMetadata,
  checkRollouts,
  invalidRollout,
  joined,
  kVocabKey,
  requestRows,
  recordError,
  resolveVocab,
  userMetadata,
  type RolloutFile,
  type RolloutReadOptions,
  type RolloutRecord,
  type RolloutWriteOptions,
} from './rollouts';
import { concat } from './lists';
import { readMask, SamplingMask, wrapNativeCsr } from './sampling-mask';
import { isTypedArrayOf } from './tensor';

/** The dtypes of the specification, with their sizes in bytes. */
const kDTypeBytes = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
} as const;

export type SafetensorsDType = keyof typeof kDTypeBytes;

/** A tensor to write: its bytes as any typed array (little-endian host), byteLength = product(shape) x dtype size. */
export interface SafetensorsInput {
  dtype: SafetensorsDType;
  shape: readonly number[];
  data: ArrayBufferView;
}

/** A tensor read: `bytes` is a view of the file's bytes. */
export interface SafetensorsTensor {
  dtype: SafetensorsDType;
  shape: number[];
  bytes: Uint8Array;
}

export interface SafetensorsContent {
  tensors: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

const kMaxHeaderBytes = 100_000_000;
const kMetadataKey = '__metadata__';

const corrupt = (message: string, cause?: unknown) => fileError('ERR_SM_CORRUPT_FILE', 'bytes', message, cause);
const truncated = (message: string) => fileError('ERR_SM_TRUNCATED', 'bytes', message);

function checkHost(): void {
  if (endianness() !== 'LE')
    throw rangeError('ERR_SM_OUT_OF_RANGE', 'host', 'safetensors bytes are little-endian; this host is big-endian');
}

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * The bytes of a safetensors file holding `tensors` (and `metadata`, strings
 * only). Tensors are laid out as the reference implementation does: by
 * descending dtype size, then by name, so each starts aligned to its size.
 */
export function encodeSafetensors(tensors: Readonly<Record<string, SafetensorsInput>>, metadata?: Record<string, string>): Uint8Array {
  checkHost();
  const entries = Object.entries(tensors);
  for (const [name, t] of entries) {
    const argument = `tensors.${name}`;
    if (name === kMetadataKey) throw rangeError('ERR_SM_OUT_OF_RANGE', argument, `'${kMetadataKey}' is reserved for metadata`);
    if (t === null || typeof t !== 'object' || !(t.dtype in kDTypeBytes))
      throw typeError(argument, `expected { dtype, shape, data } with a dtype of ${Object.keys(kDTypeBytes).join(', ')}`);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw typeError(`${argument}.shape`, 'expected an array of integers >= 0');
    if (!ArrayBuffer.isView(t.data)) throw typeError(`${argument}.data`, 'expected a typed array');
    const needed = elementCount(t.shape) * kDTypeBytes[t.dtype];
    if (t.data.byteLength !== needed)
      throw rangeError(
        'ERR_SM_OUT_OF_RANGE',
        `${argument}.data`,
        `has ${t.data.byteLength} bytes, shape [${t.shape}] of ${t.dtype} needs ${needed}`,
      );
  }
  if (metadata !== undefined) {
    if (metadata === null || typeof metadata !== 'object') throw typeError('metadata', 'expected an object of strings');
    for (const [key, value] of Object.entries(metadata))
      if (typeof value !== 'string') throw typeError(`metadata.${key}`, `expected a string, got ${typeof value}`);
  }
  entries.sort(([a, x], [b, y]) => kDTypeBytes[y.dtype] - kDTypeBytes[x.dtype] || (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) header[kMetadataKey] = metadata;
  let at = 0;
  for (const [name, t] of entries) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [at, at + t.data.byteLength] };
    at += t.data.byteLength;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const headerBytes = json.length + ((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + headerBytes + at);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerBytes);
  let offset = 8 + headerBytes;
  for (const [, t] of entries) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), offset);
    offset += t.data.byteLength;
  }
  return out;
}

// The first key repeated within one object of valid JSON text (JSON.parse
// silently keeps the last one), or undefined.
function duplicateKey(json: string): string | undefined {
  const objects: (Set<string> | null)[] = []; // null for an array
  let expectKey = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '"') {
      let end = i + 1;
      while (json[end] !== '"') end += json[end] === '\\' ? 2 : 1;
      const keys = objects[objects.length - 1];
      if (expectKey && keys) {
        const key = JSON.parse(json.slice(i, end + 1)) as string;
        if (keys.has(key)) return key;
        keys.add(key);
        expectKey = false;
      }
      i = end;
    } else if (c === '{' || c === '[') {
      objects.push(c === '{' ? new Set() : null);
      expectKey = c === '{';
    } else if (c === '}' || c === ']') {
      objects.pop();
    } else if (c === ',') {
      expectKey = objects[objects.length - 1] instanceof Set;
    }
  }
  return undefined;
}

const isOffset = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** The tensors and metadata of safetensors bytes, after every check of the specification (see the top of this file). */
export function decodeSafetensors(bytes: Uint8Array): SafetensorsContent {
  checkHost();
  if (!isTypedArrayOf(bytes, 'Uint8Array')) throw typeError('bytes', 'expected a Uint8Array (or Buffer) of safetensors bytes');
  if (bytes.length < 8) throw truncated(`${bytes.length} bytes, fewer than the 8-byte header length`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(kMaxHeaderBytes))
    throw corrupt(`header length ${headerLength} exceeds the format's limit of ${kMaxHeaderBytes} bytes`);
  const n = Number(headerLength);
  if (8 + n > bytes.length) throw truncated(`header of ${n} bytes claimed, ${bytes.length - 8} bytes follow`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch (e) {
    throw corrupt('header is not valid UTF-8', e);
  }
  if (!text.startsWith('{')) throw corrupt(`header must start with '{', starts with ${JSON.stringify(text.slice(0, 8))}`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw corrupt(`header is not valid JSON: ${(e as Error).message}`, e);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw corrupt('header is not a JSON object');
  const repeated = duplicateKey(text);
  if (repeated !== undefined) throw corrupt(`header repeats the key ${JSON.stringify(repeated)}`);
  const metadata: Record<string, string> = {};
  const infos: [string, SafetensorsDType, number[], number, number][] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === kMetadataKey) {
      if (info === null || typeof info !== 'object' || Array.isArray(info)) throw corrupt(`${kMetadataKey} must be an object of strings`);
      for (const [key, value] of Object.entries(info)) {
        if (typeof value !== 'string') throw corrupt(`${kMetadataKey}.${key} is not a string (the format allows strings only)`);
        metadata[key] = value;
      }
      continue;
    }
    const { dtype, shape, data_offsets: offsets } = (info ?? {}) as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof dtype !== 'string' || !(dtype in kDTypeBytes))
      throw corrupt(`tensor ${JSON.stringify(name)}: unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every(isOffset))
      throw corrupt(`tensor ${JSON.stringify(name)}: shape must be an array of integers >= 0`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isOffset))
      throw corrupt(`tensor ${JSON.stringify(name)}: data_offsets must be [begin, end]`);
    infos.push([name, dtype as SafetensorsDType, shape, offsets[0], offsets[1]]);
  }
  infos.sort((a, b) => a[3] - b[3] || a[4] - b[4]);
  const dataStart = 8 + n;
  const tensors = new Map<string, SafetensorsTensor>();
  let expected = 0;
  for (const [name, dtype, shape, begin, end] of infos) {
    if (begin !== expected || end < begin)
      throw corrupt(
        `tensor ${JSON.stringify(name)}: data_offsets [${begin}, ${end}] are not contiguous (expected to start at ${expected})`,
      );
    const needed = elementCount(shape) * kDTypeBytes[dtype];
    if (!Number.isSafeInteger(needed) || needed !== end - begin) {
      throw corrupt(`tensor ${JSON.stringify(name)}: shape [${shape}] of ${dtype} is ${needed} bytes, data_offsets give ${end - begin}`);
    }
    expected = end;
    tensors.set(name, { dtype, shape, bytes: bytes.subarray(dataStart + begin, dataStart + end) });
  }
  if (dataStart + expected > bytes.length)
    throw truncated(`tensor data ends at byte ${dataStart + expected}, the file has ${bytes.length}`);
  if (dataStart + expected < bytes.length)
    throw corrupt(`${bytes.length - dataStart - expected} bytes after the last tensor (the data must be covered exactly)`);
  return { tensors, metadata };
}

// A tensor's values as Int32Array or Float32Array: a view of the file when
// aligned, else a copy.
function typedView<T extends Int32Array | Float32Array>(
  t: SafetensorsTensor,
  Ctor: { new (b: ArrayBufferLike, o: number, n: number): T; new (n: number): T; BYTES_PER_ELEMENT: number },
): T {
  const count = t.bytes.byteLength / Ctor.BYTES_PER_ELEMENT;
  if (t.bytes.byteOffset % Ctor.BYTES_PER_ELEMENT === 0) return new Ctor(t.bytes.buffer, t.bytes.byteOffset, count);
  const copy = new Ctor(count);
  new Uint8Array(copy.buffer).set(t.bytes);
  return copy;
}

function tensorOf(
  content: SafetensorsContent,
  name: string,
  dtype: 'I32' | 'F32',
  shape: readonly number[] | null,
): Int32Array | Float32Array | undefined {
  const t = content.tensors.get(name);
  if (t === undefined) return undefined;
  if (t.dtype !== dtype)
    throw invalidRollout(
      name,
      `dtype ${t.dtype}, expected ${dtype}${dtype === 'I32' ? ' (cast with .to(torch.int32) / .astype(np.int32))' : ''}`,
    );
  const fits = shape === null ? t.shape.length === 1 : t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]);
  if (!fits) throw invalidRollout(name, `shape [${t.shape}], expected ${shape === null ? 'one dimension' : `[${shape}]`}`);
  return dtype === 'I32' ? typedView(t, Int32Array) : typedView(t, Float32Array);
}

export interface MaskSafetensorsOptions {
  /** Key-value strings for __metadata__ (keys starting with 'sampling_mask.' are the package's). */
  metadata?: Record<string, string>;
  /** Also store the padded [rows, K] `ids` tensor (-1 padding): true for K = the largest row, or K itself. */
  padded?: boolean | number;
}

const kRowsKey = 'sampling_mask.rows';
const kRequestIdsKey = 'sampling_mask.request_ids';

// The tensors of a mask the package checked (never a caller's object: see readMask).
function maskTensors(mask: SamplingMask, padded: unknown): Record<string, SafetensorsInput> {
  const tensors: Record<string, SafetensorsInput> = {
    offsets: { dtype: 'I32', shape: [mask.offsets.length], data: mask.offsets },
    indices: { dtype: 'I32', shape: [mask.indices.length], data: mask.indices },
  };
  if (padded !== undefined && padded !== false) {
    if (padded !== true && typeof padded !== 'number')
      throw typeError('options.padded', `expected a boolean or a width, got ${describe(padded)}`);
    const ids = mask.toPadded(padded === true ? undefined : padded);
    tensors.ids = { dtype: 'I32', shape: [ids.rows, ids.width], data: ids.ids };
  }
  return tensors;
}

/** A mask as safetensors bytes (layout at the top of this file). */
export function maskToSafetensors(mask: SamplingMask, options?: MaskSafetensorsOptions): Uint8Array {
  const m = readMask(mask, 'mask');
  const { metadata = {}, padded } = readOptions(options, ['metadata', 'padded']);
  const stored = {
    ...checkMetadata(metadata, 'options.metadata'),
    [kVocabKey]: String(m.vocab),
    [kRowsKey]: String(m.rows),
  };
  return encodeSafetensors(maskTensors(wrapNativeCsr(m.offsets, m.indices, m.vocab), padded), stored);
}

// The mask of a decoded mask set: offsets + indices (checked like any mask),
// or the padded ids alone; when both are there they must agree.
function maskOf(content: SafetensorsContent, options: RolloutReadOptions): SamplingMask {
  const vocab = resolveVocab(content.metadata[kVocabKey], options, 'bytes');
  const rowsText = content.metadata[kRowsKey];
  const rows = rowsText === undefined ? undefined : Number(rowsText);
  if (rows !== undefined && !(/^[0-9]+$/.test(rowsText) && Number.isSafeInteger(rows)))
    throw invalidRollout('bytes', `${kRowsKey} is ${JSON.stringify(rowsText)}, not an integer`);
  const padded = content.tensors.get('ids');
  if (padded !== undefined && (padded.dtype !== 'I32' || padded.shape.length !== 2))
    throw invalidRollout('ids', `expected I32 [rows, K], got ${padded.dtype} [${padded.shape}]`);
  const offsets = tensorOf(content, 'offsets', 'I32', null) as Int32Array | undefined;
  const indices = tensorOf(content, 'indices', 'I32', null) as Int32Array | undefined;
  let mask: SamplingMask;
  if (offsets !== undefined && indices !== undefined) {
    mask = new SamplingMask(offsets, indices, vocab);
  } else if (padded !== undefined && offsets === undefined && indices === undefined) {
    mask = SamplingMask.fromPadded(typedView(padded, Int32Array), padded.shape[0], padded.shape[1], vocab);
  } else {
    throw invalidRollout('bytes', 'a mask set needs the tensors offsets and indices (or ids alone)');
  }
  if (rows !== undefined && rows !== mask.rows)
    throw invalidRollout('bytes', `${kRowsKey} says ${rows} rows, the tensors hold ${mask.rows}`);
  if (padded !== undefined && offsets !== undefined) {
    const expected = mask.toPadded(padded.shape[1]);
    const stored = typedView(padded, Int32Array);
    if (padded.shape[0] !== mask.rows || expected.ids.some((id, i) => id !== stored[i]))
      throw invalidRollout('ids', 'the padded ids disagree with offsets and indices');
  }
  return mask;
}

/**
 * The mask of safetensors bytes written by toSafetensors or
 * writeRolloutsSafetensors (all rows of all requests), checked like any mask.
 * Its ids are a view of the bytes when they are 4-byte aligned.
 */
export function maskFromSafetensors(bytes: Uint8Array, options: RolloutReadOptions = {}): SamplingMask {
  return maskOf(decodeSafetensors(bytes), options);
}

/**
 * Records as one mask set (layout at the top of this file): the masks of all
 * requests one after another, `request_offsets` saying whose rows are whose,
 * the request ids in __metadata__. Tokens, log-probs and prompts go along when
 * the records have them; scalar columns and outside steps need Arrow or
 * Parquet. Every record is checked first.
 */
export function writeRolloutsSafetensors(
  records: readonly RolloutRecord[],
  options?: RolloutWriteOptions & Pick<MaskSafetensorsOptions, 'padded'>,
): Uint8Array {
  const { padded } = readOptions(options, ['padded']);
  const layout = checkRollouts(records, options);
  const checked = layout.records;
  checked.forEach((r, i) => {
    if (Object.keys(r.columns ?? {}).length > 0)
      throw recordError(
        i,
        'columns',
        'safetensors holds tensors only: write scalar columns with writeRolloutsArrow or writeRolloutsParquet',
      );
    if ((r.outsideSteps?.length ?? 0) > 0)
      throw recordError(i, 'outsideSteps', 'not carried by safetensors: write them with writeRolloutsArrow or writeRolloutsParquet');
  });
  const all =
    checked.length === 0 ? new SamplingMask(Int32Array.of(0), new Int32Array(0), layout.vocab) : concat(checked.map((r) => r.mask));
  const tensors = maskTensors(all, padded);
  const requestOffsets = requestRows(checked);
  tensors.request_offsets = { dtype: 'I32', shape: [requestOffsets.length], data: requestOffsets };
  if (layout.hasTokens) {
    const tokens = checked.map((r) => r.tokens);
    tensors.tokens = { dtype: 'I32', shape: [all.rows], data: joined(tokens, Int32Array).values };
  }
  if (layout.hasLogprobs) {
    const logprobs = checked.map((r) => r.logprobs);
    tensors.logprobs = { dtype: 'F32', shape: [all.rows], data: joined(logprobs, Float32Array).values };
  }
  if (layout.hasPrompt) {
    const prompts = joined(
      checked.map((r) => r.promptIds),
      Int32Array,
    );
    tensors.prompt_offsets = { dtype: 'I32', shape: [prompts.offsets.length], data: prompts.offsets };
    tensors.prompt_ids = { dtype: 'I32', shape: [prompts.values.length], data: prompts.values };
  }
  const metadata = {
    ...layout.metadata,
    [kVocabKey]: String(layout.vocab),
    [kRowsKey]: String(all.rows),
    [kRequestIdsKey]: JSON.stringify(checked.map((r) => r.id)),
  };
  return encodeSafetensors(tensors, metadata);
}

// Offsets that split `total` entries among `count` owners: from 0, never
// decreasing, ending at total.
function checkSplit(offsets: Int32Array, count: number, total: number, name: string): void {
  if (offsets.length !== count + 1 || offsets[0] !== 0 || offsets[count] !== total) {
    throw invalidRollout(name, `expected ${count + 1} offsets from 0 to ${total}`);
  }
  for (let i = 0; i < count; i++) if (offsets[i + 1] < offsets[i]) throw invalidRollout(name, `decrease at entry ${i}`, { record: i });
}

/** The records of bytes that writeRolloutsSafetensors wrote, every mask and id checked. */
export function readRolloutsSafetensors(bytes: Uint8Array, options: RolloutReadOptions = {}): RolloutFile {
  const content = decodeSafetensors(bytes);
  const all = maskOf(content, options);
  const idsText = content.metadata[kRequestIdsKey];
  if (idsText === undefined)
    throw invalidRollout(
      'bytes',
      `no ${kRequestIdsKey} in __metadata__: a mask without requests (read it with SamplingMask.fromSafetensors)`,
    );
  let ids: unknown;
  try {
    ids = JSON.parse(idsText);
  } catch (e) {
    throw invalidRollout('bytes', `${kRequestIdsKey} is not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(ids)) throw invalidRollout('bytes', `${kRequestIdsKey} must be a JSON array`);
  ids.forEach((id, i) => {
    if (typeof id !== 'string' && !(typeof id === 'number' && Number.isSafeInteger(id))) {
      throw invalidRollout('bytes', `request id ${i} is ${JSON.stringify(id)}: expected a string or a safe integer`, {
        record: i,
      });
    }
  });
  const requestIds = ids as RequestId[];
  const requestOffsets = tensorOf(content, 'request_offsets', 'I32', [requestIds.length + 1]) as Int32Array | undefined;
  if (requestOffsets === undefined) throw invalidRollout('request_offsets', 'missing: the mask set has request ids but no request_offsets');
  checkSplit(requestOffsets, requestIds.length, all.rows, 'request_offsets');
  const tokens = tensorOf(content, 'tokens', 'I32', [all.rows]) as Int32Array | undefined;
  const logprobs = tensorOf(content, 'logprobs', 'F32', [all.rows]) as Float32Array | undefined;
  const promptIds = tensorOf(content, 'prompt_ids', 'I32', null) as Int32Array | undefined;
  const promptOffsets = tensorOf(content, 'prompt_offsets', 'I32', [requestIds.length + 1]) as Int32Array | undefined;
  if ((promptIds === undefined) !== (promptOffsets === undefined))
    throw invalidRollout('prompt_offsets', 'prompt_ids and prompt_offsets go together');
  if (promptOffsets !== undefined) checkSplit(promptOffsets, requestIds.length, (promptIds as Int32Array).length, 'prompt_offsets');
  for (const [name, values] of [
    ['tokens', tokens],
    ['prompt_ids', promptIds],
  ] as const) {
    const bad = values?.findIndex((t) => t < 0 || t >= all.vocab) ?? -1;
    if (bad >= 0) throw invalidRollout(name, `entry ${bad} is ${(values as Int32Array)[bad]}, outside [0, ${all.vocab})`);
  }
  const records = requestIds.map((id, i) => {
    const begin = requestOffsets[i];
    const end = requestOffsets[i + 1];
    const record: RolloutRecord = { id, mask: all.slice(begin, end) };
    if (tokens !== undefined) record.tokens = tokens.subarray(begin, end);
    if (logprobs !== undefined) record.logprobs = logprobs.subarray(begin, end);
    if (promptIds !== undefined && promptOffsets !== undefined)
      record.promptIds = promptIds.subarray(promptOffsets[i], promptOffsets[i + 1]);
    return record;
  });
  return { records, vocab: all.vocab, metadata: userMetadata(Object.entries(content.metadata)) };
}
