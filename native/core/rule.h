// The one rule, as scalar pieces shared by every backend (see README "The rule").
//
// A row's kept set is always an upper set of its logits: every filter keeps the
// values at or above a threshold, and z = x / T is monotone in x. So the whole
// rule reduces to one number per row, the cut: keep id i iff x_i >= cut. The
// backends only differ in how they search for the thresholds; every threshold
// is defined exactly below, so any correct search finds the same bits.
#pragma once

#include "portable.h"

namespace sm {

constexpr float kMaxFinite = 3.40282347e38f;

// Top-p weights are fixed-point integers with this many fractional bits: the
// maximum weighs exactly 2^40 and a weight below 2^-40 of it counts as zero.
// Integer sums are exact and order-independent, which is what makes the top-p
// boundary reproducible across thread counts and backends.
constexpr int kWeightFractionBits = 40;
// Below this d = z - z_max a weight truncates to zero: exp(-28) * 2^40 < 1.
constexpr float kWeightFloor = -28.0f;
// Sums of weights stay below 2^63 while rows have at most 2^23 ids.
constexpr int64_t kMaxVocab = int64_t{1} << 23;

// Which distribution top-p judges (README "Filter order"): the survivors of
// min-p and top-k, renormalized (sequential: vLLM), or the whole row
// (joint: SGLang, FlashInfer's filter_apply_order='joint'), the kept set then
// being the intersection of the three filters.
enum class FilterOrder : uint8_t { kSequential, kJoint };

struct RowParams {
  float temperature;  // 0 = greedy
  float min_p;        // 0 = off
  int32_t top_k;      // 0 or -1 = off; >= number of survivors is off too
  float top_p;        // 1 = off
  FilterOrder order = FilterOrder::kSequential;
};

// Per-row parameters of a batch: each either one value for every row or an
// array with one value per row (host or device memory, as the backend needs).
template <class T>
struct PerRow {
  const T* values = nullptr;  // null: every row uses `all`
  T all{};
  SM_HD_MEMBER T at(int64_t row) const { return values ? values[row] : all; }
};

struct BatchParams {
  PerRow<float> temperature, min_p, top_p;
  PerRow<int32_t> top_k;
  FilterOrder order = FilterOrder::kSequential;
  SM_HD_MEMBER RowParams row(int64_t r) const {
    return RowParams{temperature.at(r), min_p.at(r), top_k.at(r), top_p.at(r), order};
  }
};

enum class Param : uint8_t { kNone, kTemperature, kMinP, kTopK, kTopP };

// The parameter of a row that is out of range, or kNone.
SM_HD Param invalid_param(const RowParams& p) {
  if (!(p.temperature >= 0.0f && p.temperature <= kMaxFinite)) return Param::kTemperature;
  if (!(p.min_p >= 0.0f && p.min_p <= 1.0f)) return Param::kMinP;
  if (p.top_k < -1) return Param::kTopK;
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) return Param::kTopP;
  return Param::kNone;
}

// A non-finite row maximum / T has no defined weights; the row is an error.
SM_HD bool scaled_max_is_finite(float z_max) { return z_max >= -kMaxFinite && z_max <= kMaxFinite; }

SM_HD bool is_greedy(const RowParams& p) { return p.temperature == 0.0f; }
SM_HD bool min_p_active(const RowParams& p) { return p.min_p > 0.0f; }
SM_HD bool top_p_active(const RowParams& p) { return p.top_p < 1.0f; }
// Top-k applies only when it removes something.
SM_HD bool top_k_active(const RowParams& p, int64_t survivors) { return p.top_k > 0 && p.top_k < survivors; }

// z = x / T, one f32 division as vLLM does. (A template only so that the CPU
// backend's vector lanes share it.)
template <class F>
SM_HD F scaled_logit(F x, F temperature) {
  return div_rn(x, temperature);
}

