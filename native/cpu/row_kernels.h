// The vectorized passes over one row segment that the CPU mask is built from.
// Each is compiled once per instruction set (row_kernels_impl.inc) and the
// widest one the processor supports is picked at run time, so shipped binaries
// stay portable. Every variant computes identical bits: only IEEE operations,
// no contraction (-ffp-contract=off). The one exception is the approximate
// weight of top-p's tail (approximate_tail, and scan_gather where it weighs),
// which uses fused multiply-adds where they exist: it only bounds a total,
// and the mask never depends on it (mask_cpu.cpp, top_p_over_row). The
// passes use raw pointers only (no std containers), so no template instance
// compiled for a wide ISA can be shared with code that runs on narrower
// processors.
#pragma once

#include <cstdint>

#include "../core/types.h"
#include "../core/weight_buckets.h"

namespace sm::cpu {

// How far past the entries they report the gathering passes may write: a
// block's stores are as wide as the widest ISA variant's 16 lanes.
constexpr int64_t kStoreSlack = 16;

struct ScanResult {
  float max;
  bool has_invalid;  // NaN or +inf somewhere
};

// The weight of top-p's "tail" (the survivors below the members' floor) as
// approximate_tail sums it: each weight within a relative
// kApproximateWeightError of the rule's value before truncation, summed in
// double (see top_p_over_row in mask_cpu.cpp for the bound this gives).
// `rescaled` holds the weights that a row's first read took against a lower
// running maximum and then scaled to the row's own: the subtraction d = z -
// z_max rounds differently there, which kRescaleError (and 1/16 of a unit
// per value deeper than 16) covers.
struct TailWeight {
  double approximate = 0;
  double rescaled = 0;
  int64_t count = 0;  // at least the weights in it
};

// Every instruction-set variant's approximate weights are within this of the
// rule's, relatively, at every f32 d in [-28, 0]; test/approximate-weight.test.ts
// measures the variant of the machine it runs on over all of them.
constexpr double kApproximateWeightError = 1.0 / (1 << 22);
// What summing them in blocks of four lanes in f32 adds, relatively.
constexpr double kTailSumError = 1.0 / (1 << 23);
// What weighing against a lower maximum z_ref and scaling by e^(z_ref - z_max)
// in double adds, relatively, for a weight the rule counts: fl(z - z_ref) and
// fl(z - z_max) each round by at most half an ulp of |d| = |fl(z - z_max)|,
// 2^-21 where |d| < 16, so the exponents differ by at most 2^-20 (9.5e-7);
// the rule's own exp, off the true one by up to 8.3e-8 at each of the two
// points (measured over every f32 d in [-28, 0]), brings that to 1.2e-6, and
// the scaling in double stays far within the rest. Deeper than 16, the
// roundings reach 2^-19 together and the exps add 1.7e-7 of a weight below
// 2^40 e^-16, less than 1/16 of a unit, which budget_bounds allows per value.
// (A value that the rule weighs 0 gets less than one unit, which the tail's
// count covers.)
constexpr double kRescaleError = 1.0 / (1 << 19);

// What scan_gather may weigh on its way, instead of reading the values again
// from cache: the approximate weights of the values below its threshold
// against z_ref, as approximate_tail takes them, added to `sum`. They mean
// something only where no value read is above z_ref (times T); a caller
// whose scan finds a larger maximum weighs those values again.
struct TailToWeigh {
  float temperature;
  float z_ref;
  double sum = 0;
};

template <class S>
struct RowKernels {
  using Stored = typename S::Stored;
  // One read of x[start, n): folds the maximum and invalid entries into
  // *scan, copies each value >= threshold with its index (first_id + i)
  // to values/ids, in order, until fewer than 16 of `capacity` slots remain
  // (16: the widest block of any ISA variant), and weighs the values below
  // the threshold into *tail unless it is null.
  // Returns where it stopped (n when done) and the count in *written.
  int64_t (*scan_gather)(const Stored* x, int64_t n, int64_t start, float threshold, int32_t first_id, ScanResult* scan,
                         TailToWeigh* tail, float* values, int32_t* ids, int64_t capacity, int64_t* written);
  // Like scan_gather, but instead of scanning it adds the fixed-point top-p
  // weight of every x >= floor to *total.
  int64_t (*weigh_gather)(const Stored* x, int64_t n, int64_t start, float floor, float temperature, float z_max,
                          float gather_floor, int32_t first_id, uint64_t* total, float* values, int32_t* ids,
                          int64_t capacity, int64_t* written);
  // The approximate weights of x[0, n)'s values below `below` against z_ref
  // (approximate_weight: within kApproximateWeightError of the rule's weight
  // before truncation), summed. A value the rule does not weigh (d < -28,
  // -inf) adds 2^40 e^-28 < 1 instead of 0: within the one unit per value
  // that the tail's bound allows for truncation anyway.
  double (*approximate_tail)(const Stored* x, int64_t n, float temperature, float z_ref, float below);
  // Adds the fixed-point weight of every x >= floor to its bucket; returns
  // the segment's total weight.
  uint64_t (*weight_histogram)(const Stored* x, int64_t n, float floor, float temperature, float z_max,
                               uint64_t* buckets);
  // Moves the values in [lo, hi) of values[0, n), and their ids when ids is
  // not null, to the front in order (in place); returns how many.
  int64_t (*compact_between)(float* values, int32_t* ids, int64_t n, float lo, float hi);
  // Writes first_id + i for every i with x[i] >= cut, ascending; returns the
  // count. out needs room for n + kStoreSlack ids.
  int64_t (*emit_at_least)(const Stored* x, int64_t n, float cut, int32_t first_id, int32_t* out);
};

template <class S>
const RowKernels<S>& row_kernels();

// Room for what a gather writes. Zeroed, because the AVX-512 gathers
// compress-store under masks that are often all clear (the AVX2 ones store
// whole vectors), and on the Zen 5 VM such a store to a stack page that
// nothing had written yet took a microcode assist every time (the page
// stays unwritten): a pool thread weighed its segment of the exact top-p
// pass, which gathers nothing, in 3.0 ms instead of 0.15 ms.
template <int64_t kCapacity>
struct GatherRoom {
  float values[kCapacity] = {};
  int32_t ids[kCapacity] = {};
};

// The maximum of x[0, n) and whether it holds NaN or +inf, in one read
// (scan_gather with a +inf threshold, which gathers only +inf).
template <class S>
ScanResult scan_row(const typename S::Stored* x, int64_t n) {
  constexpr int64_t kRoom = 64;
  GatherRoom<kRoom> room;
  ScanResult scan{-__builtin_inff(), false};
  for (int64_t next = 0; next < n;) {
    int64_t written = 0;
    next = row_kernels<S>().scan_gather(x, n, next, __builtin_inff(), 0, &scan, nullptr, room.values, room.ids, kRoom,
                                        &written);
  }
  return scan;
}

// The total top-p weight of x[0, n)'s values >= floor (weigh_gather, which
// gathers only x >= +inf: nothing in a valid row).
template <class S>
uint64_t total_weight(const typename S::Stored* x, int64_t n, float floor, float temperature, float z_max) {
  constexpr int64_t kRoom = 64;
  GatherRoom<kRoom> room;
  uint64_t total = 0;
  for (int64_t next = 0; next < n;) {
    int64_t written = 0;
    next = row_kernels<S>().weigh_gather(x, n, next, floor, temperature, z_max, __builtin_inff(), 0, &total,
                                         room.values, room.ids, kRoom, &written);
  }
  return total;
}

// Which instruction-set variant row_kernels() picked ("avx512", "avx2", "baseline").
const char* row_kernels_isa();

}  // namespace sm::cpu
