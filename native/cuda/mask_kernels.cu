// The mask pipeline's kernels (see mask_kernels.h for the stages). The rule's
// arithmetic is core's __host__ __device__ code; these kernels only organise
// the search, and every search here is exact, so the cut of each row is the
// CPU backend's to the bit.
#include <algorithm>
#include <cub/block/block_scan.cuh>

#include "../core/weight_buckets.h"
#include "context.h"
#include "mask_kernels.h"

namespace sm::cuda {
namespace {

constexpr uint32_t kFullMask = 0xffffffffu;
constexpr int kKeyShift = 20;  // order_key >> 20: the 12-bit first digit

// ---- Tiles ----------------------------------------------------------------
// A tile is kTileLoads 16-byte vectors per thread, striped over the block:
// vector j of thread t holds the elements from (j * kScanThreads + t) * kVec
// on, so ascending (j, t, lane) is ascending id. Past the vocabulary a tile
// holds -inf, which no stage counts or keeps.

template <class S>
struct Tile {
  using Stored = typename S::Stored;
  static constexpr int kVec = 16 / sizeof(Stored);
  static constexpr int64_t kElements = int64_t{kScanThreads} * kTileLoads * kVec;

  uint4 raw[kTileLoads];

  __device__ static int64_t first_id(int64_t tile, int j) {
    return tile * kElements + (int64_t{j} * kScanThreads + threadIdx.x) * kVec;
  }

  __device__ static uint32_t stored_bits(Stored v) {
    if constexpr (sizeof(Stored) == 4) {
      return float_to_bits(v);
    } else {
      return v;
    }
  }

  __device__ static uint32_t& word(uint4& r, int i) { return i == 0 ? r.x : i == 1 ? r.y : i == 2 ? r.z : r.w; }
  __device__ static uint32_t word(const uint4& r, int i) { return i == 0 ? r.x : i == 1 ? r.y : i == 2 ? r.z : r.w; }

  __device__ static uint32_t bits(const uint4& r, int lane) {
    if constexpr (sizeof(Stored) == 4) {
      return word(r, lane);
    } else {
      const uint32_t w = word(r, lane >> 1);
      return lane & 1 ? w >> 16 : w & 0xffffu;
    }
  }

  __device__ static void set_bits(uint4& r, int lane, uint32_t b) {
    if constexpr (sizeof(Stored) == 4) {
      word(r, lane) = b;
    } else {
      uint32_t& w = word(r, lane >> 1);
      w = lane & 1 ? (w & 0xffffu) | (b << 16) : (w & 0xffff0000u) | b;
    }
  }

  __device__ static float value(const uint4& r, int lane) {
    if constexpr (sizeof(Stored) == 4) {
      return S::load(bits_to_float(bits(r, lane)));
    } else {
      return S::load(static_cast<Stored>(bits(r, lane)));
    }
  }

  __device__ static uint4 neg_inf_vector() {
    uint4 r = make_uint4(0, 0, 0, 0);
    for (int lane = 0; lane < kVec; ++lane) set_bits(r, lane, stored_bits(S::kNegInfStored));
    return r;
  }

  // kReadOnly: the data does not change while the kernel runs (non-coherent loads).
  template <bool kReadOnly>
  __device__ void load(const Stored* row, int64_t vocab, int64_t tile, bool aligned) {
#pragma unroll
    for (int j = 0; j < kTileLoads; ++j) {
      const int64_t first = first_id(tile, j);
      if (aligned) {
        // vocab is a multiple of kVec here: a vector is all in or all out
        const uint4* at = reinterpret_cast<const uint4*>(row + first);
        raw[j] = first >= vocab ? neg_inf_vector() : kReadOnly ? __ldg(at) : *at;
      } else {
        raw[j] = neg_inf_vector();
#pragma unroll
        for (int lane = 0; lane < kVec; ++lane) {
          if (first + lane < vocab) set_bits(raw[j], lane, stored_bits(row[first + lane]));
        }
      }
    }
  }

