#include "mask_cpu.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <functional>
#include <memory>

#include "../host/thread_pool.h"
#include "cpu_backend.h"
#include "row_kernels.h"

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

// Whether the first pass keeps the candidates for the k largest (top-k
// applies and may remove something).
bool gathers_top_k(const RowParams& p, int64_t vocab) { return !is_greedy(p) && p.top_k > 0 && p.top_k < vocab; }

// Whether a batch of fewer rows than threads is worth spreading over the
// pool, each row in segments: waking the threads, and each segment's own
// top-k selection, cost more than a row that is only read once (top-k,
// min-p, greedy, or every id kept) saves below about 4M logits (measured on
// 2 threads: a 1M-logit top-k row took twice as long split); a row whose
// every survivor is weighed for top-p (an exp per logit) repays it from
// kSplitVocab on.
bool split_rows_over_threads(const BatchParams& params, int64_t rows, int64_t vocab, int threads) {
  constexpr int64_t kSplitVocab = 8192, kSplitReadOnlyVocab = int64_t{1} << 22;
  if (rows >= threads || vocab < kSplitVocab) return false;
  if (vocab >= kSplitReadOnlyVocab) return true;
  for (int64_t r = 0; r < rows; ++r) {
    const RowParams p = params.row(r);
    if (!is_greedy(p) && top_p_active(p) && (!gathers_top_k(p, vocab) || p.order == FilterOrder::kJoint)) return true;
  }
  return false;
}

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
  void clear() {
    values.clear();
    ids.clear();
  }
  void append(const float* v, const int32_t* i, int64_t count) {
    values.insert(values.end(), v, v + count);
    ids.insert(ids.end(), i, i + count);
  }
  void append(const Candidates& other) { append(other.values.data(), other.ids.data(), other.size()); }
  // Keeps the values in [lo, hi), in id order.
  void keep_between(float lo, float hi) {
    const size_t kept = static_cast<size_t>(row_kernels<F32Storage>().compact_between(
        values.data(), ids.data(), static_cast<int64_t>(values.size()), lo, hi));
    values.resize(kept);
    ids.resize(kept);
  }
  // Drops the values below floor, keeping id order.
  void keep_at_least(float floor) { keep_between(floor, __builtin_inff()); }
};

// The k-th largest value, counting duplicates (k <= values.size()), by radix
// selection over order keys, most significant digit first: each round counts
// the digits of the keys still in play, finds the digit the k-th largest has,
// and keeps only the keys with it. Digits start below the bits that every key
// shares, so the first round already spreads the keys (the top candidates of
// a row mostly share their sign and exponent), and a few keys left are
// selected directly. On the few hundred candidates a top-k scan holds this is
// about two passes over them, where a selection's comparisons branch
// unpredictably and a bisection counts them some 30 times.
// (keys: scratch memory, reused.)
float kth_largest(const std::vector<float>& values, int64_t k, std::vector<uint32_t>& keys) {
  constexpr int kDigitBits = 8;
  constexpr size_t kFewKeys = 32;
  keys.resize(values.size());
  uint32_t lowest = UINT32_MAX, highest = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    keys[i] = order_key(values[i]);
    lowest = std::min(lowest, keys[i]);
    highest = std::max(highest, keys[i]);
  }
  size_t live = keys.size();                 // keys[0, live) agree with the answer above bit `low`
  uint64_t rank = static_cast<uint64_t>(k);  // the answer is the rank-th largest of them
  for (int low = 32 - __builtin_clz((lowest ^ highest) | 1u) - kDigitBits; live > kFewKeys && low > -kDigitBits;
       low -= kDigitBits) {
    const int shift = std::max(low, 0);
    const uint32_t digit_mask = (1u << (low + kDigitBits - shift)) - 1;
    uint32_t count[1 << kDigitBits] = {};
    for (size_t i = 0; i < live; ++i) ++count[(keys[i] >> shift) & digit_mask];
    uint32_t digit = digit_mask;
    for (; count[digit] < rank; --digit) rank -= count[digit];
    size_t kept = 0;
    for (size_t i = 0; i < live; ++i) {
      keys[kept] = keys[i];
      kept += ((keys[i] >> shift) & digit_mask) == digit ? 1 : 0;
    }
    live = kept;
  }
  // Few keys left (usually after one round), or all of them equal.
  std::nth_element(keys.begin(), keys.begin() + (rank - 1), keys.begin() + live, std::greater<uint32_t>());
  return key_to_float(keys[rank - 1]);
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
  // Beyond this the memory of one huge call is given back rather than held
  // by every thread for the life of the process.
  constexpr size_t kKeptCapacity = size_t{16} << 20;  // ids (64 MiB)
  thread_local IdArena arena;
  if (arena.call != call) {
    arena.ids.clear();
    if (arena.ids.capacity() > kKeptCapacity) decltype(arena.ids)().swap(arena.ids);
    arena.call = call;
  }
  return arena;
}

