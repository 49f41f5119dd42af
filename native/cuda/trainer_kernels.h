// The trainer side's device data and kernel launches, shared by the kernels
// (trainer_kernels.cu) and the host side that drives them (trainer_cuda.cpp).
//
// maskedLogprobs and its backward give each row kSoftmaxLanes threads (two
// rows per warp): thread j owns the row's kept ids j, j + lanes, ... exactly
// as core/trainer.h's lane j does, sums them in that order (padded with
// -inf to whole lane blocks, as the CPU pads), and the lanes merge pairwise
// through shuffles in merge_lanes' order. So every result is bit-identical
// to the CPU backend's.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "../core/trainer.h"
#include "../core/types.h"

namespace sm::cuda {

// Rows of the kept-softmax kernels, their kept ids and the outputs; every
// pointer is device memory.
struct KeptBatch {
  const void* logits;
  DType dtype;
  int64_t rows, vocab;
  KeptIds kept;  // device CSR, or every id
  const int32_t* targets;
  PerRow<float> temperature;
  PerRow<float> upstream;  // backward only
  float* logprobs;         // forward: one per row
  float* entropy;          // forward, optional
  float* gradient;         // backward: aligned with kept.indices ([rows, vocab] when every id)
  // Written by the kernels, zeroed before: the lowest failing row (as
  // kNoRow - row through atomicMax: 0 = none), rows whose target is not kept.
  unsigned long long* failed_row;
  unsigned long long* targets_outside;
  int32_t* row_errors;   // per row: RowError of a failed row
  int32_t* row_columns;  // per row: the id it names, or -1
};

constexpr unsigned long long kNoRow = ~0ull;

void launch_masked_logprobs(const KeptBatch& batch, cudaStream_t stream);
void launch_masked_logprobs_backward(const KeptBatch& batch, cudaStream_t stream);

// Sets every entry of rows [0, rows) that its row does not keep to -inf, in
// place: saves the kept entries into saved (one 4-byte slot per kept id),
// fills the rows with -inf, writes the kept entries back. Kept ids are a
// device CSR and must be valid.
void launch_apply_mask(void* logits, DType dtype, int64_t rows, int64_t vocab, const KeptIds& kept, uint32_t* saved,
                       cudaStream_t stream);

}  // namespace sm::cuda
