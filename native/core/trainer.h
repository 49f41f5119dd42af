// The trainer side's math over a row's kept ids (README "Trainer side"), as
// scalar pieces shared by every backend.
//
// A row's kept distribution is q_i = exp(d_i) / mass over its kept ids, with
// z_i = x_i / T (the rule's scaled_logit), d_i = z_i - z_max and
// mass = sum of exp(d_i). Sums are compensated f32 (Neumaier), accumulated in
// kSoftmaxLanes interleaved lanes (the i-th kept id goes to lane i % lanes)
// and merged pairwise (merge_lanes). That order is fixed, so results do not
// depend on threads, and a backend that follows it reproduces the bits; the
// lanes are what lets a CPU loop over them vectorize.
#pragma once

#include "rule.h"
#include "types.h"

namespace sm {

constexpr int kSoftmaxLanes = 16;

// The ids each row keeps: CSR (row r keeps indices[offsets[r] .. offsets[r+1]),
// strictly ascending), or every id of the row when offsets is null.
struct KeptIds {
  const int32_t* offsets = nullptr;
  const int32_t* indices = nullptr;
  SM_HD_MEMBER bool all() const { return offsets == nullptr; }
};

// The lowest row of a batch that has no result, and why; row -1 when every
// row has one.
struct RowFailure {
  int64_t row = -1;
  RowStatus status;
};

// The sampler's temperature, by which the trainer divides: finite and > 0
// (greedy rows, T = 0, have no distribution to train on).
SM_HD bool trainer_temperature_valid(float t) { return t > 0.0f && t <= kMaxFinite; }

// The next kept id of a row must lie above the previous one and below vocab.
SM_HD bool kept_id_follows(int64_t id, int64_t previous, int64_t vocab) { return id > previous && id < vocab; }

SM_HD float abs_exact(float v) {
#if defined(__CUDA_ARCH__)
  return fabsf(v);
#else
  return __builtin_fabsf(v);
#endif
}

// exp(d) for d <= 0. Below -87 it is 0: exp(d) < 2^-125 there, nothing beside
// the row maximum's exp(0) = 1, and 2^exponent stays a normal float. Also 0
// for d = -inf.
//
// d > 0 cannot happen for a row read once (z_max is its maximum); it counts as
// d = 0, so that a row rewritten by another thread during the call (shared
// memory) gives wrong values, never an exponent whose conversion to an
// integer is undefined.
SM_HD float exp_nonpositive(float d) {
  const bool representable = d >= -87.0f;  // also false for NaN
  const SplitExp<float> e = split_exp(select(representable, select(d > 0.0f, 0.0f, d), 0.0f));
  return select(representable, mul_rn(e.mantissa, pow2_of_integral(e.exponent)), 0.0f);
}

// Neumaier's compensated sum: the error stays a few ulps of the result
// whatever the number of terms. Branch-free so that lane loops vectorize.
SM_HD void compensated_add(float& sum, float& compensation, float v) {
  const float t = add_rn(sum, v);
  const float lost_from_v = add_rn(sub_rn(sum, t), v);
  const float lost_from_sum = add_rn(sub_rn(v, t), sum);
  compensation = add_rn(compensation, select(abs_exact(sum) >= abs_exact(v), lost_from_v, lost_from_sum));
  sum = t;
}

struct CompensatedSum {
  float sum = 0.0f;
  float compensation = 0.0f;
  SM_HD_MEMBER void add(float v) { compensated_add(sum, compensation, v); }
  SM_HD_MEMBER float value() const { return add_rn(sum, compensation); }
};

// The entropy's summand exp(d) * d, skipping ids with exp(d) = 0 (d may be -inf).
SM_HD float entropy_term(float e, float d) { return select(e > 0.0f, mul_rn(e, d), 0.0f); }

// The total of kSoftmaxLanes compensated lanes, folded pairwise (lane j
// takes lane j + h for h = lanes / 2, ..., 1): a short chain that vectorizes.
// Overwrites the lanes.
SM_HD float merge_lanes(float* sums, float* compensations) {
  for (int half = kSoftmaxLanes / 2; half > 0; half /= 2) {
    for (int j = 0; j < half; ++j) {
      compensated_add(sums[j], compensations[j], sums[j + half]);
      compensations[j] = add_rn(compensations[j], compensations[j + half]);
    }
  }
  return add_rn(sums[0], compensations[0]);
}

// A row's kept distribution once its maximum and mass are known.
struct KeptSoftmax {
  float z_max;
  float mass;      // >= 1: the maximum contributes exp(0)
  float log_mass;  // ln(mass) from the package's own log, rounded once to f32

  // log q for the kept id with scaled logit z.
  SM_HD_MEMBER float logprob(float z) const { return sub_rn(sub_rn(z, z_max), log_mass); }
  SM_HD_MEMBER float prob(float z) const { return div_rn(exp_nonpositive(sub_rn(z, z_max)), mass); }
  // -sum q log q = ln(mass) - (sum exp(d) d) / mass: two non-negative terms.
  SM_HD_MEMBER float entropy(float weighted) const { return add_rn(log_mass, div_rn(-weighted, mass)); }
};

SM_HD KeptSoftmax kept_softmax(float z_max, float mass) {
  return KeptSoftmax{z_max, mass, static_cast<float>(deterministic_log(static_cast<double>(mass)))};
}

// d(upstream * log q_target) / dx_i for a kept id i, given
// scale = upstream / T: (onehot(target)_i - q_i) * scale.
SM_HD float logprob_gradient(bool is_target, float q, float scale) {
  return mul_rn(sub_rn(is_target ? 1.0f : 0.0f, q), scale);
}

// The per-row upstream factor of the gradient: z = x / T, so d/dx = d/dz / T.
SM_HD float gradient_scale(float upstream, float temperature) { return div_rn(upstream, temperature); }

}  // namespace sm
