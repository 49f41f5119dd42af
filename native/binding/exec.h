// Where an operation runs: the `backend`, `device` and `profile` options,
// resolved against what this build and this machine can do. Every operation
// reads them the same way, so a new operation gets CUDA dispatch by reading
// an Exec and branching on exec.backend in its Job's run().
#pragma once

#include <napi.h>

#include <string>

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

}  // namespace sm::binding