struct IdPiece {
  const IdArena* arena;
  size_t offset, count;
};

// What the last top-k row a thread scanned with the same k and vocabulary (in
// this call or an earlier one: the next decode step of a B = 1 request, say)
// suggests for the first threshold of its next one: how far above the row's
// location (row_location) that threshold may start. Rows of a batch differ
// in level more than in shape, so the offset carries over where the
// threshold itself would not.
struct ThresholdHint {
  int64_t k = 0, vocab = 0;
  float offset = 0.0f;
};

// Buffers a thread reuses from row to row (and call to call), so that rows
// allocate nothing in the steady state.
struct Workspace {
  std::vector<Candidates> parts;  // one per segment
  Candidates merged;
  Candidates band;     // top-p survivors between two depths of d
  Candidates leaders;  // the largest values of a row, for top-p's member guess
  std::vector<float> values;
  std::vector<uint32_t> selection;  // kth_largest's scratch
  std::vector<uint64_t> buckets;
  std::vector<uint64_t> leading_buckets;  // the leaders' part of top-p's member guess
  ThresholdHint hint;

  std::vector<Candidates>& fresh_parts(int64_t count) {
    if (static_cast<int64_t>(parts.size()) < count) parts.resize(count);
    for (Candidates& part : parts) part.clear();
    return parts;
  }
  std::vector<uint64_t>& fresh_buckets() {
    buckets.assign(kWeightBuckets, 0);
    return buckets;
  }
};

Workspace& thread_workspace() {
  thread_local Workspace workspace;
  return workspace;
}

struct RowOutcome {
  RowStatus status;
  float cut = 0.0f;  // kept: x >= cut
  float x_max = 0.0f;
  std::vector<IdPiece> pieces;  // the kept ids, ascending, in order

  int64_t count() const {
    int64_t n = 0;
    for (const IdPiece& piece : pieces) n += static_cast<int64_t>(piece.count);
    return n;
  }
};

bool valid(const RowOutcome& outcome) { return outcome.status.error == RowError::kNone; }

// Computes one row's cut and kept ids. The first pass reads the row once for
// its maximum and, when top-k applies, the candidates for the k largest with
// their ids; the kept ids then come straight from the candidates. Later
// passes, if any, read the row again from cache.
template <class S>
class RowMasker {
 public:
  using Stored = typename S::Stored;
  static constexpr int64_t kChunk = 1024;

  RowMasker(const Stored* row, int64_t vocab, const Segments& segments, uint64_t call)
      : row_(row),
        vocab_(vocab),
        segments_(segments),
        kernels_(row_kernels<S>()),
        call_(call),
        ws_(thread_workspace()) {}

  RowOutcome run(const RowParams& p) {
    RowOutcome out = cut_row(p);
    out.x_max = x_max_;
    return out;
  }