  // f(x, id, j, lane) for every element, in ascending id order per thread.
  template <class F>
  __device__ void for_each(int64_t tile, F&& f) const {
#pragma unroll
    for (int j = 0; j < kTileLoads; ++j) {
      const int64_t first = first_id(tile, j);
#pragma unroll
      for (int lane = 0; lane < kVec; ++lane) f(value(raw[j], lane), first + lane, j, lane);
    }
  }
};

// g(tile, t) for the tiles [begin, end) of a row, in order. The next tile's
// loads are issued before g works on the current one, so that every block
// keeps memory requests in flight while it computes.
template <class S, class G>
__device__ void for_each_tile(const typename S::Stored* row, int64_t vocab, int64_t begin, int64_t end, bool aligned,
                              G&& g) {
  if (begin >= end) return;
  Tile<S> tile, next;
  tile.template load<true>(row, vocab, begin, aligned);
  for (int64_t t = begin;; ++t) {
    const bool more = t + 1 < end;
    if (more) next.template load<true>(row, vocab, t + 1, aligned);
    g(static_cast<const Tile<S>&>(tile), t);
    if (!more) return;
    tile = next;
  }
}

template <class S>
__device__ const typename S::Stored* row_data(const MaskBatch& b, int64_t row) {
  return static_cast<const typename S::Stored*>(b.logits) + row * b.vocab;
}

__device__ uint32_t lanes_below() {
  uint32_t mask;
  asm("mov.u32 %0, %%lanemask_lt;" : "=r"(mask));
  return mask;
}

// z = x / T without the division when T is 1 (x / 1 == x exactly).
__device__ float scaled(float x, float temperature, bool unit_temperature) {
  return unit_temperature ? x : scaled_logit(x, temperature);
}

// The rows whose plan reads the key histogram of the stats scan: those
// whose kept ids may fit a candidate list (greedy, top-k, min-p, top-p on
// short rows). A listed row needs no count pass and no second read in the
// write.
__device__ bool uses_key_hist(const RowParams& p, int64_t vocab) {
  if (is_greedy(p) || min_p_active(p)) return true;
  if (p.top_k > 0 && p.top_k < vocab) return true;
  return top_p_active(p) && vocab <= kCandidates;
}

// Adds a block's shared histogram into the row's global one (nonzero bins only).
template <class Count>
__device__ void flush_hist(const Count* local, Count* global, int bins) {
  __syncthreads();
  for (int i = threadIdx.x; i < bins; i += blockDim.x) {
    const Count c = local[i];
    if (c != 0) atomicAdd(global + i, c);
  }
}

template <class Count>
__device__ void zero_shared(Count* local, int bins) {
  for (int i = threadIdx.x; i < bins; i += blockDim.x) local[i] = 0;
  __syncthreads();
}

// A block's histogram of 64-bit sums (counts or top-p weights) in shared
// memory, kept as two 32-bit halves: 32-bit shared atomics are native,
// 64-bit ones a compare-and-swap loop. When a low half wraps past 2^32, the
// one adder whose atomicAdd wrapped it sees old + low < old and carries 1
// into the high half, so high * 2^32 + low is the exact sum (below 2^64: at
// most kMaxVocab weights of under 2^41 each).
struct SplitHist {
  uint32_t* low;
  uint32_t* high;  // right after low's `bins` entries
  int bins;

  __device__ SplitHist(unsigned char* shared, int bin_count)
      : low(reinterpret_cast<uint32_t*>(shared)), high(low + bin_count), bins(bin_count) {
    zero_shared(low, 2 * bins);
  }

  // The high half goes first and waits on nothing; only the rare carry
  // waits on the low half's old value.
  __device__ void add(int bin, uint64_t value) {
    const uint32_t value_high = static_cast<uint32_t>(value >> 32);
    if (value_high != 0) atomicAdd(high + bin, value_high);
    const uint32_t value_low = static_cast<uint32_t>(value);
    const uint32_t old = atomicAdd(low + bin, value_low);
    if (old + value_low < old) atomicAdd(high + bin, 1u);
  }

  // Adds the nonzero sums into the row's global histogram.
  __device__ void flush(uint64_t* global) {
    __syncthreads();
    for (int i = threadIdx.x; i < bins; i += blockDim.x) {
      const uint64_t sum = (uint64_t{high[i]} << 32) | low[i];
      if (sum != 0) atomicAdd(reinterpret_cast<unsigned long long*>(global + i), static_cast<unsigned long long>(sum));
    }
  }
};

// ---- Scans ------------------------------------------------------------------

template <class S>
struct RowScan {
  const MaskBatch& b;
  int64_t row, segment;
  int64_t tile_begin, tile_end;
  RowState& state;
  unsigned char* shared;

  template <class F>
  __device__ void each(F&& f) {
    for_each_tile<S>(
        row_data<S>(b, row), b.vocab, tile_begin, tile_end, b.aligned,
        [&](const Tile<S>& tile, int64_t t) { tile.for_each(t, [&](float x, int64_t id, int, int) { f(x, id); }); });
  }

  __device__ void stats() {
    uint32_t* hist = reinterpret_cast<uint32_t*>(shared);
    const bool want_hist = uses_key_hist(b.params.row(row), b.vocab);
    if (want_hist) zero_shared(hist, kKeyBins);
    uint32_t max_key = 0, first_invalid = UINT32_MAX;
    each([&](float x, int64_t id) {
      const uint32_t key = order_key(x);
      max_key = max(max_key, key);
      if (is_nan_or_pos_inf(x)) first_invalid = min(first_invalid, static_cast<uint32_t>(id));
      if (want_hist) atomicAdd(hist + (key >> kKeyShift), 1u);
    });
    max_key = __reduce_max_sync(kFullMask, max_key);
    first_invalid = __reduce_min_sync(kFullMask, first_invalid);
    if ((threadIdx.x & 31) == 0) {
      atomicMax(&state.max_key, max_key);
      if (first_invalid != UINT32_MAX) atomicMax(&state.invalid_key, ~first_invalid);
    }
    if (want_hist) flush_hist(hist, b.w.key_hist + row * kKeyBins, kKeyBins);
  }

  // (x, id) of every x in [lo, hi) into the row's list. For the top-p
  // boundary, also each segment's count of x >= hi: every id above the
  // bucket is kept, so the segment counts follow once the cut in it is known.
  __device__ void collect() {
    const float lo = state.lo, hi = state.hi;
    const bool count_above = state.search == kSearchTopPBoundary;
    Candidate* out = b.w.candidates + row * kCandidates;
    uint32_t* count = &state.candidates;
    uint32_t above = 0;
    each([&](float x, int64_t id) {
      above += x >= hi ? 1 : 0;
      const bool take = x >= lo && x < hi;
      const uint32_t takers = __ballot_sync(kFullMask, take);
      if (takers == 0) return;
      const int leader = __ffs(takers) - 1;
      uint32_t base = 0;
      if ((threadIdx.x & 31) == leader) base = atomicAdd(count, __popc(takers));
      base = __shfl_sync(kFullMask, base, leader);
      const uint32_t slot = base + __popc(takers & lanes_below());
      if (take && slot < kCandidates) out[slot] = Candidate{x, static_cast<int32_t>(id)};
    });
    if (count_above) store_segment_count(above);
  }

