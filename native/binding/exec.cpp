#include "exec.h"

#include "../cuda/cuda_backend.h"
#include "args.h"
#include "errors.h"

namespace sm::binding {
namespace {

struct ExecOptions {
  std::string backend = "auto";
  int device = 0;
  bool device_given = false;
  bool profile = false;
};

ExecOptions read_options(const Napi::Value& value) {
  ExecOptions out;
  if (value.IsUndefined() || value.IsNull()) return out;
  Napi::Env env = value.Env();
  if (!value.IsObject()) throw_type(env, "options", "expected an object");
  Napi::Object options = value.As<Napi::Object>();
  Napi::Value backend = options.Get("backend");
  if (!backend.IsUndefined()) {
    const std::string name = backend.IsString() ? backend.As<Napi::String>().Utf8Value() : "";
    if (name != "auto" && name != "cpu" && name != "cuda")
      throw_type(env, "backend", "expected 'auto', 'cpu' or 'cuda'");
    out.backend = name;
  }
  Napi::Value device = options.Get("device");
  if (!device.IsUndefined()) {
    out.device = static_cast<int>(read_count(device, "device", 0, 1 << 16));
    out.device_given = true;
  }
  out.profile = options.Get("profile").ToBoolean();
  return out;
}

[[noreturn]] void cuda_unavailable(Napi::Env env, const std::string& why) {
  throw_error(env, ErrorKind::kError, "ERR_SM_CUDA_UNAVAILABLE", "backend", "backend 'cuda': CUDA cannot run here: " + why);
}

}  // namespace

const char* backend_name(Backend backend) { return backend == Backend::kCuda ? "cuda" : "cpu"; }

std::string cuda_unusable_reason(int device) { return cuda::device_unusable_reason(device); }

Exec read_exec(const Napi::Value& value) {
  const ExecOptions options = read_options(value);
  Exec exec;
  exec.device = options.device;
  exec.profile = options.profile;
  if (options.backend == "cpu") return exec;
  const std::string why = cuda_unusable_reason(options.device);
  if (why.empty()) {
    exec.backend = Backend::kCuda;
  } else if (options.backend == "cuda") {
    cuda_unavailable(value.Env(), why);
  }
  return exec;
}

Exec read_device_exec(const Napi::Value& value, int device) {
  const ExecOptions options = read_options(value);
  Napi::Env env = value.Env();
  if (options.backend == "cpu")
    throw_type(env, "backend",
               "a DeviceTensor lives on CUDA device " + std::to_string(device) +
                   "; run it with backend 'cuda' or 'auto', or download() it for the CPU");
  if (options.device_given && options.device != device)
    throw_range(env, "device",
                "the DeviceTensor lives on CUDA device " + std::to_string(device) + ", not " +
                    std::to_string(options.device));
  Exec exec;
  exec.backend = Backend::kCuda;
  exec.device = device;
  exec.profile = options.profile;
  return exec;
}

void set_profile(Napi::Env env, Napi::Object out, const Exec& exec, const cuda::MaskProfile& profile) {
  if (!exec.profile) return;
  Napi::Object p = Napi::Object::New(env);
  p.Set("backend", backend_name(exec.backend));
  p.Set("kernelMs", profile.kernel_ms);
  p.Set("uploadMs", profile.upload_ms);
  p.Set("downloadMs", profile.download_ms);
  out.Set("profile", p);
}

}  // namespace sm::binding
