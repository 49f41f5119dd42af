// Compact, checked bytes for a SamplingMask (format: README "Serialized
// masks", defined in code in native/cpu/mask_codec.h).
import { addon } from './native';
import { SamplingMask, wrapNativeCsr } from './sampling-mask';
import { typeError } from './errors';

function maskArgument(mask: unknown): SamplingMask {
  if (!(mask instanceof SamplingMask)) {
    throw typeError('mask', 'expected a SamplingMask');
  }
  return mask;
}

/**
 * The mask as bytes: a versioned header, each row as delta-varint ids or a
 * bitmap (whichever is smaller), and a CRC-32C over everything.
 */
export function serialize(mask: SamplingMask): Uint8Array {
  const { offsets, indices, vocab } = maskArgument(mask);
  return serializeCsr(offsets, indices, vocab);
}

/** serialize() of a mask's fields, read once by the caller (the addon checks them, on a snapshot when shared). @internal */
export function serializeCsr(offsets: Int32Array, indices: Int32Array, vocab: number): Uint8Array {
  return addon.serializeMask({ offsets, indices, vocab });
}

/**
 * The mask that serialize() wrote. Bad bytes throw a RangeError whose code
 * says why: ERR_SM_TRUNCATED, ERR_SM_BAD_MAGIC, ERR_SM_UNSUPPORTED_VERSION,
 * ERR_SM_CHECKSUM or ERR_SM_CORRUPT_MASK (with `row` when one is to blame).
 */
export function deserialize(bytes: Uint8Array): SamplingMask {
  const csr = addon.deserializeMask(bytes);
  return wrapNativeCsr(csr.offsets, csr.indices, csr.vocab);
}

/** CRC-32C (Castagnoli) of bytes, continuing from seed (default 0). */
export function crc32c(bytes: Uint8Array, seed?: number): number {
  return addon.crc32c({ bytes, seed });
}