 private:
  RowOutcome cut_row(const RowParams& p) {
    const bool gather_top = gathers_top_k(p, vocab_);
    // Top-p over the whole row guesses its members from the row's largest
    // values, gathered by the first read as top-k's candidates are.
    const bool gather_leaders = !gather_top && guesses_members(p);
    const int64_t n_seg = segments_.count();
    std::vector<ScanResult> scans(n_seg, ScanResult{kNegInf, false});
    std::vector<Candidates>& parts = ws_.fresh_parts(n_seg);
    std::vector<float> thresholds(n_seg, kPosInf);
    // (A row split over the threads takes fewer from each segment: every
    // value >= the highest segment threshold is still among them, and eight
    // running selections of 64 made the split slower than one thread.)
    const int64_t scan_k = gather_top ? p.top_k : gather_leaders ? std::max<int64_t>(kLeaders / n_seg, 8) : 0;
    const float first_threshold = scan_k > 0 ? -kMaxFinite : kPosInf;
    segments_.run([&](int64_t s, int64_t b, int64_t n) {
      thresholds[s] = gather_top && n_seg == 1 ? scan_row_for_top_k(p.top_k, &scans[s], &parts[s])
                                               : scan_segment(b, n, scan_k, first_threshold, &scans[s], &parts[s]);
    });
    float x_max = kNegInf;
    bool has_invalid = false;
    for (const ScanResult& scan : scans) {
      x_max = std::max(x_max, scan.max);
      has_invalid |= scan.has_invalid;
    }
    if (has_invalid) return fail(RowError::kInvalidLogit, first_invalid<S>(row_, vocab_));
    if (x_max == kNegInf) return fail(RowError::kNoFiniteLogit, -1);
    x_max_ = x_max;
    if (is_greedy(p)) return emit_all(x_max);

    const float z_max = scaled_logit(x_max, p.temperature);
    if (!scaled_max_is_finite(z_max)) return fail(RowError::kScaledOverflow, -1);
    float cut = -kMaxFinite;
    if (min_p_active(p)) cut = x_cut_for_z(min_p_z_cut(z_max, p.min_p), p.temperature, x_max);
    if (!gather_top) {
      Candidates& leaders = ws_.leaders;
      const float leaders_floor = merge_candidates(parts, thresholds, &leaders);
      leaders.keep_at_least(leaders_floor);
      return top_p_over_row(p, x_max, z_max, top_p_weighs_from(p.order, cut), cut, leaders_floor);
    }

    // The k-th largest value is never below the candidates' floor.
    Candidates& survivors = ws_.merged;
    const float candidates_floor = merge_candidates(parts, thresholds, &survivors);
    survivors.keep_at_least(cut);
    if (static_cast<int64_t>(survivors.size()) >= p.top_k) {
      const float kth = kth_largest(survivors.values, p.top_k, ws_.selection);
      cut = std::max(cut, x_cut_for_z(scaled_logit(kth, p.temperature), p.temperature, kth));
      survivors.keep_at_least(cut);
    }
    // Fewer than k survivors means no segment raised its threshold above the
    // cut. Otherwise values tied with the k-th in z may sit below a segment's
    // threshold: then gather the survivors afresh.
    if (candidates_floor > cut) weigh_and_gather(p, z_max, kPosInf, cut, &survivors);
    if (top_p_active(p)) {
      uint64_t total = 0;
      if (p.order == FilterOrder::kJoint) {
        total = weight_from(p, z_max, top_p_weighs_from(p.order, cut));  // every finite id: one more pass
      } else {
        for (float v : survivors.values) total += survivor_weight(v, p.temperature, z_max);
      }
      ws_.values = survivors.values;
      cut = top_p_cut(p, z_max, cut, ws_.values, 0, top_p_budget(total, p.top_p));
      survivors.keep_at_least(cut);
    }
    return kept(cut, survivors);
  }

  // The segments' candidates, in id order, into *out; returns the highest
  // segment threshold: every value of the row at or above it is among them.
  static float merge_candidates(const std::vector<Candidates>& parts, const std::vector<float>& thresholds,
                                Candidates* out) {
    out->clear();
    for (size_t s = 0; s < thresholds.size(); ++s) out->append(parts[s]);
    return *std::max_element(thresholds.begin(), thresholds.end());
  }

  static RowOutcome fail(RowError error, int64_t column) {
    RowOutcome out;
    out.status = RowStatus{error, column};
    return out;
  }