  // Kept ids of the segment, once the row's cut is known.
  __device__ void count() {
    const float cut = state.cut;
    uint32_t kept = 0;
    each([&](float x, int64_t) { kept += x >= cut ? 1 : 0; });
    store_segment_count(kept);
  }

  __device__ void store_segment_count(uint32_t per_thread) {
    __shared__ uint32_t warp_sums[kScanThreads / 32];
    const uint32_t warp_sum = __reduce_add_sync(kFullMask, per_thread);
    if ((threadIdx.x & 31) == 0) warp_sums[threadIdx.x / 32] = warp_sum;
    __syncthreads();
    if (threadIdx.x == 0) {
      uint32_t total = 0;
      for (uint32_t w : warp_sums) total += w;
      b.w.segment_counts[row * b.segments + segment] = static_cast<int32_t>(total);
    }
  }

  // One radix level: bins of the next digit of order_key(x) for x in
  // [lo, hi) whose key starts with the prefix chosen so far; each counts 1
  // (top-k) or its top-p weight.
  __device__ void digits() {
    const int level = state.level;
    const int bins = level == 3 ? 256 : kKeyBins;
    const int shift = level == 1 ? 20 : level == 2 ? 8 : 0;
    const int prefix_shift = level == 2 ? 20 : 8;
    const uint32_t prefix = state.prefix;
    const float lo = state.lo, hi = state.hi, z_max = state.z_max;
    const bool weighted = state.search == kSearchTopP;
    const float temperature = b.params.temperature.at(row);
    SplitHist hist(shared, bins);
    each([&](float x, int64_t) {
      if (!(x >= lo && x < hi)) return;
      const uint32_t key = order_key(x);
      if (level > 1 && (key >> prefix_shift) != prefix) return;
      const uint64_t weight = weighted ? survivor_weight(x, temperature, z_max) : 1;
      if (weight != 0) hist.add(static_cast<int>((key >> shift) & (bins - 1)), weight);
    });
    hist.flush(b.w.search_hist + row * kKeyBins);
  }

  // Top-p weights of the survivors, summed per bucket; bucket b is stored at
  // kWeightBuckets - 1 - b so that higher bins hold higher x, as for keys.
  __device__ void weights() {
    const float cut = state.cut, z_max = state.z_max;
    const float temperature = b.params.temperature.at(row);
    const bool unit = temperature == 1.0f;
    SplitHist hist(shared, kWeightBuckets);
    each([&](float x, int64_t) {
      if (!(x >= cut)) return;
      const float d = sub_rn(scaled(x, temperature, unit), z_max);
      if (!weighs(d)) return;
      const uint64_t weight = fixed_weight(d);
      if (weight != 0) hist.add(kWeightBuckets - 1 - weight_bucket(d), weight);
    });
    hist.flush(b.w.search_hist + row * kKeyBins);
  }
};

// Shared memory of a scan: 64-bit bins (as two 32-bit halves) for digits
// and weights; the first round, where every row is in its stats stage, needs
// only the 32-bit key histogram, and half the memory lets more blocks share
// a multiprocessor.
constexpr size_t kScanSharedBytes = kKeyBins * sizeof(uint64_t);
constexpr size_t kStatsSharedBytes = kKeyBins * sizeof(uint32_t);

template <class S>
__global__ void __launch_bounds__(kScanThreads) scan_kernel(MaskBatch b) {
  extern __shared__ __align__(16) unsigned char shared[];
  const int64_t row = blockIdx.x / b.segments;
  const int64_t segment = blockIdx.x % b.segments;
  RowState& state = b.w.states[row];
  const uint8_t stage = state.stage;
  if (stage_is_final(stage)) return;
  const int64_t tile_begin = segment * b.tiles_per_segment;
  const int64_t tile_end = min(tile_begin + b.tiles_per_segment, b.tiles_per_row);
  RowScan<S> scan{b, row, segment, tile_begin, tile_end, state, shared};
  switch (stage) {
    case kStageStats: scan.stats(); break;
    case kStageCollect: scan.collect(); break;
    case kStageDigits: scan.digits(); break;
    case kStageWeights: scan.weights(); break;
    case kStageCount: scan.count(); break;
    default: break;
  }
}

// ---- Plans ------------------------------------------------------------------

// core's threshold searches, run by the 32 lanes of one warp: each step
// probes 31 points at once, so the smallest float where the monotone
// predicate holds is found in 7 steps instead of 32 (the same float: it is
// unique). On the host it is core's bisection.
struct WarpSearch {
  template <class Pred>
  SM_HD_MEMBER float operator()(float known_true, const Pred& pred) const {
#if defined(__CUDA_ARCH__)
    const int lane = threadIdx.x & 31;
    if (pred(kNegInf)) return kNegInf;
    uint32_t lo = order_key(kNegInf), hi = order_key(known_true);  // pred(lo) false, pred(hi) true
    while (hi - lo > 1) {
      const uint32_t probe = lo + static_cast<uint32_t>(uint64_t{hi - lo} * (lane + 1) / 32);  // lane 31: hi
      const uint32_t holds = __ballot_sync(kFullMask, lane == 31 || pred(key_to_float(probe)));
      const int first = __ffs(holds) - 1;
      const uint32_t below = __shfl_sync(kFullMask, probe, first > 0 ? first - 1 : 0);
      hi = __shfl_sync(kFullMask, probe, first);
      if (first > 0) lo = below;
    }
    return key_to_float(hi);
#else
    return smallest_float_where(known_true, pred);
#endif
  }
};

using PlanScan = cub::BlockScan<uint64_t, kPlanThreads>;

struct PlanShared {
  uint64_t keys[kCandidates];  // sort keys: order_key(x) << 32 | id
  typename PlanScan::TempStorage scan;
  float value[2];
  int index;
  uint64_t above;
};

struct Crossing {
  int bin;         // -1: the bins hold less than the target
  uint64_t above;  // in the bins above `bin`
  uint64_t total;  // in all bins >= lowest
};

__device__ float key_value(uint64_t key) { return key_to_float(static_cast<uint32_t>(key >> 32)); }
__device__ int32_t key_id(uint64_t key) { return static_cast<int32_t>(static_cast<uint32_t>(key)); }

__device__ int next_pow2(int n) {
  int p = 1;
  while (p < n) p <<= 1;
  return p;
}

class Planner {
 public:
  __device__ Planner(const MaskBatch& b, int64_t row, PlanShared& sh)
      : b_(b), row_(row), sh_(sh), global_(b.w.states[row]), s_(global_), p_(b.params.row(row)) {
    __syncthreads();  // every thread has read the state before thread 0 rewrites it
  }

