#include "mask_cpu.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <functional>
#include <memory>

#include "row_kernels.h"
#include "thread_pool.h"

namespace sm::cpu {
namespace {

// Splits a row into segments (16-element aligned) and runs a stage over
// them, serially or on the pool. Only how work is spread depends on this;
// every merge below is exact, so results never do.
class Segments {
 public:
  Segments(int64_t vocab, int64_t count, ThreadPool* pool)
      : vocab_(vocab), count_(std::max<int64_t>(1, std::min(count, vocab / 64))), pool_(pool) {}

  int64_t count() const { return count_; }
  int64_t begin(int64_t s) const { return (vocab_ * s / count_) & ~int64_t{15}; }
  int64_t end(int64_t s) const { return s + 1 == count_ ? vocab_ : begin(s + 1); }

  // stage(segment, first index, length)
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

template <class S>
int64_t first_invalid(const typename S::Stored* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (is_nan_or_pos_inf(S::load(x[i]))) return i;
  }
  return -1;
}

template <class S>
void fill_below(typename S::Stored* x, int64_t n, float cut) {
  for (int64_t i = 0; i < n; ++i) x[i] = S::load(x[i]) >= cut ? x[i] : S::kNegInfStored;
}

// Values with their ids, in id order.
struct Candidates {
  std::vector<float> values;
  std::vector<int32_t> ids;

  size_t size() const { return values.size(); }
  void append(const float* v, const int32_t* i, int64_t count) {
    values.insert(values.end(), v, v + count);
    ids.insert(ids.end(), i, i + count);
  }
  void append(const Candidates& other) { append(other.values.data(), other.ids.data(), other.size()); }
  // Drops the values below floor, keeping id order.
  void keep_at_least(float floor) {
    size_t kept = 0;
    for (size_t i = 0; i < size(); ++i) {
      if (values[i] < floor) continue;
      values[kept] = values[i];
      ids[kept++] = ids[i];
    }
    values.resize(kept);
    ids.resize(kept);
  }
};

// The k-th largest value, counting duplicates (k <= values.size()).
float kth_largest(std::vector<float> values, int64_t k) {
  std::nth_element(values.begin(), values.begin() + (k - 1), values.end(), std::greater<float>());
  return values[k - 1];
}

// Leaves new elements uninitialized: emit passes size a buffer for a whole
// segment and then shrink it to what they wrote.
template <class T>
struct UninitializedAllocator : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = UninitializedAllocator<U>;
  };
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    if constexpr (sizeof...(Args) > 0) ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

// Kept ids are written to an arena of the thread that found them, and rows
// point into it until the call copies them into the result. Arenas keep
// their memory across calls, so steady-state calls touch no fresh pages
// (page faults are costly, in virtual machines especially).
struct IdArena {
  std::vector<int32_t, UninitializedAllocator<int32_t>> ids;
  uint64_t call = 0;
};

IdArena& arena_for(uint64_t call) {
  thread_local IdArena arena;
  if (arena.call != call) {
    arena.ids.clear();
    arena.call = call;
  }
  return arena;
}

struct IdPiece {
  const IdArena* arena;
  size_t offset, count;
};

struct RowOutcome {
  RowStatus status;
  float cut = 0.0f;  // kept: x >= cut
  std::vector<IdPiece> pieces;  // the kept ids, ascending, in order

  int64_t count() const {
    int64_t n = 0;
    for (const IdPiece& piece : pieces) n += static_cast<int64_t>(piece.count);
    return n;
  }
};

// Computes one row's cut and kept ids. The first pass reads the row once for
// its maximum and, when top-k applies, the candidates for the k largest with
// their ids; the kept ids then usually come straight from the candidates, and
// the row is read again only from cache.
template <class S>
class RowMasker {
 public:
  using Stored = typename S::Stored;
  static constexpr int64_t kChunk = 1024;

  RowMasker(const Stored* row, int64_t vocab, const Segments& segments, uint64_t call)
      : row_(row), vocab_(vocab), segments_(segments), kernels_(row_kernels<S>()), call_(call) {}

