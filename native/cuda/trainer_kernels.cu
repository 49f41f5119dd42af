// The trainer side's kernels (see trainer_kernels.h).
#include "context.h"
#include "trainer_kernels.h"

namespace sm::cuda {
namespace {

constexpr int kRowsPerBlock = 16;
constexpr int kThreads = kRowsPerBlock * kSoftmaxLanes;

// The kSoftmaxLanes threads of one row: a half warp.
struct RowLanes {
  unsigned mask;
  int lane;
  __device__ RowLanes() {
    const int warp_lane = threadIdx.x % 32;
    lane = warp_lane % kSoftmaxLanes;
    mask = 0xffffu << (warp_lane / kSoftmaxLanes * kSoftmaxLanes);
  }
  template <class T>
  __device__ T from(T v, int lane_from) const {
    return __shfl_sync(mask, v, lane_from, kSoftmaxLanes);
  }
  template <class T>
  __device__ T xor_of(T v, int offset) const {
    return __shfl_xor_sync(mask, v, offset, kSoftmaxLanes);
  }
  // merge_lanes over the row's lanes, lane j taking lane j + half at each step.
  __device__ float merge(float sum, float compensation) const {
    for (int half = kSoftmaxLanes / 2; half > 0; half /= 2) {
      const float other_sum = __shfl_down_sync(mask, sum, half, kSoftmaxLanes);
      const float other_compensation = __shfl_down_sync(mask, compensation, half, kSoftmaxLanes);
      compensated_add(sum, compensation, other_sum);
      compensation = add_rn(compensation, other_compensation);
    }
    return from(add_rn(sum, compensation), 0);
  }
};

// One row's kept ids and logits as its lanes read them.
template <class S>
struct KeptRow {
  const typename S::Stored* x;
  const int32_t* ids;  // null: every id
  int64_t count;
  __device__ int64_t id(int64_t position) const { return ids ? ids[position] : position; }
  // The logit at a position, -inf past the end (the CPU's lane padding).
  __device__ float value(int64_t position) const { return position < count ? S::load(x[id(position)]) : kNegInf; }
  __device__ int64_t blocks() const { return (count + kSoftmaxLanes - 1) / kSoftmaxLanes; }
};

__device__ void fail_row(const KeptBatch& b, int64_t row, RowError error, int64_t column) {
  b.row_errors[row] = static_cast<int32_t>(error);
  b.row_columns[row] = static_cast<int32_t>(column);
  atomicMax(b.failed_row, kNoRow - static_cast<unsigned long long>(row));
}

// Lane blocks whose logits each lane keeps in registers from the first
// pass (64 kept ids per row): their loads are issued together, and later
// passes do not read them again.
constexpr int kCachedBlocks = 4;

// What the first pass learns about a row, per lane and then for the row.
struct RowScan {
  float max = kNegInf;
  int64_t invalid = kMaxVocab;  // the lowest id with NaN or +inf
  int64_t target_position = -1;
  float target_x = 0.0f;
  __device__ void add(float x, int64_t id, int64_t position, int32_t target) {
    if (is_nan_or_pos_inf(x) && id < invalid) invalid = id;
    max = x > max ? x : max;
    if (id == target) target_position = position, target_x = x;
  }
  __device__ void merge(const RowLanes& lanes) {
    for (int offset = kSoftmaxLanes / 2; offset > 0; offset /= 2) {
      const float other_max = lanes.xor_of(max, offset), other_x = lanes.xor_of(target_x, offset);
      const int64_t other_invalid = lanes.xor_of(invalid, offset);
      const int64_t other_position = lanes.xor_of(target_position, offset);
      max = other_max > max ? other_max : max;
      invalid = other_invalid < invalid ? other_invalid : invalid;
      if (other_position > target_position) target_position = other_position, target_x = other_x;  // one lane has it
    }
  }
};

// A row's kept softmax, computed by its lanes; false when the row failed.
// cached[i]: this lane's logit in lane block i (-inf past the row's end).
template <class S>
__device__ bool kept_softmax_of(const KeptBatch& b, const RowLanes& lanes, const KeptRow<S>& row, int64_t r,
                                float temperature, int32_t target, bool with_entropy, float (&cached)[kCachedBlocks],
                                KeptSoftmax* softmax, float* weighted, RowScan* scan) {
  int64_t ids[kCachedBlocks];
#pragma unroll
  for (int i = 0; i < kCachedBlocks; ++i) {
    const int64_t p = lanes.lane + i * kSoftmaxLanes;
    ids[i] = p < row.count ? row.id(p) : -1;
  }
#pragma unroll
  for (int i = 0; i < kCachedBlocks; ++i) {
    cached[i] = ids[i] >= 0 ? S::load(row.x[ids[i]]) : kNegInf;
    if (ids[i] >= 0) scan->add(cached[i], ids[i], lanes.lane + i * kSoftmaxLanes, target);
  }
  for (int64_t p = lanes.lane + kCachedBlocks * kSoftmaxLanes; p < row.count; p += kSoftmaxLanes) {
    const int64_t id = row.id(p);
    scan->add(S::load(row.x[id]), id, p, target);
  }
  scan->merge(lanes);
  if (scan->invalid < kMaxVocab) {
    if (lanes.lane == 0) fail_row(b, r, RowError::kInvalidLogit, scan->invalid);
    return false;
  }
  if (scan->max == kNegInf) {
    if (lanes.lane == 0) fail_row(b, r, RowError::kNoFiniteKeptLogit, -1);
    return false;
  }
  const float z_max = scaled_logit(scan->max, temperature);
  if (!scaled_max_is_finite(z_max)) {
    if (lanes.lane == 0) fail_row(b, r, RowError::kScaledOverflow, -1);
    return false;
  }
  CompensatedSum mass, entropy;
  auto add = [&](float x) {
    const float d = sub_rn(scaled_logit(x, temperature), z_max);
    const float e = exp_nonpositive(d);
    mass.add(e);
    if (with_entropy) entropy.add(entropy_term(e, d));
  };
  const int64_t blocks = row.blocks();
#pragma unroll
  for (int i = 0; i < kCachedBlocks; ++i) {
    if (i < blocks) add(cached[i]);
  }
  for (int64_t block = kCachedBlocks; block < blocks; ++block) add(row.value(block * kSoftmaxLanes + lanes.lane));
  *softmax = kept_softmax(z_max, lanes.merge(mass.sum, mass.compensation));
  if (with_entropy) *weighted = lanes.merge(entropy.sum, entropy.compensation);
  return true;
}

template <class S>
__device__ KeptRow<S> kept_row(const KeptBatch& b, int64_t r) {
  const auto* x = static_cast<const typename S::Stored*>(b.logits) + r * b.vocab;
  if (b.kept.all()) return KeptRow<S>{x, nullptr, b.vocab};
  const int32_t begin = b.kept.offsets[r];
  return KeptRow<S>{x, b.kept.indices + begin, b.kept.offsets[r + 1] - begin};
}

template <class S, bool kBackward>
__global__ void __launch_bounds__(kThreads) kept_rows_kernel(KeptBatch b) {
  const RowLanes lanes;
  const int64_t r = int64_t{blockIdx.x} * kRowsPerBlock + threadIdx.x / kSoftmaxLanes;
  if (r >= b.rows) return;  // a whole half warp: shuffles stay within rows that run
  const KeptRow<S> row = kept_row<S>(b, r);
  const float temperature = b.temperature.at(r);
  const int32_t target = b.targets[r];
  const bool with_entropy = !kBackward && b.entropy != nullptr;
  KeptSoftmax softmax;
  float weighted = 0.0f;
  float cached[kCachedBlocks];
  RowScan scan;
  if (!kept_softmax_of<S>(b, lanes, row, r, temperature, target, with_entropy, cached, &softmax, &weighted, &scan))
    return;
  if (lanes.lane == 0 && scan.target_position < 0) atomicAdd(b.targets_outside, 1ull);
  if (kBackward) {
    const float scale = gradient_scale(b.upstream.at(r), temperature);
    float* out = b.gradient + (b.kept.all() ? r * b.vocab : b.kept.offsets[r]);
    auto gradient = [&](int64_t p, float x) {
      out[p] = logprob_gradient(p == scan.target_position, softmax.prob(scaled_logit(x, temperature)), scale);
    };
#pragma unroll
    for (int i = 0; i < kCachedBlocks; ++i) {
      const int64_t p = lanes.lane + i * kSoftmaxLanes;
      if (p < row.count) gradient(p, cached[i]);
    }
    for (int64_t p = lanes.lane + kCachedBlocks * kSoftmaxLanes; p < row.count; p += kSoftmaxLanes)
      gradient(p, row.value(p));
  } else if (lanes.lane == 0) {
    b.logprobs[r] = scan.target_position < 0 ? kNegInf : softmax.logprob(scaled_logit(scan.target_x, temperature));
    if (with_entropy) b.entropy[r] = softmax.entropy(weighted);
  }
}

template <bool kBackward>
void launch_kept_rows(const KeptBatch& b, cudaStream_t stream) {
  if (b.rows == 0) return;
  const auto blocks = static_cast<unsigned>((b.rows + kRowsPerBlock - 1) / kRowsPerBlock);
  with_storage(b.dtype, [&](auto storage) {
    kept_rows_kernel<decltype(storage), kBackward><<<blocks, kThreads, 0, stream>>>(b);
  });
  check(cudaGetLastError(), "launch (trainer kernels)");
}

// apply_mask's passes over the entries' raw bits (Raw: 4 or 2 bytes);
// saved holds them widened to 4 bytes.
template <class Raw>
__global__ void save_kept_kernel(const Raw* x, int64_t rows, int64_t vocab, KeptIds kept, uint32_t* saved) {
  const int64_t r = int64_t{blockIdx.x} * kRowsPerBlock + threadIdx.x / kSoftmaxLanes;
  if (r >= rows) return;
  for (int64_t j = kept.offsets[r] + threadIdx.x % kSoftmaxLanes; j < kept.offsets[r + 1]; j += kSoftmaxLanes)
    saved[j] = x[r * vocab + kept.indices[j]];
}

template <class Raw>
__global__ void restore_kept_kernel(Raw* x, int64_t rows, int64_t vocab, KeptIds kept, const uint32_t* saved) {
  const int64_t r = int64_t{blockIdx.x} * kRowsPerBlock + threadIdx.x / kSoftmaxLanes;
  if (r >= rows) return;
  for (int64_t j = kept.offsets[r] + threadIdx.x % kSoftmaxLanes; j < kept.offsets[r + 1]; j += kSoftmaxLanes)
    x[r * vocab + kept.indices[j]] = static_cast<Raw>(saved[j]);
}

// Fills words [0, count) with a 4-byte pattern, 16 bytes per store where it can.
__global__ void fill_words_kernel(uint32_t* words, int64_t count, uint32_t pattern) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  const int64_t first = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  const int64_t quads = count / 4;
  auto* out = reinterpret_cast<uint4*>(words);  // cudaMalloc'd: 256-byte aligned
  for (int64_t i = first; i < quads; i += stride) out[i] = make_uint4(pattern, pattern, pattern, pattern);
  for (int64_t i = quads * 4 + first; i < count; i += stride) words[i] = pattern;
}

__global__ void fill_half_kernel(uint16_t* last, uint16_t value) { *last = value; }

}  // namespace

