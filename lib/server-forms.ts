// Every form in which inference servers hand out sampling masks, to one
// SamplingMask (rows = generated tokens):
//   - id lists, one per generated token: vLLM's `sampling_mask` (ascending)
//     and SGLang's `meta_info.output_token_sampling_mask` (possibly in
//     probability order and repeating the sampled token: pass order 'sort');
//   - vLLM's CSR (`SamplingMaskLists`): { token_ids, offsets }, where the
//     offsets of a slice need not start at 0;
//   - ids padded with -1 to [tokens, top_k] (SkyRL): { ids, rows, width };
//   - a bitmask of [tokens, ceil(V / 8)] bytes (vLLM's fallback for wide rows): { bitmask, rows }.
import { rangeError, typeError } from './errors';
import { fromLists, isArrayLike, type FromListsOptions } from './lists';
import type { PaddedIds } from './mask-formats';
import { SamplingMask } from './sampling-mask';
import { isTypedArrayOf } from './tensor';

/** vLLM's CSR form: row i keeps token_ids[offsets[i] .. offsets[i + 1]). */
export interface CsrLists {
  token_ids: ArrayLike<number>;
  offsets: ArrayLike<number>;
}

/** Bit-packed rows: bit i of row r is byte r * ceil(vocab / 8) + (i >> 3), bit i & 7. */
export interface PackedBits {
  bitmask: Uint8Array;
  rows: number;
}

export type ServerMask = SamplingMask | ArrayLike<ArrayLike<number>> | CsrLists | PaddedIds | PackedBits;

const kForms = 'expected id lists, { token_ids, offsets }, { ids, rows, width }, { bitmask, rows } or a SamplingMask';

function has(form: object, ...keys: string[]): boolean {
  return keys.every((k) => k in form);
}

// Each row as a view (typed arrays) or a slice (plain arrays) of token_ids,
// after checking its offsets, so fromLists sees ordinary lists.
function csrRows(form: CsrLists): ArrayLike<number>[] {
  const { token_ids: ids, offsets } = form;
  if (!isArrayLike(ids)) throw typeError('masks.token_ids', 'expected an array of token ids');
  if (!isArrayLike(offsets) || offsets.length < 1)
    throw typeError('masks.offsets', 'expected an array of rows + 1 offsets');
  const rows: ArrayLike<number>[] = new Array(offsets.length - 1);
  const view = ArrayBuffer.isView(ids)
    ? (b: number, e: number) => (ids as Int32Array).subarray(b, e)
    : (b: number, e: number) => Array.prototype.slice.call(ids, b, e) as number[];
  for (let r = 0; r < rows.length; r++) {
    const begin = offsets[r];
    const end = offsets[r + 1];
    if (!Number.isInteger(begin) || !Number.isInteger(end) || begin < 0 || end < begin || end > ids.length) {
      throw rangeError(
        'ERR_SM_INVALID_MASK',
        'masks.offsets',
        `row ${r} spans [${begin}, ${end}) of ${ids.length} token_ids`,
        r,
      );
    }
    rows[r] = view(begin, end);
  }
  return rows;
}

/**
 * A mask from any server form (see the top of this file). `order` applies to
 * the list forms ('reject' by default: an unsorted row is an error; 'sort'
 * sorts it and keeps repeated ids once); padded rows are always sorted.
 * Errors name the row.
 */
export function maskFromServer(form: ServerMask, vocab: number, options: FromListsOptions = {}): SamplingMask {
  if (form instanceof SamplingMask) {
    if (form.vocab !== vocab)
      throw rangeError('ERR_SM_OUT_OF_RANGE', 'masks', `vocab ${form.vocab} differs from ${vocab}`);
    return form;
  }
  if (form === null || typeof form !== 'object') throw typeError('masks', kForms);
  if (has(form, 'token_ids', 'offsets')) return fromLists(csrRows(form as CsrLists), vocab, options);
  if (has(form, 'ids', 'rows', 'width')) {
    const padded = form as PaddedIds;
    return SamplingMask.fromPadded(padded.ids, padded.rows, padded.width, vocab);
  }
  if (has(form, 'bitmask', 'rows')) {
    const packed = form as PackedBits;
    if (!isTypedArrayOf(packed.bitmask, 'Uint8Array')) throw typeError('masks.bitmask', 'expected a Uint8Array');
    return SamplingMask.fromBitmask(packed.bitmask, packed.rows, vocab);
  }
  if (!isArrayLike(form)) throw typeError('masks', kForms);
  return fromLists(form, vocab, options);
}
