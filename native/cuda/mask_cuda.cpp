// The host side of the CUDA mask: workspace layout, the launch sequence of
// mask_kernels.h, and the copies. Rows go in chunks so the workspace stays
// bounded; a chunk's result comes back as its CSR only (offsets first, then
// exactly the kept ids), and a fill runs only once every row is known valid,
// so a failed call leaves the logits as they were.
#include <algorithm>
#include <chrono>
#include <climits>
#include <cstring>

#include "context.h"
#include "mask_kernels.h"

namespace sm::cuda {
namespace {

constexpr size_t kAlignment = 256;
constexpr size_t kWorkspaceBudget = size_t{256} << 20;  // device bytes per chunk, about
constexpr int64_t kMaxChunkRows = 4096;
constexpr int64_t kInitialCapacity = int64_t{1} << 20;  // kept ids

size_t aligned(size_t bytes) { return (bytes + kAlignment - 1) / kAlignment * kAlignment; }

// Byte offsets inside the workspace: the whole batch's cuts, then one
// chunk's buffers. [offsets, summary] come back in one copy; [summary,
// zero_end) is zeroed in one memset.
struct Layout {
  size_t cuts, params, offsets, summary, states, key_hist, zero_end, segment_counts, segment_offsets, search_hist,
      candidates, kept_ids, end;

  Layout(int64_t batch_rows, int64_t chunk_rows, int64_t tiles_per_row) {
    size_t at = 0;
    auto take = [&](size_t bytes) {
      const size_t start = at;
      at += aligned(bytes);
      return start;
    };
    const size_t rows = static_cast<size_t>(chunk_rows);
    cuts = take(sizeof(float) * batch_rows);
    params = take(4 * sizeof(float) * rows);
    offsets = at;  // summary follows directly, no padding
    at += sizeof(int64_t) * (rows + 1);
    at = (at + alignof(Summary) - 1) / alignof(Summary) * alignof(Summary);
    summary = take(sizeof(Summary));
    states = take(sizeof(RowState) * rows);
    key_hist = take(sizeof(uint32_t) * kKeyBins * rows);
    zero_end = at;
    segment_counts = take(sizeof(int32_t) * rows * tiles_per_row);  // segments <= tiles
    segment_offsets = take(sizeof(int64_t) * rows * tiles_per_row);
    search_hist = take(sizeof(uint64_t) * kKeyBins * rows);
    candidates = take(sizeof(Candidate) * kCandidates * rows);
    kept_ids = take(sizeof(int32_t) * kCandidates * rows);
    end = at;
  }
};

int64_t chunk_rows(int64_t rows, int64_t tiles_per_row) {
  const size_t per_row = Layout(0, 1, tiles_per_row).end;
  return std::max<int64_t>(1,
                           std::min<int64_t>({rows, kMaxChunkRows, static_cast<int64_t>(kWorkspaceBudget / per_row)}));
}

// Scan + plan rounds after the first (stats) that the common paths need: a
// top-k row finishes from its candidates in one, a row whose cut is known
// after the first counts its segments in one, a top-p row needs the weights
// and the boundary. Rows that need more (heavy ties, huge k) get the rest
// after a check.
int expected_rounds(const BatchParams& params, int64_t rows, int64_t vocab) {
  const bool per_row = params.temperature.values || params.min_p.values || params.top_k.values || params.top_p.values;
  int rounds = 1;
  for (int64_t r = 0; r < (per_row ? rows : 1) && rounds < 2; ++r) {
    const RowParams p = params.row(r);
    if (!is_greedy(p) && !(p.top_k > 0 && p.top_k < vocab) && top_p_active(p)) rounds = 2;
  }
  return rounds;
}

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

class Pipeline {
 public:
  Pipeline(Context& context, Profile* profile)
      : ctx_(context), profile_(profile), timer_(context.stream(), profile != nullptr) {}

