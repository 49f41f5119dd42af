#include "baselines.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <vector>

#include "cpu_backend.h"
#include "row_kernels.h"

namespace sm::cpu {
namespace {

template <class S>
std::vector<float> widen(const LogitsView& logits, int64_t r) {
  const auto* row = static_cast<const typename S::Stored*>(logits.data) + r * logits.vocab;
  std::vector<float> x(logits.vocab);
  for (int64_t i = 0; i < logits.vocab; ++i) x[i] = S::load(row[i]);
  return x;
}

// The rule applied to a fully sorted row: each filter walks down from the top.
int64_t sorted_row_count(std::vector<float> x, const RowParams& p) {
  x.erase(std::remove(x.begin(), x.end(), kNegInf), x.end());
  std::sort(x.begin(), x.end(), std::greater<float>());
  const float x_max = x.front();
  if (is_greedy(p)) return std::count(x.begin(), x.end(), x_max);
  const float z_max = scaled_logit(x_max, p.temperature);
  size_t n = x.size();
  if (min_p_active(p)) {
    const float z_cut = min_p_z_cut(z_max, p.min_p);
    while (n > 1 && scaled_logit(x[n - 1], p.temperature) < z_cut) --n;
  }
  if (top_k_active(p, static_cast<int64_t>(n))) {
    const float z_kth = scaled_logit(x[p.top_k - 1], p.temperature);
    n = p.top_k;
    while (n < x.size() && scaled_logit(x[n], p.temperature) >= z_kth) ++n;
  }
  if (top_p_active(p)) {
    uint64_t total = 0;
    for (size_t i = 0; i < n; ++i) total += survivor_weight(x[i], p.temperature, z_max);
    const uint64_t budget = top_p_budget(total, p.top_p);
    uint64_t above = 0;
    size_t kept = 0;
    while (kept < n && top_p_keeps(above, budget)) {
      const float z = scaled_logit(x[kept], p.temperature);
      for (; kept < n && scaled_logit(x[kept], p.temperature) == z; ++kept)
        above += survivor_weight(x[kept], p.temperature, z_max);
    }
    n = kept;
  }
  return static_cast<int64_t>(n);
}

}  // namespace

double read_once(const LogitsView& logits) {
  std::vector<double> sums(logits.rows, 0.0);
  with_storage(logits.dtype, [&](auto storage) {
    using S = decltype(storage);
    pool()->parallel_for(logits.rows, [&](int64_t r) {
      const auto* row = static_cast<const typename S::Stored*>(logits.data) + r * logits.vocab;
      // Independent partial sums so the loop vectorizes: a fair, fast read.
      constexpr int kLanes = 16;
      float partial[kLanes] = {};
      int64_t i = 0;
      for (; i + kLanes <= logits.vocab; i += kLanes)
        for (int j = 0; j < kLanes; ++j) partial[j] += S::load(row[i + j]);
      for (; i < logits.vocab; ++i) partial[0] += S::load(row[i]);
      for (float s : partial) sums[r] += s;
    });
    return 0;
  });
  double total = 0.0;
  for (double s : sums) total += s;
  return total;
}

uint64_t weigh_once(const LogitsView& logits) {
  std::atomic<uint64_t> total{0};
  with_storage(logits.dtype, [&](auto storage) {
    using S = decltype(storage);
    pool()->parallel_for(logits.rows, [&](int64_t r) {
      const auto* row = static_cast<const typename S::Stored*>(logits.data) + r * logits.vocab;
      total += total_weight<S>(row, logits.vocab, kNegInf, 1.0f, scan_row<S>(row, logits.vocab).max);
    });
    return 0;
  });
  return total.load();
}

int64_t sort_based_mask(const LogitsView& logits, const BatchParams& params) {
  std::atomic<int64_t> total{0};
  with_storage(logits.dtype, [&](auto storage) {
    using S = decltype(storage);
    pool()->parallel_for(logits.rows,
                         [&](int64_t r) { total += sorted_row_count(widen<S>(logits, r), params.row(r)); });
    return 0;
  });
  return total.load();
}

}  // namespace sm::cpu
