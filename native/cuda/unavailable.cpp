// The CUDA backend's entry points in builds without CUDA (node-gyp, or CMake
// with no CUDA compiler): CUDA reports itself as not compiled in, so the
// binding never selects it.
#ifndef SM_WITH_CUDA

#include <stdexcept>

#include "cuda_backend.h"

namespace sm::cuda {

const Availability& availability() {
  static const Availability info = [] {
    Availability a;
    a.reason = "not compiled in: this build of sampling-mask has no CUDA backend (build it with CUDACXX set)";
    return a;
  }();
  return info;
}

std::string device_unusable_reason(int) { return availability().reason; }

Backend& backend(int) { throw DeviceError(availability().reason, false); }

double copy_bandwidth(int, size_t) { throw DeviceError(availability().reason, false); }

}  // namespace sm::cuda

#endif  // SM_WITH_CUDA