  __device__ void advance() {
    switch (s_.stage) {
      case kStageStats: start(); break;
      case kStageCollect: s_.search == kSearchCandidates ? from_candidates() : from_boundary(); break;
      case kStageDigits: from_digits(); break;
      case kStageWeights: from_weights(); break;
      case kStageCount: s_.stage = kStageCounted; break;  // the scan has counted every segment
      default: return;
    }
    __syncthreads();
    if (threadIdx.x == 0) global_ = s_;
  }

  __device__ bool final() const { return stage_is_final(s_.stage); }

 private:
  // After the stats scan: errors, greedy, min-p, then how to find top-k / top-p.
  __device__ void start() {
    if (s_.invalid_key != 0) return fail(static_cast<uint8_t>(RowError::kInvalidLogit));
    const float x_max = key_to_float(s_.max_key);
    if (x_max == kNegInf) return fail(static_cast<uint8_t>(RowError::kNoFiniteLogit));
    const uint32_t* hist = b_.w.key_hist + row_ * kKeyBins;
    if (is_greedy(p_)) {
      // The kept are the ties at the maximum; a +0 maximum ties with -0,
      // one bin lower.
      const int max_bin = static_cast<int>(order_key(x_max == 0.0f ? -0.0f : x_max) >> kKeyShift);
      s_.cut = x_max;
      if (find_from_top(hist, kKeyBins, max_bin, ~uint64_t{0}).total <= kCandidates)
        return collect(x_max, kPosInf, kSearchCandidates);
      return finish(x_max);
    }
    s_.z_max = scaled_logit(x_max, p_.temperature);
    if (!scaled_max_is_finite(s_.z_max)) return fail(static_cast<uint8_t>(RowError::kScaledOverflow));
    float cut = -kMaxFinite;
    if (min_p_active(p_)) {
      cut = on_first_warp([&] {
        return x_cut_for_z(min_p_z_cut(s_.z_max, p_.min_p, WarpSearch{}), p_.temperature, x_max, WarpSearch{});
      });
    }
    s_.cut = cut;
    if (!uses_key_hist(p_, b_.vocab)) return top_p_active(p_) ? weigh() : finish(cut);

    const int cut_bin = static_cast<int>(order_key(cut) >> kKeyShift);
    if (top_k_tried()) {
      // The k-th largest survivor lies in the highest bin where the count
      // from the top reaches k, or else in the cut's bin (if at all).
      const Crossing c = find_from_top(hist, kKeyBins, cut_bin + 1, static_cast<uint64_t>(p_.top_k));
      if (c.bin >= 0) {
        // Every id kept has x >= low: at or above the k-th's bin, or tied
        // in z with the bin's lowest value.
        const float bin_low = key_to_float(static_cast<uint32_t>(c.bin) << kKeyShift);
        const float low = on_first_warp([&] {
          return fmaxf(cut, x_cut_for_z(scaled_logit(bin_low, p_.temperature), p_.temperature, bin_low, WarpSearch{}));
        });
        const int low_bin = static_cast<int>(order_key(low) >> kKeyShift);
        if (find_from_top(hist, kKeyBins, low_bin, ~uint64_t{0}).total <= kCandidates)
          return collect(low, kPosInf, kSearchCandidates);
        return refine(kSearchTopK, static_cast<uint32_t>(c.bin), p_.top_k - c.above, cut, kPosInf);
      }
      if (c.total + hist[cut_bin] <= kCandidates) return collect(cut, kPosInf, kSearchCandidates);
      return refine(kSearchTopK, static_cast<uint32_t>(cut_bin), p_.top_k - c.total, cut, kPosInf);
    }
    // No top-k: when min-p (or a short row) leaves few survivors, list them.
    if (find_from_top(hist, kKeyBins, cut_bin, ~uint64_t{0}).total <= kCandidates)
      return collect(cut, kPosInf, kSearchCandidates);
    return top_p_active(p_) ? weigh() : finish(cut);
  }

