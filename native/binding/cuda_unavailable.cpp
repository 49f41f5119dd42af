// The CUDA backend's entry points in builds without CUDA (node-gyp, or CMake
// with no CUDA compiler): CUDA reports itself as not compiled in, and the
// binding refuses 'cuda' before any of the rest can be reached.
#ifndef SM_WITH_CUDA

#include "../cuda/cuda_backend.h"

namespace sm::cuda {
namespace {

[[noreturn]] void refuse() { throw Error("sampling-mask was built without its CUDA backend", false); }

}  // namespace

const Availability& availability() {
  static const Availability info = [] {
    Availability a;
    a.reason = "not compiled in: this build of sampling-mask has no CUDA backend (build it with CUDACXX set)";
    return a;
  }();
  return info;
}

std::string device_unusable_reason(int) { return availability().reason; }

std::shared_ptr<DeviceLogits> DeviceLogits::upload(const LogitsView&, int) { refuse(); }
DeviceLogits::~DeviceLogits() = default;
void DeviceLogits::download(void*) const { refuse(); }
MaskRowsResult mask_rows(const LogitsView&, const BatchParams&, bool, int, MaskProfile*) { refuse(); }
MaskRowsResult mask_rows(DeviceLogits&, const BatchParams&, bool, MaskProfile*) { refuse(); }
double copy_bandwidth(int, size_t) { refuse(); }
RowFailure masked_logprobs(const TrainerInput&, const int32_t*, const PerRow<float>&, float*, float*, int64_t*,
                           MaskProfile*) {
  refuse();
}
RowFailure masked_logprobs_backward(const TrainerInput&, const int32_t*, const PerRow<float>&, const PerRow<float>&,
                                    float*, int64_t*, MaskProfile*) {
  refuse();
}
void apply_mask(const TrainerInput&, void*, MaskProfile*) { refuse(); }

}  // namespace sm::cuda

#endif  // SM_WITH_CUDA
