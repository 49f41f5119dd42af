#include "sample_cpu.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "cpu_backend.h"
#include "mask_cpu.h"
#include "row_kernels.h"
#include "trainer_cpu.h"

namespace sm::cpu {
namespace {

// A kept set up to this size is drawn from directly, one scalar weight per
// id. A larger one (a row keeping much of the vocabulary) is first narrowed
// to one block of ids by the vectorized weight pass: the ids a row keeps are
// exactly its x >= cut, so block totals need no id list.
constexpr int64_t kDirectDrawIds = 2048;
constexpr int64_t kDrawBlock = 4096;

template <class S>
class RowDraw {
 public:
  using Stored = typename S::Stored;

  RowDraw(const Stored* row, int64_t vocab, const int32_t* ids, int64_t count, float temperature, const RowCut& cut)
      : row_(row),
        vocab_(vocab),
        ids_(ids),
        count_(count),
        temperature_(temperature),
        cut_(cut),
        z_max_(scaled_logit(cut.x_max, temperature)) {}

  int32_t token(const DrawKey& key) const {
    const PhiloxWords bits = draw_bits(key, 0);
    if (count_ <= kDirectDrawIds) {
      uint64_t total = 0;
      for (int64_t j = 0; j < count_; ++j) total += weight(ids_[j]);
      CdfWalk walk{draw_target(bits, total)};
      return walk_ids(ids_, ids_ + count_, walk);
    }
    std::vector<uint64_t> block_totals;
    uint64_t total = 0;
    for (int64_t begin = 0; begin < vocab_; begin += kDrawBlock) {
      block_totals.push_back(block_weight(begin, std::min(kDrawBlock, vocab_ - begin)));
      total += block_totals.back();
    }
    CdfWalk walk{draw_target(bits, total)};
    for (size_t block = 0; block < block_totals.size(); ++block) {
      if (walk.target >= walk.below + block_totals[block]) {
        walk.below += block_totals[block];
        continue;
      }
      const int64_t begin = static_cast<int64_t>(block) * kDrawBlock;
      const int32_t* first = std::lower_bound(ids_, ids_ + count_, begin);
      return walk_ids(first, std::lower_bound(first, ids_ + count_, begin + kDrawBlock), walk);
    }
    return ids_[count_ - 1];  // only when shared logits changed under the call
  }

 private:
  uint64_t weight(int32_t id) const { return survivor_weight(S::load(row_[id]), temperature_, z_max_); }

  // The total weight of the ids x >= cut in [begin, begin + n).
  uint64_t block_weight(int64_t begin, int64_t n) const {
    return total_weight<S>(row_ + begin, n, cut_.cut, temperature_, z_max_);
  }

  // The id where the walk lands among [first, last). Falls back to the last
  // kept id of the row if it lands on none, which happens only when shared
  // logits changed under the call: the token is always one the mask keeps.
  int32_t walk_ids(const int32_t* first, const int32_t* last, CdfWalk& walk) const {
    for (const int32_t* id = first; id < last; ++id) {
      if (walk.lands(weight(*id))) return *id;
    }
    return ids_[count_ - 1];
  }

