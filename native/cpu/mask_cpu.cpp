#include "mask_cpu.h"

#include <algorithm>
#include <climits>
#include <functional>
#include <memory>

#include "row_kernels.h"
#include "thread_pool.h"

namespace sm::cpu {
namespace {

// Splits a row into segments (aligned to cache lines) and runs a stage over
// them, serially or on the pool. Only how work is spread depends on this;
// every merge below is exact, so results never do.
class Segments {
 public:
  Segments(int64_t vocab, int64_t count, ThreadPool* pool)
      : vocab_(vocab), count_(std::max<int64_t>(1, std::min(count, vocab / 64))), pool_(pool) {}

  int64_t count() const { return count_; }
  int64_t begin(int64_t s) const { return (vocab_ * s / count_) & ~int64_t{15}; }
  int64_t end(int64_t s) const { return s + 1 == count_ ? vocab_ : begin(s + 1); }

  void run(const std::function<void(int64_t, int64_t, int64_t)>& stage) const {
    auto one = [&](int64_t s) { stage(s, begin(s), end(s) - begin(s)); };
    if (pool_ && count_ > 1) {
      pool_->parallel_for(count_, one);
    } else {
      for (int64_t s = 0; s < count_; ++s) one(s);
    }
  }

 private:
  int64_t vocab_, count_;
  ThreadPool* pool_;
};

struct RowPlan {
  RowStatus status;
  float cut = 0.0f;  // keep x >= cut
  std::vector<int64_t> segment_counts;
  int64_t count = 0;
};

// The ids of one row's top-p boundary region, sorted by value descending, are
// walked as groups of equal z: a group is kept iff the weight above it is
// within budget. Returns the x of the last kept group (the first group must
// be kept: callers only walk from a point where weight_above < budget).
float last_kept_group(const std::vector<float>& sorted_desc, const RowParams& p, float z_max, uint64_t weight_above,
                      uint64_t budget) {
  float last_kept = sorted_desc.front();
  for (size_t i = 0; i < sorted_desc.size();) {
    const float z = scaled_logit(sorted_desc[i], p.temperature);
    if (!top_p_keeps(weight_above, budget)) break;
    last_kept = sorted_desc[i];
    for (; i < sorted_desc.size() && scaled_logit(sorted_desc[i], p.temperature) == z; ++i)
      weight_above += survivor_weight(sorted_desc[i], p.temperature, z_max);
  }
  return last_kept;
}

template <class S>
class RowPlanner {
 public:
  using Stored = typename S::Stored;

  RowPlanner(const Stored* row, int64_t vocab, const Segments& segments)
      : row_(row), vocab_(vocab), segments_(segments), k_(row_kernels<S>()) {}

  RowPlan plan(const RowParams& p) {
    RowPlan plan;
    const int64_t n_seg = segments_.count();
    std::vector<ScanResult> scans(n_seg);
    segments_.run([&](int64_t s, int64_t b, int64_t n) { scans[s] = k_.scan(row_ + b, n); });
    float x_max = kNegInf;
    bool has_invalid = false;
    for (const auto& scan : scans) {
      x_max = std::max(x_max, scan.max);
      has_invalid |= scan.has_invalid;
    }
    if (has_invalid) return fail(RowError::kInvalidLogit, k_.first_invalid(row_, vocab_));
    if (x_max == kNegInf) return fail(RowError::kNoFiniteLogit, -1);

    plan.cut = is_greedy(p) ? x_max : threshold(p, x_max, &plan.status);
    if (plan.status.error != RowError::kNone) return plan;
    plan.segment_counts.assign(n_seg, 0);
    segments_.run([&](int64_t s, int64_t b, int64_t n) { plan.segment_counts[s] = k_.count_at_least(row_ + b, n, plan.cut); });
    for (int64_t c : plan.segment_counts) plan.count += c;
    return plan;
  }

  void emit(const RowPlan& plan, int32_t* out) const {
    std::vector<int64_t> starts(segments_.count(), 0);
    for (int64_t s = 1; s < segments_.count(); ++s) starts[s] = starts[s - 1] + plan.segment_counts[s - 1];
    segments_.run([&](int64_t s, int64_t b, int64_t n) {
      k_.emit_at_least(row_ + b, n, plan.cut, static_cast<int32_t>(b), out + starts[s]);
    });
  }

