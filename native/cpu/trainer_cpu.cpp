#include "trainer_cpu.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <type_traits>
#include <vector>

#include "row_kernels.h"
#include "thread_pool.h"
#include "trainer_kernels.h"

namespace sm::cpu {
namespace {

RowFailure fail(int64_t row, RowError error, int64_t column = -1) { return RowFailure{row, RowStatus{error, column}}; }

// Runs chunk(begin, end) over chunks of rows on the shared pool. Each chunk
// returns its first failure; the lowest failing row wins, as if rows ran in
// order.
template <class Chunk>
RowFailure for_row_chunks(int64_t rows, const Chunk& chunk) {
  const std::shared_ptr<ThreadPool> pool = shared_pool();
  const int64_t size = std::clamp<int64_t>(rows / (8 * pool->threads()), 1, 64);
  const int64_t count = (rows + size - 1) / size;
  std::vector<RowFailure> failures(count);
  pool->parallel_for(count, [&](int64_t c) { failures[c] = chunk(c * size, std::min(rows, (c + 1) * size)); });
  for (const RowFailure& failure : failures) {
    if (failure.row >= 0) return failure;
  }
  return {};
}

// The ids of one row: listed in the mask (CSR), or every id.
struct ListedIds {
  const int32_t* ids;
  int64_t count;
  int64_t operator[](int64_t i) const { return ids[i]; }
};
struct EveryId {
  int64_t count;
  int64_t operator[](int64_t i) const { return i; }
};

// One row's kept distribution, computed in the passes core/trainer.h defines.
// Listed ids are gathered once, widened to f32, into a contiguous scratch
// row; every id reads the row itself.
template <class S, class Ids>
class KeptRow {
 public:
  using Stored = typename S::Stored;
  static constexpr bool kListed = std::is_same_v<Ids, ListedIds>;

  KeptRow(const Stored* x, const Ids& ids, int64_t vocab, float temperature, std::vector<float>& scratch)
      : x_(x), ids_(ids), vocab_(vocab), temperature_(temperature), scratch_(scratch) {}

  // Checks the ids and the logits they read, then finds the row's kept
  // distribution and where the target sits among the kept ids.
  RowStatus prepare(int64_t target, bool with_entropy) {
    const RowStatus status = scan(target);
    if (status.error != RowError::kNone) return status;
    if (!scaled_max_is_finite(z_max_)) return RowStatus{RowError::kScaledOverflow, -1};
    float mass = 0.0f;
    on_values([&](auto storage, const auto* values, int64_t count) {
      trainer_kernels<decltype(storage)>().lane_sums(values, count, temperature_, z_max_, &mass,
                                                      with_entropy ? &weighted_ : nullptr);
    });
    softmax_ = kept_softmax(z_max_, mass);
    return {};
  }

  bool target_kept() const { return target_position_ >= 0; }
  float logprob() const {
    if (!target_kept()) return kNegInf;
    const float x_target = kListed ? scratch_[target_position_] : S::load(x_[target_position_]);
    return softmax_.logprob(scaled_logit(x_target, temperature_));
  }
  float entropy() const { return softmax_.entropy(weighted_); }

  void gradient(float upstream, float* out) const {
    const float scale = gradient_scale(upstream, temperature_);
    on_values([&](auto storage, const auto* values, int64_t) {
      trainer_kernels<decltype(storage)>().gradients(values, ids_.count, temperature_, softmax_, target_position_,
                                                      scale, out);
    });
  }

 private:
  // fn(storage tag, contiguous kept logits, their count with padding).
  template <class Fn>
  void on_values(const Fn& fn) const {
    if constexpr (kListed) {
      fn(F32Storage{}, scratch_.data(), static_cast<int64_t>(scratch_.size()));
    } else {
      fn(S{}, x_, ids_.count);
    }
  }

  RowStatus scan(int64_t target) {
    float x_max = kNegInf;
    bool invalid = false;
    if constexpr (kListed) {
      // Whole lane blocks: the padding's exp is 0, which leaves every sum's bits as they were.
      scratch_.assign((ids_.count + kSoftmaxLanes - 1) / kSoftmaxLanes * kSoftmaxLanes, kNegInf);
      int64_t previous = -1;
      for (int64_t i = 0; i < ids_.count; ++i) {
        const int64_t id = ids_[i];
        if (!kept_id_follows(id, previous, vocab_)) return RowStatus{RowError::kInvalidMask, id};
        previous = id;
        const float v = S::load(x_[id]);
        scratch_[i] = v;
        x_max = v > x_max ? v : x_max;
        invalid |= is_nan_or_pos_inf(v);
        if (id == target) target_position_ = i;
      }
    } else {
      const ScanResult whole_row = row_kernels<S>().scan(x_, ids_.count);
      x_max = whole_row.max;
      invalid = whole_row.has_invalid;
      target_position_ = target;
    }
    if (invalid) {
      for (int64_t i = 0;; ++i) {
        if (is_nan_or_pos_inf(S::load(x_[ids_[i]]))) return RowStatus{RowError::kInvalidLogit, ids_[i]};
      }
    }
    if (x_max == kNegInf) return RowStatus{RowError::kNoFiniteKeptLogit, -1};
    z_max_ = scaled_logit(x_max, temperature_);
    return {};
  }