  // Scans a whole row for top-k, like scan_segment.
  //
  // A running threshold that starts at -inf is passed by about k ln(V / k)
  // "records" on the way up, each a branch and a gather, and re-selects every
  // time they fill the buffer: 720 values of an N(0,3) row, about a third of
  // a top-k row's time beyond one read. So the row starts where the previous
  // such row on this thread suggests (ThresholdHint). The result never
  // depends on it: a row that holds at least k values at or above its start
  // holds its k largest, and one that holds fewer is scanned again from -inf
  // (that scan finds the same maximum and invalid entries).
  float scan_row_for_top_k(int64_t k, ScanResult* scan, Candidates* kept) const {
    // The row keeps its values down to this rank rather than k, so that it
    // can place the next row's start there: fewer than k values of that row
    // reach it only some four standard deviations (of a count, and of the
    // location) away from this one.
    const auto hint_rank =
        static_cast<int64_t>(1.5 * static_cast<double>(k) + 4.0 * std::sqrt(static_cast<double>(k)) + 8.0);
    ThresholdHint& hint = ws_.hint;
    const float location = row_location();
    const auto scan_from = [&](float start) { return scan_segment(0, vocab_, hint_rank, start, scan, kept); };
    bool hinted = hint.k == k && hint.vocab == vocab_;
    float threshold = scan_from(hinted ? std::max(-kMaxFinite, location + hint.offset) : -kMaxFinite);
    if (hinted && static_cast<int64_t>(kept->size()) < k) {
      hinted = false;
      kept->clear();
      threshold = scan_from(-kMaxFinite);
    }
    if (static_cast<int64_t>(kept->size()) >= hint_rank) {
      const float offset = kth_largest(kept->values, hint_rank, ws_.selection) - location;
      hint = std::isfinite(offset) ? ThresholdHint{k, vocab_, offset} : ThresholdHint{};
    } else if (!hinted) {
      hint = ThresholdHint{};  // a row of fewer than hint_rank values (a hint that just held stays)
    }
    return threshold;
  }

  // Where a row's values lie: the mean of the finite values among every 4th
  // of its first 4096, which the scan reads next anyway. The threshold of a
  // row moves with it when the whole row does, and it is steadier from row
  // to row than the maximum.
  float row_location() const {
    constexpr int64_t kSpan = 4096, kStride = 4, kChains = 4;
    double sums[kChains] = {}, counts[kChains] = {};  // independent chains: the adds do not wait on each other
    for (int64_t i = 0; i < std::min(vocab_, kSpan); i += kStride) {
      const float x = S::load(row_[i]);
      const bool finite = std::isfinite(x);
      sums[(i / kStride) % kChains] += finite ? x : 0.0f;
      counts[(i / kStride) % kChains] += finite ? 1.0 : 0.0;
    }
    double sum = 0, count = 0;
    for (int c = 0; c < kChains; ++c) {
      sum += sums[c];
      count += counts[c];
    }
    return count > 0 ? static_cast<float>(sum / count) : kNegInf;
  }

  // Scans a segment from a first threshold (-kMaxFinite, or +inf to gather
  // nothing); with k > 0 also keeps, with their ids, every value that may be
  // among its k largest, raising the threshold as they pile up. Returns the
  // threshold: every value of the segment at or above it is kept.
  float scan_segment(int64_t begin, int64_t n, int64_t k, float threshold, ScanResult* scan, Candidates* kept) const {
    float values[kChunk];
    int32_t ids[kChunk];
    // A small buffer re-selects more often but each time on fewer values: with
    // capacity C the threshold passes about C / k times as many values per
    // selection, so the total selection work grows with C.
    size_t capacity = static_cast<size_t>(std::max<int64_t>(2 * k, 128));
    std::vector<uint32_t>& selection = thread_workspace().selection;  // this segment's thread
    for (int64_t next = 0; next < n;) {
      int64_t written = 0;
      // Room for what the buffer can take before it must shrink.
      const int64_t room = k == 0 ? kChunk : std::clamp<int64_t>(capacity - kept->size() + 16, 32, kChunk);
      next = kernels_.scan_gather(row_ + begin, n, next, threshold, static_cast<int32_t>(begin), scan, values, ids,
                                  room, &written);
      if (k == 0) continue;  // only +inf (an error) can pass a +inf threshold
      kept->append(values, ids, written);
      if (kept->size() < capacity) continue;
      threshold = kth_largest(kept->values, k, selection);
      kept->keep_at_least(threshold);
      if (kept->size() * 2 > capacity) capacity *= 2;  // many ties: grow instead of re-selecting
    }
    return threshold;
  }

