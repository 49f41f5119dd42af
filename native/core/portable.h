// Scalar building blocks that must give the same bits on every backend.
//
// Everything here is compiled both by the host C++ compiler and by nvcc as
// __host__ __device__ code. Results are reproducible only because every
// operation is a single IEEE-754 operation with round-to-nearest-even:
// the host build uses -ffp-contract=off and the device build --fmad=false, and
// the helpers below name each rounding explicitly so that no compiler can fuse
// a multiply and an add behind our back.
#pragma once

#include <cstdint>
#include <cstring>

// Free functions get internal linkage (static): every translation unit keeps
// its own copy, so the CPU kernels compiled per instruction set (-march) can
// never end up sharing one wider-ISA copy through the linker.
#if defined(__CUDACC__)
#define SM_HD static __host__ __device__ __forceinline__
#define SM_HD_MEMBER __host__ __device__ __forceinline__
#else
#define SM_HD static inline
#define SM_HD_MEMBER inline
#endif

namespace sm {

// The same bits read as another type of the same size: the device's
// intrinsics, and memcpy on the host (no aliasing rules broken, and compilers
// turn it into a register move).
#if defined(__CUDA_ARCH__)
#define SM_BIT_CAST(name, to, from, intrinsic) \
  SM_HD to name(from value) { return static_cast<to>(intrinsic(value)); }
#else
#define SM_BIT_CAST(name, to, from, intrinsic) \
  SM_HD to name(from value) { \
    static_assert(sizeof(to) == sizeof(from)); \
    to bits; \
    std::memcpy(&bits, &value, sizeof bits); \
    return bits; \
  }
#endif
SM_BIT_CAST(bits_to_float, float, uint32_t, __uint_as_float)
SM_BIT_CAST(float_to_bits, uint32_t, float, __float_as_uint)
SM_BIT_CAST(bits_to_double, double, uint64_t, __longlong_as_double)
SM_BIT_CAST(double_to_bits, uint64_t, double, __double_as_longlong)
#undef SM_BIT_CAST

// One rounding each. On the device the _rn intrinsics are never contracted;
// on the host, -ffp-contract=off keeps the plain operators single roundings.
#if defined(__CUDA_ARCH__)
#define SM_ROUNDED_OP(name, type, op, intrinsic) \
  SM_HD type name(type a, type b) { return intrinsic(a, b); }
#else
#define SM_ROUNDED_OP(name, type, op, intrinsic) \
  SM_HD type name(type a, type b) { return a op b; }
#endif
SM_ROUNDED_OP(mul_rn, float, *, __fmul_rn)
SM_ROUNDED_OP(add_rn, float, +, __fadd_rn)
SM_ROUNDED_OP(sub_rn, float, -, __fsub_rn)
SM_ROUNDED_OP(div_rn, float, /, __fdiv_rn)
SM_ROUNDED_OP(dmul_rn, double, *, __dmul_rn)
SM_ROUNDED_OP(dadd_rn, double, +, __dadd_rn)
SM_ROUNDED_OP(dsub_rn, double, -, __dsub_rn)
SM_ROUNDED_OP(ddiv_rn, double, /, __ddiv_rn)
#undef SM_ROUNDED_OP

// condition ? a : b, both already computed, as a bit-wise blend: compilers
// then vectorize loops around it instead of keeping a branch (under
// -ftrapping-math they will not speculate the floating-point work of a
// ternary's arms). cpu/simd.h overloads it for vector lanes.
SM_HD float select(bool condition, float a, float b) {
  const uint32_t keep_a = 0u - static_cast<uint32_t>(condition);
  return bits_to_float((float_to_bits(a) & keep_a) | (float_to_bits(b) & ~keep_a));
}

// 2^e for a float holding a small integer e in [-126, 127].
SM_HD float pow2_of_integral(float e) {
#if defined(__CUDA_ARCH__)
  // e + 1.5 * 2^23 is exact and holds e in its low significand bits: integer
  // work instead of a float-to-int conversion, a slow instruction on GPUs.
  const uint32_t biased = float_to_bits(add_rn(e, 12582912.0f)) - 0x4b400000u + 127u;
#else
  const uint32_t biased = static_cast<uint32_t>(static_cast<int>(e) + 127);
#endif
  return bits_to_float(biased << 23);
}

// exp(d) = mantissa * 2^exponent for d in [-88, 0], from single roundings
// (Cephes' expf reduction and polynomial, relative error about 2e-7): the same
// bits on every backend, unlike libm's expf. Branch-free, so loops vectorize.
// A template so the CPU backend can run the same steps on vector lanes
// (cpu/simd.h); F is float everywhere else.
template <class F>
struct SplitExp {
  F mantissa;  // in [0.7, 1.42]
  F exponent;  // an integer
};

template <class F>
SM_HD SplitExp<F> split_exp(F d) {
  const F n = sub_rn(add_rn(mul_rn(d, F(1.44269504088896341f)), F(12582912.0f)), F(12582912.0f));
  F r = sub_rn(d, mul_rn(n, F(0.693359375f)));
  r = sub_rn(r, mul_rn(n, F(-2.12194440e-4f)));
  F poly = F(1.9875691500e-4f);
  poly = add_rn(mul_rn(poly, r), F(1.3981999507e-3f));
  poly = add_rn(mul_rn(poly, r), F(8.3334519073e-3f));
  poly = add_rn(mul_rn(poly, r), F(4.1665795894e-2f));
  poly = add_rn(mul_rn(poly, r), F(1.6666665459e-1f));
  poly = add_rn(mul_rn(poly, r), F(5.0000001201e-1f));
  return SplitExp<F>{add_rn(add_rn(mul_rn(mul_rn(poly, r), r), r), F(1.0f)), n};
}

// Logits in storage formats, widened to f32 exactly.
SM_HD float bf16_to_float(uint16_t h) { return bits_to_float(static_cast<uint32_t>(h) << 16); }

// Branch-free so that loops over half rows vectorize: shifting the 15 low bits
// into an f32 and scaling by 2^112 is exact for normals and subnormals alike.
SM_HD float f16_to_float(uint16_t h) {
  const float magnitude = mul_rn(bits_to_float(static_cast<uint32_t>(h & 0x7fffu) << 13), 5.192296858534828e33f);
  const uint32_t special = magnitude >= 65536.0f ? 0x7f800000u : 0u;  // exponent 31: inf, NaN
  return bits_to_float(float_to_bits(magnitude) | special | (static_cast<uint32_t>(h & 0x8000u) << 16));
}

// The masked value written back by fillLogits, in each storage format.
constexpr uint16_t kBf16NegInf = 0xff80u;
constexpr uint16_t kF16NegInf = 0xfc00u;

// Maps a non-NaN float to an unsigned key with the same order (-inf lowest,
// +inf highest). -0 and +0 compare equal, so they share a key: ties are counted
// by value. Radix and histogram selection work on keys.
SM_HD uint32_t order_key(float f) {
  const uint32_t bits = float_to_bits(add_rn(f, 0.0f));  // -0 + +0 == +0
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

SM_HD float key_to_float(uint32_t key) { return bits_to_float((key & 0x80000000u) ? (key & 0x7fffffffu) : ~key); }

constexpr float kPosInf = __builtin_inff();
constexpr float kNegInf = -__builtin_inff();

// Logits may hold -inf ("already excluded"); NaN and +inf are errors.
SM_HD bool is_nan_or_pos_inf(float f) { return !(f < kPosInf); }

}  // namespace sm
