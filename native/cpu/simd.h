// f32 lanes as a GCC/Clang vector type as wide as the target's registers
// (16 with AVX-512, 8 with AVX2, 4 otherwise: wider types are lowered lane by
// lane), so that the row passes are written once and compiled to SSE2, AVX2
// or AVX-512 by each row_kernels_<isa> translation unit. Lane operations are the IEEE single operations of the
// scalar code (no contraction: -ffp-contract=off), so every width gives the
// same bits; only fused_multiply_add, for the approximate top-p weights,
// rounds once where the scalar code would round twice. The overloads below let the rule's templated scalar pieces
// (core/rule.h) run on Lanes unchanged.
// Included only by row_kernels_impl.inc, inside that file's per-ISA namespace.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../core/types.h"

#if defined(__SSE2__)
#include <immintrin.h>
#endif

namespace sm::cpu::SM_ISA {

#if defined(__AVX512F__)
constexpr int kLanes = 16;
#elif defined(__AVX2__)
constexpr int kLanes = 8;
#else
constexpr int kLanes = 4;
#endif

typedef float FloatVec __attribute__((vector_size(4 * kLanes)));
typedef int32_t IntVec __attribute__((vector_size(4 * kLanes)));
typedef uint32_t UintVec __attribute__((vector_size(4 * kLanes)));
typedef uint16_t HalfVec __attribute__((vector_size(2 * kLanes)));
typedef float HalfFloatVec __attribute__((vector_size(2 * kLanes)));
typedef int64_t HalfInt64Vec __attribute__((vector_size(4 * kLanes)));  // one register of int64 lanes

// Lanes holding non-negative values below 2^52, truncated to int64, in two
// register-sized halves (lanes [0, kLanes/2) and the rest). AVX2 has no
// float-to-int64 conversion, and the generic one goes lane by lane; so there
// the lanes are widened to double (exact), truncated, and each integer t read
// from the significand of t + 2^52 (exact below 2^52).
inline void to_int64_halves(FloatVec v, HalfInt64Vec* low, HalfInt64Vec* high) {
#if defined(__AVX2__) && !defined(__AVX512F__)
  __m256 x;
  std::memcpy(&x, &v, sizeof x);
  const __m256d two_52 = _mm256_set1_pd(4503599627370496.0);
  const auto half = [&](__m128 h) {
    const __m256d t = _mm256_round_pd(_mm256_cvtps_pd(h), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    return _mm256_sub_epi64(_mm256_castpd_si256(_mm256_add_pd(t, two_52)), _mm256_castpd_si256(two_52));
  };
  const __m256i lo = half(_mm256_castps256_ps128(x)), hi = half(_mm256_extractf128_ps(x, 1));
  std::memcpy(low, &lo, sizeof lo);
  std::memcpy(high, &hi, sizeof hi);
#else
  HalfFloatVec half[2];
  std::memcpy(half, &v, sizeof half);
  *low = __builtin_convertvector(half[0], HalfInt64Vec);
  *high = __builtin_convertvector(half[1], HalfInt64Vec);
#endif
}

// Exact integer sums of truncated f32 lanes below 2^52, kept as two
// register-sized halves: a 16 x int64 vector would live on the stack.
struct LaneIntegerSums {
  HalfInt64Vec low{}, high{};
  void add(FloatVec v) {
    HalfInt64Vec lo, hi;
    to_int64_halves(v, &lo, &hi);
    low += lo;
    high += hi;
  }
  uint64_t total() const {
    uint64_t sum = 0;
    for (int j = 0; j < kLanes / 2; ++j) sum += static_cast<uint64_t>(low[j]) + static_cast<uint64_t>(high[j]);
    return sum;
  }
};

// Lanes widened to double and summed, in two register-sized halves: the
// approximate weights of top-p's bound (exact integers are not needed there).
typedef double HalfDoubleVec __attribute__((vector_size(4 * kLanes)));
struct LaneDoubleSums {
  HalfDoubleVec low{}, high{};
  void add(FloatVec v) {
#if defined(__AVX2__) && !defined(__AVX512F__)
    // (The generic conversion below goes two lanes at a time through memory.)
    __m256 x;
    std::memcpy(&x, &v, sizeof x);
    const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(x)), hi = _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1));
    HalfDoubleVec lo_lanes, hi_lanes;
    std::memcpy(&lo_lanes, &lo, sizeof lo);
    std::memcpy(&hi_lanes, &hi, sizeof hi);
    low += lo_lanes;
    high += hi_lanes;
#else
    HalfFloatVec half[2];
    std::memcpy(half, &v, sizeof half);
    low += __builtin_convertvector(half[0], HalfDoubleVec);
    high += __builtin_convertvector(half[1], HalfDoubleVec);
#endif
  }
  double total() const {
    double sum = 0;
    for (int j = 0; j < kLanes / 2; ++j) sum += low[j] + high[j];
    return sum;
  }
};