  // Runs pass(segment, begin, length, next, values, ids, &written), which
  // returns where it stopped, over every segment until each is done, and
  // puts what the passes gathered into *out, in id order.
  template <class Pass>
  void gather_segments(Candidates* out, const Pass& pass) const {
    std::vector<Candidates>& parts = ws_.fresh_parts(segments_.count());
    segments_.run([&](int64_t s, int64_t b, int64_t n) {
      float values[kChunk];
      int32_t ids[kChunk];
      for (int64_t next = 0; next < n;) {
        int64_t written = 0;
        next = pass(s, b, n, next, values, ids, &written);
        parts[s].append(values, ids, written);
      }
    });
    out->clear();
    if (segments_.count() == 1) {
      std::swap(*out, parts[0]);  // (the usual case, a row per task: no copy)
      return;
    }
    for (int64_t s = 0; s < segments_.count(); ++s) out->append(parts[s]);
  }

  // A fresh pass over the row: every value >= gather_floor with its id into
  // *out, and the total top-p weight of the survivors x >= weigh_floor
  // (nothing weighs with a +inf floor).
  uint64_t weigh_and_gather(const RowParams& p, float z_max, float weigh_floor, float gather_floor,
                            Candidates* out) const {
    return weigh_segments<uint64_t>(kernels_.weigh_gather, p, z_max, weigh_floor, gather_floor, out);
  }

  // The same, but the survivors below gather_floor (the tail) are weighed
  // approximately, and only they.
  TailWeight bound_and_gather(const RowParams& p, float z_max, float weigh_floor, float gather_floor,
                              Candidates* out) const {
    return weigh_segments<TailWeight>(kernels_.bound_gather, p, z_max, weigh_floor, gather_floor, out);
  }

  template <class Tally, class Pass>
  Tally weigh_segments(Pass pass, const RowParams& p, float z_max, float weigh_floor, float gather_floor,
                       Candidates* out) const {
    std::vector<Tally> tallies(segments_.count(), Tally{});
    gather_segments(out,
                    [&](int64_t s, int64_t b, int64_t n, int64_t next, float* values, int32_t* ids, int64_t* written) {
                      return pass(row_ + b, n, next, weigh_floor, p.temperature, z_max, gather_floor,
                                  static_cast<int32_t>(b), &tallies[s], values, ids, kChunk, written);
                    });
    Tally total{};
    for (const Tally& t : tallies) total += t;
    return total;
  }

  // Every value >= floor with its id into *out: a plain read of the row.
  void gather_at_least(float floor, Candidates* out) const {
    gather_segments(out,
                    [&](int64_t, int64_t b, int64_t n, int64_t next, float* values, int32_t* ids, int64_t* written) {
                      ScanResult unused{kNegInf, false};
                      return kernels_.scan_gather(row_ + b, n, next, floor, static_cast<int32_t>(b), &unused, values,
                                                  ids, kChunk, written);
                    });
  }

  // The total top-p weight of the row's x >= floor.
  uint64_t weight_from(const RowParams& p, float z_max, float floor) const {
    Candidates nothing;  // gathers only x >= +inf, which a valid row has none of
    return weigh_and_gather(p, z_max, floor, kPosInf, &nothing);
  }

  RowOutcome emit_all(float cut) const {
    RowOutcome out;
    out.cut = cut;
    out.pieces.resize(segments_.count());
    segments_.run([&](int64_t s, int64_t b, int64_t n) {
      IdArena& arena = arena_for(call_);
      const size_t start = arena.ids.size();
      arena.ids.resize(start + n + kStoreSlack);
      const int64_t count = kernels_.emit_at_least(row_ + b, n, cut, static_cast<int32_t>(b), arena.ids.data() + start);
      arena.ids.resize(start + count);
      out.pieces[s] = IdPiece{&arena, start, static_cast<size_t>(count)};
    });
    return out;
  }