  RowOutcome run(const RowParams& p) {
    RowOutcome out;
    const bool gather_top = !is_greedy(p) && p.top_k > 0 && p.top_k < vocab_;
    std::vector<ScanResult> scans(segments_.count(), ScanResult{kNegInf, false});
    std::vector<Candidates> parts(segments_.count());
    std::vector<float> thresholds(segments_.count(), kPosInf);
    segments_.run([&](int64_t s, int64_t b, int64_t n) {
      thresholds[s] = scan_segment(b, n, gather_top ? p.top_k : 0, &scans[s], &parts[s]);
    });
    float x_max = kNegInf;
    bool has_invalid = false;
    for (const ScanResult& scan : scans) {
      x_max = std::max(x_max, scan.max);
      has_invalid |= scan.has_invalid;
    }
    if (has_invalid) return fail(RowError::kInvalidLogit, first_invalid<S>(row_, vocab_));
    if (x_max == kNegInf) return fail(RowError::kNoFiniteLogit, -1);
    if (is_greedy(p)) return emit_all(x_max);

    const float z_max = scaled_logit(x_max, p.temperature);
    if (!scaled_max_is_finite(z_max)) return fail(RowError::kScaledOverflow, -1);
    float cut = -kMaxFinite;
    if (min_p_active(p)) cut = x_cut_for_z(min_p_z_cut(z_max, p.min_p), p.temperature, x_max);
    if (!gather_top) return top_p_over_row(p, x_max, z_max, cut);

    // Every value >= the highest segment threshold is a candidate, and the
    // k-th largest value is never below it.
    Candidates survivors;
    for (const Candidates& part : parts) survivors.append(part);
    survivors.keep_at_least(cut);
    const float candidates_floor = *std::max_element(thresholds.begin(), thresholds.end());
    if (static_cast<int64_t>(survivors.size()) >= p.top_k) {
      const float kth = kth_largest(survivors.values, p.top_k);
      cut = std::max(cut, x_cut_for_z(scaled_logit(kth, p.temperature), p.temperature, kth));
      survivors.keep_at_least(cut);
    }
    // Fewer than k survivors means no segment raised its threshold above the
    // cut. Otherwise values tied with the k-th in z may sit below a segment's
    // threshold: then gather the survivors afresh.
    if (candidates_floor > cut) survivors = gather_at_least(cut);
    if (top_p_active(p)) {
      uint64_t total = 0;
      for (float v : survivors.values) total += survivor_weight(v, p.temperature, z_max);
      cut = top_p_cut(p, z_max, cut, std::move(std::vector<float>(survivors.values)), 0, top_p_budget(total, p.top_p));
      survivors.keep_at_least(cut);
    }
    out.cut = cut;
    IdArena& arena = arena_for(call_);
    out.pieces.push_back(IdPiece{&arena, arena.ids.size(), survivors.ids.size()});
    arena.ids.insert(arena.ids.end(), survivors.ids.begin(), survivors.ids.end());
    return out;
  }

 private:
  static RowOutcome fail(RowError error, int64_t column) {
    RowOutcome out;
    out.status = RowStatus{error, column};
    return out;
  }

  // Scans a segment; with k > 0 also keeps, with their ids, every value that
  // may be among its k largest, raising a running threshold as they pile up.
  // Returns the threshold: every value of the segment at or above it is kept.
  float scan_segment(int64_t begin, int64_t n, int64_t k, ScanResult* scan, Candidates* kept) const {
    float values[kChunk];
    int32_t ids[kChunk];
    float threshold = k > 0 ? -kMaxFinite : kPosInf;
    size_t capacity = static_cast<size_t>(std::max<int64_t>(4 * k, kChunk));
    for (int64_t next = 0; next < n;) {
      int64_t written = 0;
      next = kernels_.scan_gather(row_ + begin, n, next, threshold, static_cast<int32_t>(begin), scan, values, ids,
                                  kChunk, &written);
      if (k == 0) continue;  // only +inf (an error) can pass a +inf threshold
      kept->append(values, ids, written);
      if (kept->size() < capacity) continue;
      threshold = kth_largest(kept->values, k);
      kept->keep_at_least(threshold);
      if (kept->size() * 2 > capacity) capacity *= 2;  // many ties: grow instead of re-selecting
    }
    return threshold;
  }