struct Mask {
  IntVec bits;  // -1 where true
  friend Mask operator&(Mask a, Mask b) { return {a.bits & b.bits}; }
  friend Mask operator|(Mask a, Mask b) { return {a.bits | b.bits}; }
  friend Mask operator~(Mask a) { return {~a.bits}; }
};

struct Lanes {
  FloatVec v;
  Lanes() = default;
  Lanes(FloatVec value) : v(value) {}
  Lanes(float broadcast) : v(FloatVec{} + broadcast) {}  // NOLINT: a scalar means every lane

  friend Lanes operator+(Lanes a, Lanes b) { return a.v + b.v; }
  friend Lanes operator-(Lanes a, Lanes b) { return a.v - b.v; }
  friend Lanes operator*(Lanes a, Lanes b) { return a.v * b.v; }
  friend Lanes operator/(Lanes a, Lanes b) { return a.v / b.v; }
  friend Lanes operator-(Lanes a) { return -a.v; }
  friend Mask operator>=(Lanes a, Lanes b) { return {a.v >= b.v}; }
  friend Mask operator>(Lanes a, Lanes b) { return {a.v > b.v}; }
  friend Mask operator<(Lanes a, Lanes b) { return {a.v < b.v}; }
};

// The scalar versions stay visible beside the lane overloads below (which
// would otherwise hide them, floats converting to Lanes).
using sm::add_rn;
using sm::div_rn;
using sm::mul_rn;
using sm::select;
using sm::sub_rn;

inline Lanes mul_rn(Lanes a, Lanes b) { return a * b; }
inline Lanes add_rn(Lanes a, Lanes b) { return a + b; }
inline Lanes sub_rn(Lanes a, Lanes b) { return a - b; }
inline Lanes div_rn(Lanes a, Lanes b) { return a / b; }
inline Lanes select(Mask m, Lanes a, Lanes b) { return Lanes(m.bits ? a.v : b.v); }
// 0, 1, ..., kLanes - 1.
inline IntVec lane_indices() {
  IntVec index;
  for (int j = 0; j < kLanes; ++j) index[j] = j;
  return index;
}
// The lanes below count.
inline Mask first_lanes(int64_t count) {
  return Mask{lane_indices() < static_cast<int32_t>(count < kLanes ? count : kLanes)};
}
inline IntVec select(Mask m, IntVec a, IntVec b) { return m.bits ? a : b; }
// 2^e for lanes holding small non-negative integers e.
inline Lanes pow2_of_integral(Lanes e) {
  const IntVec biased = (__builtin_convertvector(e.v, IntVec) + 127) << 23;
  FloatVec out;
  std::memcpy(&out, &biased, sizeof out);
  return out;
}

// Blocks of lanes in lockstep: Twin<Lanes> is two blocks, Twin<Twin<Lanes>>
// four. Each step of the rule's templated pieces (core/rule.h) runs on every
// block before the next step, so the exp's long chain of dependent roundings
// has independent twins beside it. Alone, one block's chain keeps too few
// operations ready for the vector units, and an out-of-order core overlaps
// too little of the next block to make up for it.
template <class T>
struct Twin {
  T first, second;
  Twin() = default;
  Twin(T a, T b) : first(a), second(b) {}
  Twin(float broadcast) : first(broadcast), second(broadcast) {}  // NOLINT: a scalar means every lane

  friend Twin operator&(Twin a, Twin b) { return {a.first & b.first, a.second & b.second}; }
  friend Twin operator|(Twin a, Twin b) { return {a.first | b.first, a.second | b.second}; }
  friend Twin operator~(Twin a) { return {~a.first, ~a.second}; }
  friend auto operator<(Twin a, Twin b) {
    return Twin<decltype(a.first < b.first)>{a.first < b.first, a.second < b.second};
  }
  friend auto operator>=(Twin a, Twin b) {
    return Twin<decltype(a.first >= b.first)>{a.first >= b.first, a.second >= b.second};
  }
  friend auto operator>(Twin a, Twin b) {
    return Twin<decltype(a.first > b.first)>{a.first > b.first, a.second > b.second};
  }
};

// The block x in every block of L (Lanes, or Twins of them).
template <class L>
inline L in_every_block(Lanes x) {
  if constexpr (std::is_same_v<L, Lanes>) {
    return x;
  } else {
    const auto block = in_every_block<decltype(L::first)>(x);
    return L(block, block);
  }
}

#define SM_TWIN_OP(name) \
  template <class T> \
  inline Twin<T> name(Twin<T> a, Twin<T> b) { \
    return {name(a.first, b.first), name(a.second, b.second)}; \
  }