void launch_masked_logprobs(const KeptBatch& batch, cudaStream_t stream) { launch_kept_rows<false>(batch, stream); }
void launch_masked_logprobs_backward(const KeptBatch& batch, cudaStream_t stream) {
  launch_kept_rows<true>(batch, stream);
}

void launch_apply_mask(void* logits, DType dtype, int64_t rows, int64_t vocab, const KeptIds& kept, uint32_t* saved,
                       cudaStream_t stream) {
  if (rows == 0) return;
  const auto row_blocks = static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock);
  auto passes = [&](auto raw, uint32_t neg_inf) {
    using Raw = decltype(raw);
    auto* x = static_cast<Raw*>(logits);
    save_kept_kernel<Raw><<<row_blocks, kThreads, 0, stream>>>(x, rows, vocab, kept, saved);
    const int64_t bytes = rows * vocab * static_cast<int64_t>(sizeof(Raw));
    const uint32_t pattern = sizeof(Raw) == 4 ? neg_inf : neg_inf | neg_inf << 16;
    fill_words_kernel<<<1024, 256, 0, stream>>>(static_cast<uint32_t*>(logits), bytes / 4, pattern);
    if (bytes % 4 != 0)
      fill_half_kernel<<<1, 1, 0, stream>>>(reinterpret_cast<uint16_t*>(x + rows * vocab) - 1, neg_inf);
    restore_kept_kernel<Raw><<<row_blocks, kThreads, 0, stream>>>(x, rows, vocab, kept, saved);
  };
  if (dtype == DType::kFloat32) {
    passes(uint32_t{}, 0xff800000u);  // -inf
  } else {
    passes(uint16_t{}, dtype == DType::kBFloat16 ? BF16Storage::kNegInfStored : F16Storage::kNegInfStored);
  }
  check(cudaGetLastError(), "launch (applyMask)");
}

}  // namespace sm::cuda
