// The backend selection: the one file of the binding that names the
// concrete backends. It resolves a call's Exec against the options and the
// defaults setBackend() stored (per JS environment: each worker thread has
// its own), and answers backendInfo(), setBackend(), getBackend(),
// setThreads() and the CPU baselines of `npm run bench`.
#include <napi.h>

#include <string>

#include "../cpu/baselines.h"
#include "../cpu/cpu_backend.h"
#include "../cuda/cuda_backend.h"
#include "args.h"
#include "errors.h"
#include "exec.h"
#include "exports.h"
#include "job.h"

namespace sm::binding {
namespace {

enum class Asked { kAuto, kCpu, kCuda };

const char* asked_name(Asked asked) { return asked == Asked::kCpu ? "cpu" : asked == Asked::kCuda ? "cuda" : "auto"; }

// What setBackend() stored for this JS environment.
struct Defaults {
  Asked backend = Asked::kAuto;
  int device = 0;
};

Defaults& defaults(Napi::Env env) {
  Defaults* stored = env.GetInstanceData<Defaults>();
  if (!stored) {
    stored = new Defaults();
    env.SetInstanceData(stored);
  }
  return *stored;
}

struct ExecFields {
  Asked backend = Asked::kAuto;
  int device = 0;
  bool device_given = false;
  bool profile = false;
};

Asked read_backend_name(const Napi::Value& backend) {
  const std::string name = backend.IsString() ? backend.As<Napi::String>().Utf8Value() : "";
  if (name == "cpu") return Asked::kCpu;
  if (name == "cuda") return Asked::kCuda;
  if (name != "auto") throw_type(backend.Env(), "backend", "expected 'auto', 'cpu' or 'cuda'");
  return Asked::kAuto;
}

int read_device(const Napi::Value& device) { return static_cast<int>(read_count(device, "device", 0, 1 << 16)); }

// The options backend, device and profile, each defaulting to what setBackend() stored.
ExecFields read_fields(const CallArgs& call) {
  const Defaults& stored = defaults(call.env());
  ExecFields out;
  const Napi::Value backend = call.option("backend");
  out.backend = backend.IsUndefined() ? stored.backend : read_backend_name(backend);
  const Napi::Value device = call.option("device");
  out.device_given = !device.IsUndefined();
  out.device = out.device_given ? read_device(device) : stored.device;
  out.profile = read_flag(call, "profile");
  return out;
}

[[noreturn]] void cuda_unavailable(Napi::Env env, const std::string& what, const std::string& why) {
  throw_error(env, ErrorKind::kRange, ErrorCode::kCudaUnavailable, "backend", what + ": CUDA cannot run here: " + why);
}

Exec on_cpu(const ExecFields& fields) { return Exec{&cpu::backend(), "cpu", fields.device, fields.profile}; }
Exec on_cuda(int device, bool profile) { return Exec{&cuda::backend(device), "cuda", device, profile}; }

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

Napi::Object defaults_object(Napi::Env env) {
  const Defaults& stored = defaults(env);
  Napi::Object out = Napi::Object::New(env);
  out.Set("backend", asked_name(stored.backend));
  out.Set("device", stored.device);
  return out;
}

// backendInfo(): what calls with default options run on, and why.
Napi::Value backend_info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Defaults& stored = defaults(env);
  const std::string unusable = cuda::device_unusable_reason(stored.device);
  Napi::Object out = Napi::Object::New(env);
  out.Set("backend", stored.backend != Asked::kCpu && unusable.empty() ? "cuda" : "cpu");
  out.Set("threads", cpu::pool()->threads());
  out.Set("cpuIsa", cpu::isa());
  Napi::Object compiled = Napi::Object::New(env);
  compiled.Set("cpu", true);
  compiled.Set("cuda", cuda::availability().compiled);
  out.Set("compiled", compiled);
  out.Set("cuda", cuda_info(env, unusable));
  out.Set("default", defaults_object(env));
  return out;
}

// setBackend({ backend, options: { device } }): the defaults of calls that
// name no backend or device. 'cuda' must run on the device now.
Napi::Value set_backend(const Napi::CallbackInfo& info) {
  const CallArgs call(info);
  const Asked backend = read_backend_name(call["backend"]);
  const Napi::Value device_option = call.option("device");
  const int device = device_option.IsUndefined() ? 0 : read_device(device_option);
  if (backend == Asked::kCuda) {
    const std::string why = cuda::device_unusable_reason(device);
    if (!why.empty()) cuda_unavailable(info.Env(), "backend 'cuda'", why);
  }
  defaults(info.Env()) = Defaults{backend, device};
  return info.Env().Undefined();
}

Napi::Value get_backend(const Napi::CallbackInfo& info) { return defaults_object(info.Env()); }

Napi::Value set_threads(const Napi::CallbackInfo& info) {
  const int64_t threads = read_count(info[0], "threads", 0, 1024);
  cpu::set_threads(static_cast<int>(threads));
  return Napi::Number::New(info.Env(), cpu::pool()->threads());
}

Napi::Value read_once(const Napi::CallbackInfo& info) {
  const LogitsArg logits = read_logits(CallArgs(info));
  return Napi::Number::New(info.Env(), cpu::read_once(logits.view));
}

Napi::Value weigh_once(const Napi::CallbackInfo& info) {
  const LogitsArg logits = read_logits(CallArgs(info));
  return Napi::Number::New(info.Env(), static_cast<double>(cpu::weigh_once(logits.view)));
}

Napi::Value approximate_weight_error(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), cpu::approximate_weight_error());
}