SM_TWIN_OP(mul_rn)
SM_TWIN_OP(add_rn)
SM_TWIN_OP(sub_rn)
SM_TWIN_OP(div_rn)
#undef SM_TWIN_OP
template <class M, class T>
inline Twin<T> select(Twin<M> m, Twin<T> a, Twin<T> b) {
  return {select(m.first, a.first, b.first), select(m.second, a.second, b.second)};
}
template <class T>
inline Twin<T> pow2_of_integral(Twin<T> e) {
  return {pow2_of_integral(e.first), pow2_of_integral(e.second)};
}

// Bit j set iff lane j of m is true.
inline uint32_t lane_bits(Mask m) {
#if defined(__AVX512DQ__)
  __m512i v;
  std::memcpy(&v, &m.bits, sizeof v);
  return _mm512_movepi32_mask(v);
#elif defined(__AVX2__)
  __m256 v;
  std::memcpy(&v, &m.bits, sizeof v);
  return static_cast<uint32_t>(_mm256_movemask_ps(v));
#elif defined(__SSE2__)
  __m128 v;
  std::memcpy(&v, &m.bits, sizeof v);
  return static_cast<uint32_t>(_mm_movemask_ps(v));
#else
  uint32_t bits = 0;
  for (int j = 0; j < kLanes; ++j) bits |= (m.bits[j] != 0 ? 1u : 0u) << j;
  return bits;
#endif
}

inline bool any(Mask m) { return lane_bits(m) != 0; }
inline bool all(Mask m) { return lane_bits(m) == (1u << kLanes) - 1; }

// Calls fn(j) for every true lane j, in ascending order.
template <class Fn>
inline void for_each_lane(Mask m, const Fn& fn) {
  for (uint32_t bits = lane_bits(m); bits != 0; bits &= bits - 1) fn(__builtin_ctz(bits));
}

#if defined(__AVX2__) && !defined(__AVX512F__)
// For each 8-lane mask, the indices of its true lanes in ascending order, one
// byte each (the rest 0): a permutation that packs those lanes to the front.
struct PackTable {
  uint64_t lanes[256];
};
constexpr PackTable make_pack_table() {
  PackTable table{};
  for (uint32_t m = 0; m < 256; ++m) {
    int packed = 0;
    for (uint32_t j = 0; j < 8; ++j)
      if ((m >> j) & 1u) table.lanes[m] |= static_cast<uint64_t>(j) << (8 * packed++);
  }
  return table;
}
inline constexpr PackTable kPackTable = make_pack_table();
inline __m256i pack_permutation(uint32_t bits) {
  return _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<long long>(kPackTable.lanes[bits])));
}
#endif

// Stores the true lanes of v contiguously at out, in lane order; returns how
// many. Branch-free with AVX-512 and AVX2 (a mispredicted branch per block
// would cost more than the stores): AVX2 stores all kLanes lanes, so out must
// have room for kLanes values, those past the count being scratch.
inline int compress_store(Mask m, Lanes v, float* out) {
#if defined(__AVX512F__)
  const __mmask16 k = static_cast<__mmask16>(lane_bits(m));
  __m512 x;
  std::memcpy(&x, &v.v, sizeof x);
  _mm512_mask_compressstoreu_ps(out, k, x);
  return __builtin_popcount(k);
#elif defined(__AVX2__)
  const uint32_t bits = lane_bits(m);
  __m256 x;
  std::memcpy(&x, &v.v, sizeof x);
  _mm256_storeu_ps(out, _mm256_permutevar8x32_ps(x, pack_permutation(bits)));
  return __builtin_popcount(bits);
#else
  int count = 0;
  for_each_lane(m, [&](int j) { out[count++] = v.v[j]; });
  return count;
#endif
}

// The same for 32-bit integer lanes.
inline int compress_store(Mask m, IntVec v, int32_t* out) {
#if defined(__AVX512F__)
  const __mmask16 k = static_cast<__mmask16>(lane_bits(m));
  __m512i x;
  std::memcpy(&x, &v, sizeof x);
  _mm512_mask_compressstoreu_epi32(out, k, x);
  return __builtin_popcount(k);
#elif defined(__AVX2__)
  const uint32_t bits = lane_bits(m);
  __m256i x;
  std::memcpy(&x, &v, sizeof x);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm256_permutevar8x32_epi32(x, pack_permutation(bits)));
  return __builtin_popcount(bits);
#else
  int count = 0;
  for_each_lane(m, [&](int j) { out[count++] = v[j]; });
  return count;
#endif
}

