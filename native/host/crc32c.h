// CRC-32C (Castagnoli), the checksum of serialized masks and stream records.
// Hardware instructions are used where the CPU has them (picked at run time on
// x86-64), a table otherwise; every path gives the same value.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sm::host {

// Continues a CRC: crc32c(b, crc32c(a)) == crc32c(a followed by b). Start at 0.
uint32_t crc32c(const void* data, size_t length, uint32_t crc = 0);

// "sse4.2", "armv8-crc" or "table": which implementation crc32c() uses
// (SAMPLING_MASK_CRC32C=table in the environment forces the table).
const char* crc32c_impl();

}  // namespace sm::host