  RowOutcome kept(float cut, const Candidates& kept_ids) const {
    RowOutcome out;
    out.cut = cut;
    IdArena& arena = arena_for(call_);
    out.pieces.push_back(IdPiece{&arena, arena.ids.size(), kept_ids.ids.size()});
    arena.ids.insert(arena.ids.end(), kept_ids.ids.begin(), kept_ids.ids.end());
    return out;
  }

  // Top-p over the ids x >= weigh_floor, intersected with x >= keep_floor,
  // when no top-k list exists. One pass over the row gathers the "members":
  // the survivors down to a bucket of d = z - z_max that the row's leaders
  // (values >= leaders_floor, ws_.leaders) and a small sample suggest lies
  // safely below the top-p boundary; the same pass sums approximate weights
  // of the survivors below them (the tail). A histogram of the members' exact
  // weights then finds the boundary bucket, whose few values are sorted and
  // walked.
  //
  // The budget is a share of the exact total, which the tail's approximation
  // only bounds (budget_bounds); the walk runs with the lowest and the highest
  // budget that bound allows, and only where the two cuts differ does a
  // second pass weigh every survivor exactly. The bound is a few 1e-7 of the
  // tail plus one unit per value read wide; on rows drawn as the bench's
  // (N(0,3), Zipf-like; T = 0.7, 1) that second pass ran for none to 4% of
  // the rows at top_p 0.5 and 0.9, and up to 11% at 0.99, where the
  // boundary's values weigh little. The approximate weight takes about half
  // the instructions of the exact one.
  //
  // If the members weigh less than the budget, the guess was too shallow:
  // with the exact budget, plain reads of the row add the survivors of two
  // more units of d at a time to the histogram until it reaches the budget,
  // and a last read gathers the ids from the boundary bucket up. The result is
  // exact either way; the guess and the bound only save work.
  RowOutcome top_p_over_row(const RowParams& p, float x_max, float z_max, float weigh_floor, float keep_floor,
                            float leaders_floor) const {
    if (!top_p_active(p)) return emit_all(keep_floor);
    const auto members_floor = [&](int deepest) {
      return std::max(weigh_floor, smallest_float_where(x_max, WeightBucketAtMost{p.temperature, z_max, deepest}));
    };
    // Adds the weights of values to the histogram; returns the weight of every bucket.
    const auto add_to_histogram = [&](const Candidates& values) {
      return f32_kernels().weight_histogram(values.values.data(), static_cast<int64_t>(values.size()), weigh_floor,
                                            p.temperature, z_max, ws_.buckets.data());
    };
    const auto exact_budget = [&] { return top_p_budget(weight_from(p, z_max, weigh_floor), p.top_p); };
    Candidates& members = ws_.merged;
    int deepest = guess_member_buckets(p, z_max, weigh_floor, leaders_floor);
    float floor = members_floor(deepest);
    const TailWeight tail = bound_and_gather(p, z_max, weigh_floor, floor, &members);
    ws_.fresh_buckets();
    const uint64_t member_weight = add_to_histogram(members);
    uint64_t low = 0, high = 0;
    budget_bounds(member_weight, tail, p.top_p, &low, &high);
    if (member_weight < high && low != high) low = high = exact_budget();
    float cut = 0.0f;
    if (member_weight < high) {
      Candidates& band = ws_.band;
      for (uint64_t weight = member_weight; weight < high && deepest < kWeightBuckets - 1;) {
        deepest = std::min(kWeightBuckets - 1, deepest + static_cast<int>(2 * kBucketsPerUnit));
        const float deeper = members_floor(deepest);
        gather_at_least(deeper, &band);
        band.keep_between(deeper, floor);
        weight = add_to_histogram(band);
        floor = deeper;
      }
      const Boundary boundary = boundary_for(p, x_max, z_max, high);
      gather_at_least(std::max(boundary.lo, weigh_floor), &members);
      cut = cut_in(p, z_max, weigh_floor, boundary, high);
    } else {
      const Boundary at_low = boundary_for(p, x_max, z_max, low);
      std::vector<float>& values = boundary_values(at_low);
      cut = top_p_cut(p, z_max, weigh_floor, values, at_low.above, low);
      if (low != high) {
        // The same bucket holds the same values: only the walk differs.
        const Boundary at_high = boundary_for(p, x_max, z_max, high);
        const bool settled = at_high.bucket == at_low.bucket &&
                             top_p_cut(p, z_max, weigh_floor, values, at_high.above, high) == cut;
        if (!settled) {
          const uint64_t budget = exact_budget();
          cut = cut_in(p, z_max, weigh_floor, boundary_for(p, x_max, z_max, budget), budget);
        }
      }
    }
    cut = std::max(keep_floor, cut);
    members.keep_at_least(cut);
    return kept(cut, members);
  }

