// Where an operation runs: the `backend`, `device` and `profile` options,
// resolved against what this build and this machine can do. Every operation
// reads them the same way, so a new operation gets CUDA dispatch by reading
// an Exec and branching on exec.backend in its Job's run().
#pragma once

#include <napi.h>

#include <chrono>
#include <string>

#include "../cuda/cuda_backend.h"

namespace sm::binding {

enum class Backend { kCpu, kCuda };

struct Exec {
  Backend backend = Backend::kCpu;
  int device = 0;
  bool profile = false;
};

const char* backend_name(Backend backend);

// options: { backend?: 'auto' | 'cpu' | 'cuda', device?: integer >= 0,
// profile?: boolean } (undefined: all defaults). 'auto' (the default) runs
// on CUDA when it can run on the device, else on the CPU; 'cuda' where it
// cannot is an error that says why, never a silent CPU run.
Exec read_exec(const Napi::Value& options);

// For an operation on device-resident data of `device`: always CUDA there;
// backend 'cpu' or another device is an error.
Exec read_device_exec(const Napi::Value& options, int device);

// "" when CUDA runs on the device, else why not.
std::string cuda_unusable_reason(int device);

// Runs a CPU computation, recording its wall time as the profile's kernel time.
template <class Run>
auto timed(cuda::MaskProfile* profile, const Run& run) {
  const auto start = std::chrono::steady_clock::now();
  auto result = run();
  profile->kernel_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return result;
}

// Attaches { backend, kernelMs, uploadMs, downloadMs } to out when asked for.
void set_profile(Napi::Env env, Napi::Object out, const Exec& exec, const cuda::MaskProfile& profile);

}  // namespace sm::binding
