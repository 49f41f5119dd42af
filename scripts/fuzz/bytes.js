// Bytes for the decoders: serialized masks and record streams, intact or
// mutated (bit flips, overwritten or inserted bytes, cuts, header fields set
// to extreme values with their checksums recomputed so that the decoder gets
// past the CRC to the sizes it allocates from), and random bytes.
'use strict';

// Serialized mask header (README "Serialized masks").
const kMaskFields = [
  { at: 4, bytes: 2 }, // version
  { at: 6, bytes: 2 }, // encoding
  { at: 8, bytes: 4 }, // rows
  { at: 12, bytes: 4 }, // vocab
  { at: 16, bytes: 8 }, // kept ids in all rows
  { at: 24, bytes: 8 }, // payload bytes
];
// Record header (README "Record streams").
const kRecordFields = [
  { at: 4, bytes: 2 }, // version
  { at: 6, bytes: 2 }, // flags
  { at: 8, bytes: 4 }, // body length
];
const kExtremes = [0, 1, 2, 0xff, 0xffff, 2 ** 23, 2 ** 23 + 1, 2 ** 25, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1];

function randomMask(rng, pkg) {
  const vocab = rng.pick([1, 2, 9, 64, 1000, 5000]);
  const rows = rng.int(0, 40);
  const lists = Array.from({ length: rows }, () => {
    // Some dense rows, so that the bitmap encoding appears too.
    const density = rng.pick([0, 0.001, 0.01, 0.3, 0.9]);
    const ids = [];
    for (let id = 0; id < vocab; id++) if (rng.next() < density) ids.push(id);
    return ids;
  });
  return pkg.SamplingMask.fromLists(lists, vocab);
}

function setField(bytes, field, value) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (field.bytes === 2) view.setUint16(field.at, value & 0xffff, true);
  else if (field.bytes === 4) view.setUint32(field.at, value >>> 0, true);
  else view.setBigUint64(field.at, BigInt(value), true);
}

// Recomputes the checksums a field edit broke, so the decoder looks further.
function fixMaskCrc(pkg, bytes) {
  if (bytes.length < 36) return;
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(bytes.length - 4, pkg.crc32c(bytes.subarray(0, bytes.length - 4)), true);
}

function fixRecordHeaderCrc(pkg, bytes) {
  if (bytes.length < 16) return;
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(12, pkg.crc32c(bytes.subarray(0, 12)), true);
}