  // The budget's range when the total is the members' exact weight plus a
  // tail known only approximately. Each tail weight trunc(f) has f within a
  // relative e of its approximation a, so the tail lies in
  // [sum a / (1 + e) - count, sum a / (1 - e)]; summing in f32 blocks and
  // then in double (at most count * 2^-53 of the sum) widens e.
  static void budget_bounds(uint64_t member_weight, const TailWeight& tail, float top_p, uint64_t* low,
                            uint64_t* high) {
    if (tail.approximate == 0) {  // no tail: every tail weight is at least 2^40 e^-28 > 0
      *low = *high = top_p_budget(member_weight, top_p);
      return;
    }
    const double e = kApproximateWeightError + kTailSumError + 1.0 / (1 << 29);
    const double least = std::max(0.0, tail.approximate * (1 - e) - static_cast<double>(tail.count) - 2);
    const double most = tail.approximate * (1 + 2 * e) + 2;
    *low = top_p_budget(member_weight + static_cast<uint64_t>(least), top_p);
    *high = top_p_budget(member_weight + static_cast<uint64_t>(std::ceil(most)), top_p);
  }

  // The bucket of d where the weight from the top reaches the budget, the
  // weight above it, and its range of x.
  struct Boundary {
    int bucket = 0;
    uint64_t above = 0;
    float lo = 0.0f, hi = 0.0f;
  };

  Boundary boundary_for(const RowParams& p, float x_max, float z_max, uint64_t budget) const {
    const std::vector<uint64_t>& buckets = ws_.buckets;
    Boundary b;
    while (b.bucket < kWeightBuckets - 1 && b.above + buckets[b.bucket] < budget) b.above += buckets[b.bucket++];
    weight_bucket_range(b.bucket, p.temperature, z_max, x_max, &b.lo, &b.hi);
    return b;
  }

  // The members' values in a boundary bucket (ws_.values).
  std::vector<float>& boundary_values(const Boundary& boundary) const {
    std::vector<float>& values = ws_.values;
    values = ws_.merged.values;
    values.resize(f32_kernels().compact_between(values.data(), nullptr, static_cast<int64_t>(values.size()),
                                                boundary.lo, boundary.hi));
    return values;
  }

  // The cut for a budget whose boundary bucket the members reach.
  float cut_in(const RowParams& p, float z_max, float weigh_floor, const Boundary& boundary, uint64_t budget) const {
    return top_p_cut(p, z_max, weigh_floor, boundary_values(boundary), boundary.above, budget);
  }

  static constexpr int64_t kSample = 4096;
  static constexpr int64_t kLeaders = 64;

  // Whether top_p_over_row guesses its members (below that, every survivor is one).
  bool guesses_members(const RowParams& p) const { return !is_greedy(p) && top_p_active(p) && vocab_ > 2 * kSample; }