  // Every id that can be kept is in the list: top-k and top-p on it sorted.
  __device__ void from_candidates() {
    const int n = sort_candidates();
    float cut = s_.cut;
    const bool sampled = !is_greedy(p_);  // greedy ignores top-k and top-p
    if (sampled && top_k_tried() && count_at_least(n, cut) >= p_.top_k) {
      const float kth = key_value(sh_.keys[p_.top_k - 1]);
      cut = on_first_warp([&] {
        return fmaxf(cut, x_cut_for_z(scaled_logit(kth, p_.temperature), p_.temperature, kth, WarpSearch{}));
      });
    }
    if (sampled && top_p_active(p_)) cut = top_p_cut(count_at_least(n, cut), 0, 0, cut);
    const int kept = count_at_least(n, cut);
    // The kept are the first `kept` keys; sort their ids ascending.
    const int padded = next_pow2(kept);
    for (int i = threadIdx.x; i < padded; i += kPlanThreads)
      sh_.keys[i] = i < kept ? static_cast<uint32_t>(key_id(sh_.keys[i])) : ~uint64_t{0};
    __syncthreads();
    bitonic_sort(padded, false);
    int32_t* out = b_.w.kept_ids + row_ * kCandidates;
    for (int i = threadIdx.x; i < kept; i += kPlanThreads) out[i] = static_cast<int32_t>(sh_.keys[i]);
    s_.kept = static_cast<uint32_t>(kept);
    finish(cut);
    s_.stage = kStageFromCandidates;
  }

  // The boundary bucket's values are in the list (unless it overflowed):
  // the exact cut, and each segment's count (the scan counted x >= hi).
  __device__ void from_boundary() {
    if (s_.candidates > kCandidates) return refine(kSearchTopP, 0, s_.budget - s_.above, s_.lo, s_.hi);
    const int n = sort_candidates();
    const float cut = top_p_cut(n, s_.above, s_.budget, s_.cut);
    const int kept = count_at_least(n, cut);
    int32_t* counts = b_.w.segment_counts + row_ * b_.segments;
    for (int i = threadIdx.x; i < kept; i += kPlanThreads)
      atomicAdd(counts + key_id(sh_.keys[i]) / b_.segment_elements, 1);
    finish(cut);
    s_.stage = kStageCounted;
  }

  __device__ void from_digits() {
    const int level = s_.level;
    const Crossing c = find_from_top(b_.w.search_hist + row_ * kKeyBins, level == 3 ? 256 : kKeyBins, 0, s_.target);
    if (c.bin < 0) {
      // Fewer survivors than k: top-k removes nothing. A top-p target is
      // always reached; missing it would be a bug, reported as such.
      if (s_.search == kSearchTopK) return after_top_k(s_.cut);
      return fail(kRowErrorInternal);
    }
    const uint32_t prefix = level == 1 ? c.bin : (s_.prefix << (level == 2 ? 12 : 8)) | c.bin;
    if (level < 3) return refine(static_cast<Search>(s_.search), prefix, s_.target - c.above, s_.lo, s_.hi, level + 1);
    // All 32 bits chosen: the k-th largest x, or the top-p boundary x.
    const float x = key_to_float(prefix);
    const float cut = on_first_warp(
        [&] { return fmaxf(s_.cut, x_cut_for_z(scaled_logit(x, p_.temperature), p_.temperature, x, WarpSearch{})); });
    if (s_.search == kSearchTopK) return after_top_k(cut);
    finish(cut);
  }

  // The weight histogram gives the budget and the boundary bucket.
  __device__ void from_weights() {
    const uint64_t* hist = b_.w.search_hist + row_ * kKeyBins;
    const float top_p = p_.top_p;
    const Crossing c =
        find_from_top(hist, kWeightBuckets, 0, [top_p](uint64_t total) { return top_p_budget(total, top_p); });
    const uint64_t budget = top_p_budget(c.total, top_p);
    if (c.bin < 0) return fail(kRowErrorInternal);
    const int bucket = kWeightBuckets - 1 - c.bin;
    // The bucket's two ends: warp 0 searches the low one, warp 1 the high one.
    const int warp = threadIdx.x / 32;
    if (warp < 2) {
      const float x_max = key_to_float(s_.max_key);
      const float end = warp == 0 ? weight_bucket_low(bucket, p_.temperature, s_.z_max, x_max, WarpSearch{})
                                  : weight_bucket_high(bucket, p_.temperature, s_.z_max, x_max, WarpSearch{});
      if ((threadIdx.x & 31) == 0) sh_.value[warp] = end;
    }
    __syncthreads();
    const float lo = sh_.value[0], hi = sh_.value[1];
    __syncthreads();
    s_.budget = budget;
    s_.above = c.above;
    collect(fmaxf(lo, s_.cut), hi, kSearchTopPBoundary);
  }

  __device__ void after_top_k(float cut) {
    s_.cut = cut;
    if (top_p_active(p_)) return weigh();
    finish(cut);
  }

  // ---- transitions (every thread computes the same state; thread 0 stores it)
  __device__ void finish(float cut) {
    s_.cut = cut;
    s_.stage = kStageCount;
    if (threadIdx.x == 0) b_.w.cuts[row_] = cut;
  }