  // Masks device logits. Returns with the fill done when asked and no row failed.
  MaskRowsResult run(const LogitsView& logits, const BatchParams& params, bool fill) {
    MaskRowsResult result;
    const int64_t rows = logits.rows, vocab = logits.vocab;
    const int64_t tiles_per_row = (vocab + tile_elements(logits.dtype) - 1) / tile_elements(logits.dtype);
    const int64_t chunk = chunk_rows(rows, tiles_per_row);
    const Layout layout(rows, chunk, tiles_per_row);
    ctx_.workspace.reserve(layout.end);
    ctx_.indices.reserve(sizeof(int32_t) * std::max(kInitialCapacity, std::min<int64_t>(rows * vocab, 64 * rows)));
    // Pinned: the chunk's parameters on the way in, offsets and summary on the way out.
    ctx_.readback.reserve(std::max(layout.summary + sizeof(Summary) - layout.offsets, 4 * sizeof(float) * chunk));
    const int rounds = expected_rounds(params, rows, vocab);
    resident_blocks_ = int64_t{ctx_.multiprocessors()} * resident_scan_blocks_per_multiprocessor(logits.dtype);
    result.offsets.push_back(0);

    for (int64_t first = 0; first < rows; first += chunk) {
      const int64_t n = std::min(chunk, rows - first);
      MaskBatch batch = make_batch(logits, params, layout, first, n, tiles_per_row);
      if (!run_chunk(batch, layout, rounds, first, &result)) return result;
    }
    if (fill) {
      timer_.start();
      for (int64_t first = 0; first < rows; first += chunk) {
        MaskBatch batch = make_batch(logits, params, layout, first, std::min(chunk, rows - first), tiles_per_row);
        launch_fill(batch, ctx_.stream());
      }
      timer_.stop();
      check(cudaStreamSynchronize(ctx_.stream()), "cudaStreamSynchronize (fill)");
    }
    if (profile_) profile_->kernel_ms += timer_.total_ms();
    return result;
  }

 private:
  MaskBatch make_batch(const LogitsView& logits, const BatchParams& params, const Layout& layout, int64_t first,
                       int64_t n, int64_t tiles_per_row) {
    uint8_t* base = static_cast<uint8_t*>(ctx_.workspace.data());
    const int bytes = dtype_bytes(logits.dtype);
    MaskBatch b;
    b.logits = static_cast<uint8_t*>(logits.data) + first * logits.vocab * bytes;
    b.dtype = logits.dtype;
    b.aligned = reinterpret_cast<uintptr_t>(b.logits) % 16 == 0 && (logits.vocab * bytes) % 16 == 0;
    b.rows = n;
    b.vocab = logits.vocab;
    b.tiles_per_row = tiles_per_row;
    // As many scan blocks as the GPU holds at once, whole tiles each: one
    // more than that would wait for a second wave that runs nearly alone.
    const int64_t segments = std::max<int64_t>(1, std::min(resident_blocks_ / n, tiles_per_row));
    b.tiles_per_segment = static_cast<int32_t>((tiles_per_row + segments - 1) / segments);
    b.segments = static_cast<int32_t>((tiles_per_row + b.tiles_per_segment - 1) / b.tiles_per_segment);
    b.segment_elements = b.tiles_per_segment * tile_elements(logits.dtype);
    b.params = params;  // per-row arrays are replaced by device copies in run_chunk
    Workspace& w = b.w;
    w.cuts = reinterpret_cast<float*>(base + layout.cuts) + first;
    w.offsets = reinterpret_cast<int64_t*>(base + layout.offsets);
    w.summary = reinterpret_cast<Summary*>(base + layout.summary);
    w.states = reinterpret_cast<RowState*>(base + layout.states);
    w.key_hist = reinterpret_cast<uint32_t*>(base + layout.key_hist);
    w.segment_counts = reinterpret_cast<int32_t*>(base + layout.segment_counts);
    w.segment_offsets = reinterpret_cast<int64_t*>(base + layout.segment_offsets);
    w.search_hist = reinterpret_cast<uint64_t*>(base + layout.search_hist);
    w.candidates = reinterpret_cast<Candidate*>(base + layout.candidates);
    w.kept_ids = reinterpret_cast<int32_t*>(base + layout.kept_ids);
    w.indices = reinterpret_cast<int32_t*>(ctx_.indices.data());
    w.capacity = static_cast<int64_t>(ctx_.indices.size() / sizeof(int32_t));
    return b;
  }