  // The deepest bucket of d that the kept set probably reaches: where the
  // estimated weight from the top reaches an eighth of the way from top_p to
  // 1, plus half a unit of d. The estimate counts the leaders (every value >=
  // leaders_floor, ws_.leaders) exactly and the rest from a strided sample of
  // at most 4096 values, each standing for a stride of them: the leaders hold
  // most of the weight of a heavy-tailed row, which a sample alone misses.
  int guess_member_buckets(const RowParams& p, float z_max, float cut, float leaders_floor) const {
    if (!guesses_members(p)) return kWeightBuckets - 1;
    std::vector<float>& sample = ws_.values;
    const int64_t stride = vocab_ / kSample;
    sample.clear();
    for (int64_t i = 0; i < vocab_; i += stride) {
      const float x = S::load(row_[i]);
      if (x < leaders_floor) sample.push_back(x);
    }
    const auto histogram = [&](const std::vector<float>& values, std::vector<uint64_t>* buckets) {
      buckets->assign(kWeightBuckets, 0);
      return static_cast<double>(f32_kernels().weight_histogram(values.data(), static_cast<int64_t>(values.size()), cut,
                                                                p.temperature, z_max, buckets->data()));
    };
    std::vector<uint64_t>& sampled = ws_.buckets;
    std::vector<uint64_t>& leading = ws_.leading_buckets;
    const double total =
        histogram(ws_.leaders.values, &leading) + static_cast<double>(stride) * histogram(sample, &sampled);
    const double target = (7.0 * static_cast<double>(p.top_p) + 1.0) / 8.0 * total;
    const auto estimate = [&](int b) {
      return static_cast<double>(leading[b]) + static_cast<double>(stride) * static_cast<double>(sampled[b]);
    };
    double above = 0;
    int bucket = 0;
    while (bucket < kWeightBuckets - 1 && above + estimate(bucket) < target) above += estimate(bucket++);
    return std::min(kWeightBuckets - 1, bucket + static_cast<int>(kBucketsPerUnit / 2));
  }

  static const RowKernels<F32Storage>& f32_kernels() { return row_kernels<F32Storage>(); }

  // Sorts values (the survivors from some point down) and walks them as
  // groups of equal z, descending: a group is kept iff the weight above it
  // is within budget. The first group must be kept (weight_above < budget).
  // Returns the new cut.
  static float top_p_cut(const RowParams& p, float z_max, float cut, std::vector<float>& values, uint64_t weight_above,
                         uint64_t budget) {
    if (values.empty()) return cut;  // only when shared logits changed under the call
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
  Workspace& ws_;
  float x_max_ = 0.0f;
};

template <class S>
MaskRowsResult mask_rows_typed(const LogitsView& logits, const BatchParams& params, bool fill, InvalidRows invalid_rows,
                               std::vector<RowCut>* cuts) {
  using Stored = typename S::Stored;
  const std::shared_ptr<ThreadPool> pool_owner = pool();
  ThreadPool& pool = *pool_owner;
  const ThreadPool::Exclusive exclusive(pool);  // the id arenas stay ours until the copy below
  static std::atomic<uint64_t> calls{0};
  const uint64_t call = ++calls;
  const int64_t rows = logits.rows, vocab = logits.vocab;
  auto* base = static_cast<Stored*>(logits.data);
  // Few rows: spread each row over the threads where that pays; else a row per task.
  const bool split_rows = split_rows_over_threads(params, rows, vocab, pool.threads());
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
    if (!valid(outcomes[r])) {
      if (invalid_rows == InvalidRows::kSkip) {
        result.skipped.push_back(RowFailure{r, outcomes[r].status});
        continue;
      }
      result.error_row = r;
      result.error = outcomes[r].status;
      return result;
    }
    total += outcomes[r].count();
  }
  if (cuts) {
    cuts->resize(rows);
    for (int64_t r = 0; r < rows; ++r) (*cuts)[r] = RowCut{outcomes[r].cut, outcomes[r].x_max};
  }
  if (total > INT32_MAX) {
    result.too_many_ids = true;
    return result;
  }
  result.offsets.resize(rows + 1);
  result.offsets[0] = 0;
  for (int64_t r = 0; r < rows; ++r)
    result.offsets[r + 1] = result.offsets[r] + static_cast<int32_t>(valid(outcomes[r]) ? outcomes[r].count() : 0);
  result.indices = HostBuffer(static_cast<size_t>(total) * sizeof(int32_t));
  // Every row left is valid now, so the input may be written.
  for_rows([&](int64_t r) {
    if (!valid(outcomes[r])) return;  // skipped: no ids, logits untouched
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

MaskRowsResult mask_rows(const LogitsView& logits, const BatchParams& params, bool fill, InvalidRows invalid_rows,
                         std::vector<RowCut>* cuts) {
  return with_storage(logits.dtype, [&](auto storage) {
    return mask_rows_typed<decltype(storage)>(logits, params, fill, invalid_rows, cuts);
  });
}

}  // namespace sm::cpu