  __device__ void fail(uint8_t error) {
    s_.error = error;
    s_.stage = kStageFailed;
    if (threadIdx.x == 0) atomicMax(&b_.w.summary->error_row_key, ~static_cast<uint32_t>(row_));
  }

  __device__ void collect(float lo, float hi, Search search) {
    s_.lo = lo;
    s_.hi = hi;
    s_.search = search;
    s_.candidates = 0;
    s_.stage = kStageCollect;
  }

  __device__ void refine(Search search, uint32_t prefix, uint64_t target, float lo, float hi, int level = -1) {
    if (level < 0) level = search == kSearchTopK ? 2 : 1;  // top-k's first digit came from the stats scan
    zero_search_hist();
    s_.search = search;
    s_.prefix = prefix;
    s_.target = target;
    s_.lo = lo;
    s_.hi = hi;
    s_.level = static_cast<uint8_t>(level);
    s_.stage = kStageDigits;
  }

  __device__ void weigh() {
    zero_search_hist();
    s_.stage = kStageWeights;
  }

  // ---- block-wide helpers (every thread calls them)
  __device__ bool top_k_tried() const { return p_.top_k > 0 && p_.top_k < b_.vocab; }

  // f() on the first warp (a WarpSearch needs all of its lanes), then its
  // value for every thread.
  template <class F>
  __device__ float on_first_warp(F&& f) {
    if (threadIdx.x < 32) {
      const float v = f();
      if (threadIdx.x == 0) sh_.value[0] = v;
    }
    __syncthreads();
    const float v = sh_.value[0];
    __syncthreads();
    return v;
  }

  __device__ void zero_search_hist() {
    uint64_t* hist = b_.w.search_hist + row_ * kKeyBins;
    for (int i = threadIdx.x; i < kKeyBins; i += kPlanThreads) hist[i] = 0;
  }

  // The highest bin where the sum of bins from the top (down to `lowest`)
  // reaches target, and what lies above it. Thread t sums a run of bins from
  // the top; a block scan then finds the run holding the crossing.
  template <class Count>
  __device__ Crossing find_from_top(const Count* hist, int bins, int lowest, uint64_t target) {
    return find_from_top(hist, bins, lowest, [target](uint64_t) { return target; });
  }

  // The same, for a target that depends on the total of the bins (a top-p
  // budget): one read of the bins and one block scan instead of two.
  template <class Count, class TargetOfTotal>
  __device__ Crossing find_from_top(const Count* hist, int bins, int lowest, const TargetOfTotal& target_of_total) {
    const int per_thread = (bins + kPlanThreads - 1) / kPlanThreads;
    const int first_rank = threadIdx.x * per_thread;
    const int end_rank = min(first_rank + per_thread, bins - max(lowest, 0));
    uint64_t sum = 0;
    for (int rank = first_rank; rank < end_rank; ++rank) sum += hist[bins - 1 - rank];
    uint64_t before = 0, total = 0;
    PlanScan(sh_.scan).ExclusiveSum(sum, before, total);
    const uint64_t target = target_of_total(total);
    if (threadIdx.x == 0) sh_.index = -1;
    __syncthreads();
    if (before < target && sum >= target - before) {
      uint64_t above = before;
      for (int rank = first_rank; rank < end_rank; ++rank) {
        const uint64_t c = hist[bins - 1 - rank];
        if (c >= target - above) {
          sh_.index = bins - 1 - rank;
          sh_.above = above;
          break;
        }
        above += c;
      }
    }
    __syncthreads();
    const Crossing crossing{sh_.index, sh_.above, total};
    __syncthreads();
    return crossing;
  }

  // Loads the collected candidates as sort keys and sorts them by x
  // descending; returns how many there are.
  __device__ int sort_candidates() {
    const int n = static_cast<int>(min(s_.candidates, static_cast<uint32_t>(kCandidates)));
    const int padded = next_pow2(n);
    const Candidate* list = b_.w.candidates + row_ * kCandidates;
    for (int i = threadIdx.x; i < padded; i += kPlanThreads) {
      // Real keys are never 0: order_key(x) > 0 for every x that can be collected.
      sh_.keys[i] = i < n ? (uint64_t{order_key(list[i].x)} << 32) | static_cast<uint32_t>(list[i].id) : 0;
    }
    __syncthreads();
    bitonic_sort(padded, true);
    return n;
  }

  __device__ void bitonic_sort(int n, bool descending) {
    for (int size = 2; size <= n; size <<= 1) {
      for (int stride = size >> 1; stride > 0; stride >>= 1) {
        for (int i = threadIdx.x; i < n; i += kPlanThreads) {
          const int partner = i ^ stride;
          if (partner <= i) continue;
          const bool ascending = ((i & size) == 0) != descending;
          const uint64_t a = sh_.keys[i], c = sh_.keys[partner];
          if ((a > c) == ascending) {
            sh_.keys[i] = c;
            sh_.keys[partner] = a;
          }
        }
        __syncthreads();
      }
    }
  }

  // How many of the first n sorted keys (x descending) have x >= cut.
  __device__ int count_at_least(int n, float cut) {
    int count = 0;
    for (int base = 0; base < n; base += kPlanThreads) {
      const int i = base + threadIdx.x;
      count += __syncthreads_count(i < n && key_value(sh_.keys[i]) >= cut);
    }
    return count;
  }

