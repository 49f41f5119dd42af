// The passes over one row segment that the CPU mask is built from. Each is
// compiled once per instruction set (row_kernels_impl.inc) and the widest one
// the processor supports is picked at run time, so shipped binaries stay
// portable. Every variant computes identical bits: only IEEE operations, no
// contraction (-ffp-contract=off).
#pragma once

#include <cstdint>
#include <vector>

#include "../core/types.h"
#include "../core/weight_buckets.h"

namespace sm::cpu {

struct ScanResult {
  float max;
  bool has_invalid;  // NaN or +inf somewhere
};

template <class S>
struct RowKernels {
  using Stored = typename S::Stored;
  ScanResult (*scan)(const Stored* x, int64_t n);
  int64_t (*first_invalid)(const Stored* x, int64_t n);  // -1 if none
  // Appends to out every value >= floor that could be among the k largest,
  // raising a running threshold as it goes; returns that threshold. On
  // return out holds every value of the segment >= the threshold.
  float (*top_candidates)(const Stored* x, int64_t n, int64_t k, float floor, std::vector<float>& out);
  // Appends every value in [lo, hi) to out.
  void (*collect_between)(const Stored* x, int64_t n, float lo, float hi, std::vector<float>& out);
  // Adds the fixed-point weight of every x >= floor to its bucket; returns
  // the segment's total weight.
  uint64_t (*weight_histogram)(const Stored* x, int64_t n, float floor, float temperature, float z_max,
                               uint64_t* buckets);
  int64_t (*count_at_least)(const Stored* x, int64_t n, float cut);
  // Writes first_id + i for every i with x[i] >= cut, ascending.
  int32_t* (*emit_at_least)(const Stored* x, int64_t n, float cut, int32_t first_id, int32_t* out);
  void (*fill_below)(Stored* x, int64_t n, float cut);
};

template <class S>
const RowKernels<S>& row_kernels();

// Which instruction-set variant row_kernels() picked ("avx512", "avx2", "baseline").
const char* row_kernels_isa();

}  // namespace sm::cpu
