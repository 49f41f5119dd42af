// The CUDA backend behind the Backend interface. Kept ids are checked on the
// host first (the kernels trust them); the kernels then run over the rows
// before the first invalid one, so the lowest failing row wins, as on the CPU.
#include <map>
#include <memory>
#include <mutex>

#include "../host/kept_ids.h"
#include "../host/skip_rows.h"
#include "context.h"
#include "cuda_backend.h"
#include "operations.h"

namespace sm::cuda {
namespace {

DeviceLogits* resident_of(const Logits& logits) { return static_cast<DeviceLogits*>(logits.resident); }

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device) : device_(device) {}

  MaskRowsResult mask(const Logits& logits, const BatchParams& params, bool fill, InvalidRows invalid_rows,
                      Profile* profile) override {
    if (params.order == FilterOrder::kJoint)
      throw NotImplementedOnBackend(
          "filterOrder 'joint' runs on the CPU for now (backend: 'cpu'): CUDA has the sequential order only",
          "filterOrder");
    if (invalid_rows == InvalidRows::kSkip)
      return host::mask_skipping_invalid_rows(*this, logits, params, fill, profile);
    if (DeviceLogits* resident = resident_of(logits)) return mask_rows(*resident, logits.view, params, fill, profile);
    return mask_rows(logits.view, params, fill, device_, profile);
  }

  SampleRowsResult sample(const Logits&, const BatchParams&, const BatchDrawKeys&, bool, Profile*) override {
    throw NotImplementedOnBackend(
        "sample() runs on the CPU for now (backend: 'cpu', or 'auto' on host logits): CUDA has no sampler yet",
        "backend");
  }

  RowFailure apply_mask(const KeptRows& in, void* out, Profile* profile) override {
    const RowFailure bad_ids = check_ids(in);
    if (bad_ids.row >= 0) return bad_ids;
    cuda::apply_mask(input(in, in.logits.view.rows), out, profile);
    return {};
  }

  RowFailure masked_logprobs(const KeptRows& in, const int32_t* targets, const PerRow<float>& temperature,
                             float* logprobs, float* entropy, int64_t* targets_outside, Profile* profile) override {
    return before_bad_ids(in, [&](const TrainerInput& rows) {
      return cuda::masked_logprobs(rows, targets, temperature, logprobs, entropy, targets_outside, profile);
    });
  }

  RowFailure masked_logprobs_backward(const KeptRows& in, const int32_t* targets, const PerRow<float>& upstream,
                                      const PerRow<float>& temperature, float* gradient, int64_t* targets_outside,
                                      Profile* profile) override {
    return before_bad_ids(in, [&](const TrainerInput& rows) {
      return cuda::masked_logprobs_backward(rows, targets, upstream, temperature, gradient, targets_outside, profile);
    });
  }

  std::shared_ptr<ResidentLogits> upload(const LogitsView& host) override {
    return DeviceLogits::upload(host, device_);
  }

  std::shared_ptr<host::ThreadPool> host_pool() override {
    // The CUDA pool is never destroyed: share it without ownership.
    return std::shared_ptr<host::ThreadPool>(std::shared_ptr<void>(), &cuda::host_pool());
  }

 private:
  RowFailure check_ids(const KeptRows& in) const {
    if (in.kept.all()) return {};
    return host::check_kept_ids(cuda::host_pool(), in.kept, in.logits.view.rows, in.logits.view.vocab);
  }

  // The kernels' view of rows [0, rows).
  TrainerInput input(const KeptRows& in, int64_t rows) const {
    TrainerInput input;
    input.shape = in.logits.view;
    input.shape.rows = rows;
    input.resident = resident_of(in.logits);
    input.device = device_;
    input.kept = in.kept;
    input.kept_count = in.kept.all() ? 0 : in.kept.offsets[rows];
    return input;
  }

  template <class Compute>
  RowFailure before_bad_ids(const KeptRows& in, const Compute& compute) const {
    const RowFailure bad_ids = check_ids(in);
    const RowFailure failure = compute(input(in, bad_ids.row >= 0 ? bad_ids.row : in.logits.view.rows));
    return failure.row >= 0 ? failure : bad_ids;
  }

  int device_;
};

}  // namespace

Backend& backend(int device) {
  static std::mutex backends_mutex;
  // Never destroyed, like the contexts they use.
  static auto* backends = new std::map<int, std::unique_ptr<CudaBackend>>();
  std::lock_guard<std::mutex> hold(backends_mutex);
  std::unique_ptr<CudaBackend>& slot = (*backends)[device];
  if (!slot) slot = std::make_unique<CudaBackend>(device);
  return *slot;
}

}  // namespace sm::cuda
