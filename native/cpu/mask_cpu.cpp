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
// pool, each row's passes in segments. Waking the threads costs tens of
// microseconds in a VM. A row that is only read once (min-p, greedy, or
// every id kept) reads in segments, which repays the wake from about 4M
// logits (a 1M-logit row took twice as long split); in a smaller batch that
// is split for another row, it reads in segments too. Any other row reads on
// one thread first (cut_row) and splits only the passes over the whole row
// that may follow: top-p's exact weighing and deeper gathers, top-k's
// gathering again of values tied at its cut, the joint order's weighing, and
// the -inf fill. Splitting their first read too lost where no such pass
// followed (2 threads against 1, Zen 5 VM: top-p rows of 2^18 to 2^22
// logits 0.61-0.93x, top-k rows of 2^22 0.78-0.83x): each segment weighs its
// first values against its own, lower maximum, whose wider bound
// (kRescaleError) sent rows to the exact pass, and top-k's segments scan
// without the row's threshold hint. Reading first on one thread, rows that
// need no such pass take the same time at both counts (0.99-1.01x from
// 2^18 to 2^22), and those that do gained 1.2-1.35x at 2^21 and 2^22. The
// floor of 2^18 stays from the Zen 3 VM: one thread's exact pass over 2^18
// logits takes about 150 us here (1.25 ms at 2^21), against a wake of tens.
bool split_rows_over_threads(const BatchParams& params, int64_t rows, int64_t vocab, int threads) {
  constexpr int64_t kSplitWeighedVocab = int64_t{1} << 18, kSplitReadOnlyVocab = int64_t{1} << 22;
  if (rows >= threads || vocab < kSplitWeighedVocab) return false;
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

// The k-th largest value, counting duplicates (k <= values.size(); +inf, above
// every value, for k < 1: the 0 largest are none), by radix
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
  if (k < 1) return kPosInf;
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

// Where the next top-p row's first read starts gathering its members: a
// margin below the top-p boundary of the last top-p rows this thread masked
// (in this call or earlier ones), as an offset from the row's location
// (row_location). Where the boundary lies is steadier against the bulk of a
// row than against its maximum, an extreme value: on N(0,3) rows of 128256
// logits at top_p 0.9, 90% of the offsets fell within 0.6 of each other, the
// depths below the maximum within 2.6. A row whose members miss its boundary
// weighs itself exactly and reads itself again for more (top_p_over_row),
// while each unit of z the members reach too deep costs their gathering and
// exact weights (a few thousand there); so the offset falls at once to a
// lower boundary and rises an eighth of the margin a row. The margin is half
// a unit of z: against three quarters, Zipf-like rows gathered 17% fewer
// members and no row fell short, N(0,3) rows fell short 3.6% of the time
// instead of 2.8% at T = 0.7, and both took 5-20% less time.
struct MemberHint {
  bool known = false;
  float offset = 0.0f;
  void follow(float boundary_offset, float margin) {
    const float lower = boundary_offset - margin;
    offset = known ? std::min(lower, offset + margin / 8) : lower;
    known = std::isfinite(offset);
  }
};

// Buffers a thread reuses from row to row (and call to call), so that rows
// allocate nothing in the steady state.
struct Workspace {
  std::vector<Candidates> parts;  // one per segment
  Candidates gathered;            // the row's: what its first read gathered, then top-p's members
  Candidates band;                // top-p survivors between two depths of d
  std::vector<float> values;
  std::vector<uint32_t> selection;  // kth_largest's scratch
  std::vector<uint64_t> buckets;
  ThresholdHint hint;
  MemberHint member_hint;

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
    // Top-p without a top-k list gathers its members and weighs the rest in
    // the first read.
    const bool weigh_top_p = !gather_top && !is_greedy(p) && top_p_active(p);
    const MemberRead read = weigh_top_p ? member_read(p) : MemberRead{};
    // The first read. Only a row that is read once reads in segments (see
    // split_rows_over_threads).
    TailScan first;
    Candidates& gathered = ws_.gathered;
    gathered.clear();
    float candidates_floor = kPosInf;  // every value at or above it is gathered
    if (weigh_top_p) {
      scan_and_weigh_tail(p, read, &first, &gathered);
    } else if (gather_top) {
      candidates_floor = scan_row_for_top_k(p.top_k, &first.scan, &gathered);
    } else {
      first.scan = scan_segments();
    }
    const float x_max = first.scan.max;
    const bool has_invalid = first.scan.has_invalid;
    if (has_invalid) return fail(RowError::kInvalidLogit, first_invalid<S>(row_, vocab_));
    if (x_max == kNegInf) return fail(RowError::kNoFiniteLogit, -1);
    x_max_ = x_max;
    if (is_greedy(p)) return emit_all(x_max);

    const float z_max = scaled_logit(x_max, p.temperature);
    if (!scaled_max_is_finite(z_max)) return fail(RowError::kScaledOverflow, -1);
    float cut = -kMaxFinite;
    if (min_p_active(p)) cut = x_cut_for_z(min_p_z_cut(z_max, p.min_p), p.temperature, x_max);
    if (weigh_top_p) {
      const TailWeight tail{first.at_ref, first.rescaled, first.count};
      return top_p_over_row(p, x_max, z_max, top_p_weighs_from(p.order, cut), cut, read, tail);
    }
    if (!gather_top) return emit_all(cut);

    // The k-th largest value is never below the candidates' floor.
    Candidates& survivors = gathered;
    survivors.keep_at_least(cut);
    if (static_cast<int64_t>(survivors.size()) >= p.top_k) {
      const float kth = kth_largest(survivors.values, p.top_k, ws_.selection);
      cut = std::max(cut, x_cut_for_z(scaled_logit(kth, p.temperature), p.temperature, kth));
      survivors.keep_at_least(cut);
    }
    // Fewer than k survivors means the scan did not raise its threshold above
    // the cut. Otherwise values tied with the k-th in z may sit below the
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

  static RowOutcome fail(RowError error, int64_t column) {
    RowOutcome out;
    out.status = RowStatus{error, column};
    return out;
  }

  // The row's maximum and whether it holds NaN or +inf, read in segments.
  ScanResult scan_segments() const {
    std::vector<ScanResult> scans(segments_.count());
    segments_.run([&](int64_t s, int64_t b, int64_t n) { scans[s] = scan_row<S>(row_ + b, n); });
    ScanResult row{kNegInf, false};
    for (const ScanResult& scan : scans) {
      row.max = std::max(row.max, scan.max);
      row.has_invalid |= scan.has_invalid;
    }
    return row;
  }

  // Scans the row for top-k (scan_keeping_top).
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
    const auto scan_from = [&](float start) { return scan_keeping_top(hint_rank, start, scan, kept); };
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

  // Scans the row from a first threshold, keeping with their ids every value
  // that may be among its k largest (k > 0), raising the threshold as they
  // pile up. Returns the threshold: every value at or above it is kept.
  float scan_keeping_top(int64_t k, float threshold, ScanResult* scan, Candidates* kept) const {
    GatherRoom<kChunk> buffer;
    // A small buffer re-selects more often but each time on fewer values: with
    // capacity C the threshold passes about C / k times as many values per
    // selection, so the total selection work grows with C.
    size_t capacity = static_cast<size_t>(std::max<int64_t>(2 * k, 128));
    for (int64_t next = 0; next < vocab_;) {
      int64_t written = 0;
      // Room for what the buffer can take before it must shrink.
      const int64_t room = std::clamp<int64_t>(capacity - kept->size() + 16, 32, kChunk);
      next = kernels_.scan_gather(row_, vocab_, next, threshold, 0, scan, nullptr, buffer.values, buffer.ids, room,
                                  &written);
      kept->append(buffer.values, buffer.ids, written);
      if (kept->size() < capacity) continue;
      threshold = kth_largest(kept->values, k, ws_.selection);
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
      GatherRoom<kChunk> buffer;
      for (int64_t next = 0; next < n;) {
        int64_t written = 0;
        next = pass(s, b, n, next, buffer.values, buffer.ids, &written);
        parts[s].append(buffer.values, buffer.ids, written);
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
    std::vector<uint64_t> totals(segments_.count(), 0);
    gather_segments(out,
                    [&](int64_t s, int64_t b, int64_t n, int64_t next, float* values, int32_t* ids, int64_t* written) {
                      return kernels_.weigh_gather(row_ + b, n, next, weigh_floor, p.temperature, z_max, gather_floor,
                                                   static_cast<int32_t>(b), &totals[s], values, ids, kChunk, written);
                    });
    uint64_t total = 0;
    for (uint64_t t : totals) total += t;
    return total;
  }

  // Where top-p's first read gathers members: every value at or above
  // `floor`, and within `deepest` weight buckets of d of the running maximum;
  // and whether it weighs the survivors below them.
  struct MemberRead {
    float floor = -kMaxFinite;
    int deepest = kWeightBuckets - 1;
    bool weighs_tail = true;
    float location = kNegInf;  // row_location(), where the member hint applies
  };

  MemberRead member_read(const RowParams& p) const {
    // Sequential min-p leaves only the survivors within -ln(min_p) of the
    // maximum: members down to two buckets past there are all of them (the
    // rounding of d is far below a bucket), and no tail is left to weigh.
    // Deeper than the weight floor, the survivors left out weigh nothing.
    if (min_p_active(p) && p.order == FilterOrder::kSequential) {
      const double buckets = std::ceil(-deterministic_log(static_cast<double>(p.min_p)) * kBucketsPerUnit) + 2;
      return MemberRead{-kMaxFinite, static_cast<int>(std::min<double>(kWeightBuckets - 1, buckets)), false};
    }
    const MemberHint& hint = ws_.member_hint;
    const float location = row_location();
    const float floor = hint.known && std::isfinite(location) ? location + hint.offset : -kMaxFinite;
    return MemberRead{std::max(floor, -kMaxFinite), kWeightBuckets - 1, true, location};
  }

  // What a row's first read found: its maximum and invalid entries, and for
  // top-p (scan_and_weigh_tail) the tail it weighed. Read on one thread, the
  // row ends with z_ref at its own maximum, so the tail needs no rescaling.
  struct TailScan {
    ScanResult scan{kNegInf, false};
    float z_ref = kNegInf;  // the running maximum / T that the tail was last weighed against
    double at_ref = 0;      // approximate tail weights taken against z_ref
    double rescaled = 0;    // those taken against a lower maximum, scaled to z_ref
    int64_t count = 0;      // values read
  };

  // Top-p's first read, in chunks that stay in the L1 cache.
  // Each chunk is scanned for its maximum while the values at or above the
  // members' floor (read.floor, and read.deepest buckets below the maximum
  // so far) are gathered, and the values below it add their approximate
  // weights against the maximum so far, z_ref: the weighing keeps the core
  // busy while the row streams in. The price is that z_ref rises as larger
  // values come: a chunk that raises it is weighed again from cache, and the
  // weights taken before are scaled by e^(old z_ref - new), within
  // kRescaleError (see there) of weighing against the row's maximum. Values
  // gathered early, when the floor was lower than the row's final one, join
  // the tail in top_p_over_row.
  void scan_and_weigh_tail(const RowParams& p, const MemberRead& read, TailScan* out, Candidates* gathered) const {
    GatherRoom<kChunk> buffer;
    float x_ref = kNegInf, floor = read.floor;
    for (int64_t chunk = 0; chunk < vocab_; chunk += kChunk) {
      const int64_t end = std::min(vocab_, chunk + kChunk);
      const bool weighs = read.weighs_tail && scaled_max_is_finite(out->z_ref);
      TailToWeigh on_the_way{p.temperature, out->z_ref};
      for (int64_t next = chunk; next < end;) {
        int64_t written = 0;
        next = kernels_.scan_gather(row_, end, next, floor, 0, &out->scan, weighs ? &on_the_way : nullptr,
                                    buffer.values, buffer.ids, kChunk, &written);
        gathered->append(buffer.values, buffer.ids, written);
      }
      if (out->scan.has_invalid) continue;  // the row fails; only its maximum is still read
      float next_floor = floor;
      bool weighed = weighs;
      if (out->scan.max > x_ref) {
        x_ref = out->scan.max;
        // A maximum / T that overflows fails the row; one that is -inf weighs nothing yet.
        const float z_ref = scaled_logit(x_ref, p.temperature);
        if (scaled_max_is_finite(z_ref)) {
          out->rescaled = (out->rescaled + out->at_ref) * std::exp(static_cast<double>(out->z_ref) - z_ref);
          out->at_ref = 0;
          out->z_ref = z_ref;
          weighed = false;
          next_floor =
              std::max(read.floor, smallest_float_where(x_ref, WeightBucketAtMost{p.temperature, z_ref, read.deepest}));
        }
      }
      // (The chunk's values at or above `floor` are gathered, whatever the new floor.)
      if (weighed)
        out->at_ref += on_the_way.sum;
      else if (read.weighs_tail && scaled_max_is_finite(out->z_ref))
        out->at_ref += kernels_.approximate_tail(row_ + chunk, end - chunk, p.temperature, out->z_ref, floor);
      out->count += end - chunk;
      floor = next_floor;
    }
  }

  // Every value >= floor with its id into *out: a plain read of the row.
  void gather_at_least(float floor, Candidates* out) const {
    gather_segments(out,
                    [&](int64_t, int64_t b, int64_t n, int64_t next, float* values, int32_t* ids, int64_t* written) {
                      ScanResult unused{kNegInf, false};
                      return kernels_.scan_gather(row_ + b, n, next, floor, static_cast<int32_t>(b), &unused, nullptr,
                                                  values, ids, kChunk, written);
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
  // when no top-k list exists. The first read (scan_and_weigh_tail) gathered
  // the "members", the survivors from a floor that the previous top-p row
  // suggests (MemberRead), and summed approximate weights of the survivors
  // below them (the tail). A histogram of the members' exact weights then
  // finds the boundary bucket, whose few values are sorted and walked.
  //
  // The budget is a share of the exact total, which the tail's approximation
  // only bounds (budget_bounds); the walk runs with the lowest and the highest
  // budget that bound allows, and only where the two cuts differ does a
  // second pass weigh every survivor exactly. The bound is a few 1e-7 of the
  // tail plus 1 1/8 units per value read wide, some 1e-6 more for the weights
  // taken against a lower running maximum.
  //
  // If the members weigh less than the budget, the floor was too high:
  // with the exact budget, plain reads of the row add the survivors of two
  // more units of d at a time to the histogram until it reaches the budget,
  // and a last read gathers the ids from the boundary bucket up. The result is
  // exact either way; the floor and the bound only save work. The boundary
  // found sets the next row's floor (MemberHint).
  RowOutcome top_p_over_row(const RowParams& p, float x_max, float z_max, float weigh_floor, float keep_floor,
                            const MemberRead& read, TailWeight tail) const {
    const auto members_floor = [&](int deepest) {
      if (deepest < 0) return kPosInf;
      return std::max(weigh_floor, smallest_float_where(x_max, WeightBucketAtMost{p.temperature, z_max, deepest}));
    };
    // Adds the weights of values to the histogram; returns the weight of every bucket.
    const auto add_to_histogram = [&](const Candidates& values) {
      return f32_kernels().weight_histogram(values.values.data(), static_cast<int64_t>(values.size()), weigh_floor,
                                            p.temperature, z_max, ws_.buckets.data());
    };
    const auto exact_budget = [&] { return top_p_budget(weight_from(p, z_max, weigh_floor), p.top_p); };
    Candidates& members = ws_.gathered;
    int deepest = read.deepest;
    float floor = members_floor(deepest);
    if (read.floor > floor) {
      // The members fill whole buckets of d from the top: they start at the
      // lowest bucket edge at or above read.floor (+inf if that is above the
      // maximum's bucket).
      deepest = weight_bucket(sub_rn(scaled_logit(read.floor, p.temperature), z_max));
      if (members_floor(deepest) < read.floor) --deepest;
      floor = members_floor(deepest);
    }
    // Gathered while the running maximum was lower, below the row's own floor:
    // tail, weighed against the row's maximum. (Where the tail is weighed,
    // every finite value survives; where it is not, every survivor below the
    // floor weighs nothing: see member_read.)
    if (read.weighs_tail)
      tail.approximate += f32_kernels().approximate_tail(members.values.data(), static_cast<int64_t>(members.size()),
                                                         p.temperature, z_max, floor);
    members.keep_at_least(floor);
    ws_.fresh_buckets();
    const uint64_t member_weight = add_to_histogram(members);
    uint64_t low = 0, high = 0;
    budget_bounds(member_weight, tail, p.top_p, &low, &high);
    if (member_weight < high && low != high) low = high = exact_budget();
    float cut = 0.0f;
    float boundary_lo = 0.0f;  // where the boundary bucket starts
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
      boundary_lo = boundary.lo;
    } else {
      const Boundary at_low = boundary_for(p, x_max, z_max, low);
      std::vector<float>& values = boundary_values(at_low);
      cut = top_p_cut(p, z_max, weigh_floor, values, at_low.above, low);
      boundary_lo = at_low.lo;
      if (low != high) {
        // The same bucket holds the same values: only the walk differs.
        const Boundary at_high = boundary_for(p, x_max, z_max, high);
        const bool settled = at_high.bucket == at_low.bucket &&
                             top_p_cut(p, z_max, weigh_floor, values, at_high.above, high) == cut;
        boundary_lo = at_high.lo;
        if (!settled) {
          const uint64_t budget = exact_budget();
          cut = cut_in(p, z_max, weigh_floor, boundary_for(p, x_max, z_max, budget), budget);
        }
      }
    }
    if (read.weighs_tail) ws_.member_hint.follow(boundary_lo - read.location, 0.5f * p.temperature);
    cut = std::max(keep_floor, cut);
    members.keep_at_least(cut);
    return kept(cut, members);
  }

  // The budget's range when the total is the members' exact weight plus a
  // tail known only approximately. Each tail weight trunc(f) has f within a
  // relative e of its approximation a, so the tail lies in
  // [sum a / (1 + e) - count, sum a / (1 - e)]; summing in f32 blocks and
  // then in double (at most count * 2^-53 of the sum) widens e, and the
  // weights taken against a lower maximum have kRescaleError more, and up to
  // 1/16 of a unit each where they are deep (see kRescaleError).
  static void budget_bounds(uint64_t member_weight, const TailWeight& tail, float top_p, uint64_t* low,
                            uint64_t* high) {
    if (tail.approximate == 0 && tail.rescaled == 0) {  // no tail: a weight the rule counts is at least 2^40 e^-28
      *low = *high = top_p_budget(member_weight, top_p);
      return;
    }
    const double e = kApproximateWeightError + kTailSumError + 1.0 / (1 << 29);
    const double e_rescaled = e + kRescaleError;
    const double count = static_cast<double>(tail.count), deep = count / 16;
    const double least =
        std::max(0.0, tail.approximate / (1 + e) + tail.rescaled / (1 + e_rescaled) - count - deep - 2);
    const double most = tail.approximate / (1 - e) + tail.rescaled / (1 - e_rescaled) + deep + 2;
    // A stable row's tail is far below 2^63 and never negative; one rewritten
    // by another thread during the call can count a value both as a member
    // and in the tail, or be read again above the maximum it was weighed
    // against (a d above 0: a negative, infinite or NaN weight), and must then
    // give a wrong mask, never an undefined conversion.
    const auto units = [](double weight) {
      if (weight >= 0 && weight < 0x1p63) return static_cast<uint64_t>(weight);
      return weight < 0 ? uint64_t{0} : uint64_t{1} << 63;  // NaN too: the most
    };
    *low = top_p_budget(member_weight + units(least), top_p);
    *high = top_p_budget(member_weight + units(std::ceil(most)), top_p);
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
    values = ws_.gathered.values;
    values.resize(f32_kernels().compact_between(values.data(), nullptr, static_cast<int64_t>(values.size()),
                                                boundary.lo, boundary.hi));
    return values;
  }

  // The cut for a budget whose boundary bucket the members reach.
  float cut_in(const RowParams& p, float z_max, float weigh_floor, const Boundary& boundary, uint64_t budget) const {
    return top_p_cut(p, z_max, weigh_floor, boundary_values(boundary), boundary.above, budget);
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

// Below this many kept ids in all, the rows' ids are copied into the result
// on the calling thread: without that second wake of the threads, 64 rows of
// top-k 50 took 0.92-0.96x of the time (2 threads, a VM).
constexpr int64_t kFewIds = int64_t{1} << 16;

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
  const auto finish_row = [&](int64_t r) {
    if (!valid(outcomes[r])) return;  // skipped: no ids, logits untouched
    int32_t* out = result.indices.as<int32_t>() + result.offsets[r];
    for (const IdPiece& piece : outcomes[r].pieces) {
      const int32_t* ids = piece.arena->ids.data() + piece.offset;
      out = std::copy(ids, ids + piece.count, out);
    }
    if (fill) {
      segments.run([&](int64_t, int64_t b, int64_t n) { fill_below<S>(base + r * vocab + b, n, outcomes[r].cut); });
    }
  };
  // Copying a few ids (top-k's) takes less time than waking the threads does.
  if (!fill && total < kFewIds) {
    for (int64_t r = 0; r < rows; ++r) finish_row(r);
  } else {
    for_rows(finish_row);
  }
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