  // Every value >= floor with its id, by a fresh pass over the row.
  Candidates gather_at_least(float floor) const {
    std::vector<Candidates> parts(segments_.count());
    segments_.run([&](int64_t s, int64_t b, int64_t n) {
      float values[kChunk];
      int32_t ids[kChunk];
      ScanResult ignored{kNegInf, false};
      for (int64_t next = 0; next < n;) {
        int64_t written = 0;
        next = kernels_.scan_gather(row_ + b, n, next, floor, static_cast<int32_t>(b), &ignored, values, ids, kChunk,
                                    &written);
        parts[s].append(values, ids, written);
      }
    });
    Candidates all;
    for (const Candidates& part : parts) all.append(part);
    return all;
  }

  // Every value in [lo, hi), in segment order.
  std::vector<float> values_between(float lo, float hi) const {
    std::vector<std::vector<float>> parts(segments_.count());
    segments_.run([&](int64_t s, int64_t b, int64_t n) {
      float values[kChunk];
      for (int64_t next = 0; next < n;) {
        int64_t written = 0;
        next = kernels_.gather_between(row_ + b, n, next, lo, hi, values, kChunk, &written);
        parts[s].insert(parts[s].end(), values, values + written);
      }
    });
    std::vector<float> all;
    for (const auto& part : parts) all.insert(all.end(), part.begin(), part.end());
    return all;
  }

  RowOutcome emit_all(float cut) const {
    RowOutcome out;
    out.cut = cut;
    out.pieces.resize(segments_.count());
    segments_.run([&](int64_t s, int64_t b, int64_t n) {
      IdArena& arena = arena_for(call_);
      const size_t start = arena.ids.size();
      arena.ids.resize(start + n);
      const int64_t count = kernels_.emit_at_least(row_ + b, n, cut, static_cast<int32_t>(b), arena.ids.data() + start);
      arena.ids.resize(start + count);
      out.pieces[s] = IdPiece{&arena, start, static_cast<size_t>(count)};
    });
    return out;
  }

  // Top-p over every survivor (x >= cut), when no top-k list exists: a
  // histogram of the exact integer weights by d finds the bucket where the
  // weight from the top reaches the budget; only that bucket's values are
  // then sorted and walked.
  RowOutcome top_p_over_row(const RowParams& p, float x_max, float z_max, float cut) const {
    if (!top_p_active(p)) return emit_all(cut);
    const int64_t n_seg = segments_.count();
    std::vector<uint64_t> buckets(static_cast<size_t>(n_seg) * kWeightBuckets, 0);
    std::vector<uint64_t> totals(n_seg, 0);
    segments_.run([&](int64_t s, int64_t b, int64_t n) {
      totals[s] = kernels_.weight_histogram(row_ + b, n, cut, p.temperature, z_max, &buckets[s * kWeightBuckets]);
    });
    uint64_t total = 0;
    for (uint64_t t : totals) total += t;
    for (int64_t s = 1; s < n_seg; ++s)
      for (int b = 0; b < kWeightBuckets; ++b) buckets[b] += buckets[s * kWeightBuckets + b];
    const uint64_t budget = top_p_budget(total, p.top_p);
    int boundary = 0;
    uint64_t above = 0;
    while (above + buckets[boundary] < budget) above += buckets[boundary++];
    // The boundary bucket's range of x, from the same monotone bucket function.
    auto bucket_at_most = [&](int bucket) {
      return [&p, z_max, bucket](float x) {
        const float d = sub_rn(scaled_logit(x, p.temperature), z_max);
        return d >= -28.0f && weight_bucket(d) <= bucket;
      };
    };
    const float lo = smallest_float_where(x_max, bucket_at_most(boundary));
    const float hi = boundary == 0 ? kPosInf : smallest_float_where(x_max, bucket_at_most(boundary - 1));
    return emit_all(top_p_cut(p, z_max, cut, values_between(std::max(lo, cut), hi), above, budget));
  }