function concatBytes(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function mutate(rng, pkg, bytes, format) {
  const out = Uint8Array.from(bytes);
  const kind = rng.pick(['flip', 'overwrite', 'cut', 'extend', 'insert', 'field', 'field', 'field']);
  if (out.length === 0 && kind !== 'extend') return { bytes: out, mutation: 'intact' };
  switch (kind) {
    case 'flip':
      for (let k = rng.int(1, 4); k > 0; k--) out[rng.int(0, out.length - 1)] ^= 1 << rng.int(0, 7);
      return { bytes: out, mutation: 'bit flips' };
    case 'overwrite':
      for (let k = rng.int(1, 8); k > 0; k--) out[rng.int(0, out.length - 1)] = rng.pick([0, 0xff, 0x80, 0x7f, rng.int(0, 255)]);
      return { bytes: out, mutation: 'overwritten bytes' };
    case 'cut':
      return { bytes: out.slice(0, rng.int(0, out.length - 1)), mutation: 'a cut' };
    case 'extend':
      return { bytes: concatBytes([out, Uint8Array.from({ length: rng.int(1, 64) }, () => rng.int(0, 255))]), mutation: 'extra bytes' };
    case 'insert': {
      const at = rng.int(0, out.length);
      return { bytes: concatBytes([out.subarray(0, at), Uint8Array.of(rng.int(0, 255)), out.subarray(at)]), mutation: 'an inserted byte' };
    }
    default: {
      if (format === 'file') {
        // A safetensors header length (or any file's first 8 bytes) set to an extreme.
        if (out.length >= 8) new DataView(out.buffer).setBigUint64(0, BigInt(rng.pick(kExtremes)), true);
        return { bytes: out, mutation: 'first 8 bytes set to an extreme' };
      }
      const fields = format === 'mask' ? kMaskFields : kRecordFields;
      const field = rng.pick(fields);
      if (out.length < field.at + field.bytes) return { bytes: out, mutation: 'intact' };
      setField(out, field, rng.pick(kExtremes));
      if (format === 'mask') {
        fixMaskCrc(pkg, out);
      } else {
        fixRecordHeaderCrc(pkg, out);
      }
      return { bytes: out, mutation: `header field at ${field.at} set, checksum fixed` };
    }
  }
}

// A file of the formats (safetensors, Arrow IPC, Parquet) of one to three
// requests' masks, with the reader that takes it; vocab is in the file.
function rolloutFile(rng, pkg) {
  const masks = Array.from({ length: rng.int(1, 3) }, () => randomMask(rng, pkg));
  const vocab = masks[0].vocab;
  const records = masks.map((mask, id) => ({
    id,
    mask: pkg.SamplingMask.fromLists(
      mask.toLists().map((ids) => ids.filter((i) => i < vocab)),
      vocab,
    ),
  }));
  switch (rng.int(0, 4)) {
    case 0:
      return {
        bytes: pkg.maskToSafetensors(records[0].mask, { padded: rng.chance(0.3) }),
        originals: [records[0].mask],
        consumer: 'maskFromSafetensors',
      };
    case 1:
      return { bytes: pkg.writeRolloutsSafetensors(records), originals: records.map((r) => r.mask), consumer: 'readRolloutsSafetensors' };
    case 2:
      return {
        bytes: pkg.writeRolloutsArrow(records, { format: rng.pick(['stream', 'file']) }),
        originals: records.map((r) => r.mask),
        consumer: 'readRolloutsArrow',
      };
    case 3:
      return { bytes: pkg.writeRolloutsParquet(records), originals: records.map((r) => r.mask), consumer: 'readRolloutsParquet' };
    default:
      return { bytes: pkg.maskToSafetensors(records[0].mask), originals: undefined, consumer: 'decodeSafetensors' };
  }
}

/** One input for a decoder: { input, original (masks, when known), consumer, mutation }. */
function mutatedBytes(rng, pkg) {
  const source = rng.pick(['mask', 'records', 'random', 'file', 'file']);
  if (source === 'file') {
    const { bytes, originals, consumer } = rolloutFile(rng, pkg);
    const { bytes: input, mutation } = rng.chance(0.15) ? { bytes, mutation: 'intact' } : mutate(rng, pkg, bytes, 'file');
    return { input, original: originals, consumer, mutation };
  }
  if (source === 'random') {
    const magic = rng.pick([[], [0x53, 0x4d, 0x53, 0x4b], [0x53, 0x4d, 0x52, 0x53]]);
    const input = concatBytes([Uint8Array.from(magic), Uint8Array.from({ length: rng.int(0, 200) }, () => rng.int(0, 255))]);
    const consumer = rng.pick(['deserialize', 'decodeRecords', 'MaskRecordReader', 'crc32c']);
    return { input, consumer, mutation: 'random bytes' };
  }
  if (source === 'mask') {
    const mask = randomMask(rng, pkg);
    const encoded = pkg.serialize(mask);
    const { bytes, mutation } = rng.chance(0.15) ? { bytes: encoded, mutation: 'intact' } : mutate(rng, pkg, encoded, 'mask');
    return { input: bytes, original: [mask], consumer: 'deserialize', mutation };
  }
  const masks = Array.from({ length: rng.int(1, 4) }, () => randomMask(rng, pkg));
  const encoded = concatBytes(masks.map((mask, id) => pkg.encodeRecord({ id, mask })));
  const { bytes, mutation } = rng.chance(0.15) ? { bytes: encoded, mutation: 'intact' } : mutate(rng, pkg, encoded, 'records');
  return { input: bytes, original: masks, consumer: rng.pick(['decodeRecords', 'MaskRecordReader']), mutation };
}

module.exports = { mutatedBytes };
