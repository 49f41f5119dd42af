// Every form in which inference servers hand out sampling masks, to one
// SamplingMask (rows = generated tokens):
//   - id lists, one per generated token: vLLM's `sampling_mask` (ascending)
//     and SGLang's `meta_info.output_token_sampling_mask` (possibly in
//     probability order and repeating the sampled token: pass order 'sort');
//   - vLLM's CSR (`SamplingMaskLists`): { token_ids, offsets }, where the
//     offsets of a slice need not start at 0;
//   - ids padded with -1 to [tokens, top_k] (SkyRL): { ids, rows, width };
//   - a bitmask of [tokens, ceil(V / 8)] bytes (vLLM's fallback for wide rows): { bitmask, rows }.
import { describe, isTypedArrayOf, ownInt32, readList } from './args';
import { rangeError, typeError } from './errors';
import { checkVocab, fromLists, isArrayLike, type FromListsOptions } from './lists';
import type { PaddedIds } from './mask-formats';
import { SamplingMask } from './sampling-mask';

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

// Each row as a view (an Int32Array of the package's own) or a slice (the
// other array-likes, read once into a plain array) of token_ids, after
// checking its offsets (read once), so fromLists sees ordinary lists.
function csrRows(form: CsrLists): ArrayLike<number>[] {
  const { token_ids: tokenIds, offsets } = form;
  const ids: Int32Array | unknown[] = isTypedArrayOf(tokenIds, 'Int32Array')
    ? ownInt32(tokenIds, 'masks.token_ids', 'an array of token ids')
    : readList(tokenIds, 'masks.token_ids', 'an array of token ids');
  const bounds = readList(offsets, 'masks.offsets', 'an array of rows + 1 offsets');
  if (bounds.length < 1) throw typeError('masks.offsets', 'expected an array of rows + 1 offsets');
  // fromLists checks every id of these rows.
  const rows: ArrayLike<number>[] = new Array(bounds.length - 1);
  for (let r = 0; r < rows.length; r++) {
    const begin = bounds[r];
    const end = bounds[r + 1];
    if (
      !Number.isInteger(begin) ||
      !Number.isInteger(end) ||
      (begin as number) < 0 ||
      (end as number) < (begin as number) ||
      (end as number) > ids.length
    ) {
      throw rangeError(
        'ERR_SM_INVALID_MASK',
        'masks.offsets',
        `row ${r} spans [${describe(begin)}, ${describe(end)}) of ${ids.length} token_ids`,
        r,
      );
    }
    rows[r] = (
      ids instanceof Int32Array ? ids.subarray(begin as number, end as number) : ids.slice(begin as number, end as number)
    ) as ArrayLike<number>;
  }
  return rows;
}

/**
 * A mask from any server form (see the top of this file). `order` applies to
 * the list forms ('reject' by default: an unsorted row is an error; 'sort'
 * sorts it and keeps repeated ids once); padded rows are always sorted.
 * Errors name the row.
 */
export function maskFromServer(form: ServerMask, vocab: number, options?: FromListsOptions): SamplingMask {
  checkVocab(vocab);
  if (form instanceof SamplingMask) {
    // Taken as it is (its users check it where they index by it); its vocab read once.
    const formVocab = form.vocab;
    if (formVocab !== vocab) throw rangeError('ERR_SM_OUT_OF_RANGE', 'masks', `vocab ${describe(formVocab)} differs from ${vocab}`);
    return form;
  }
  if (form === null || typeof form !== 'object') throw typeError('masks', kForms);
  if (has(form, 'token_ids', 'offsets')) return fromLists(csrRows(form as CsrLists), vocab, options);
  if (has(form, 'ids', 'rows', 'width')) {
    const { ids, rows, width } = form as PaddedIds;
    return SamplingMask.fromPadded(ids, rows, width, vocab);
  }
  if (has(form, 'bitmask', 'rows')) {
    const { bitmask, rows } = form as PackedBits;
    if (!isTypedArrayOf(bitmask, 'Uint8Array')) throw typeError('masks.bitmask', 'expected a Uint8Array');
    return SamplingMask.fromBitmask(bitmask, rows, vocab);
  }
  if (!isArrayLike(form)) throw typeError('masks', kForms);
  return fromLists(form, vocab, options);
}
