// Where a call runs: the `backend`, `device` and `profile` fields of its
// arguments, resolved once per call to one Backend (backends.cpp, the only
// file that names the concrete backends). A job then calls that Backend and
// nothing else.
#pragma once

#include <napi.h>

#include <memory>

#include "../host/backend.h"
#include "args.h"

namespace sm::binding {

struct Exec {
  Backend* backend = nullptr;
  const char* name = "cpu";  // "cpu" or "cuda", as profiles report it
  int device = 0;
  bool profile = false;
};

// What backend 'auto' picks on host data.
enum class AutoPicks {
  kCudaWhenUsable,  // CUDA when it runs on the device, else the CPU
  kCpu,             // the CPU (trainer ops: they read only the kept entries, CUDA would upload every logit)
};

// Fields backend ('auto' | 'cpu' | 'cuda'), device (integer >= 0) and
// profile (boolean), each optional. 'cuda' where CUDA cannot run is an error
// that says why, never a silent CPU run.
Exec read_exec(const CallArgs& call, AutoPicks auto_picks);

// For device-resident logits: always the backend of their device; backend
// 'cpu' or another device is an error.
Exec read_resident_exec(const CallArgs& call, const ResidentLogits& logits);

// The Exec for the `device` field when only CUDA will do (uploads, device
// benchmarks): ERR_SM_CUDA_UNAVAILABLE, saying why, where CUDA cannot run.
Exec read_cuda_exec(const CallArgs& call, const char* operation);

// Attaches { backend, kernelMs, uploadMs, downloadMs } to out when asked for.
void set_profile(Napi::Env env, Napi::Object out, const Exec& exec, const Profile& profile);

}  // namespace sm::binding
