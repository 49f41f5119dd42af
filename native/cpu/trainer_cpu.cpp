#include "trainer_cpu.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <vector>

#include "../host/kept_ids.h"
#include "cpu_backend.h"
#include "row_kernels.h"
#include "trainer_kernels.h"

namespace sm::cpu {
namespace {

RowFailure fail(int64_t row, RowError error, int64_t column = -1) { return RowFailure{row, RowStatus{error, column}}; }

// Runs chunk(begin, end) over chunks of rows on `on`, or on the CPU
// backend's pool when it is null.
template <class Chunk>
RowFailure for_row_chunks(host::ThreadPool* on, int64_t rows, const Chunk& chunk) {
  return host::for_row_chunks(on ? *on : *pool(), rows, chunk);
}

// One row's kept distribution, computed in the passes core/trainer.h defines
// from its kept logits laid out contiguously: values[0, count) (V the
// storage they are in), then -inf up to padded_count, a whole number of lane
// blocks (exp(-inf) = 0 leaves every sum's bits as they were).
template <class V>
class KeptDistribution {
 public:
  using Stored = typename V::Stored;

  KeptDistribution(const Stored* values, int64_t count, int64_t padded_count, float temperature)
      : values_(values), count_(count), padded_count_(padded_count), temperature_(temperature) {}

  // ids(i) is the vocabulary id of values[i], for errors that name it.
  template <class Ids>
  RowStatus prepare(const Ids& ids, int64_t target_position, bool with_entropy) {
    const ScanResult scan = scan_row<V>(values_, count_);
    if (scan.has_invalid) {
      // Bounded: in a SharedArrayBuffer another thread may have rewritten the
      // value the scan saw; then no column is named.
      int64_t i = 0;
      while (i < count_ && !is_nan_or_pos_inf(V::load(values_[i]))) ++i;
      return RowStatus{RowError::kInvalidLogit, i < count_ ? ids(i) : -1};
    }
    if (scan.max == kNegInf) return RowStatus{RowError::kNoFiniteKeptLogit, -1};
    z_max_ = scaled_logit(scan.max, temperature_);
    if (!scaled_max_is_finite(z_max_)) return RowStatus{RowError::kScaledOverflow, -1};
    float mass = 0.0f;
    trainer_kernels<V>().lane_sums(values_, padded_count_, temperature_, z_max_, &mass,
                                   with_entropy ? &weighted_ : nullptr);
    softmax_ = kept_softmax(z_max_, mass);
    target_position_ = target_position;
    return {};
  }

  bool target_kept() const { return target_position_ >= 0; }
  float logprob() const {
    if (!target_kept()) return kNegInf;
    return softmax_.logprob(scaled_logit(V::load(values_[target_position_]), temperature_));
  }
  float entropy() const { return softmax_.entropy(weighted_); }
  void gradient(float upstream, float* out) const {
    trainer_kernels<V>().gradients(values_, count_, temperature_, softmax_, target_position_,
                                   gradient_scale(upstream, temperature_), out);
  }