  const Stored* x_;
  Ids ids_;
  int64_t vocab_;
  float temperature_;
  std::vector<float>& scratch_;
  float z_max_ = 0.0f;
  float weighted_ = 0.0f;
  int64_t target_position_ = -1;
  KeptSoftmax softmax_{};
};

// Starts loading the logits a row will gather, a row ahead, so that the
// memory latency of consecutive rows overlaps. The ids are not checked yet:
// clamped, they only aim the prefetch.
template <class Stored>
void prefetch_kept(const Stored* x, const KeptIds& kept, int64_t r, int64_t vocab) {
  for (int32_t j = kept.offsets[r]; j < kept.offsets[r + 1]; ++j)
    __builtin_prefetch(x + std::clamp<int64_t>(kept.indices[j], 0, vocab - 1));
}

// Prepares the kept distribution of every row, in parallel, and hands each
// to emit(row, r); counts the rows whose target is not kept.
template <class S, class Emit>
RowFailure each_kept_row(const LogitsView& logits, const KeptIds& kept, const int32_t* targets,
                         const PerRow<float>& temperature, bool with_entropy, int64_t* targets_outside,
                         const Emit& emit) {
  auto* base = static_cast<const typename S::Stored*>(logits.data);
  std::atomic<int64_t> outside{0};
  const RowFailure failure = for_row_chunks(logits.rows, [&](int64_t begin, int64_t end) {
    int64_t chunk_outside = 0;
    auto one = [&](auto&& row, int64_t r) {
      const RowStatus status = row.prepare(targets[r], with_entropy);
      if (status.error != RowError::kNone) return RowFailure{r, status};
      emit(row, r);
      chunk_outside += row.target_kept() ? 0 : 1;
      return RowFailure{};
    };
    RowFailure first;
    std::vector<float> scratch;
    for (int64_t r = begin; r < end && first.row < 0; ++r) {
      if (!kept.all() && r + 1 < logits.rows) prefetch_kept(base + (r + 1) * logits.vocab, kept, r + 1, logits.vocab);
      const auto* x = base + r * logits.vocab;
      const float t = temperature.at(r);
      if (kept.all()) {
        first = one(KeptRow<S, EveryId>(x, EveryId{logits.vocab}, logits.vocab, t, scratch), r);
      } else {
        const int32_t start = kept.offsets[r];
        first = one(KeptRow<S, ListedIds>(x, ListedIds{kept.indices + start, kept.offsets[r + 1] - start},
                                          logits.vocab, t, scratch),
                    r);
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
  for_row_chunks(logits.rows, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const Stored* x = in + r * vocab;
      Stored* y = dst + r * vocab;
      int64_t next = 0;  // first id not yet written
      for (int32_t j = kept.offsets[r]; j < kept.offsets[r + 1]; ++j) {
        const int64_t id = kept.indices[j];
        std::fill(y + next, y + id, S::neg_inf());
        if (!in_place) y[id] = x[id];
        next = id + 1;
      }
      std::fill(y + next, y + vocab, S::neg_inf());
    }
    return RowFailure{};
  });
}

}  // namespace

RowFailure check_kept_ids(const KeptIds& kept, int64_t rows, int64_t vocab) {
  return for_row_chunks(rows, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      int64_t previous = -1;
      for (int32_t j = kept.offsets[r]; j < kept.offsets[r + 1]; ++j) {
        if (!kept_id_follows(kept.indices[j], previous, vocab)) return fail(r, RowError::kInvalidMask, kept.indices[j]);
        previous = kept.indices[j];
      }
    }
    return RowFailure{};
  });
}

void apply_mask(const LogitsView& logits, const KeptIds& kept, void* out) {
  with_storage(logits.dtype, [&](auto storage) { apply_mask_typed<decltype(storage)>(logits, kept, out); });
}

void scatter_kept(const KeptIds& kept, int64_t rows, int64_t vocab, const float* values, float* dense) {
  for_row_chunks(rows, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      for (int32_t j = kept.offsets[r]; j < kept.offsets[r + 1]; ++j) dense[r * vocab + kept.indices[j]] = values[j];
    }
    return RowFailure{};
  });
}

RowFailure masked_logprobs(const LogitsView& logits, const KeptIds& kept, const int32_t* targets,
                           const PerRow<float>& temperature, float* logprobs, float* entropy,
                           int64_t* targets_outside) {
  return with_storage(logits.dtype, [&](auto storage) {
    return each_kept_row<decltype(storage)>(logits, kept, targets, temperature, entropy != nullptr, targets_outside,
                                            [&](const auto& row, int64_t r) {
                                              logprobs[r] = row.logprob();
                                              if (entropy) entropy[r] = row.entropy();
                                            });
  });
}

RowFailure masked_logprobs_backward(const LogitsView& logits, const KeptIds& kept, const int32_t* targets,
                                    const PerRow<float>& upstream, const PerRow<float>& temperature,
                                    float* gradient, int64_t* targets_outside) {
  return with_storage(logits.dtype, [&](auto storage) {
    return each_kept_row<decltype(storage)>(
        logits, kept, targets, temperature, false, targets_outside, [&](const auto& row, int64_t r) {
          row.gradient(upstream.at(r), gradient + (kept.all() ? r * logits.vocab : kept.offsets[r]));
        });
  });
}

}  // namespace sm::cpu
