#include "crc32c.h"

#include <array>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define SM_CRC32C_X86 1
#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)
#include <arm_acle.h>
#define SM_CRC32C_ARM 1
#endif

namespace sm::host {
namespace {

constexpr uint32_t kPolynomial = 0x82F63B78u;  // reflected Castagnoli

// Slicing-by-8 tables: table[k][b] is the CRC of byte b followed by k zero bytes.
using Tables = std::array<std::array<uint32_t, 256>, 8>;

Tables make_tables() {
  Tables t{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t c = b;
    for (int i = 0; i < 8; ++i) c = (c >> 1) ^ ((c & 1u) ? kPolynomial : 0u);
    t[0][b] = c;
  }
  for (int k = 1; k < 8; ++k)
    for (uint32_t b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFF];
  return t;
}

const Tables& tables() {
  static const Tables t = make_tables();
  return t;
}

uint64_t load_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

uint32_t crc32c_table(const uint8_t* p, size_t n, uint32_t crc) {
  const Tables& t = tables();
  for (; n >= 8; n -= 8, p += 8) {
    const uint64_t v = load_le64(p) ^ crc;
    crc = t[7][v & 0xFF] ^ t[6][(v >> 8) & 0xFF] ^ t[5][(v >> 16) & 0xFF] ^ t[4][(v >> 24) & 0xFF] ^
          t[3][(v >> 32) & 0xFF] ^ t[2][(v >> 40) & 0xFF] ^ t[1][(v >> 48) & 0xFF] ^ t[0][v >> 56];
  }
  for (; n > 0; --n, ++p) crc = (crc >> 8) ^ t[0][(crc ^ *p) & 0xFF];
  return crc;
}

#if SM_CRC32C_X86
__attribute__((target("sse4.2"))) uint32_t crc32c_sse42(const uint8_t* p, size_t n, uint32_t crc) {
  uint64_t c = crc;
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  for (; n > 0; --n, ++p) c32 = _mm_crc32_u8(c32, *p);
  return c32;
}
#endif

#if SM_CRC32C_ARM
uint32_t crc32c_arm(const uint8_t* p, size_t n, uint32_t crc) {
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    crc = __crc32cd(crc, v);
  }
  for (; n > 0; --n, ++p) crc = __crc32cb(crc, *p);
  return crc;
}
#endif

using Impl = uint32_t (*)(const uint8_t*, size_t, uint32_t);

struct Chosen {
  Impl impl;
  const char* name;
};

Chosen choose() {
  // SAMPLING_MASK_CRC32C=table forces the portable path (tests compare both).
  const char* forced = std::getenv("SAMPLING_MASK_CRC32C");
  if (forced != nullptr && std::strcmp(forced, "table") == 0) return {crc32c_table, "table"};
#if SM_CRC32C_X86
  if (__builtin_cpu_supports("sse4.2")) return {crc32c_sse42, "sse4.2"};
#endif
#if SM_CRC32C_ARM
  return {crc32c_arm, "armv8-crc"};
#endif
  return {crc32c_table, "table"};
}

const Chosen& chosen() {
  static const Chosen c = choose();
  return c;
}

}  // namespace

uint32_t crc32c(const void* data, size_t length, uint32_t crc) {
  return ~chosen().impl(static_cast<const uint8_t*>(data), length, ~crc);
}

const char* crc32c_impl() { return chosen().name; }

}  // namespace sm::host