// The smallest float x with pred(x) true, for a predicate that is monotone in
// x and true at known_true. Bisection over order keys: at most 32 steps, and
// the same steps everywhere.
template <class Pred>
SM_HD float smallest_float_where(float known_true, const Pred& pred) {
  uint32_t lo = order_key(kNegInf);
  uint32_t hi = order_key(known_true);
  if (pred(kNegInf)) return kNegInf;
  while (hi - lo > 1) {
    const uint32_t mid = lo + (hi - lo) / 2;
    if (pred(key_to_float(mid))) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  return key_to_float(hi);
}

// The search the thresholds below use unless a backend passes its own (e.g.
// a warp of probes per step on a GPU): any search that finds the smallest
// float where a monotone predicate holds gives the same answer.
struct Bisection {
  template <class Pred>
  SM_HD_MEMBER float operator()(float known_true, const Pred& pred) const {
    return smallest_float_where(known_true, pred);
  }
};

struct ScaledAtLeast {
  float temperature, z_min;
  SM_HD_MEMBER bool operator()(float x) const { return scaled_logit(x, temperature) >= z_min; }
};

// The cut on x that keeps exactly the ids with x / T >= z_min. Never below the
// lowest finite float: -inf logits are never kept.
template <class Search = Bisection>
SM_HD float x_cut_for_z(float z_min, float temperature, float x_known_kept, const Search& search = Search{}) {
  const float cut = search(x_known_kept, ScaledAtLeast{temperature, z_min});
  return cut < -kMaxFinite ? -kMaxFinite : cut;
}

// Natural log in double from + - * / alone, so every backend rounds the same
// way (libm's log may differ in the last bit between host and device).
// Accurate to about 1 ulp on (0, 1], the domain of min_p.
SM_HD double deterministic_log(double x) {
  const uint64_t bits = double_to_bits(x);
  int exponent = static_cast<int>((bits >> 52) & 0x7ff) - 1023;
  double m = bits_to_double((bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull);
  if (m > 1.4142135623730951) {
    m = dmul_rn(m, 0.5);
    exponent += 1;
  }
  const double s = ddiv_rn(dsub_rn(m, 1.0), dadd_rn(m, 1.0));
  const double s2 = dmul_rn(s, s);
  // log(m) = 2 * atanh(s) = 2 (s + s^3/3 + s^5/5 + ...); |s| < 0.172.
  double series = 1.0 / 25.0;
  for (int odd = 23; odd >= 1; odd -= 2) series = dadd_rn(ddiv_rn(1.0, odd), dmul_rn(s2, series));
  const double log_m = dmul_rn(dmul_rn(2.0, s), series);
  const double e = static_cast<double>(exponent);
  constexpr double kLn2Hi = 6.93147180369123816490e-01;  // low bits zero: e * hi is exact
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  return dadd_rn(dmul_rn(e, kLn2Hi), dadd_rn(dmul_rn(e, kLn2Lo), log_m));
}

struct MinPKeeps {
  float z_max;
  double log_min_p;
  SM_HD_MEMBER bool operator()(float z) const {
    return dsub_rn(static_cast<double>(z), static_cast<double>(z_max)) >= log_min_p;
  }
};

// Min-p keeps z with z - z_max >= ln(min_p) (in double); returned as the
// smallest such z, so that the filter is a plain f32 comparison.
template <class Search = Bisection>
SM_HD float min_p_z_cut(float z_max, float min_p, const Search& search = Search{}) {
  return search(z_max, MinPKeeps{z_max, deterministic_log(static_cast<double>(min_p))});
}

// The fixed-point top-p weight of a survivor is trunc(2^40 * exp(d)) for
// d = z - z_max <= 0, with the package's own exp (split_exp). This part
// returns the exact f32 value 2^40 * exp(d) before truncation. It is a
// template so the CPU backend can run the very same steps on vector lanes
// (cpu/simd.h); F is float everywhere else.
//
// d > 0 cannot happen for a row read once (z_max is its maximum); it weighs
// as d = 0 so that a row rewritten by another thread during the call (shared
// memory) gives a wrong mask, never a weight beyond 2^40 whose conversion to
// an integer is undefined.
template <class F>
SM_HD F fixed_weight_before_truncation(F d) {
  const auto weighs = d >= F(kWeightFloor);  // also false for -inf and NaN
  const SplitExp<F> e = split_exp(select(weighs, select(d > F(0.0f), F(0.0f), d), F(0.0f)));
  // The exponent is in [-40, 0], so 2^(exponent + 40) is an exact power of two.
  const F scaled = mul_rn(e.mantissa, pow2_of_integral(add_rn(e.exponent, F(static_cast<float>(kWeightFractionBits)))));
  return select(weighs, scaled, F(0.0f));
}

// Below 2^41, so the conversion is exact truncation everywhere.
SM_HD uint64_t truncate_weight(float scaled) {
#if defined(__CUDA_ARCH__)
  // Decoded with integer shifts: a 64-bit conversion is a slow instruction
  // on GPUs. scaled is 0 or a normal float below 2^41 (the sign bit is
  // ignored: it is never set, -0 aside).
  const uint32_t bits = float_to_bits(scaled);
  const int exponent = static_cast<int>((bits >> 23) & 0xffu) - 127;
  const uint64_t significand = (bits & 0x7fffffu) | 0x800000u;  // scaled = significand * 2^(exponent - 23)
  if (exponent < 0) return 0;                                   // 0 and everything below 1
  return exponent >= 23 ? significand << (exponent - 23) : significand >> (23 - exponent);
#else
  return static_cast<uint64_t>(static_cast<int64_t>(scaled));
#endif
}

SM_HD uint64_t fixed_weight(float d) { return truncate_weight(fixed_weight_before_truncation(d)); }

SM_HD uint64_t survivor_weight(float x, float temperature, float z_max) {
  return fixed_weight(sub_rn(scaled_logit(x, temperature), z_max));
}

// The top-p budget K = ceil(top_p * total), exact: an id is kept iff the
// weight of the survivors strictly above it is < top_p * total, which for an
// integer weight is the same as < K.
SM_HD uint64_t top_p_budget(uint64_t total, float top_p) {
  const uint32_t bits = float_to_bits(top_p);
  const uint32_t biased = (bits >> 23) & 0xff;
  const uint64_t mantissa = biased ? ((bits & 0x7fffffu) | 0x800000u) : (bits & 0x7fffffu);
  const int shift = biased ? 150 - static_cast<int>(biased) : 149;  // top_p = mantissa * 2^-shift
  const unsigned __int128 product = static_cast<unsigned __int128>(mantissa) * total;
  if (shift >= 128) return product != 0 ? 1 : 0;
  const unsigned __int128 low_mask = (static_cast<unsigned __int128>(1) << shift) - 1;
  return static_cast<uint64_t>(product >> shift) + ((product & low_mask) != 0 ? 1 : 0);
}

// The x floor of the ids whose weights make top-p's total, given the cut
// that min-p and top-k leave: those survivors (sequential), or every finite
// id of the row (joint). Either way top-p then walks groups of equal z down
// from the maximum, and every id with z above a survivor is itself a
// survivor, so the walk needs only the survivors and the total.
SM_HD float top_p_weighs_from(FilterOrder order, float survivors_cut) {
  return order == FilterOrder::kJoint ? -kMaxFinite : survivors_cut;
}

// The top-p test for a group of equal z: keep it iff the weight strictly
// above it is within budget. The row maximum (nothing above) is always kept.
SM_HD bool top_p_keeps(uint64_t weight_above, uint64_t budget) { return weight_above < budget; }

}  // namespace sm