 private:
  const Stored* values_;
  int64_t count_, padded_count_;
  float temperature_;
  float z_max_ = 0.0f;
  float weighted_ = 0.0f;
  int64_t target_position_ = -1;
  KeptSoftmax softmax_{};
};

int64_t whole_lane_blocks(int64_t count) { return (count + kSoftmaxLanes - 1) / kSoftmaxLanes * kSoftmaxLanes; }

// Rows whose kept logits are gathered together: enough independent loads in
// one tight loop to keep many cache misses in flight.
constexpr int64_t kGatherRows = 16;

// The kept logits of rows [begin, end), widened to f32, each row from
// starts[r - begin] padded with -inf to whole lane blocks. Stops at the first
// row whose ids are not strictly ascending in [0, vocab) and returns it.
template <class S>
RowFailure gather_kept(const LogitsView& logits, const KeptIds& kept, int64_t begin, int64_t end,
                       std::vector<float>& values, std::vector<int64_t>& starts) {
  auto* base = static_cast<const typename S::Stored*>(logits.data);
  starts.assign(1, 0);
  for (int64_t r = begin; r < end; ++r)
    starts.push_back(starts.back() + whole_lane_blocks(kept.offsets[r + 1] - kept.offsets[r]));
  values.assign(starts.back(), kNegInf);
  for (int64_t r = begin; r < end; ++r) {
    const auto* x = base + r * logits.vocab;
    float* out = values.data() + starts[r - begin];
    int64_t previous = -1;
    for (int32_t j = kept.offsets[r]; j < kept.offsets[r + 1]; ++j) {
      const int64_t id = kept.indices[j];
      if (!kept_id_follows(id, previous, logits.vocab)) return fail(r, RowError::kInvalidMask, id);
      previous = id;
      *out++ = S::load(x[id]);
    }
  }
  return {};
}

// Prepares the kept distribution of every row, in parallel, and hands each
// to emit(distribution, r); counts the rows whose target is not kept.
template <class S, class Emit>
RowFailure each_kept_row(const LogitsView& logits, const KeptIds& kept, const int32_t* targets,
                         const PerRow<float>& temperature, bool with_entropy, int64_t* targets_outside,
                         const Emit& emit, host::ThreadPool* on = nullptr) {
  auto* base = static_cast<const typename S::Stored*>(logits.data);
  std::atomic<int64_t> outside{0};
  const RowFailure failure = for_row_chunks(on, logits.rows, [&](int64_t begin, int64_t end) {
    int64_t chunk_outside = 0;
    auto one = [&](auto&& row, const auto& ids, int64_t target_position, int64_t r) {
      const RowStatus status = row.prepare(ids, target_position, with_entropy);
      if (status.error != RowError::kNone) return RowFailure{r, status};
      emit(row, r);
      chunk_outside += row.target_kept() ? 0 : 1;
      return RowFailure{};
    };
    RowFailure first;
    if (kept.all()) {
      for (int64_t r = begin; r < end && first.row < 0; ++r) {
        KeptDistribution<S> row(base + r * logits.vocab, logits.vocab, logits.vocab, temperature.at(r));
        first = one(
            row, [](int64_t i) { return i; }, targets[r], r);
      }
    } else {
      std::vector<float> values;
      std::vector<int64_t> starts;
      for (int64_t block = begin; block < end && first.row < 0; block += kGatherRows) {
        const int64_t block_end = std::min(end, block + kGatherRows);
        const RowFailure bad_ids = gather_kept<S>(logits, kept, block, block_end, values, starts);
        const int64_t gathered_end = bad_ids.row >= 0 ? bad_ids.row : block_end;
        for (int64_t r = block; r < gathered_end && first.row < 0; ++r) {
          const int32_t* ids = kept.indices + kept.offsets[r];
          const int64_t count = kept.offsets[r + 1] - kept.offsets[r];
          const int32_t* found = std::lower_bound(ids, ids + count, targets[r]);
          const int64_t target_position = found != ids + count && *found == targets[r] ? found - ids : -1;
          const int64_t start = starts[r - block];
          KeptDistribution<F32Storage> row(values.data() + start, count, starts[r - block + 1] - start,
                                           temperature.at(r));
          first = one(
              row, [ids](int64_t i) { return int64_t{ids[i]}; }, target_position, r);
        }
        if (first.row < 0) first = bad_ids;
      }
    }
    outside += chunk_outside;
    return first;
  });
  *targets_outside = outside;
  return failure;
}

template <class S>
void apply_mask_typed(const LogitsView& logits, const KeptIds& kept, void* out) {
  using Stored = typename S::Stored;
  const auto* in = static_cast<const Stored*>(logits.data);
  auto* dst = static_cast<Stored*>(out);
  const bool in_place = in == dst;
  const int64_t vocab = logits.vocab;
  for_row_chunks(nullptr, logits.rows, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const Stored* x = in + r * vocab;
      Stored* y = dst + r * vocab;
      int64_t next = 0;  // first id not yet written
      for (int32_t j = kept.offsets[r]; j < kept.offsets[r + 1]; ++j) {
        const int64_t id = kept.indices[j];
        std::fill(y + next, y + id, S::kNegInfStored);
        if (!in_place) y[id] = x[id];
        next = id + 1;
      }
      std::fill(y + next, y + vocab, S::kNegInfStored);
    }
    return RowFailure{};
  });
}

}  // namespace

RowFailure apply_mask(const LogitsView& logits, const KeptIds& kept, void* out) {
  const RowFailure bad_ids = host::check_kept_ids(*pool(), kept, logits.rows, logits.vocab);
  if (bad_ids.row >= 0) return bad_ids;
  with_storage(logits.dtype, [&](auto storage) { apply_mask_typed<decltype(storage)>(logits, kept, out); });
  return {};
}

RowFailure masked_logprobs(const LogitsView& logits, const KeptIds& kept, const int32_t* targets,
                           const PerRow<float>& temperature, float* logprobs, float* entropy, int64_t* targets_outside,
                           host::ThreadPool* on) {
  return with_storage(logits.dtype, [&](auto storage) {
    return each_kept_row<decltype(storage)>(
        logits, kept, targets, temperature, entropy != nullptr, targets_outside,
        [&](const auto& row, int64_t r) {
          logprobs[r] = row.logprob();
          if (entropy) entropy[r] = row.entropy();
        },
        on);
  });
}

RowFailure masked_logprobs_backward(const LogitsView& logits, const KeptIds& kept, const int32_t* targets,
                                    const PerRow<float>& upstream, const PerRow<float>& temperature, float* gradient,
                                    int64_t* targets_outside) {
  return with_storage(logits.dtype, [&](auto storage) {
    return each_kept_row<decltype(storage)>(
        logits, kept, targets, temperature, false, targets_outside, [&](const auto& row, int64_t r) {
          row.gradient(upstream.at(r), gradient + (kept.all() ? r * logits.vocab : kept.offsets[r]));
        });
  });
}

}  // namespace sm::cpu