  const Stored* row_;
  int64_t vocab_;
  const int32_t* ids_;
  int64_t count_;
  float temperature_;
  RowCut cut_;
  float z_max_;
};

// The threads that draw and take the log-probs over the kept ids: this one
// alone when that is a few thousand weights (top-k rows), which take less
// time than waking the pool does, on a loaded machine especially.
std::shared_ptr<ThreadPool> pool_for_draws(const LogitsView& logits, const MaskRowsResult& mask) {
  static const auto this_thread_only = std::make_shared<ThreadPool>(1);
  constexpr int64_t kSerialDrawWork = int64_t{1} << 16;
  int64_t work = 0;  // ids weighed: the kept ids of a direct draw, the whole row otherwise
  for (int64_t r = 0; r < logits.rows && work <= kSerialDrawWork; ++r) {
    const int64_t count = mask.offsets[r + 1] - mask.offsets[r];
    work += count <= kDirectDrawIds ? count : logits.vocab;
  }
  return work > kSerialDrawWork ? pool() : this_thread_only;
}

template <class S>
void draw_tokens(const LogitsView& logits, const BatchParams& params, const BatchDrawKeys& keys,
                 const MaskRowsResult& mask, const std::vector<RowCut>& cuts, ThreadPool& on, int32_t* tokens) {
  const auto* base = static_cast<const typename S::Stored*>(logits.data);
  const int32_t* indices = mask.indices.as<int32_t>();
  on.parallel_for(logits.rows, [&](int64_t r) {
    const int32_t* ids = indices + mask.offsets[r];
    const int64_t count = mask.offsets[r + 1] - mask.offsets[r];
    const RowParams p = params.row(r);
    // A row keeps no id only when shared logits changed under the call: it
    // gets no token, and taking its log-prob then fails the call.
    if (count == 0) {
      tokens[r] = -1;
      return;
    }
    // A greedy row keeps the maxima only, ascending: its token is the lowest.
    if (is_greedy(p)) {
      tokens[r] = ids[0];
      return;
    }
    const RowDraw<S> draw(base + r * logits.vocab, logits.vocab, ids, count, p.temperature, cuts[r]);
    tokens[r] = draw.token(keys.row(r));
  });
}

}  // namespace

SampleRowsResult sample_rows(const LogitsView& logits, const BatchParams& params, const BatchDrawKeys& keys,
                             bool full_logprobs) {
  SampleRowsResult result;
  std::vector<RowCut> cuts;
  result.mask = mask_rows(logits, params, false, InvalidRows::kFailBatch, &cuts);
  if (result.mask.error_row >= 0 || result.mask.too_many_ids) return result;
  const int64_t rows = logits.rows;
  result.tokens.resize(rows);
  const std::shared_ptr<ThreadPool> draws_on = pool_for_draws(logits, result.mask);
  with_storage(logits.dtype, [&](auto storage) {
    draw_tokens<decltype(storage)>(logits, params, keys, result.mask, cuts, *draws_on, result.tokens.data());
  });

  // A greedy row's token has probability 1 (the rule picks it): log-prob 0.
  // Its temperature, 0, is replaced by 1 only to pass the trainer's check.
  PerRow<float> temperature = params.temperature;
  std::vector<float> positive;
  bool any_greedy = false;
  for (int64_t r = 0; r < (params.temperature.values ? rows : 1); ++r) any_greedy |= params.temperature.at(r) == 0.0f;
  if (any_greedy) {
    positive.resize(rows);
    for (int64_t r = 0; r < rows; ++r) positive[r] = params.temperature.at(r) == 0.0f ? 1.0f : params.temperature.at(r);
    temperature = PerRow<float>{positive.data(), 0.0f};
  }
  const KeptIds kept{result.mask.offsets.data(), result.mask.indices.as<int32_t>()};
  auto logprobs_over = [&](const KeptIds& ids, ThreadPool* on, std::vector<float>* out) {
    out->resize(rows);
    int64_t outside = 0;
    const RowFailure failure =
        masked_logprobs(logits, ids, result.tokens.data(), temperature, out->data(), nullptr, &outside, on);
    if (failure.row >= 0 && result.mask.error_row < 0) {
      result.mask.error_row = failure.row;  // only when shared logits changed under the call
      result.mask.error = failure.status;
    }
    for (int64_t r = 0; r < rows; ++r) {
      if (params.temperature.at(r) == 0.0f) (*out)[r] = 0.0f;
    }
  };
  logprobs_over(kept, draws_on.get(), &result.logprobs);
  if (full_logprobs) logprobs_over(KeptIds{}, nullptr, &result.full_logprobs);  // every id: the whole pool
  return result;
}

}  // namespace sm::cpu