  // Walks values (the survivors from some point down) as groups of equal z,
  // descending: a group is kept iff the weight above it is within budget.
  // The first group must be kept (weight_above < budget). Returns the cut.
  static float top_p_cut(const RowParams& p, float z_max, float cut, std::vector<float> values, uint64_t weight_above,
                         uint64_t budget) {
    std::sort(values.begin(), values.end(), std::greater<float>());
    float last_kept = values.front();
    for (size_t i = 0; i < values.size() && top_p_keeps(weight_above, budget);) {
      const float z = scaled_logit(values[i], p.temperature);
      last_kept = values[i];
      for (; i < values.size() && scaled_logit(values[i], p.temperature) == z; ++i)
        weight_above += survivor_weight(values[i], p.temperature, z_max);
    }
    return std::max(cut, x_cut_for_z(scaled_logit(last_kept, p.temperature), p.temperature, last_kept));
  }

  const Stored* row_;
  int64_t vocab_;
  const Segments& segments_;
  const RowKernels<S>& kernels_;
  uint64_t call_;
};

template <class S>
MaskRowsResult mask_rows_typed(const LogitsView& logits, const BatchParams& params, bool fill) {
  using Stored = typename S::Stored;
  const std::shared_ptr<ThreadPool> pool_owner = shared_pool();
  ThreadPool& pool = *pool_owner;
  const ThreadPool::Exclusive exclusive(pool);  // the id arenas stay ours until the copy below
  static std::atomic<uint64_t> calls{0};
  const uint64_t call = ++calls;
  const int64_t rows = logits.rows, vocab = logits.vocab;
  auto* base = static_cast<Stored*>(logits.data);
  // Few rows: spread each row over the threads; many rows: a row per task.
  const bool split_rows = rows < pool.threads() && vocab >= 8192;
  const Segments segments(vocab, split_rows ? 4 * pool.threads() : 1, split_rows ? &pool : nullptr);
  auto for_rows = [&](const std::function<void(int64_t)>& fn) {
    if (split_rows) {
      for (int64_t r = 0; r < rows; ++r) fn(r);
    } else {
      pool.parallel_for(rows, fn);
    }
  };

  std::vector<RowOutcome> outcomes(rows);
  for_rows([&](int64_t r) { outcomes[r] = RowMasker<S>(base + r * vocab, vocab, segments, call).run(params.row(r)); });

  MaskRowsResult result;
  int64_t total = 0;
  for (int64_t r = 0; r < rows; ++r) {
    if (outcomes[r].status.error != RowError::kNone) {
      result.error_row = r;
      result.error = outcomes[r].status;
      return result;
    }
    total += outcomes[r].count();
  }
  if (total > INT32_MAX) {
    result.too_many_ids = true;
    return result;
  }
  result.offsets.resize(rows + 1);
  result.offsets[0] = 0;
  for (int64_t r = 0; r < rows; ++r)
    result.offsets[r + 1] = result.offsets[r] + static_cast<int32_t>(outcomes[r].count());
  result.indices = HostBuffer(static_cast<size_t>(total) * sizeof(int32_t));
  // Every row is valid now, so the input may be written.
  for_rows([&](int64_t r) {
    int32_t* out = result.indices.as<int32_t>() + result.offsets[r];
    for (const IdPiece& piece : outcomes[r].pieces) {
      const int32_t* ids = piece.arena->ids.data() + piece.offset;
      out = std::copy(ids, ids + piece.count, out);
    }
    if (fill) {
      segments.run([&](int64_t, int64_t b, int64_t n) { fill_below<S>(base + r * vocab + b, n, outcomes[r].cut); });
    }
  });
  return result;
}

}  // namespace

MaskRowsResult mask_rows(const LogitsView& logits, const BatchParams& params, bool fill) {
  return with_storage(logits.dtype, [&](auto storage) {
    return mask_rows_typed<decltype(storage)>(logits, params, fill);
  });
}

}  // namespace sm::cpu
