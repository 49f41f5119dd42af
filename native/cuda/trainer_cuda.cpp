// The host side of the CUDA trainer operations: uploads the logits (unless
// resident) and the host CSR, launches trainer_kernels.h, copies back only
// the per-row results, or the per-kept-id gradient, or the masked logits.
#include <chrono>
#include <cstring>

#include "context.h"
#include "trainer_kernels.h"

namespace sm::cuda {
namespace {

constexpr size_t kAlignment = 256;

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

// One call: the device copy of its inputs in the context's workspace, laid
// out as they are taken, and the time each step took.
class Call {
 public:
  Call(Context& context, const TrainerInput& in, Profile* profile)
      : ctx_(context), in_(in), profile_(profile), timer_(context.stream(), profile != nullptr) {
    if (in.resident) require_current(*in.resident, context);
  }
  // Adds the kernels' time to the profile (waits for them).
  void record_kernel_time() {
    if (profile_) profile_->kernel_ms += timer_.total_ms();
  }

  // Reserves the workspace for `bytes` more bytes of inputs and outputs
  // before anything is taken (growing it loses its contents).
  void reserve(size_t bytes) { ctx_.workspace.reserve(bytes + 16 * kAlignment); }

  template <class T>
  T* take(size_t count) {
    T* p = reinterpret_cast<T*>(ctx_.workspace.data() + used_);
    used_ += (sizeof(T) * count + kAlignment - 1) / kAlignment * kAlignment;
    return p;
  }

  template <class T>
  const T* upload(const T* host, size_t count) {
    T* device = take<T>(count);
    timed_copy([&] { ctx_.upload(device, host, sizeof(T) * count); }, &Profile::upload_ms);
    return device;
  }

  void download(void* host, const void* device, size_t bytes) {
    timed_copy([&] { ctx_.download(host, device, bytes); }, &Profile::download_ms);
  }

  // The logits on the device: resident, or uploaded into the context's buffer.
  void* logits() {
    if (in_.resident) return in_.resident->view().data;
    const size_t bytes = logits_bytes();
    ctx_.logits.reserve(bytes);
    timed_copy([&] { ctx_.upload(ctx_.logits.data(), in_.shape.data, bytes); }, &Profile::upload_ms);
    return ctx_.logits.data();
  }
  size_t logits_bytes() const {
    return static_cast<size_t>(in_.shape.rows * in_.shape.vocab) * dtype_bytes(in_.shape.dtype);
  }

  KeptIds kept() {
    if (in_.kept.all()) return {};
    return KeptIds{upload(in_.kept.offsets, in_.shape.rows + 1), upload(in_.kept.indices, in_.kept_count)};
  }
  // Per-row arrays go to the device; one value for all rows stays as it is.
  PerRow<float> per_row(PerRow<float> values) {
    if (values.values) values.values = upload(values.values, in_.shape.rows);
    return values;
  }

  Context& context() { return ctx_; }
  KernelTimer& timer() { return timer_; }

 private:
  template <class Copy>
  void timed_copy(const Copy& copy, double Profile::*field) {
    const auto start = std::chrono::steady_clock::now();
    copy();
    if (profile_) profile_->*field += ms_since(start);
  }

