// The serialized form of a SamplingMask. This header is the one place the
// format is defined in code; README "Serialized masks" describes it in words.
//
// All integers little-endian.
//   offset 0    magic "SMSK"
//          4    u16 version (kVersion)
//          6    u16 encoding (kEncodingRowAdaptive)
//          8    u32 rows
//          12   u32 vocab
//          16   u64 kept ids in all rows
//          24   u64 payload bytes P
//          32   payload, row after row: varint (count << 1 | is_bitmap), then
//                 varint row: count varints, id - previous id - 1 (previous
//                             starts at -1, so the first is the id itself)
//                 bitmap row: ceil(vocab / 8) bytes, id i = bit (i & 7) of
//                             byte (i >> 3); bits at or past vocab are zero
//               The encoder picks, per row, whichever is smaller (varint on a tie).
//          32+P u32 CRC-32C of bytes [0, 32 + P)
// Varints are LEB128 (7 bits per byte, low group first). Every value is below
// 2^25 (ids and counts are at most kMaxVocab = 2^23), so at most 4 bytes;
// longer varints are rejected.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sm::host::codec {

constexpr uint8_t kMagic[4] = {'S', 'M', 'S', 'K'};
constexpr uint16_t kVersion = 1;
constexpr uint16_t kEncodingRowAdaptive = 1;
constexpr size_t kHeaderBytes = 32;
constexpr size_t kChecksumBytes = 4;

// A mask in CSR form: row r keeps indices[offsets[r] .. offsets[r + 1]).
struct Csr {
  const int32_t* offsets = nullptr;  // rows + 1 entries
  const int32_t* indices = nullptr;  // index_count entries
  int64_t rows = 0;
  int64_t index_count = 0;
  int64_t vocab = 0;
};

enum class Error {
  kNone,
  // encode: the CSR given is not a valid mask
  kOffsets,  // offsets do not start at 0, decrease, or do not end at index_count
  kIds,      // a row is not strictly ascending within [0, vocab)
  // decode
  kTooShort,       // fewer bytes than a header and a checksum
  kMagic,          // not a serialized mask
  kVersion,        // a format version this build does not read
  kEncoding,       // an encoding this build does not read
  kTruncated,      // fewer bytes than the header declares
  kTrailingBytes,  // more bytes than the header declares
  kChecksum,       // CRC-32C mismatch
  kHeader,         // rows, vocab or id count impossible for the byte length
  kRow,            // a row's payload is inconsistent (count, ids, overrun)
  kPayloadLeft,    // rows decoded but payload bytes remain
  kIdCount,        // rows hold a different number of ids than the header says
};

struct Status {
  Error error = Error::kNone;
  int64_t row = -1;       // the row concerned, when there is one
  uint64_t expected = 0;  // for length and count errors: what the header says
  uint64_t actual = 0;    // and what was found
  bool ok() const { return error == Error::kNone; }
};

// Encoding is two passes so the caller allocates the output once, exactly:
// plan_encode checks the CSR and sizes each row, encode writes.
struct EncodePlan {
  std::vector<uint32_t> varint_bytes;  // per row: its size in the varint form
  size_t payload_bytes = 0;
  size_t total_bytes = 0;  // header + payload + checksum
};
Status plan_encode(const Csr& csr, EncodePlan* plan);
// Writes plan.total_bytes bytes to out; csr must be what plan_encode accepted.
void encode(const Csr& csr, const EncodePlan& plan, uint8_t* out);

struct Header {
  uint32_t rows = 0;
  uint32_t vocab = 0;
  uint64_t index_count = 0;
  uint64_t payload_bytes = 0;
};

// Checks everything that does not need the rows decoded (magic, version,
// lengths, checksum, sizes that the byte length can hold), so the caller can
// allocate header->rows + 1 offsets and header->index_count ids safely: the
// ids are at most 8 per payload byte.
Status read_header(const uint8_t* bytes, size_t length, Header* header);

// Decodes the rows of bytes (already accepted by read_header) into offsets
// (rows + 1) and indices (index_count). Every read is bounds-checked.
Status decode(const uint8_t* bytes, size_t length, const Header& header, int32_t* offsets, int32_t* indices);

}  // namespace sm::host::codec