  void fill(const RowPlan& plan) const {
    segments_.run([&](int64_t, int64_t b, int64_t n) { k_.fill_below(const_cast<Stored*>(row_) + b, n, plan.cut); });
  }

 private:
  static RowPlan fail(RowError error, int64_t column) {
    RowPlan plan;
    plan.status = RowStatus{error, column};
    return plan;
  }

  // The cut for T > 0: min-p, then top-k, then top-p, each raising it.
  float threshold(const RowParams& p, float x_max, RowStatus* status) {
    const float z_max = scaled_logit(x_max, p.temperature);
    if (!scaled_max_is_finite(z_max)) {
      *status = RowStatus{RowError::kScaledOverflow, -1};
      return 0.0f;
    }
    float cut = -kMaxFinite;
    if (min_p_active(p)) cut = x_cut_for_z(min_p_z_cut(z_max, p.min_p), p.temperature, x_max);

    std::vector<float> survivors;  // filled by top-k: every value >= cut, when it applies
    if (p.top_k > 0 && p.top_k < vocab_) cut = top_k_cut(p, cut, &survivors);
    if (!top_p_active(p)) return cut;

    uint64_t weight_above = 0;
    uint64_t budget = 0;
    if (survivors.empty()) {
      boundary_bucket(p, x_max, z_max, cut, &survivors, &weight_above, &budget);
    } else {
      uint64_t total = 0;
      for (float v : survivors) total += survivor_weight(v, p.temperature, z_max);
      budget = top_p_budget(total, p.top_p);
    }
    std::sort(survivors.begin(), survivors.end(), std::greater<float>());
    const float x_tau = last_kept_group(survivors, p, z_max, weight_above, budget);
    return std::max(cut, x_cut_for_z(scaled_logit(x_tau, p.temperature), p.temperature, x_tau));
  }

  // Top-k on x: z = x / T is monotone, so the k-th largest z is the k-th
  // largest x divided by T; the cut then also keeps every x tied with it in z.
  // Leaves in *survivors every value >= the new cut, or nothing if top-k
  // removes nothing.
  float top_k_cut(const RowParams& p, float cut, std::vector<float>* survivors) {
    const int64_t n_seg = segments_.count();
    std::vector<std::vector<float>> candidates(n_seg);
    std::vector<float> thresholds(n_seg);
    segments_.run([&](int64_t s, int64_t b, int64_t n) {
      thresholds[s] = k_.top_candidates(row_ + b, n, p.top_k, cut, candidates[s]);
    });
    std::vector<float>& merged = *survivors;
    for (const auto& c : candidates) merged.insert(merged.end(), c.begin(), c.end());
    if (static_cast<int64_t>(merged.size()) < p.top_k) {  // fewer survivors than k: nothing to remove
      merged.clear();
      return cut;
    }
    std::nth_element(merged.begin(), merged.begin() + (p.top_k - 1), merged.end(), std::greater<float>());
    const float kth = merged[p.top_k - 1];
    const float new_cut = std::max(cut, x_cut_for_z(scaled_logit(kth, p.temperature), p.temperature, kth));
    // Candidates hold every value above their segment's threshold; values tied
    // with the k-th in z may lie below one, so then collect them afresh.
    if (*std::max_element(thresholds.begin(), thresholds.end()) <= new_cut) {
      merged.erase(std::remove_if(merged.begin(), merged.end(), [new_cut](float v) { return v < new_cut; }),
                   merged.end());
    } else {
      merged = collect(new_cut, kPosInf);
    }
    return new_cut;
  }