  Context& ctx_;
  const TrainerInput& in_;
  Profile* profile_;
  KernelTimer timer_;
  size_t used_ = 0;
};

int device_of(const TrainerInput& in) { return in.resident ? in.resident->device() : in.device; }

// Workspace bytes for the kept-softmax kernels' inputs and outputs.
size_t kept_rows_bytes(const TrainerInput& in, size_t output_floats) {
  const size_t rows = static_cast<size_t>(in.shape.rows);
  return sizeof(int32_t) * (rows + 1 + static_cast<size_t>(in.kept_count)) + 8 * sizeof(float) * rows +
         sizeof(float) * output_floats;
}

// Runs a kept-softmax kernel (launch) over the batch, its outputs taken by
// setup(batch, call), then reads back the failure, or the count of targets
// outside and the outputs (finish(batch, call)).
template <class Setup, class Launch, class Finish>
RowFailure run_kept_rows(const TrainerInput& in, size_t output_floats, const int32_t* targets,
                         const PerRow<float>& temperature, int64_t* targets_outside, Profile* profile,
                         const Setup& setup, const Launch& launch, const Finish& finish) {
  return Context::get(device_of(in)).run([&](Context& ctx) {
    Call call(ctx, in, profile);
    call.reserve(kept_rows_bytes(in, output_floats));
    const int64_t rows = in.shape.rows;
    KeptBatch b{};
    b.dtype = in.shape.dtype;
    b.rows = rows;
    b.vocab = in.shape.vocab;
    b.logits = call.logits();
    b.kept = call.kept();
    b.targets = call.upload(targets, rows);
    b.temperature = call.per_row(temperature);
    b.failed_row = call.take<unsigned long long>(2);
    b.targets_outside = b.failed_row + 1;
    b.row_errors = call.take<int32_t>(rows);
    b.row_columns = call.take<int32_t>(rows);
    setup(b, call);
    check(cudaMemsetAsync(b.failed_row, 0, 2 * sizeof(unsigned long long), ctx.stream()), "cudaMemsetAsync");
    call.timer().start();
    launch(b, ctx.stream());
    call.timer().stop();
    unsigned long long counters[2];
    call.download(counters, b.failed_row, sizeof counters);
    call.record_kernel_time();
    if (counters[0] != 0) {
      const int64_t row = static_cast<int64_t>(kNoRow - counters[0]);
      int32_t error = 0, column = -1;
      call.download(&error, b.row_errors + row, sizeof error);
      call.download(&column, b.row_columns + row, sizeof column);
      return RowFailure{row, RowStatus{static_cast<RowError>(error), column}};
    }
    *targets_outside = static_cast<int64_t>(counters[1]);
    finish(b, call);
    return RowFailure{};
  });
}

}  // namespace

RowFailure masked_logprobs(const TrainerInput& in, const int32_t* targets, const PerRow<float>& temperature,
                           float* logprobs, float* entropy, int64_t* targets_outside, Profile* profile) {
  const size_t rows = static_cast<size_t>(in.shape.rows);
  return run_kept_rows(
      in, 2 * rows, targets, temperature, targets_outside, profile,
      [&](KeptBatch& b, Call& call) {
        b.logprobs = call.take<float>(rows);
        b.entropy = entropy ? call.take<float>(rows) : nullptr;
      },
      launch_masked_logprobs,
      [&](const KeptBatch& b, Call& call) {
        call.download(logprobs, b.logprobs, sizeof(float) * rows);
        if (entropy) call.download(entropy, b.entropy, sizeof(float) * rows);
      });
}

RowFailure masked_logprobs_backward(const TrainerInput& in, const int32_t* targets, const PerRow<float>& upstream,
                                    const PerRow<float>& temperature, float* gradient, int64_t* targets_outside,
                                    Profile* profile) {
  const size_t values = in.kept.all() ? static_cast<size_t>(in.shape.rows * in.shape.vocab)
                                      : static_cast<size_t>(in.kept_count);
  return run_kept_rows(
      in, values, targets, temperature, targets_outside, profile,
      [&](KeptBatch& b, Call& call) {
        b.upstream = call.per_row(upstream);
        b.gradient = call.take<float>(values);
      },
      launch_masked_logprobs_backward,
      [&](const KeptBatch& b, Call& call) { call.download(gradient, b.gradient, sizeof(float) * values); });
}

void apply_mask(const TrainerInput& in, void* out, Profile* profile) {
  Context::get(device_of(in)).run([&](Context& ctx) {
    Call call(ctx, in, profile);
    const size_t kept_count = static_cast<size_t>(in.kept_count);
    call.reserve(sizeof(int32_t) * (in.shape.rows + 1 + 2 * kept_count));
    void* logits = call.logits();
    const KeptIds kept = call.kept();
    uint32_t* saved = call.take<uint32_t>(kept_count);
    call.timer().start();
    launch_apply_mask(logits, in.shape.dtype, in.shape.rows, in.shape.vocab, kept, saved, ctx.stream());
    call.timer().stop();
    call.record_kernel_time();
    if (in.resident) {
      check(cudaStreamSynchronize(ctx.stream()), "the applyMask kernels");
    } else {
      call.download(out, logits, call.logits_bytes());
    }
  });
}

}  // namespace sm::cuda