  // Copies the chunk's per-row parameter arrays to the device.
  template <class T>
  void upload_per_row(PerRow<T>* values, int64_t first, int64_t n, size_t slot, const Layout& layout) {
    if (!values->values) return;
    const size_t offset = slot * n * sizeof(float);
    uint8_t* staged = ctx_.readback.data() + offset;
    std::memcpy(staged, values->values + first, n * sizeof(T));
    uint8_t* device = static_cast<uint8_t*>(ctx_.workspace.data()) + layout.params + offset;
    check(cudaMemcpyAsync(device, staged, n * sizeof(T), cudaMemcpyHostToDevice, ctx_.stream()),
          "cudaMemcpyAsync (parameters)");
    values->values = reinterpret_cast<const T*>(device);
  }

  void launch_rounds(const MaskBatch& b, int from, int to) {
    for (int round = from; round <= to; ++round) {
      launch_scan(b, round, ctx_.stream());
      launch_plan(b, round, ctx_.stream());
    }
  }

  // Ids into the CSR (rows not final yet get none), then offsets and
  // summary back to the host.
  const Summary& write(const MaskBatch& b, const Layout& layout, bool with_offsets) {
    if (with_offsets) launch_offsets(b, ctx_.stream());
    launch_write(b, ctx_.stream());
    timer_.stop();
    const size_t bytes = layout.summary + sizeof(Summary) - layout.offsets;
    check(cudaMemcpyAsync(ctx_.readback.data(), static_cast<uint8_t*>(ctx_.workspace.data()) + layout.offsets, bytes,
                          cudaMemcpyDeviceToHost, ctx_.stream()),
          "cudaMemcpyAsync (offsets)");
    check(cudaStreamSynchronize(ctx_.stream()), "the mask kernels");
    return *reinterpret_cast<const Summary*>(ctx_.readback.data() + (layout.summary - layout.offsets));
  }

  // One chunk of rows; false when a row failed (result holds the error).
  bool run_chunk(MaskBatch& b, const Layout& layout, int rounds, int64_t first, MaskRowsResult* result) {
    cudaStream_t stream = ctx_.stream();
    upload_per_row(&b.params.temperature, first, b.rows, 0, layout);
    upload_per_row(&b.params.min_p, first, b.rows, 1, layout);
    upload_per_row(&b.params.top_k, first, b.rows, 2, layout);
    upload_per_row(&b.params.top_p, first, b.rows, 3, layout);
    timer_.start();
    uint8_t* base = static_cast<uint8_t*>(ctx_.workspace.data());
    check(cudaMemsetAsync(base + layout.summary, 0, layout.zero_end - layout.summary, stream), "cudaMemsetAsync");
    launch_rounds(b, 0, rounds);
    const Summary* summary = &write(b, layout, true);
    if (summary->error_row_key == 0 && summary->pending[rounds] != 0) {
      // Rows off the common paths: run every round left, then write again.
      timer_.start();
      launch_rounds(b, rounds + 1, kMaxRounds - 1);
      summary = &write(b, layout, true);
      if (summary->error_row_key == 0 && summary->pending[kMaxRounds - 1] != 0)
        throw Error("sampling-mask internal error: a row's CUDA search did not finish", false);
    }
    if (summary->error_row_key != 0) {
      const int64_t row = ~summary->error_row_key;
      RowState state;
      check(cudaMemcpy(&state, base + layout.states + row * sizeof(RowState), sizeof state, cudaMemcpyDeviceToHost),
            "cudaMemcpy (row state)");
      if (state.error == kRowErrorInternal)
        throw Error("sampling-mask internal error: the CUDA top-p search lost its boundary", false);
      result->error_row = first + row;
      result->error.error = static_cast<RowError>(state.error);
      result->error.column = state.error == static_cast<uint8_t>(RowError::kInvalidLogit) ? ~state.invalid_key : -1;
      return false;
    }
    const int64_t total = summary->total;
    const int64_t base_offset = result->offsets.back();
    if (base_offset + total > INT32_MAX) {
      result->too_many_ids = true;
      return false;
    }
    if (total > b.w.capacity) {
      ctx_.indices.reserve(sizeof(int32_t) * (total + total / 4));
      b.w.indices = reinterpret_cast<int32_t*>(ctx_.indices.data());
      b.w.capacity = static_cast<int64_t>(ctx_.indices.size() / sizeof(int32_t));
      timer_.start();
      write(b, layout, false);
    }
    std::vector<int64_t> offsets(b.rows + 1);
    std::memcpy(offsets.data(), ctx_.readback.data(), sizeof(int64_t) * offsets.size());
    for (int64_t r = 1; r <= b.rows; ++r) result->offsets.push_back(static_cast<int32_t>(base_offset + offsets[r]));
    const auto start = std::chrono::steady_clock::now();
    result->indices.resize(sizeof(int32_t) * (base_offset + total));
    ctx_.download(result->indices.as<int32_t>() + base_offset, b.w.indices, sizeof(int32_t) * total);
    if (profile_) profile_->download_ms += ms_since(start);
    return true;
  }

