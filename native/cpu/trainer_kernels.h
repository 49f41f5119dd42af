// The vectorizable passes of the trainer side over contiguous logits, like
// row_kernels: compiled once per instruction set (trainer_kernels_impl.inc)
// and picked at run time. Every variant computes identical bits: the order of
// operations is core/trainer.h's, with no contraction (-ffp-contract=off).
#pragma once

#include <cstdint>

#include "../core/trainer.h"

namespace sm::cpu {

template <class S>
struct TrainerKernels {
  using Stored = typename S::Stored;
  // The mass (and, if weighted is not null, the entropy's weighted sum) of
  // x[0, n) under z = x / T, d = z - z_max, in core/trainer.h's lanes.
  void (*lane_sums)(const Stored* x, int64_t n, float temperature, float z_max, float* mass, float* weighted);
  // out[i] = the gradient for x[i]; the target sits at target_position (-1: not kept).
  void (*gradients)(const Stored* x, int64_t n, float temperature, const KeptSoftmax& softmax, int64_t target_position,
                    float scale, float* out);
};

template <class S>
const TrainerKernels<S>& trainer_kernels();

}  // namespace sm::cpu
