// backendInfo() and setThreads(): what was compiled in and what runs.
#include <napi.h>

#include "../cpu/row_kernels.h"
#include "../cpu/thread_pool.h"
#include "args.h"
#include "exports.h"

namespace sm::binding {
namespace {

Napi::Value backend_info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("backend", "cpu");
  out.Set("threads", cpu::shared_pool()->threads());
  out.Set("cpuIsa", cpu::row_kernels_isa());
  Napi::Object compiled = Napi::Object::New(env);
  compiled.Set("cpu", true);
  compiled.Set("cuda", false);
  out.Set("compiled", compiled);
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