  Context& ctx_;
  Profile* profile_;
  KernelTimer timer_;
  int64_t resident_blocks_ = 1;  // scan blocks the whole GPU holds at once
};

}  // namespace

MaskRowsResult mask_rows(const LogitsView& host, const BatchParams& params, bool fill, int device, Profile* profile) {
  return Context::get(device).run([&](Context& ctx) {
    const size_t bytes = static_cast<size_t>(host.rows * host.vocab) * dtype_bytes(host.dtype);
    ctx.logits.reserve(bytes);
    LogitsView on_device = host;
    on_device.data = ctx.logits.data();
    auto start = std::chrono::steady_clock::now();
    ctx.upload(on_device.data, host.data, bytes);
    if (profile) profile->upload_ms += ms_since(start);
    MaskRowsResult result = Pipeline(ctx, profile).run(on_device, params, fill);
    if (fill && result.error_row < 0 && !result.too_many_ids) {
      start = std::chrono::steady_clock::now();
      ctx.download(host.data, on_device.data, bytes);
      if (profile) profile->download_ms += ms_since(start);
    }
    return result;
  });
}

MaskRowsResult mask_rows(DeviceLogits& owner, const LogitsView& view, const BatchParams& params, bool fill,
                         Profile* profile) {
  return Context::get(owner.device()).run([&](Context& ctx) {
    require_current(owner, ctx);
    return Pipeline(ctx, profile).run(view, params, fill);
  });
}

void require_current(const DeviceLogits& logits, const Context& context) {
  if (logits.generation() != context.generation())
    throw Error("the DeviceTensor's memory was lost when CUDA device " + std::to_string(context.device()) +
                    " was reset after an earlier error; upload it again",
                false);
}

std::shared_ptr<DeviceLogits> DeviceLogits::upload(const LogitsView& host, int device) {
  return Context::get(device).run([&](Context& ctx) {
    const size_t bytes = static_cast<size_t>(host.rows * host.vocab) * dtype_bytes(host.dtype);
    void* data = nullptr;
    check(cudaMalloc(&data, bytes), "cudaMalloc (device tensor)");
    try {
      ctx.upload(data, host.data, bytes);
    } catch (const Error&) {
      cudaFree(data);
      throw;
    }
    LogitsView view = host;
    view.data = data;
    return std::shared_ptr<DeviceLogits>(new DeviceLogits(view, device, ctx.generation()));
  });
}

DeviceLogits::~DeviceLogits() { Context::get(device_).release(view_.data, generation_); }

void DeviceLogits::download(void* host) const {
  Context::get(device_).run([&](Context& ctx) {
    require_current(*this, ctx);
    ctx.download(host, view_.data, bytes());
  });
}

double copy_bandwidth(int device, size_t bytes) {
  return Context::get(device).run([&](Context& ctx) {
    DeviceBuffer from, to;
    from.reserve(bytes);
    to.reserve(bytes);
    check(cudaMemsetAsync(from.data(), 1, bytes, ctx.stream()), "cudaMemsetAsync");
    KernelTimer timer(ctx.stream(), true);
    constexpr int kRepeats = 20;
    check(cudaMemcpyAsync(to.data(), from.data(), bytes, cudaMemcpyDeviceToDevice, ctx.stream()), "cudaMemcpyAsync");
    timer.start();
    for (int i = 0; i < kRepeats; ++i)
      check(cudaMemcpyAsync(to.data(), from.data(), bytes, cudaMemcpyDeviceToDevice, ctx.stream()), "cudaMemcpyAsync");
    timer.stop();
    const double ms = timer.total_ms();
    return 2.0 * static_cast<double>(bytes) * kRepeats / (ms * 1e-3) / 1e9;
  });
}

}  // namespace sm::cuda
