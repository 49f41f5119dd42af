// backendInfo() and setThreads(): what was compiled in and what runs.
#include <napi.h>

#include <string>

#include "../cpu/row_kernels.h"
#include "../cpu/thread_pool.h"
#include "../cuda/cuda_backend.h"
#include "args.h"
#include "exec.h"
#include "exports.h"

namespace sm::binding {
namespace {

Napi::Object cuda_info(Napi::Env env, const std::string& unusable) {
  const cuda::Availability& a = cuda::availability();
  Napi::Object out = Napi::Object::New(env);
  out.Set("available", unusable.empty());
  if (!unusable.empty()) out.Set("reason", unusable);
  out.Set("driverVersion", a.driver_version);
  out.Set("runtimeVersion", a.runtime_version);
  Napi::Array devices = Napi::Array::New(env, a.devices.size());
  for (size_t i = 0; i < a.devices.size(); ++i) {
    const cuda::DeviceInfo& d = a.devices[i];
    Napi::Object device = Napi::Object::New(env);
    device.Set("ordinal", d.ordinal);
    device.Set("name", d.name);
    device.Set("computeCapability", std::to_string(d.major) + "." + std::to_string(d.minor));
    device.Set("multiprocessors", d.multiprocessors);
    device.Set("memoryBytes", static_cast<double>(d.memory_bytes));
    devices[i] = device;
  }
  out.Set("devices", devices);
  return out;
}

// backendInfo(device): what 'auto' picks for the device, and why.
Napi::Value backend_info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int device = info[0].IsUndefined() ? 0 : static_cast<int>(read_count(info[0], "device", 0, 1 << 16));
  const std::string unusable = cuda_unusable_reason(device);
  Napi::Object out = Napi::Object::New(env);
  out.Set("backend", backend_name(unusable.empty() ? Backend::kCuda : Backend::kCpu));
  out.Set("threads", cpu::shared_pool()->threads());
  out.Set("cpuIsa", cpu::row_kernels_isa());
  Napi::Object compiled = Napi::Object::New(env);
  compiled.Set("cpu", true);
  compiled.Set("cuda", cuda::availability().compiled);
  out.Set("compiled", compiled);
  out.Set("cuda", cuda_info(env, unusable));
  return out;
}

Napi::Value set_threads(const Napi::CallbackInfo& info) {
  const int64_t threads = read_count(info[0], "threads", 0, 1024);
  cpu::set_threads(static_cast<int>(threads));
  return Napi::Number::New(info.Env(), cpu::shared_pool()->threads());
}

}  // namespace

void register_backend(Napi::Env env, Napi::Object exports) {
  exports.Set("backendInfo", Napi::Function::New(env, backend_info, "backendInfo"));
  exports.Set("setThreads", Napi::Function::New(env, set_threads, "setThreads"));
}

}  // namespace sm::binding
