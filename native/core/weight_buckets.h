// Buckets of top-p weights, the coarse first step of every backend's top-p
// search: equal width in d = z - z_max over [-28, 0], where weights are
// nonzero. The bucket is monotone in x, so a bucket is a range of x, and only
// the bucket where the cumulative weight reaches the budget needs an exact
// look. Not part of the rule: any bucketing gives the same cut.
#pragma once

#include "rule.h"

namespace sm {

constexpr int kWeightBuckets = 2048;
constexpr float kBucketsPerUnit = 73.0f;  // 28 * 73 = 2044 < kWeightBuckets

// The bucket of a survivor's d in [-28, 0]; 0 holds the row maximum. (The CPU
// computes the same per vector lane in row_kernels_impl.inc.) Any other d
// (only a row rewritten by another thread during the call has one) is
// clamped into the histogram: a wrong mask, never an index outside it.
SM_HD int weight_bucket(float d) {
  const float unclamped = mul_rn(-d, kBucketsPerUnit);  // in [0, 2044] for d in [-28, 0]
  const float position = unclamped >= 0.0f ? (unclamped <= 2044.0f ? unclamped : 2044.0f) : 0.0f;  // NaN: 0
#if defined(__CUDA_ARCH__)
  // Truncated as the low significand bits of position + 2^23 rounded toward
  // zero (exact below 2^23): no float-to-int conversion, a slow instruction
  // on GPUs.
  return static_cast<int>(float_to_bits(__fadd_rz(position, 8388608.0f)) - 0x4b000000u);
#else
  return static_cast<int>(position);
#endif
}

SM_HD bool weighs(float d) { return d >= kWeightFloor; }

struct WeightBucketAtMost {
  float temperature, z_max;
  int bucket;
  SM_HD_MEMBER bool operator()(float x) const {
    const float d = sub_rn(scaled_logit(x, temperature), z_max);
    return weighs(d) && weight_bucket(d) <= bucket;
  }
};

// The values x of bucket b form [low, high) (high = +inf for bucket 0): two
// independent searches, which a GPU runs side by side.
template <class Search = Bisection>
SM_HD float weight_bucket_low(int bucket, float temperature, float z_max, float x_max,
                              const Search& search = Search{}) {
  return search(x_max, WeightBucketAtMost{temperature, z_max, bucket});
}

template <class Search = Bisection>
SM_HD float weight_bucket_high(int bucket, float temperature, float z_max, float x_max,
                               const Search& search = Search{}) {
  return bucket == 0 ? kPosInf : weight_bucket_low(bucket - 1, temperature, z_max, x_max, search);
}

template <class Search = Bisection>
SM_HD void weight_bucket_range(int bucket, float temperature, float z_max, float x_max, float* lo, float* hi,
                               const Search& search = Search{}) {
  *lo = weight_bucket_low(bucket, temperature, z_max, x_max, search);
  *hi = weight_bucket_high(bucket, temperature, z_max, x_max, search);
}

}  // namespace sm
