#include "mask_codec.h"

#include <cstring>

#include "../core/rule.h"
#include "crc32c.h"

namespace sm::host::codec {
namespace {

// Explicit byte order, so the format is the same on every host.
void put_u16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
void put_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void put_u64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint16_t get_u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t get_u32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t get_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

int count_trailing_zeros(uint64_t v) {
#if defined(__GNUC__) || defined(__clang__)
  return __builtin_ctzll(v);
#else
  int n = 0;
  while ((v & 1u) == 0) {
    v >>= 1;
    ++n;
  }
  return n;
#endif
}

size_t varint_length(uint32_t v) {
  return 1 + (v >= (1u << 7)) + (v >= (1u << 14)) + (v >= (1u << 21)) + (v >= (1u << 28));
}

// Every varint of the format is below 2^25 (ids and counts are at most
// kMaxVocab = 2^23), so it takes at most 4 bytes: written as one 4-byte store.
// The bytes past its end are overwritten by what follows (at the payload's end,
// by the checksum), so the store needs no room beyond the format's own bytes.
uint8_t* put_varint(uint8_t* p, uint32_t v) {
  const size_t length = varint_length(v);
  const uint32_t groups = (v & 0x7Fu) | ((v << 1) & 0x7F00u) | ((v << 2) & 0x7F0000u) | ((v << 3) & 0x7F000000u);
  const uint32_t continuation = 0x80808080u & static_cast<uint32_t>((uint64_t{1} << (8 * (length - 1))) - 1);
  put_u32(p, groups | continuation);
  return p + length;
}

constexpr uint32_t kInvalidRow = UINT32_MAX;

// The size of a row in the varint form, or kInvalidRow unless the ids are
// strictly ascending within [0, vocab). Branch-free over the ids so it
// vectorizes: a gap (id - previous - 1, in 32-bit unsigned arithmetic) below
// vocab at every step, a first id in range and a last id below vocab hold
// exactly for such rows (a descending step wraps to a gap >= 2^31 - vocab).
uint32_t row_varint_bytes(const int32_t* ids, int64_t count, uint32_t vocab) {
  if (count == 0) return 0;
  if (ids[0] < 0 || static_cast<uint32_t>(ids[count - 1]) >= vocab || count > vocab) return kInvalidRow;
  uint32_t bad = 0;
  uint32_t bytes = static_cast<uint32_t>(varint_length(static_cast<uint32_t>(ids[0])));
  for (int64_t j = 1; j < count; ++j) {
    const uint32_t gap = static_cast<uint32_t>(ids[j]) - static_cast<uint32_t>(ids[j - 1]) - 1u;
    bad |= static_cast<uint32_t>(gap >= vocab);
    bytes += static_cast<uint32_t>(varint_length(gap));
  }
  return bad ? kInvalidRow : bytes;
}

// Reads one varint at p of at most 4 bytes (longer ones are not in the
// format); kChecked: p may be at end, or the varint may run past it. The
// 4-byte load may pass end by up to 3 bytes, into the checksum that always
// follows the payload, never past the input. Branches on the length: within a
// row lengths repeat, so they predict well, and the next read does not wait
// for a computed length.
template <bool kChecked>
inline bool get_varint(const uint8_t*& p, const uint8_t* end, uint32_t* value) {
  if (kChecked && p >= end) return false;
  const uint32_t word = get_u32(p);
  int length;
  if ((word & 0x80u) == 0) {
    *value = word & 0x7Fu;
    length = 1;
  } else if ((word & 0x8000u) == 0) {
    *value = (word & 0x7Fu) | ((word >> 1) & 0x3F80u);
    length = 2;
  } else if ((word & 0x800000u) == 0) {
    *value = (word & 0x7Fu) | ((word >> 1) & 0x3F80u) | ((word >> 2) & 0x1FC000u);
    length = 3;
  } else if ((word & 0x80000000u) == 0) {
    *value = (word & 0x7Fu) | ((word >> 1) & 0x3F80u) | ((word >> 2) & 0x1FC000u) | ((word >> 3) & 0xFE00000u);
    length = 4;
  } else {
    return false;
  }
  if (kChecked && length > end - p) return false;
  p += length;
  return true;
}

size_t bitmap_bytes(int64_t vocab) { return static_cast<size_t>((vocab + 7) / 8); }

Status failure(Error error, int64_t row = -1, uint64_t expected = 0, uint64_t actual = 0) {
  Status s;
  s.error = error;
  s.row = row;
  s.expected = expected;
  s.actual = actual;
  return s;
}

uint8_t* encode_varint_row(const int32_t* ids, int64_t count, uint8_t* p) {
  int32_t previous = -1;
  for (int64_t j = 0; j < count; ++j) {
    p = put_varint(p, static_cast<uint32_t>(ids[j] - previous - 1));
    previous = ids[j];
  }
  return p;
}

uint8_t* encode_bitmap_row(const int32_t* ids, int64_t count, size_t bytes, uint8_t* p) {
  std::memset(p, 0, bytes);
  for (int64_t j = 0; j < count; ++j) p[ids[j] >> 3] |= static_cast<uint8_t>(1u << (ids[j] & 7));
  return p + bytes;
}

// Ids are accumulated in 64 bits (count * 2^28 cannot wrap), so ascending
// order holds by construction and only the last id needs the vocab check;
// a bad row may leave garbage in out, but it is then an error.
template <bool kChecked>
bool decode_varint_ids(const uint8_t*& p, const uint8_t* end, uint32_t count, uint32_t vocab, int32_t* out) {
  uint64_t next = 0;  // previous id + 1
  for (uint32_t j = 0; j < count; ++j) {
    uint32_t gap;
    if (!get_varint<kChecked>(p, end, &gap)) return false;
    out[j] = static_cast<int32_t>(next + gap);
    next += uint64_t{gap} + 1;
  }
  return next <= vocab;
}

bool decode_varint_row(const uint8_t*& p, const uint8_t* end, uint32_t count, uint32_t vocab, int32_t* out) {
  // With room for count varints of the longest form, no read can pass end.
  return static_cast<uint64_t>(end - p) >= uint64_t{4} * count ? decode_varint_ids<false>(p, end, count, vocab, out)
                                                               : decode_varint_ids<true>(p, end, count, vocab, out);
}

bool decode_bitmap_row(const uint8_t*& p, const uint8_t* end, uint32_t count, uint32_t vocab, int32_t* out) {
  const size_t bytes = bitmap_bytes(vocab);
  if (static_cast<size_t>(end - p) < bytes) return false;
  uint32_t written = 0;
  for (size_t at = 0; at < bytes; at += 8) {
    const size_t n = bytes - at < 8 ? bytes - at : 8;
    uint64_t word = 0;
    for (size_t i = 0; i < n; ++i) word |= static_cast<uint64_t>(p[at + i]) << (8 * i);
    while (word != 0) {
      const uint32_t id = static_cast<uint32_t>(at * 8) + static_cast<uint32_t>(count_trailing_zeros(word));
      if (id >= vocab || written == count) return false;
      out[written++] = static_cast<int32_t>(id);
      word &= word - 1;
    }
  }
  p += bytes;
  return written == count;
}

}  // namespace

Status plan_encode(const Csr& csr, EncodePlan* plan) {
  if (csr.rows < 0 || csr.rows > UINT32_MAX || csr.vocab < 1 || csr.vocab > kMaxVocab) return failure(Error::kHeader);
  if (csr.offsets[0] != 0) return failure(Error::kOffsets, 0);
  const size_t bitmap = bitmap_bytes(csr.vocab);
  plan->varint_bytes.resize(static_cast<size_t>(csr.rows));
  size_t payload = 0;
  for (int64_t r = 0; r < csr.rows; ++r) {
    const int64_t start = csr.offsets[r];
    const int64_t stop = csr.offsets[r + 1];
    if (stop < start || stop > csr.index_count) return failure(Error::kOffsets, r);
    const uint32_t bytes = row_varint_bytes(csr.indices + start, stop - start, static_cast<uint32_t>(csr.vocab));
    if (bytes == kInvalidRow) return failure(Error::kIds, r);
    plan->varint_bytes[r] = bytes;
    payload += varint_length(static_cast<uint32_t>((stop - start) << 1)) + (bytes <= bitmap ? bytes : bitmap);
  }
  if (csr.offsets[csr.rows] != csr.index_count) return failure(Error::kOffsets, csr.rows);
  plan->payload_bytes = payload;
  plan->total_bytes = kHeaderBytes + payload + kChecksumBytes;
  return {};
}

void encode(const Csr& csr, const EncodePlan& plan, uint8_t* out) {
  const size_t bitmap = bitmap_bytes(csr.vocab);
  uint8_t* p = out;
  std::memcpy(p, kMagic, 4);
  put_u16(p + 4, kVersion);
  put_u16(p + 6, kEncodingRowAdaptive);
  put_u32(p + 8, static_cast<uint32_t>(csr.rows));
  put_u32(p + 12, static_cast<uint32_t>(csr.vocab));
  put_u64(p + 16, static_cast<uint64_t>(csr.index_count));
  put_u64(p + 24, plan.payload_bytes);
  p += kHeaderBytes;
  for (int64_t r = 0; r < csr.rows; ++r) {
    const int32_t* ids = csr.indices + csr.offsets[r];
    const int64_t count = csr.offsets[r + 1] - csr.offsets[r];
    const bool as_bitmap = plan.varint_bytes[r] > bitmap;
    p = put_varint(p, static_cast<uint32_t>(count << 1) | (as_bitmap ? 1u : 0u));
    p = as_bitmap ? encode_bitmap_row(ids, count, bitmap, p) : encode_varint_row(ids, count, p);
  }
  put_u32(p, crc32c(out, kHeaderBytes + plan.payload_bytes));
}

Status read_header(const uint8_t* bytes, size_t length, Header* header) {
  if (length < kHeaderBytes + kChecksumBytes)
    return failure(Error::kTooShort, -1, kHeaderBytes + kChecksumBytes, length);
  if (std::memcmp(bytes, kMagic, 4) != 0) return failure(Error::kMagic);
  const uint16_t version = get_u16(bytes + 4);
  if (version != kVersion) return failure(Error::kVersion, -1, kVersion, version);
  const uint16_t encoding = get_u16(bytes + 6);
  if (encoding != kEncodingRowAdaptive) return failure(Error::kEncoding, -1, kEncodingRowAdaptive, encoding);
  Header h;
  h.rows = get_u32(bytes + 8);
  h.vocab = get_u32(bytes + 12);
  h.index_count = get_u64(bytes + 16);
  h.payload_bytes = get_u64(bytes + 24);
  const uint64_t available = length - kHeaderBytes - kChecksumBytes;
  if (h.payload_bytes > available)
    return failure(Error::kTruncated, -1, h.payload_bytes + kHeaderBytes + kChecksumBytes, length);
  if (h.payload_bytes < available)
    return failure(Error::kTrailingBytes, -1, h.payload_bytes + kHeaderBytes + kChecksumBytes, length);
  const uint32_t stored = get_u32(bytes + kHeaderBytes + h.payload_bytes);
  const uint32_t computed = crc32c(bytes, kHeaderBytes + h.payload_bytes);
  if (stored != computed) return failure(Error::kChecksum, -1, stored, computed);
  // Every row takes at least one byte and every payload byte holds at most 8
  // ids, so nothing allocated below can outgrow the input by more than that.
  if (h.vocab < 1 || h.vocab > kMaxVocab || h.rows > h.payload_bytes || h.rows >= INT32_MAX ||
      h.index_count > INT32_MAX || h.index_count > h.payload_bytes * 8 ||
      h.index_count > static_cast<uint64_t>(h.rows) * h.vocab)
    return failure(Error::kHeader);
  *header = h;
  return {};
}

Status decode(const uint8_t* bytes, size_t length, const Header& header, int32_t* offsets, int32_t* indices) {
  if (length != kHeaderBytes + header.payload_bytes + kChecksumBytes) return failure(Error::kTruncated);
  const uint8_t* p = bytes + kHeaderBytes;
  const uint8_t* const end = p + header.payload_bytes;
  uint64_t total = 0;
  offsets[0] = 0;
  for (uint32_t r = 0; r < header.rows; ++r) {
    uint32_t row_header;
    if (!get_varint<true>(p, end, &row_header)) return failure(Error::kRow, r);
    const uint32_t count = row_header >> 1;
    if (count > header.vocab) return failure(Error::kRow, r);
    if (count > header.index_count - total) return failure(Error::kIdCount, r, header.index_count, total + count);
    int32_t* out = indices + total;
    const bool ok = (row_header & 1u) ? decode_bitmap_row(p, end, count, header.vocab, out)
                                      : decode_varint_row(p, end, count, header.vocab, out);
    if (!ok) return failure(Error::kRow, r);
    total += count;
    offsets[r + 1] = static_cast<int32_t>(total);
  }
  if (p != end)
    return failure(Error::kPayloadLeft, -1, header.payload_bytes, static_cast<uint64_t>(p - (bytes + kHeaderBytes)));
  if (total != header.index_count) return failure(Error::kIdCount, -1, header.index_count, total);
  return {};
}

}  // namespace sm::host::codec