  // Top-p over every survivor (no top-k list): a histogram of the exact
  // integer weights by d finds the bucket where the cumulative weight from the
  // top reaches the budget; only that bucket's values are then sorted.
  void boundary_bucket(const RowParams& p, float x_max, float z_max, float cut, std::vector<float>* boundary,
                       uint64_t* weight_above, uint64_t* budget) {
    const int64_t n_seg = segments_.count();
    std::vector<uint64_t> buckets(static_cast<size_t>(n_seg) * kWeightBuckets, 0);
    std::vector<uint64_t> totals(n_seg, 0);
    segments_.run([&](int64_t s, int64_t b, int64_t n) {
      totals[s] = k_.weight_histogram(row_ + b, n, cut, p.temperature, z_max, &buckets[s * kWeightBuckets]);
    });
    uint64_t total = 0;
    for (uint64_t t : totals) total += t;
    for (int64_t s = 1; s < n_seg; ++s)
      for (int b = 0; b < kWeightBuckets; ++b) buckets[b] += buckets[s * kWeightBuckets + b];
    *budget = top_p_budget(total, p.top_p);
    int boundary_index = 0;
    uint64_t above = 0;
    while (above + buckets[boundary_index] < *budget) above += buckets[boundary_index++];
    *weight_above = above;
    float lo, hi;
    weight_bucket_range(boundary_index, p.temperature, z_max, x_max, &lo, &hi);
    *boundary = collect(std::max(lo, cut), hi);
  }

  std::vector<float> collect(float lo, float hi) {
    const int64_t n_seg = segments_.count();
    std::vector<std::vector<float>> parts(n_seg);
    segments_.run([&](int64_t s, int64_t b, int64_t n) { k_.collect_between(row_ + b, n, lo, hi, parts[s]); });
    std::vector<float> all;
    for (const auto& part : parts) all.insert(all.end(), part.begin(), part.end());
    return all;
  }

  const Stored* row_;
  int64_t vocab_;
  const Segments& segments_;
  const RowKernels<S>& k_;
};

template <class S>
MaskRowsResult mask_rows_typed(const LogitsView& logits, const BatchParams& params, bool fill) {
  using Stored = typename S::Stored;
  const std::shared_ptr<ThreadPool> pool_owner = shared_pool();
  ThreadPool& pool = *pool_owner;
  const int64_t rows = logits.rows, vocab = logits.vocab;
  auto* base = static_cast<const Stored*>(logits.data);
  // Few rows: spread each row over the threads; many rows: a row per task.
  const bool split_rows = rows < pool.threads() && vocab >= 8192;
  const Segments row_segments(vocab, split_rows ? 4 * pool.threads() : 1, split_rows ? &pool : nullptr);

  std::vector<RowPlan> plans(rows);
  std::vector<std::vector<int32_t>> ids(fill ? 0 : rows);
  auto plan_row = [&](int64_t r) {
    RowPlanner<S> planner(base + r * vocab, vocab, row_segments);
    plans[r] = planner.plan(params.row(r));
    if (!fill && plans[r].status.error == RowError::kNone) {
      ids[r].resize(plans[r].count);
      planner.emit(plans[r], ids[r].data());
    }
  };
  if (split_rows) {
    for (int64_t r = 0; r < rows; ++r) plan_row(r);
  } else {
    pool.parallel_for(rows, plan_row);
  }

  MaskRowsResult result;
  for (int64_t r = 0; r < rows; ++r) {
    if (plans[r].status.error != RowError::kNone) {
      result.error_row = r;
      result.error = plans[r].status;
      return result;
    }
  }
  int64_t total = 0;
  for (const RowPlan& plan : plans) total += plan.count;
  if (total > INT32_MAX) {
    result.too_many_ids = true;
    return result;
  }
  result.offsets.resize(rows + 1);
  result.offsets[0] = 0;
  for (int64_t r = 0; r < rows; ++r) result.offsets[r + 1] = result.offsets[r] + static_cast<int32_t>(plans[r].count);
  result.indices.resize(result.offsets[rows]);
  auto finish_row = [&](int64_t r) {
    int32_t* out = result.indices.data() + result.offsets[r];
    if (fill) {
      RowPlanner<S> planner(base + r * vocab, vocab, row_segments);
      planner.emit(plans[r], out);
      planner.fill(plans[r]);
    } else {
      std::copy(ids[r].begin(), ids[r].end(), out);
    }
  };
  if (split_rows) {
    for (int64_t r = 0; r < rows; ++r) finish_row(r);
  } else {
    pool.parallel_for(rows, finish_row);
  }
  return result;
}

}  // namespace

MaskRowsResult mask_rows(const LogitsView& logits, const BatchParams& params, bool fill) {
  return with_storage(logits.dtype, [&](auto storage) {
    return mask_rows_typed<decltype(storage)>(logits, params, fill);
  });
}

}  // namespace sm::cpu