  // Top-p over the first n sorted keys, with `above` weight already above
  // them: the boundary x0 is the first x (descending) where the weight from
  // the top reaches the budget (budget 0: the n keys are every survivor and
  // the budget comes from their total). Its z is the last kept group's.
  __device__ float top_p_cut(int n, uint64_t above, uint64_t budget, float cut) {
    if (n == 0) return cut;  // never: the row maximum survives, and a boundary bucket has weight
    const int per_thread = (n + kPlanThreads - 1) / kPlanThreads;
    const int first = threadIdx.x * per_thread, end = min(first + per_thread, n);
    uint64_t sum = 0;
    for (int i = first; i < end; ++i) sum += survivor_weight(key_value(sh_.keys[i]), p_.temperature, s_.z_max);
    uint64_t before = 0, total = 0;
    PlanScan(sh_.scan).ExclusiveSum(sum, before, total);
    if (budget == 0) budget = top_p_budget(total, p_.top_p);
    if (threadIdx.x == 0) sh_.index = n - 1;  // unreachable when the weights add up, as they must
    __syncthreads();
    uint64_t reached = above + before;
    if (reached < budget && sum >= budget - reached) {
      for (int i = first; i < end; ++i) {
        reached += survivor_weight(key_value(sh_.keys[i]), p_.temperature, s_.z_max);
        if (reached >= budget) {
          sh_.index = i;
          break;
        }
      }
    }
    __syncthreads();
    const float x0 = key_value(sh_.keys[sh_.index]);
    return on_first_warp(
        [&] { return fmaxf(cut, x_cut_for_z(scaled_logit(x0, p_.temperature), p_.temperature, x0, WarpSearch{})); });
  }