Napi::Value sort_based_mask(const Napi::CallbackInfo& info) {
  const CallArgs call(info);
  const LogitsArg logits = read_logits(call);
  const ParamsArg params = read_params(call, logits.view.rows);
  return Napi::Number::New(info.Env(), static_cast<double>(cpu::sort_based_mask(logits.view, params.view())));
}

// cudaCopyBandwidth({ bytes, device }): GB/s of a device-to-device copy
// (read + write), the GPU benchmark's yardstick.
class BandwidthJob {
 public:
  BandwidthJob(const CallArgs& call, bool)
      : bytes_(static_cast<size_t>(read_count(call["bytes"], "bytes", 1 << 20, int64_t{1} << 40))),
        device_(read_cuda_exec(call, "cudaCopyBandwidth").device) {}
  void run() { gb_per_s_ = cuda::copy_bandwidth(device_, bytes_); }
  Napi::Value finish(Napi::Env env, PendingError*) { return Napi::Number::New(env, gb_per_s_); }

 private:
  size_t bytes_;
  int device_;
  double gb_per_s_ = 0;
};

}  // namespace

Exec read_exec(const CallArgs& call, AutoPicks auto_picks) {
  const ExecFields fields = read_fields(call);
  if (fields.backend == Asked::kCpu || (fields.backend == Asked::kAuto && auto_picks == AutoPicks::kCpu))
    return on_cpu(fields);
  const std::string why = cuda::device_unusable_reason(fields.device);
  if (why.empty()) return on_cuda(fields.device, fields.profile);
  if (fields.backend == Asked::kCuda) cuda_unavailable(call.env(), "backend 'cuda'", why);
  return on_cpu(fields);
}

Exec read_resident_exec(const CallArgs& call, const ResidentLogits& logits) {
  const ExecFields fields = read_fields(call);
  const int device = logits.device();
  if (fields.backend == Asked::kCpu)
    throw_type(call.env(), "backend",
               "a DeviceTensor lives on CUDA device " + std::to_string(device) +
                   "; run it with backend 'cuda' or 'auto', or download() it for the CPU");
  if (fields.device_given && fields.device != device)
    throw_range(call.env(), "device",
                "the DeviceTensor lives on CUDA device " + std::to_string(device) + ", not " +
                    std::to_string(fields.device));
  return on_cuda(device, fields.profile);
}

Exec read_cuda_exec(const CallArgs& call, const char* operation) {
  const ExecFields fields = read_fields(call);
  const std::string why = cuda::device_unusable_reason(fields.device);
  if (!why.empty()) cuda_unavailable(call.env(), operation, why);
  return on_cuda(fields.device, fields.profile);
}

void set_profile(Napi::Env env, Napi::Object out, const Exec& exec, const Profile& profile) {
  if (!exec.profile) return;
  Napi::Object p = Napi::Object::New(env);
  p.Set("backend", exec.name);
  p.Set("kernelMs", profile.kernel_ms);
  p.Set("uploadMs", profile.upload_ms);
  p.Set("downloadMs", profile.download_ms);
  out.Set("profile", p);
}

void register_backends(Napi::Env env, Napi::Object exports) {
  exports.Set("backendInfo", Napi::Function::New(env, guarded<backend_info>, "backendInfo"));
  exports.Set("setBackend", Napi::Function::New(env, guarded<set_backend>, "setBackend"));
  exports.Set("getBackend", Napi::Function::New(env, guarded<get_backend>, "getBackend"));
  exports.Set("setThreads", Napi::Function::New(env, guarded<set_threads>, "setThreads"));
  exports.Set("cudaCopyBandwidth", Napi::Function::New(env, run_sync<BandwidthJob>, "cudaCopyBandwidth"));
  Napi::Object baselines = Napi::Object::New(env);
  baselines.Set("readOnce", Napi::Function::New(env, guarded<read_once>, "readOnce"));
  baselines.Set("weighOnce", Napi::Function::New(env, guarded<weigh_once>, "weighOnce"));
  baselines.Set("sortBasedMask", Napi::Function::New(env, guarded<sort_based_mask>, "sortBasedMask"));
  baselines.Set("approximateWeightError",
                Napi::Function::New(env, guarded<approximate_weight_error>, "approximateWeightError"));
  exports.Set("baselines", baselines);
}

}  // namespace sm::binding
