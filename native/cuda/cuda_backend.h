// The CUDA backend as the rest of the addon sees it: plain C++, no CUDA
// headers, so that the binding compiles the same with or without CUDA.
// Builds without CUDA link native/cuda/unavailable.cpp instead, which
// reports why and has no backend to hand out.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "../host/backend.h"

namespace sm::cuda {

struct DeviceInfo {
  int ordinal = 0;
  std::string name;
  int major = 0, minor = 0;  // compute capability
  int multiprocessors = 0;
  size_t memory_bytes = 0;
};

// Whether CUDA can run here at all, probed once (about 0.3 ms without a driver).
struct Availability {
  bool compiled = false;   // this build has the CUDA backend
  bool available = false;  // and a driver and at least one device exist
  std::string reason;      // why not, when not available
  int driver_version = 0;  // e.g. 13000; 0 = no driver
  int runtime_version = 0;
  std::vector<DeviceInfo> devices;
};
const Availability& availability();

// Empty when the kernels run on this device, else why not (e.g. no kernel
// image for its compute capability). The first call for a device creates its
// CUDA context.
std::string device_unusable_reason(int device);

// The backend of one device; only for a device device_unusable_reason()
// accepted. Every operation on it is bit-identical to the CPU backend.
Backend& backend(int device);

// Device-to-device copy bandwidth in GB/s, counting bytes read plus bytes
// written, measured with a copy of `bytes` bytes (the benchmark's yardstick).
double copy_bandwidth(int device, size_t bytes);

}  // namespace sm::cuda