  const MaskBatch& b_;
  int64_t row_;
  PlanShared& sh_;
  RowState& global_;
  RowState s_;
  RowParams p_;
};

__global__ void __launch_bounds__(kPlanThreads) plan_kernel(MaskBatch b, int round) {
  __shared__ PlanShared shared;
  const int64_t row = blockIdx.x;
  if (stage_is_final(b.w.states[row].stage)) return;
  Planner planner(b, row, shared);
  planner.advance();
  if (threadIdx.x == 0 && !planner.final()) atomicAdd(&b.w.summary->pending[round], 1u);
}

// ---- Offsets and ids --------------------------------------------------------------

// Kept ids of a segment: counted, or all of a candidate row's in its segment 0.
// Rows not final yet (off the common paths) get none until a later pass.
__device__ int64_t segment_kept(const MaskBatch& b, int64_t row, int64_t segment) {
  const RowState& state = b.w.states[row];
  if (state.stage == kStageCounted) return b.w.segment_counts[row * b.segments + segment];
  if (state.stage == kStageFromCandidates && segment == 0) return state.kept;
  return 0;
}

// One block: an exclusive scan over every (row, segment) in order.
__global__ void __launch_bounds__(kOffsetsThreads) offsets_kernel(MaskBatch b) {
  using Scan = cub::BlockScan<int64_t, kOffsetsThreads>;
  __shared__ typename Scan::TempStorage scan;
  if (b.w.summary->error_row_key != 0) return;
  const int64_t entries = b.rows * b.segments;
  int64_t carry = 0;
  for (int64_t base = 0; base < entries; base += kOffsetsThreads) {
    const int64_t e = base + threadIdx.x;
    const int64_t kept = e < entries ? segment_kept(b, e / b.segments, e % b.segments) : 0;
    int64_t before = 0, sum = 0;
    Scan(scan).ExclusiveSum(kept, before, sum);
    if (e < entries) {
      b.w.segment_offsets[e] = carry + before;
      if (e % b.segments == 0) b.w.offsets[e / b.segments] = carry + before;
    }
    carry += sum;
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    b.w.offsets[b.rows] = carry;
    b.w.summary->total = carry;
  }
}

using TileScan = cub::BlockScan<uint64_t, kScanThreads>;

// One block per (row, segment): the segment's kept ids in ascending order,
// tile by tile (each tile's order from a block scan of per-vector counts),
// or a candidate row's sorted list.
template <class S>
__global__ void __launch_bounds__(kScanThreads) write_kernel(MaskBatch b) {
  __shared__ typename TileScan::TempStorage scan;
  const int64_t row = blockIdx.x / b.segments, segment = blockIdx.x % b.segments;
  if (b.w.summary->error_row_key != 0) return;
  const RowState& state = b.w.states[row];
  const uint8_t stage = state.stage;
  int64_t at = b.w.segment_offsets[blockIdx.x];
  int32_t* indices = b.w.indices;
  const int64_t capacity = b.w.capacity;
  if (stage == kStageFromCandidates) {
    if (segment != 0) return;
    const int32_t* kept = b.w.kept_ids + row * kCandidates;
    for (int64_t i = threadIdx.x; i < state.kept; i += kScanThreads) {
      if (at + i < capacity) indices[at + i] = kept[i];
    }
    return;
  }
  if (stage != kStageCounted) return;
  const float cut = state.cut;
  const int64_t tile_begin = segment * b.tiles_per_segment;
  const int64_t tile_end = min(tile_begin + b.tiles_per_segment, b.tiles_per_row);
  for_each_tile<S>(row_data<S>(b, row), b.vocab, tile_begin, tile_end, b.aligned, [&](const Tile<S>& tile, int64_t t) {
    // Kept count of each of the thread's vectors, 16 bits apiece.
    uint64_t packed = 0;
    tile.for_each(t, [&](float x, int64_t, int j, int) {
      if (x >= cut) packed += uint64_t{1} << (16 * j);
    });
    uint64_t before = 0, totals = 0;
    TileScan(scan).ExclusiveSum(packed, before, totals);
    int64_t next[kTileLoads];
#pragma unroll
    for (int j = 0; j < kTileLoads; ++j) {
      next[j] = at + static_cast<int64_t>((before >> (16 * j)) & 0xffff);
      at += static_cast<int64_t>((totals >> (16 * j)) & 0xffff);
    }
    tile.for_each(t, [&](float x, int64_t id, int j, int) {
      if (x < cut) return;
      if (next[j] < capacity) indices[next[j]] = static_cast<int32_t>(id);
      ++next[j];
    });
    __syncthreads();  // the scan's storage is reused by the next tile
  });
}

// ---- Fill ---------------------------------------------------------------------

template <class S>
__global__ void __launch_bounds__(kScanThreads) fill_kernel(MaskBatch b) {
  using Stored = typename S::Stored;
  const int64_t row = blockIdx.x / b.tiles_per_row, in_row = blockIdx.x % b.tiles_per_row;
  const float cut = b.w.cuts[row];
  Stored* data = static_cast<Stored*>(b.logits) + row * b.vocab;
  Tile<S> tile;
  tile.template load<false>(data, b.vocab, in_row, b.aligned);
  const uint32_t masked = Tile<S>::stored_bits(S::kNegInfStored);
#pragma unroll
  for (int j = 0; j < kTileLoads; ++j) {
    const int64_t first = Tile<S>::first_id(in_row, j);
    if (first >= b.vocab) continue;
    bool changed = false;
#pragma unroll
    for (int lane = 0; lane < Tile<S>::kVec; ++lane) {
      if (first + lane < b.vocab && Tile<S>::value(tile.raw[j], lane) < cut) {
        Tile<S>::set_bits(tile.raw[j], lane, masked);
        changed = true;
      }
    }
    if (!changed) continue;
    if (b.aligned) {
      *reinterpret_cast<uint4*>(data + first) = tile.raw[j];
    } else {
#pragma unroll
      for (int lane = 0; lane < Tile<S>::kVec; ++lane) {
        if (first + lane < b.vocab) {
          const uint32_t v = Tile<S>::bits(tile.raw[j], lane);
          if constexpr (sizeof(Stored) == 4) {
            data[first + lane] = bits_to_float(v);
          } else {
            data[first + lane] = static_cast<Stored>(v);
          }
        }
      }
    }
  }
}

void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

}  // namespace

void launch_scan(const MaskBatch& batch, int round, cudaStream_t stream) {
  const unsigned blocks = static_cast<unsigned>(batch.rows * batch.segments);
  const size_t shared = round == 0 ? kStatsSharedBytes : kScanSharedBytes;
  with_storage(batch.dtype,
               [&](auto storage) { scan_kernel<decltype(storage)><<<blocks, kScanThreads, shared, stream>>>(batch); });
  check_launch("scan_kernel");
}

void launch_plan(const MaskBatch& batch, int round, cudaStream_t stream) {
  plan_kernel<<<static_cast<unsigned>(batch.rows), kPlanThreads, 0, stream>>>(batch, round);
  check_launch("plan_kernel");
}

void launch_offsets(const MaskBatch& batch, cudaStream_t stream) {
  offsets_kernel<<<1, kOffsetsThreads, 0, stream>>>(batch);
  check_launch("offsets_kernel");
}

void launch_write(const MaskBatch& batch, cudaStream_t stream) {
  const unsigned blocks = static_cast<unsigned>(batch.rows * batch.segments);
  with_storage(batch.dtype,
               [&](auto storage) { write_kernel<decltype(storage)><<<blocks, kScanThreads, 0, stream>>>(batch); });
  check_launch("write_kernel");
}

void launch_fill(const MaskBatch& batch, cudaStream_t stream) {
  const unsigned blocks = static_cast<unsigned>(batch.rows * batch.tiles_per_row);
  with_storage(batch.dtype,
               [&](auto storage) { fill_kernel<decltype(storage)><<<blocks, kScanThreads, 0, stream>>>(batch); });
  check_launch("fill_kernel");
}

int resident_scan_blocks_per_multiprocessor(DType dtype) {
  int blocks = 0;
  with_storage(dtype, [&](auto storage) {
    check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, scan_kernel<decltype(storage)>, kScanThreads,
                                                        kScanSharedBytes),
          "cudaOccupancyMaxActiveBlocksPerMultiprocessor");
  });
  return std::max(1, blocks);
}

std::string kernels_unusable_reason() {
  cudaFuncAttributes attributes;
  const cudaError_t status = cudaFuncGetAttributes(&attributes, plan_kernel);
  if (status == cudaSuccess) return "";
  cudaGetLastError();
  int device = 0;
  cudaGetDevice(&device);
  cudaDeviceProp props;
  std::string gpu = "this GPU";
  if (cudaGetDeviceProperties(&props, device) == cudaSuccess)
    gpu = std::string(props.name) + " (compute capability " + std::to_string(props.major) + "." +
          std::to_string(props.minor) + ")";
  return "the CUDA kernels of this build do not run on " + gpu + ": " + cudaGetErrorString(status) +
         "; rebuild with SAMPLING_MASK_CUDA_ARCHITECTURES naming it";
}

}  // namespace sm::cuda