// The same for the indices first + j of the true lanes j.
inline int compress_store_indices(Mask m, int32_t first, int32_t* out) {
#if defined(__AVX512F__)
  const __mmask16 k = static_cast<__mmask16>(lane_bits(m));
  const __m512i ids = _mm512_add_epi32(_mm512_set1_epi32(first),
                                       _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
  _mm512_mask_compressstoreu_epi32(out, k, ids);
  return __builtin_popcount(k);
#elif defined(__AVX2__)
  const uint32_t bits = lane_bits(m);  // the permutation is the packed lane indices themselves
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out),
                      _mm256_add_epi32(_mm256_set1_epi32(first), pack_permutation(bits)));
  return __builtin_popcount(bits);
#else
  int count = 0;
  for_each_lane(m, [&](int j) { out[count++] = first + j; });
  return count;
#endif
}

inline IntVec truncate_to_int(Lanes a) { return __builtin_convertvector(a.v, IntVec); }

#if defined(__FMA__)
// a * b + c with one rounding. Only the approximate weights use it: the
// rule's own arithmetic never fuses (every backend must round alike).
inline Lanes fused_multiply_add(Lanes a, Lanes b, Lanes c) {
#if defined(__AVX512F__)
  return FloatVec(_mm512_fmadd_ps(a.v, b.v, c.v));
#else
  return FloatVec(_mm256_fmadd_ps(a.v, b.v, c.v));
#endif
}

// 2^(e / 8) for e the low twelve bits of each lane of `eighths`, as a
// two's-complement integer in [-1008, 1023], where the power is a normal
// float (approximate_weight's e are -4 to 320).
// With e = 8k + j, 0 <= j < 8: a permute of a table held in a register gives
// 2^(j / 8) with j << 20 taken off its bits, and adding e << 20 to those adds
// k to the exponent and puts j back (the 16-lane permute reads four bits, so
// the table is there twice). Nothing waits on a shift of the exponent after
// the value it scales is known.
inline Lanes power_of_two_in_eighths(IntVec eighths) {
  constexpr uint32_t k0 = 0x3f800000u - (0u << 20), k1 = 0x3f8b95c2u - (1u << 20), k2 = 0x3f9837f0u - (2u << 20),
                     k3 = 0x3fa5fed7u - (3u << 20), k4 = 0x3fb504f3u - (4u << 20), k5 = 0x3fc5672au - (5u << 20),
                     k6 = 0x3fd744fdu - (6u << 20), k7 = 0x3feac0c7u - (7u << 20);
#if defined(__AVX512F__)
  __m512i i;
  std::memcpy(&i, &eighths, sizeof i);
  const __m512i table = _mm512_setr_epi32(k0, k1, k2, k3, k4, k5, k6, k7, k0, k1, k2, k3, k4, k5, k6, k7);
  // (The unmasked permute trips GCC 12's -Wuninitialized, as _mm512_max_ps does.)
  const __m512i picked = _mm512_mask_permutexvar_epi32(table, 0xffff, i, table);
#else
  __m256i i;
  std::memcpy(&i, &eighths, sizeof i);
  const __m256i picked = _mm256_permutevar8x32_epi32(_mm256_setr_epi32(k0, k1, k2, k3, k4, k5, k6, k7), i);
#endif
  UintVec bits, e;
  std::memcpy(&bits, &picked, sizeof bits);
  std::memcpy(&e, &eighths, sizeof e);
  bits += e << 20;
  FloatVec power;
  std::memcpy(&power, &bits, sizeof power);
  return power;
}

// a, or lo where a is below lo or NaN.
inline Lanes at_least(Lanes a, float lo) {
#if defined(__AVX512F__)
  // (GCC 12's _mm512_max_ps trips -Wuninitialized; a masked blend costs the same.)
  return a.v >= lo ? a.v : FloatVec{} + lo;
#else
  return FloatVec(_mm256_max_ps(a.v, _mm256_set1_ps(lo)));
#endif
}
#endif

// Sixteen stored logits widened to f32.
template <class S>
inline Lanes load_lanes(const typename S::Stored* p);

template <>
inline Lanes load_lanes<F32Storage>(const float* p) {
  FloatVec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <>
inline Lanes load_lanes<BF16Storage>(const uint16_t* p) {
  HalfVec h;
  std::memcpy(&h, p, sizeof h);
  const UintVec bits = __builtin_convertvector(h, UintVec) << 16;
  FloatVec v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

template <>
inline Lanes load_lanes<F16Storage>(const uint16_t* p) {
#if defined(__AVX512F__)
  return FloatVec(_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))));
#elif defined(__F16C__)
  return FloatVec(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
#else
  FloatVec v;
  for (int j = 0; j < kLanes; ++j) v[j] = f16_to_float(p[j]);
  return v;
#endif
}

}  // namespace sm::cpu::SM_ISA
